/* img: image allocation, PNG / JPEG decoding and encoding, EXIF orientation, and the
 * public vv_image_* wrappers.  Every decoder treats its input as hostile: dimensions are
 * checked against the caps from the header before any pixel memory is allocated, and
 * every EXIF offset is bounds-checked. */
#include "img/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* Whole-file read cap: generous for any photo inside the pixel caps. */
#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)
#define IMAGE_DEFAULT_JPEG_QUALITY 95

/* ---------------------------------------------------------------- allocation */

/* VV_OK when width x height x channels is within the caps; the message names `name`. */
static vv_status image_check_size(int width, int height, int channels, const char *name) {
    if (width <= 0 || height <= 0)
        return vv_fail(VV_ERR_CORRUPT, "%s: invalid image size %dx%d", name, width, height);
    if (width > VV_IMAGE_MAX_SIDE || height > VV_IMAGE_MAX_SIDE ||
        (unsigned long long)width * (unsigned long long)height > VV_IMAGE_MAX_PIXELS)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: image %dx%d is over the size limit (%d per side, %llu pixels)",
                       name, width, height, VV_IMAGE_MAX_SIDE, (unsigned long long)VV_IMAGE_MAX_PIXELS);
    if (channels < 1 || channels > 4)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: unsupported channel count %d", name, channels);
    return VV_OK;
}

vv_status image_create(vv_image *out, int width, int height, int channels) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_create: NULL output");
    memset(out, 0, sizeof *out);
    if (width <= 0 || height <= 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_create: invalid size %dx%d", width, height);
    vv_status status = image_check_size(width, height, channels, "image_create");
    if (status != VV_OK) return status;
    size_t bytes;
    if (!size_mul3((size_t)width, (size_t)height, (size_t)channels, &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "image_create: %dx%dx%d overflows", width, height, channels);
    out->data = mem_calloc(bytes, 1);
    if (!out->data)
        return vv_fail(VV_ERR_NO_MEMORY, "image_create: out of memory for %dx%dx%d", width, height,
                       channels);
    out->width = width;
    out->height = height;
    out->channels = channels;
    return VV_OK;
}

void image_free(vv_image *image) {
    if (!image) return;
    free(image->data);
    memset(image, 0, sizeof *image);
}

/* True when `image` has data and a sane shape (for functions that take an input image). */
static bool image_valid(const vv_image *image) {
    return image && image->data && image->width > 0 && image->height > 0 &&
           image->width <= VV_IMAGE_MAX_SIDE && image->height <= VV_IMAGE_MAX_SIDE &&
           image->channels >= 1 && image->channels <= 4;
}

vv_status image_copy(vv_image *out, const vv_image *in) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_copy: NULL output");
    if (!image_valid(in)) {
        memset(out, 0, sizeof *out);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_copy: invalid input image");
    }
    vv_image copy;
    vv_status status = image_create(&copy, in->width, in->height, in->channels);
    if (status != VV_OK) {
        memset(out, 0, sizeof *out);
        return status;
    }
    memcpy(copy.data, in->data, (size_t)in->width * (size_t)in->height * (size_t)in->channels);
    *out = copy; /* after the copy, so out == in works */
    return VV_OK;
}

/* ---------------------------------------------------------------- PNG decoding */

/* Shared by decoding and encoding: the error callback writes `message`. */
typedef struct png_decode {
    char message[160];
    const uint8_t *data;
    size_t size, pos;
    uint8_t *pixels;
    png_bytep *rows;
} png_decode;

static void png_read_callback(png_structp png, png_bytep dst, size_t count) {
    png_decode *decode = png_get_io_ptr(png);
    if (count > decode->size - decode->pos) png_error(png, "unexpected end of file");
    memcpy(dst, decode->data + decode->pos, count);
    decode->pos += count;
}

static void png_error_callback(png_structp png, png_const_charp message) {
    png_decode *decode = png_get_error_ptr(png);
    snprintf(decode->message, sizeof decode->message, "%s", message ? message : "error");
    png_longjmp(png, 1);
}

static void png_warning_callback(png_structp png, png_const_charp message) {
    (void)png;
    (void)message; /* libpng warnings (bad ancillary chunks) do not stop a decode */
}

