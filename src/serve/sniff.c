/* serve/sniff: magic numbers of the formats a portrait or a driver may arrive in, plus the
 * common ones people drop by mistake, so an error can say what the file was. */
#include "serve/sniff.h"

#include <stdio.h>
#include <string.h>

static bool starts(const uint8_t *head, size_t size, size_t at, const char *magic, size_t length) {
    return size >= at + length && memcmp(head + at, magic, length) == 0;
}

sniff_kind sniff_bytes(const uint8_t *head, size_t size) {
    sniff_kind kind = {"an unknown file", "bin", false, false, false};
    if (starts(head, size, 0, "\x89PNG\r\n\x1a\n", 8)) return (sniff_kind){"a PNG image", "png", true, false, false};
    if (starts(head, size, 0, "\xff\xd8\xff", 3)) return (sniff_kind){"a JPEG image", "jpg", true, false, false};
    if (starts(head, size, 0, "GIF87a", 6) || starts(head, size, 0, "GIF89a", 6))
        return (sniff_kind){"a GIF animation", "gif", false, true, false};
    if (starts(head, size, 0, "RIFF", 4) && starts(head, size, 8, "WEBP", 4))
        return (sniff_kind){"a WebP image", "webp", false, false, false};
    if (starts(head, size, 0, "RIFF", 4) && starts(head, size, 8, "AVI ", 4))
        return (sniff_kind){"an AVI video", "avi", false, true, false};
    if (starts(head, size, 0, "RIFF", 4) && starts(head, size, 8, "WAVE", 4))
        return (sniff_kind){"a WAV recording", "wav", false, false, true};
    if (starts(head, size, 0, "OggS", 4)) return (sniff_kind){"an Ogg recording", "ogg", false, false, true};
    if (starts(head, size, 0, "fLaC", 4)) return (sniff_kind){"a FLAC recording", "flac", false, false, true};
    /* MP3: an ID3 tag, or a frame header (11 sync bits, MPEG 1/2/2.5, layer III) */
    if (starts(head, size, 0, "ID3", 3) || (size >= 2 && head[0] == 0xff && (head[1] & 0xe6) == 0xe2))
        return (sniff_kind){"an MP3 recording", "mp3", false, false, true};
    if (starts(head, size, 0, "\x1a\x45\xdf\xa3", 4)) return (sniff_kind){"a Matroska/WebM video", "mkv", false, true, false};
    if (starts(head, size, 4, "ftyp", 4)) {
        /* ISO media: HEIF/AVIF stills share the box layout with MP4 and MOV */
        if (starts(head, size, 8, "heic", 4) || starts(head, size, 8, "heix", 4) || starts(head, size, 8, "mif1", 4) ||
            starts(head, size, 8, "avif", 4))
            return (sniff_kind){"a HEIF/AVIF image", "heic", false, false, false};
        return (sniff_kind){"an MP4/MOV video", "mp4", false, true, false};
    }
    /* QuickTime files without ftyp start with one of these atoms */
    if (starts(head, size, 4, "moov", 4) || starts(head, size, 4, "mdat", 4) || starts(head, size, 4, "wide", 4))
        return (sniff_kind){"a QuickTime video", "mov", false, true, false};
    if (starts(head, size, 0, "BM", 2)) return (sniff_kind){"a BMP image", "bmp", false, false, false};
    if (starts(head, size, 0, "II*\0", 4) || starts(head, size, 0, "MM\0*", 4))
        return (sniff_kind){"a TIFF image", "tiff", false, false, false};
    if (starts(head, size, 0, "%PDF", 4)) return (sniff_kind){"a PDF document", "pdf", false, false, false};
    if (starts(head, size, 0, "PK\x03\x04", 4)) return (sniff_kind){"a ZIP archive", "zip", false, false, false};
    if (size == 0) return (sniff_kind){"an empty file", "bin", false, false, false};
    /* mostly printable: say "text" rather than "an unknown file" */
    size_t printable = 0;
    for (size_t i = 0; i < size; i++)
        printable += (head[i] >= 0x20 && head[i] < 0x7f) || head[i] == '\n' || head[i] == '\r' || head[i] == '\t';
    if (printable == size) return (sniff_kind){"a text file", "txt", false, false, false};
    return kind;
}

static uint32_t big_endian(const uint8_t *p, int bytes) {
    uint32_t value = 0;
    for (int i = 0; i < bytes; i++) value = value << 8 | p[i];
    return value;
}

bool sniff_image_size(const char *path, uint32_t *width, uint32_t *height) {
    FILE *f = fopen(path, "rbe");
    if (!f) return false;
    uint8_t head[24];
    bool found = false;
    size_t got = fread(head, 1, sizeof head, f);
    if (got >= 24 && starts(head, got, 0, "\x89PNG\r\n\x1a\n", 8) && starts(head, got, 12, "IHDR", 4)) {
        *width = big_endian(head + 16, 4);
        *height = big_endian(head + 20, 4);
        found = true;
    } else if (got >= 4 && starts(head, got, 0, "\xff\xd8", 2)) {
        /* JPEG: walk the segments (APPn with EXIF, tables, ...) to the frame header */
        long at = 2;
        for (int segments = 0; segments < 1024 && !found; segments++) {
            uint8_t marker[2], rest[7];
            if (fseek(f, at, SEEK_SET) != 0 || fread(marker, 1, 2, f) != 2 || marker[0] != 0xff) break;
            if (marker[1] == 0xff) { /* fill byte */
                at++;
                continue;
            }
            if (marker[1] == 0x01 || (marker[1] >= 0xd0 && marker[1] <= 0xd8)) { /* no length */
                at += 2;
                continue;
            }
            if (marker[1] == 0xd9 || marker[1] == 0xda) break; /* end, or scan data before a frame header */
            if (fread(rest, 1, 7, f) != 7) break;
            uint32_t length = big_endian(rest, 2);
            bool frame = marker[1] >= 0xc0 && marker[1] <= 0xcf && marker[1] != 0xc4 && marker[1] != 0xc8 && marker[1] != 0xcc;
            if (frame && length >= 7) {
                *height = big_endian(rest + 3, 2);
                *width = big_endian(rest + 5, 2);
                found = true;
            }
            if (length < 2) break;
            at += 2 + (long)length;
        }
    }
    fclose(f);
    return found;
}
