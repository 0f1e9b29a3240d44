/* serve/sniff: what an uploaded file really is, from its first bytes (never its name). */
#ifndef VV_SERVE_SNIFF_H
#define VV_SERVE_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNIFF_HEAD_BYTES 32 /* how many leading bytes sniff_kind looks at */

typedef struct sniff_kind {
    const char *name;      /* with its article, for "this is ...": "a PNG image", "an MP4/MOV
                              video", ... or "an unknown file" */
    const char *extension; /* the name the file is stored under: "png", "mp4", ... */
    bool image;            /* a portrait vivify can read (PNG, JPEG) */
    bool video;            /* a driver libavformat can read */
    bool audio;            /* a speech recording libavformat can read (WAV, MP3, Ogg, FLAC);
                              a video's (MP4, WebM, ...) sound serves too: `video` */
} sniff_kind;

/* Classifies a file from its first `size` bytes (size may be less than SNIFF_HEAD_BYTES). */
sniff_kind sniff_bytes(const uint8_t *head, size_t size);

/* The pixel size a PNG or JPEG file declares (PNG's IHDR, JPEG's frame header), read
 * without decoding it; false when it is neither or the header cannot be found. */
bool sniff_image_size(const char *path, uint32_t *width, uint32_t *height);

#endif