static vv_status png_decode_memory(vv_image *out, const uint8_t *data, size_t size,
                                   const char *name) {
    /* Everything touched after setjmp lives on the heap, so a longjmp cannot leave it
     * indeterminate. */
    png_decode *decode = calloc(1, sizeof *decode);
    if (!decode) return vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding %s", name);
    decode->data = data;
    decode->size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, decode, png_error_callback,
                                             png_warning_callback);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        free(decode);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding %s", name);
    }
    vv_status status = VV_OK;
    /* The size sits at a fixed place in the first chunk (IHDR): check it before libpng
     * reads on, so a bare header claiming 50000x50000 is "too large", not "truncated". */
    if (size >= 24 && !memcmp(data + 12, "IHDR", 4)) {
        unsigned long w = ((unsigned long)data[16] << 24) | ((unsigned long)data[17] << 16) |
                          ((unsigned long)data[18] << 8) | data[19];
        unsigned long h = ((unsigned long)data[20] << 24) | ((unsigned long)data[21] << 16) |
                          ((unsigned long)data[22] << 8) | data[23];
        if (w > VV_IMAGE_MAX_SIDE || h > VV_IMAGE_MAX_SIDE ||
            (unsigned long long)w * h > VV_IMAGE_MAX_PIXELS) {
            status = vv_fail(VV_ERR_TOO_LARGE, "%s: PNG claims %lux%lu pixels, over the size limit (%d per side)",
                             name, w, h, VV_IMAGE_MAX_SIDE);
            png_destroy_read_struct(&png, &info, NULL);
            free(decode);
            return status;
        }
    }
    if (setjmp(png_jmpbuf(png))) {
        status = vv_fail(VV_ERR_CORRUPT, "corrupt or truncated PNG %s: %s", name, decode->message);
        goto done;
    }
    png_set_read_fn(png, decode, png_read_callback);
    /* libpng's own 1e6-per-side limit would call huge headers corrupt; our caps below
     * report them as too large instead. */
    png_set_user_limits(png, 0x7FFFFFFF, 0x7FFFFFFF);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, colour_type = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &colour_type, NULL, NULL, NULL);
    if (width > VV_IMAGE_MAX_SIDE || height > VV_IMAGE_MAX_SIDE ||
        (unsigned long long)width * height > VV_IMAGE_MAX_PIXELS) {
        status = vv_fail(VV_ERR_TOO_LARGE, "%s: PNG claims %lux%lu pixels, over the size limit (%d per side)",
                         name, (unsigned long)width, (unsigned long)height, VV_IMAGE_MAX_SIDE);
        goto done;
    }
    /* Normalise every PNG flavour to 8-bit RGB; alpha (including tRNS) is dropped. */
    if (colour_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (colour_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_scale_16(png);
    png_set_strip_alpha(png);
    if (!(colour_type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)width * 3) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "%s: unsupported PNG layout (colour type %d, depth %d)",
                         name, colour_type, bit_depth);
        goto done;
    }
    status = image_create(out, (int)width, (int)height, 3);
    if (status != VV_OK) goto done;
    decode->pixels = out->data;
    decode->rows = mem_alloc(height, sizeof(png_bytep));
    if (!decode->rows) {
        status = vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding %s", name);
        goto done;
    }
    for (png_uint_32 y = 0; y < height; y++) decode->rows[y] = decode->pixels + (size_t)y * width * 3;
    png_read_image(png, decode->rows);
    /* No png_read_end: data after the last row (even a missing IEND) does not matter. */

done:
    png_destroy_read_struct(&png, &info, NULL);
    free(decode->rows);
    if (status != VV_OK) {
        free(decode->pixels);
        memset(out, 0, sizeof *out);
    }
    free(decode);
    return status;
}

/* ---------------------------------------------------------------- EXIF orientation */

static unsigned read_u16(const uint8_t *p, bool big_endian) {
    return big_endian ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}

static uint32_t read_u32(const uint8_t *p, bool big_endian) {
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Orientation tag (0x0112) of IFD0 in a TIFF block, or 1 when absent or invalid. */
static int exif_tiff_orientation(const uint8_t *tiff, size_t size) {
    if (size < 8) return 1;
    bool big_endian;
    if (tiff[0] == 'M' && tiff[1] == 'M') big_endian = true;
    else if (tiff[0] == 'I' && tiff[1] == 'I') big_endian = false;
    else return 1;
    if (read_u16(tiff + 2, big_endian) != 42) return 1;
    size_t ifd = read_u32(tiff + 4, big_endian);
    if (ifd > size || size - ifd < 2) return 1;
    unsigned count = read_u16(tiff + ifd, big_endian);
    for (unsigned i = 0; i < count; i++) {
        size_t entry = ifd + 2 + (size_t)i * 12;
        if (entry > size || size - entry < 12) return 1;
        if (read_u16(tiff + entry, big_endian) != 0x0112) continue;
        unsigned type = read_u16(tiff + entry + 2, big_endian);
        uint32_t values = read_u32(tiff + entry + 4, big_endian);
        if (type != 3 || values < 1) return 1; /* must be SHORT; the value sits inline */
        unsigned orientation = read_u16(tiff + entry + 8, big_endian);
        return orientation >= 1 && orientation <= 8 ? (int)orientation : 1;
    }
    return 1;
}

/* EXIF orientation (1-8) from the first APP1 Exif segment before the scan; 1 if none. */
static int jpeg_exif_orientation(const uint8_t *data, size_t size) {
    size_t pos = 2; /* after SOI */
    while (pos + 4 <= size) {
        if (data[pos] != 0xFF) return 1;
        uint8_t marker = data[pos + 1];
        if (marker == 0xFF) { /* fill byte */
            pos++;
            continue;
        }
        if (marker == 0xDA || marker == 0xD9) return 1; /* scan or end: no more headers */
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { /* no length field */
            pos += 2;
            continue;
        }
        size_t length = (size_t)data[pos + 2] << 8 | data[pos + 3];
        if (length < 2 || length > size - pos - 2) return 1;
        const uint8_t *segment = data + pos + 4;
        size_t segment_size = length - 2;
        if (marker == 0xE1 && segment_size >= 6 && memcmp(segment, "Exif\0\0", 6) == 0)
            return exif_tiff_orientation(segment + 6, segment_size - 6);
        pos += 2 + length;
    }
    return 1;
}

/* Turns a stored RGB image into its displayed form for EXIF orientation 2-8. */
static vv_status image_apply_orientation(vv_image *image, int orientation, const char *name) {
    if (orientation <= 1 || orientation > 8) return VV_OK;
    int w = image->width, h = image->height;
    bool swap = orientation >= 5;
    vv_image out;
    vv_status status = image_create(&out, swap ? h : w, swap ? w : h, image->channels);
    if (status != VV_OK) return vv_fail(status, "%s: out of memory applying EXIF orientation", name);
    int c = image->channels;
    for (int y = 0; y < out.height; y++) {
        for (int x = 0; x < out.width; x++) {
            int sx, sy; /* stored pixel shown at displayed (x, y) */
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;             /* mirrored left-right */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;     /* rotated 180 */
            case 4: sx = x; sy = h - 1 - y; break;             /* mirrored top-bottom */
            case 5: sx = y; sy = x; break;                     /* transposed */
            case 6: sx = y; sy = h - 1 - x; break;             /* needs 90 clockwise */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;     /* transversed */
            default: sx = w - 1 - y; sy = x; break;            /* 8: needs 90 counter-clockwise */
            }
            memcpy(out.data + ((size_t)y * out.width + x) * c,
                   image->data + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    }
    image_free(image);
    *image = out;
    return VV_OK;
}

/* ---------------------------------------------------------------- JPEG decoding */

/* Whether the first frame header (SOFn) uses Huffman coding.  Huffman codes spend at
 * least one bit per 8x8 block on its DC term, so such a file cannot be much smaller than
 * pixels / 512 bytes; arithmetic coding has no such floor. */
static bool jpeg_is_huffman(const uint8_t *data, size_t size) {
    /* A byte search up to the first scan (SOS) rather than a segment walk: libjpeg
     * tolerates malformed segment lengths that would derail a walk. */
    for (size_t at = 2; at + 1 < size; at++) {
        if (data[at] != 0xFF) continue;
        uint8_t marker = data[at + 1];
        if (marker == 0xDA) break;
        if (marker == 0xC9 || marker == 0xCA || marker == 0xCB || marker == 0xCD || marker == 0xCE || marker == 0xCF)
            return false;
    }
    return true;
}

static vv_status jpeg_decode_memory(vv_image *out, const uint8_t *data, size_t size,
                                    const char *name) {
    if (size > 0xFFFFFFFFul) return vv_fail(VV_ERR_TOO_LARGE, "%s: JPEG file too large", name);
    tjhandle tj = tjInitDecompress();
    if (!tj) return vv_fail(VV_ERR_NO_MEMORY, "cannot start the JPEG decoder for %s", name);
    int width = 0, height = 0, subsampling = 0, colourspace = 0;
    vv_status status = VV_OK;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsampling,
                            &colourspace) != 0) {
        status = vv_fail(VV_ERR_CORRUPT, "corrupt JPEG header in %s: %s", name, tjGetErrorStr2(tj));
        goto done;
    }
    if (width > VV_IMAGE_MAX_SIDE || height > VV_IMAGE_MAX_SIDE || width <= 0 || height <= 0 ||
        (unsigned long long)width * (unsigned long long)height > VV_IMAGE_MAX_PIXELS) {
        status = vv_fail(width <= 0 || height <= 0 ? VV_ERR_CORRUPT : VV_ERR_TOO_LARGE,
                         "%s: JPEG claims %dx%d pixels, over the size limit (%d per side)", name,
                         width, height, VV_IMAGE_MAX_SIDE);
        goto done;
    }
    /* A 103-byte file claiming 80 megapixels is truncated: refuse it before decoding
     * (libjpeg would spend seconds filling it with grey).  Half the Huffman floor. */
    if (jpeg_is_huffman(data, size) && (unsigned long long)width * height / 1024 > size) {
        status = vv_fail(VV_ERR_CORRUPT, "corrupt or truncated JPEG %s: %lu bytes cannot hold %dx%d pixels", name,
                         (unsigned long)size, width, height);
        goto done;
    }
    if (colourspace == TJCS_CMYK || colourspace == TJCS_YCCK) {
        status = vv_fail(VV_ERR_UNSUPPORTED, "%s: CMYK JPEGs are not supported", name);
        goto done;
    }
    status = image_create(out, width, height, 3);
    if (status != VV_OK) goto done;
    /* libjpeg's defaults (accurate integer DCT, fancy upsampling): the same pixels as
     * dlib's loader and djpeg.  LIMITSCANS refuses progressive files with absurd scan
     * counts (a decode-time bomb). */
    if (tjDecompress2(tj, data, (unsigned long)size, out->data, width, 0, height, TJPF_RGB,
                      TJFLAG_LIMITSCANS) != 0) {
        const char *message = tjGetErrorStr2(tj);
        /* Warnings (e.g. stray bytes) still give a full image; a truncated file gets
         * grey fill for the missing part, so that one is an error. */
        if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(message, "Premature end")) {
            status = vv_fail(VV_ERR_CORRUPT, "corrupt or truncated JPEG %s: %s", name, message);
            image_free(out);
            goto done;
        }
    }
    status = image_apply_orientation(out, jpeg_exif_orientation(data, size), name);
    if (status != VV_OK) image_free(out);
done:
    tjDestroy(tj);
    return status;
}

/* ---------------------------------------------------------------- loading */

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

vv_status image_load_memory(vv_image *out, const uint8_t *data, size_t size, const char *name) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_load_memory: NULL output");
    memset(out, 0, sizeof *out);
    if (!name) name = "image";
    if (!data || size == 0) return vv_fail(VV_ERR_FORMAT, "%s is empty, not an image", name);
    if (size >= 8 && memcmp(data, png_signature, 8) == 0)
        return png_decode_memory(out, data, size, name);
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return jpeg_decode_memory(out, data, size, name);
    return vv_fail(VV_ERR_FORMAT, "%s is not a PNG or JPEG image", name);
}

static bool image_signature(const uint8_t *data, size_t size) {
    return (size >= 8 && memcmp(data, png_signature, 8) == 0) ||
           (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF);
}

bool image_file_is_image(const char *path) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return false;
    uint8_t magic[8] = {0};
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return image_signature(magic, n);
}

vv_status image_load(vv_image *out, const char *path) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_load: NULL output");
    memset(out, 0, sizeof *out);
    if (!path) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_load: NULL path");
    uint8_t *data;
    size_t size;
    vv_status status = file_read_all(path, IMAGE_MAX_FILE_BYTES, &data, &size);
    if (status != VV_OK) return status;
    status = image_load_memory(out, data, size, path);
    free(data);
    return status;
}

/* ---------------------------------------------------------------- saving */

static vv_status write_error(const char *path, int error) {
    if (error == ENOENT)
        return vv_fail(VV_ERR_WRITE, "cannot write %s: the folder does not exist", path);
    return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(error));
}

/* Closes f and reports a write failure (full disk shows up here or in fclose). */
static vv_status close_written(FILE *f, const char *path) {
    int failed = ferror(f);
    int error = errno;
    if (fclose(f) != 0) {
        failed = 1;
        error = errno;
    }
    return failed ? write_error(path, error ? error : EIO) : VV_OK;
}

static vv_status png_write_file(const vv_image *image, const char *temp_path, const char *path) {
    FILE *f = fopen(temp_path, "wb");
    if (!f) return write_error(path, errno);
    png_decode *encode = calloc(1, sizeof *encode);
    png_bytep *rows = mem_alloc((size_t)image->height, sizeof(png_bytep));
    png_structp png = encode && rows ? png_create_write_struct(PNG_LIBPNG_VER_STRING, encode,
                                                               png_error_callback, png_warning_callback)
                                     : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        free(encode);
        free(rows);
        fclose(f);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing %s", path);
    }
    vv_status status = VV_OK;
    if (setjmp(png_jmpbuf(png))) {
        status = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, encode->message);
        goto done;
    }
    static const int colour_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                        PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
                 colour_types[image->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)image->width * (size_t)image->channels;
    for (int y = 0; y < image->height; y++) rows[y] = image->data + (size_t)y * stride;
    png_write_image(png, rows);
    png_write_end(png, NULL);
done:
    png_destroy_write_struct(&png, &info);
    free(encode);
    free(rows);
    vv_status closed = close_written(f, path);
    return status != VV_OK ? status : closed;
}

static vv_status jpeg_write_file(const vv_image *image, int quality, const char *temp_path,
                                 const char *path) {
    if (image->channels != 1 && image->channels != 3)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "cannot write %s: JPEG needs 1 or 3 channels, not %d",
                       path, image->channels);
    tjhandle tj = tjInitCompress();
    if (!tj) return vv_fail(VV_ERR_NO_MEMORY, "cannot start the JPEG encoder for %s", path);
    unsigned char *buffer = NULL;
    unsigned long size = 0;
    bool gray = image->channels == 1;
    if (tjCompress2(tj, image->data, image->width, 0, image->height, gray ? TJPF_GRAY : TJPF_RGB,
                    &buffer, &size, gray ? TJSAMP_GRAY : TJSAMP_420, quality, 0) != 0) {
        vv_status status = vv_fail(VV_ERR_INTERNAL, "JPEG encoding of %s failed: %s", path,
                                   tjGetErrorStr2(tj));
        tjFree(buffer);
        tjDestroy(tj);
        return status;
    }
    tjDestroy(tj);
    FILE *f = fopen(temp_path, "wb");
    if (!f) {
        tjFree(buffer);
        return write_error(path, errno);
    }
    size_t written = fwrite(buffer, 1, size, f);
    int error = errno;
    tjFree(buffer);
    vv_status status = close_written(f, path);
    if (status == VV_OK && written != size) status = write_error(path, error ? error : EIO);
    return status;
}

/* Writes through a temp file beside `path`, renamed into place only on success. */
static vv_status image_save_format(const vv_image *image, const char *path, bool jpeg, int quality) {
    if (!path || !path[0]) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_save: empty output path");
    if (!image_valid(image))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "cannot write %s: invalid image", path);
    char temp[4096];
    vv_status status = file_temp_path(path, temp, sizeof temp);
    if (status != VV_OK) return status;
    status = jpeg ? jpeg_write_file(image, quality, temp, path) : png_write_file(image, temp, path);
    if (status != VV_OK) {
        remove(temp);
        return status;
    }
    return file_commit(temp, path);
}

vv_status image_save(const vv_image *image, const char *path) {
    if (!path) return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_save: NULL path");
    char extension[8];
    path_extension(path, extension, sizeof extension);
    if (strcmp(extension, "png") == 0) return image_save_format(image, path, false, 0);
    if (strcmp(extension, "jpg") == 0 || strcmp(extension, "jpeg") == 0)
        return image_save_format(image, path, true, IMAGE_DEFAULT_JPEG_QUALITY);
    return vv_fail(VV_ERR_INVALID_ARGUMENT, "cannot write %s: unknown image extension (use .png, .jpg or .jpeg)",
                   path);
}

vv_status image_save_jpeg(const vv_image *image, const char *path, int quality) {
    if (quality < 1 || quality > 100)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "JPEG quality %d out of range 1-100", quality);
    return image_save_format(image, path, true, quality);
}

/* ---------------------------------------------------------------- public wrappers */

vv_status vv_image_load(vv_image *out, const char *path) { return image_load(out, path); }

vv_status vv_image_save(const vv_image *image, const char *path) { return image_save(image, path); }

void vv_image_free(vv_image *image) { image_free(image); }
