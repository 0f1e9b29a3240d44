/* img: PNG/JPEG loading and saving (all PNG flavours written here with libpng directly),
 * EXIF orientation, hostile and broken inputs, dlib's gray formula, resize, sampling,
 * warps, drawing and the landmark rasteriser; plus every shared portrait checked against
 * sizes from `file` and pixel sums from ffmpeg (PNG) and djpeg (JPEG). */
#include "img/image.h"
#include "test.h"

#include <dirent.h>
#include <png.h>
#include <stdint.h>
#include <turbojpeg.h>
#include <unistd.h>

static const char *tmp;

static const char *tmp_path(const char *name) {
    static char buffers[4][4096];
    static int next;
    char *path = buffers[next++ & 3];
    snprintf(path, 4096, "%s/%s", tmp, name);
    return path;
}

static bool write_bytes(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static uint8_t *read_bytes(const char *path, size_t *size) {
    uint8_t *data;
    if (file_read_all(path, 1 << 26, &data, size) != VV_OK) return NULL;
    return data;
}

static const uint8_t *pixel(const vv_image *image, int x, int y) {
    return image->data + ((size_t)y * image->width + x) * image->channels;
}

static bool pixel_is(const vv_image *image, int x, int y, int r, int g, int b) {
    const uint8_t *p = pixel(image, x, y);
    return p[0] == r && p[1] == g && p[2] == b;
}

/* Writes a PNG with libpng itself: rows are given in the file's own layout. */
static bool png_write_test(const char *path, int width, int height, int bit_depth, int colour_type,
                           int interlace, const uint8_t *rows_data, size_t stride,
                           const png_color *palette, int palette_size, const uint8_t *trns,
                           int trns_count) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return false;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, width, height, bit_depth, colour_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, palette_size);
    if (trns) png_set_tRNS(png, info, trns, trns_count, NULL);
    png_write_info(png, info);
    if (bit_depth == 16) png_set_swap(png); /* rows below hold little-endian uint16 */
    png_bytep rows[64];
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rows_data + (size_t)y * stride);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

static void test_png_flavours(void) {
    vv_image im;
    /* 8-bit gray -> RGB replicated. */
    uint8_t gray[3 * 2] = {0, 17, 255, 100, 200, 3};
    CHECK(png_write_test(tmp_path("gray.png"), 3, 2, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                         gray, 3, NULL, 0, NULL, 0));
    CHECK_OK(image_load(&im, tmp_path("gray.png")));
    CHECK(im.width == 3 && im.height == 2 && im.channels == 3);
    if (im.data) {
        for (int i = 0; i < 6; i++)
            CHECK(pixel_is(&im, i % 3, i / 3, gray[i], gray[i], gray[i]));
    }
    image_free(&im);

    /* RGBA: alpha dropped, colours kept as they are. */
    uint8_t rgba[2 * 2 * 4] = {10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 1, 2, 3, 4};
    CHECK(png_write_test(tmp_path("rgba.png"), 2, 2, 8, PNG_COLOR_TYPE_RGB_ALPHA,
                         PNG_INTERLACE_NONE, rgba, 8, NULL, 0, NULL, 0));
    CHECK_OK(image_load(&im, tmp_path("rgba.png")));
    CHECK(im.width == 2 && im.height == 2 && im.channels == 3);
    if (im.data) {
        CHECK(pixel_is(&im, 0, 0, 10, 20, 30));
        CHECK(pixel_is(&im, 1, 0, 40, 50, 60));
        CHECK(pixel_is(&im, 0, 1, 70, 80, 90));
        CHECK(pixel_is(&im, 1, 1, 1, 2, 3));
    }
    image_free(&im);

    /* 16-bit RGB: 0x1212 -> 0x12 exactly; 0x12FF = 4863 -> round(4863 / 257) = 19. */
    uint16_t rgb16[2 * 3] = {0x1212, 0xFFFF, 0x0000, 0x12FF, 0x8080, 0x0101};
    CHECK(png_write_test(tmp_path("rgb16.png"), 2, 1, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                         (const uint8_t *)rgb16, 12, NULL, 0, NULL, 0));
    CHECK_OK(image_load(&im, tmp_path("rgb16.png")));
    if (im.data) {
        CHECK(pixel_is(&im, 0, 0, 0x12, 0xFF, 0x00));
        CHECK(pixel_is(&im, 1, 0, 19, 0x80, 0x01));
    }
    image_free(&im);

    /* 2-bit palette with tRNS: palette colours, transparency ignored. */
    png_color palette[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 8, 7}};
    uint8_t trns[4] = {0, 255, 128, 255};
    uint8_t packed[1] = {0x1B}; /* indices 0, 1, 2, 3 */
    CHECK(png_write_test(tmp_path("palette.png"), 4, 1, 2, PNG_COLOR_TYPE_PALETTE,
                         PNG_INTERLACE_NONE, packed, 1, palette, 4, trns, 4));
    CHECK_OK(image_load(&im, tmp_path("palette.png")));
    CHECK(im.width == 4 && im.height == 1 && im.channels == 3);
    if (im.data) {
        CHECK(pixel_is(&im, 0, 0, 255, 0, 0));
        CHECK(pixel_is(&im, 1, 0, 0, 255, 0));
        CHECK(pixel_is(&im, 2, 0, 0, 0, 255));
        CHECK(pixel_is(&im, 3, 0, 9, 8, 7));
    }
    image_free(&im);

    /* 1-bit gray: 0 -> 0, 1 -> 255. */
    uint8_t bits[1] = {0xA0}; /* 1 0 1 0 */
    CHECK(png_write_test(tmp_path("gray1.png"), 4, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                         bits, 1, NULL, 0, NULL, 0));
    CHECK_OK(image_load(&im, tmp_path("gray1.png")));
    if (im.data) {
        CHECK(pixel_is(&im, 0, 0, 255, 255, 255));
        CHECK(pixel_is(&im, 1, 0, 0, 0, 0));
        CHECK(pixel_is(&im, 2, 0, 255, 255, 255));
    }
    image_free(&im);

    /* Adam7-interlaced RGB gives the same pixels as the data written. */
    uint8_t rgb[9 * 9 * 3];
    for (int i = 0; i < 9 * 9 * 3; i++) rgb[i] = (uint8_t)(i * 7 + 3);
    CHECK(png_write_test(tmp_path("interlaced.png"), 9, 9, 8, PNG_COLOR_TYPE_RGB,
                         PNG_INTERLACE_ADAM7, rgb, 27, NULL, 0, NULL, 0));
    CHECK_OK(image_load(&im, tmp_path("interlaced.png")));
    CHECK(im.data && im.width == 9 && im.height == 9 && memcmp(im.data, rgb, sizeof rgb) == 0);
    image_free(&im);
}

/* A smooth RGB test picture (JPEG-friendly). */
static void make_gradient(vv_image *im, int width, int height) {
    CHECK_OK(image_create(im, width, height, 3));
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *p = im->data + ((size_t)y * width + x) * 3;
            p[0] = (uint8_t)(x * 255 / (width - 1));
            p[1] = (uint8_t)(y * 255 / (height - 1));
            p[2] = (uint8_t)((x + y) * 127 / (width + height - 2));
        }
}

static void make_noise(vv_image *im, int width, int height, unsigned seed) {
    CHECK_OK(image_create(im, width, height, 3));
    for (size_t i = 0; i < (size_t)width * height * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        im->data[i] = (uint8_t)(seed >> 16);
    }
}

static void test_save_round_trip(void) {
    vv_image noise, back;
    make_noise(&noise, 37, 23, 1);
    CHECK_OK(image_save(&noise, tmp_path("noise.png")));
    CHECK_OK(image_load(&back, tmp_path("noise.png")));
    CHECK(back.data && back.width == 37 && back.height == 23 && back.channels == 3 &&
          memcmp(back.data, noise.data, 37 * 23 * 3) == 0);
    image_free(&back);
    /* Upper-case extension. */
    CHECK_OK(image_save(&noise, tmp_path("noise_upper.PNG")));
    CHECK(file_exists(tmp_path("noise_upper.PNG")));

    /* A gray image saves as a gray PNG and loads back replicated. */
    vv_image gray;
    CHECK_OK(image_create(&gray, 5, 4, 1));
    for (int i = 0; i < 20; i++) gray.data[i] = (uint8_t)(i * 13);
    CHECK_OK(image_save(&gray, tmp_path("gray_saved.png")));
    CHECK_OK(image_load(&back, tmp_path("gray_saved.png")));
    if (back.data)
        for (int i = 0; i < 20; i++) CHECK(pixel_is(&back, i % 5, i / 5, i * 13, i * 13, i * 13));
    image_free(&back);
    image_free(&gray);

    /* JPEG: same size, small error on a smooth picture; lower quality -> smaller file. */
    vv_image smooth;
    make_gradient(&smooth, 64, 48);
    CHECK_OK(image_save(&smooth, tmp_path("smooth.jpg")));
    CHECK_OK(image_save_jpeg(&smooth, tmp_path("smooth_q10.jpeg"), 10));
    CHECK_OK(image_load(&back, tmp_path("smooth.jpg")));
    CHECK(back.width == 64 && back.height == 48 && back.channels == 3);
    if (back.data) {
        double error = 0;
        for (size_t i = 0; i < 64 * 48 * 3; i++) error += abs(back.data[i] - smooth.data[i]);
        error /= 64 * 48 * 3;
        CHECK_MSG(error < 2.0, "mean JPEG q95 error %.3f", error);
    }
    image_free(&back);
    size_t size95 = 0, size10 = 0;
    uint8_t *d95 = read_bytes(tmp_path("smooth.jpg"), &size95);
    uint8_t *d10 = read_bytes(tmp_path("smooth_q10.jpeg"), &size10);
    CHECK(d95 && d10 && size10 < size95);
    free(d95);
    free(d10);
    /* image_load_memory gives the same as image_load. */
    CHECK_OK(image_load(&back, tmp_path("noise.png")));
    size_t size;
    uint8_t *bytes = read_bytes(tmp_path("noise.png"), &size);
    vv_image from_memory;
    CHECK_OK(image_load_memory(&from_memory, bytes, size, "noise bytes"));
    CHECK(from_memory.data && back.data && memcmp(from_memory.data, back.data, 37 * 23 * 3) == 0);
    free(bytes);
    image_free(&from_memory);
    image_free(&back);

    /* Public wrappers. */
    vv_image pub;
    CHECK_OK(vv_image_load(&pub, tmp_path("noise.png")));
    CHECK_OK(vv_image_save(&pub, tmp_path("noise_public.png")));
    vv_image_free(&pub);
    CHECK(pub.data == NULL && pub.width == 0);
    image_free(&smooth);
    image_free(&noise);
}

/* ---- EXIF orientation ---- */

/* Appends an APP1 Exif block with an IFD0 holding one Orientation entry right after SOI. */
static uint8_t *splice_exif(const uint8_t *jpeg, size_t size, int orientation, bool big_endian,
                            uint32_t ifd_offset, size_t *out_size) {
    uint8_t tiff[26];
    size_t n = 0;
#define PUT16(v) (big_endian ? (tiff[n++] = (uint8_t)((v) >> 8), tiff[n++] = (uint8_t)(v)) \
                             : (tiff[n++] = (uint8_t)(v), tiff[n++] = (uint8_t)((v) >> 8)))
#define PUT32(v) (big_endian ? (PUT16((v) >> 16), PUT16((v) & 0xFFFF)) : (PUT16((v) & 0xFFFF), PUT16((v) >> 16)))
    tiff[n++] = big_endian ? 'M' : 'I';
    tiff[n++] = big_endian ? 'M' : 'I';
    PUT16(42);
    PUT32(ifd_offset);
    PUT16(1);                 /* one entry */
    PUT16(0x0112);            /* Orientation */
    PUT16(3);                 /* SHORT */
    PUT32(1);                 /* count */
    PUT16(orientation);
    PUT16(0);                 /* padding of the 4-byte value field */
    PUT32(0);                 /* no next IFD */
#undef PUT16
#undef PUT32
    size_t segment = 2 + 6 + n; /* length field counts itself */
    uint8_t *out = malloc(size + 2 + segment);
    out[0] = 0xFF;
    out[1] = 0xD8;
    out[2] = 0xFF;
    out[3] = 0xE1;
    out[4] = (uint8_t)(segment >> 8);
    out[5] = (uint8_t)segment;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, n);
    memcpy(out + 12 + n, jpeg + 2, size - 2);
    *out_size = size + 2 + segment;
    return out;
}

enum { RED, GREEN, BLUE, WHITE };
static const uint8_t quadrant_rgb[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};

static bool near_colour(const vv_image *im, int x, int y, int colour) {
    const uint8_t *p = pixel(im, x, y);
    for (int k = 0; k < 3; k++)
        if (abs(p[k] - quadrant_rgb[colour][k]) > 40) return false;
    return true;
}

static void test_exif_orientation(void) {
    /* Stored 64x32: top-left red, top-right green, bottom-left blue, bottom-right white. */
    vv_image stored;
    CHECK_OK(image_create(&stored, 64, 32, 3));
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 64; x++)
            memcpy(stored.data + ((size_t)y * 64 + x) * 3,
                   quadrant_rgb[(y >= 16) * 2 + (x >= 32)], 3);
    CHECK_OK(image_save_jpeg(&stored, tmp_path("quadrants.jpg"), 95));
    size_t size;
    uint8_t *jpeg = read_bytes(tmp_path("quadrants.jpg"), &size);
    CHECK(jpeg != NULL);
    if (!jpeg) return;
    /* Displayed corner colours (TL, TR, BL, BR) per the EXIF definitions, e.g. 6 means
     * "rotate 90 clockwise to view": the stored left column becomes the top row. */
    static const int expected[9][4] = {
        {0},
        {RED, GREEN, BLUE, WHITE},  /* 1 */
        {GREEN, RED, WHITE, BLUE},  /* 2 mirror */
        {WHITE, BLUE, GREEN, RED},  /* 3 rotate 180 */
        {BLUE, WHITE, RED, GREEN},  /* 4 flip */
        {RED, BLUE, GREEN, WHITE},  /* 5 transpose */
        {BLUE, RED, WHITE, GREEN},  /* 6 rotate 90 CW */
        {WHITE, GREEN, BLUE, RED},  /* 7 transverse */
        {GREEN, WHITE, RED, BLUE},  /* 8 rotate 90 CCW */
    };
    for (int orientation = 1; orientation <= 8; orientation++) {
        size_t spliced_size;
        uint8_t *spliced = splice_exif(jpeg, size, orientation, orientation % 2 == 0, 8,
                                       &spliced_size);
        vv_image im;
        CHECK_OK(image_load_memory(&im, spliced, spliced_size, "exif test"));
        bool swapped = orientation >= 5;
        CHECK_MSG(im.width == (swapped ? 32 : 64) && im.height == (swapped ? 64 : 32),
                  "orientation %d gave %dx%d", orientation, im.width, im.height);
        if (im.data && im.width >= 8 && im.height >= 8) {
            int w = im.width, h = im.height;
            CHECK_MSG(near_colour(&im, 4, 4, expected[orientation][0]), "orientation %d TL", orientation);
            CHECK_MSG(near_colour(&im, w - 5, 4, expected[orientation][1]), "orientation %d TR", orientation);
            CHECK_MSG(near_colour(&im, 4, h - 5, expected[orientation][2]), "orientation %d BL", orientation);
            CHECK_MSG(near_colour(&im, w - 5, h - 5, expected[orientation][3]), "orientation %d BR", orientation);
        }
        image_free(&im);
        free(spliced);
    }
    /* Hostile EXIF: IFD offset far outside, or an out-of-range value: loaded unrotated. */
    const uint32_t bad_offsets[] = {0xFFFFFFF0u, 27, 1000};
    for (int i = 0; i < 3; i++) {
        size_t spliced_size;
        uint8_t *spliced = splice_exif(jpeg, size, 6, true, bad_offsets[i], &spliced_size);
        vv_image im;
        CHECK_OK(image_load_memory(&im, spliced, spliced_size, "hostile exif"));
        CHECK(im.width == 64 && im.height == 32);
        image_free(&im);
        free(spliced);
    }
    size_t spliced_size;
    uint8_t *spliced = splice_exif(jpeg, size, 9, false, 8, &spliced_size);
    vv_image im;
    CHECK_OK(image_load_memory(&im, spliced, spliced_size, "orientation 9"));
    CHECK(im.width == 64 && im.height == 32);
    image_free(&im);
    /* Every truncation of the spliced header region fails cleanly (ASan checks reads). */
    for (size_t cut = 1; cut < 60; cut++) {
        vv_status s = image_load_memory(&im, spliced, cut, "cut exif");
        CHECK(s == VV_ERR_CORRUPT || s == VV_ERR_FORMAT);
        CHECK(im.data == NULL);
    }
    free(spliced);
    free(jpeg);
    image_free(&stored);
}

/* ---- bad inputs ---- */

static void test_bad_inputs(void) {
    vv_image im;
    vv_status s = image_load(&im, tmp_path("does_not_exist.png"));
    CHECK(s == VV_ERR_NOT_FOUND);
    CHECK(strstr(vv_last_error(), "does_not_exist.png") != NULL);
    CHECK(im.data == NULL);

    CHECK(write_bytes(tmp_path("empty.png"), "", 0));
    s = image_load(&im, tmp_path("empty.png"));
    CHECK_MSG(s == VV_ERR_FORMAT, "empty file gave %s", vv_status_string(s));
    CHECK(strstr(vv_last_error(), "empty.png") != NULL);

    const char *text = "hello, this is not an image\n";
    CHECK(write_bytes(tmp_path("text.jpg"), text, strlen(text)));
    s = image_load(&im, tmp_path("text.jpg"));
    CHECK(s == VV_ERR_FORMAT);
    CHECK(strstr(vv_last_error(), "text.jpg") != NULL);

    /* Truncated PNG and JPEG of noise (no redundancy, so the cut lands in pixel data). */
    vv_image noise;
    make_noise(&noise, 64, 64, 7);
    CHECK_OK(image_save(&noise, tmp_path("full.png")));
    CHECK_OK(image_save(&noise, tmp_path("full.jpg")));
    const char *full[2] = {"full.png", "full.jpg"};
    const char *cut[2] = {"truncated.png", "truncated.jpg"};
    for (int i = 0; i < 2; i++) {
        size_t size;
        uint8_t *data = read_bytes(tmp_path(full[i]), &size);
        CHECK(data && size > 1000);
        if (!data) continue;
        CHECK(write_bytes(tmp_path(cut[i]), data, size / 2));
        s = image_load(&im, tmp_path(cut[i]));
        CHECK_MSG(s == VV_ERR_CORRUPT, "%s gave %s", cut[i], vv_status_string(s));
        CHECK(strstr(vv_last_error(), cut[i]) != NULL);
        CHECK(im.data == NULL);
        /* Many cut points, and a flipped byte in the middle: never a crash, and a cut
         * file is never accepted. */
        for (size_t n = 1; n + 12 < size; n += size / 97 + 1) { /* PNG: IEND may be cut */
            s = image_load_memory(&im, data, n, cut[i]);
            CHECK(s == VV_ERR_CORRUPT || s == VV_ERR_FORMAT);
        }
        data[size / 2] ^= 0x55;
        s = image_load_memory(&im, data, size, "flipped");
        if (s == VV_OK) image_free(&im);
        free(data);
    }
    /* Sanity: the full ones do load. */
    CHECK_OK(image_load(&im, tmp_path("full.png")));
    image_free(&im);
    CHECK_OK(image_load(&im, tmp_path("full.jpg")));
    image_free(&im);

    /* PNG headers claiming 50000x50000 (7.5 GB of RGB) or 3000000x1 (over libpng's own
     * default limit): TOO_LARGE from the header alone.  libpng writes a valid signature
     * + IHDR; an IDAT chunk header lets png_read_info return.  Under ASan an attempt to
     * allocate 7.5 GB would abort the test. */
    static const png_uint_32 huge_sizes[2][2] = {{50000, 50000}, {3000000, 1}};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(tmp_path("huge.png"), "wb");
        CHECK(f != NULL);
        if (!f) break;
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop info = png_create_info_struct(png);
        if (!setjmp(png_jmpbuf(png))) {
            png_set_user_limits(png, 0x7FFFFFFF, 0x7FFFFFFF);
            png_init_io(png, f);
            png_set_IHDR(png, info, huge_sizes[i][0], huge_sizes[i][1], 8, PNG_COLOR_TYPE_RGB,
                         PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
            png_write_info(png, info);
            png_write_flush(png);
        }
        png_destroy_write_struct(&png, &info);
        static const uint8_t idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0};
        fwrite(idat, 1, sizeof idat, f);
        fclose(f);
        double start = time_now();
        s = image_load(&im, tmp_path("huge.png"));
        CHECK_MSG(s == VV_ERR_TOO_LARGE, "huge PNG gave %s: %s", vv_status_string(s), vv_last_error());
        CHECK(strstr(vv_last_error(), "huge.png") != NULL);
        CHECK(time_now() - start < 1.0);
        CHECK(im.data == NULL);
    }

    /* A JPEG whose SOF claims 60000x60000. */
    size_t size;
    uint8_t *jpeg = read_bytes(tmp_path("full.jpg"), &size);
    if (jpeg) {
        bool patched = false;
        for (size_t i = 2; i + 9 < size; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) { /* SOF0: len(2) precision(1) h(2) w(2) */
                jpeg[i + 5] = 0xEA;
                jpeg[i + 6] = 0x60;
                jpeg[i + 7] = 0xEA;
                jpeg[i + 8] = 0x60;
                patched = true;
                break;
            }
        CHECK(patched);
        s = image_load_memory(&im, jpeg, size, "huge.jpg");
        CHECK_MSG(s == VV_ERR_TOO_LARGE, "huge JPEG gave %s", vv_status_string(s));
        free(jpeg);
    }

    /* Unwritable outputs: missing folder, read-only folder (skipped as root), bad extension.
     * No file, temporary or final, is left behind. */
    const char *missing = tmp_path("no_such_folder/out.png");
    s = image_save(&noise, missing);
    CHECK(s == VV_ERR_WRITE);
    CHECK(strstr(vv_last_error(), "no_such_folder/out.png") != NULL);
    CHECK(!file_exists(missing));
    s = image_save_jpeg(&noise, tmp_path("no_such_folder/out.jpg"), 90);
    CHECK(s == VV_ERR_WRITE);

    const char *locked = tmp_path("locked");
    mkdir(locked, 0777);
    chmod(locked, 0555);
    if (geteuid() != 0) {
        char out_path[4096];
        snprintf(out_path, sizeof out_path, "%s/out.png", locked);
        s = image_save(&noise, out_path);
        CHECK(s == VV_ERR_WRITE);
        CHECK(strstr(vv_last_error(), "out.png") != NULL);
        snprintf(out_path, sizeof out_path, "%s/out.jpg", locked);
        CHECK(image_save(&noise, out_path) == VV_ERR_WRITE);
    }
    chmod(locked, 0777);
    DIR *dir = opendir(locked);
    int entries = 0;
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    if (dir) closedir(dir);
    CHECK(entries == 0);

    /* Writing over a path that is a folder fails at the rename; the temp file is removed. */
    const char *folder_target = tmp_path("folder_target.png");
    mkdir(folder_target, 0777);
    CHECK(image_save(&noise, folder_target) == VV_ERR_WRITE);
    dir = opendir(tmp);
    int temps = 0;
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strstr(e->d_name, ".tmp-")) temps++;
    if (dir) closedir(dir);
    CHECK_MSG(temps == 0, "%d temp files left", temps);

    CHECK(image_save(&noise, tmp_path("out.bmp")) == VV_ERR_INVALID_ARGUMENT);
    CHECK(image_save(&noise, tmp_path("no_extension")) == VV_ERR_INVALID_ARGUMENT);
    CHECK(image_save_jpeg(&noise, tmp_path("q0.jpg"), 0) == VV_ERR_INVALID_ARGUMENT);
    CHECK(image_save_jpeg(&noise, tmp_path("q101.jpg"), 101) == VV_ERR_INVALID_ARGUMENT);
    vv_image empty = {0};
    CHECK(image_save(&empty, tmp_path("empty_image.png")) == VV_ERR_INVALID_ARGUMENT);
    CHECK(!file_exists(tmp_path("empty_image.png")));

    /* Creation limits. */
    CHECK(image_create(&im, 0, 5, 3) == VV_ERR_INVALID_ARGUMENT);
    CHECK(image_create(&im, 20000, 5, 3) == VV_ERR_TOO_LARGE);
    CHECK(image_create(&im, 5, 16385, 1) == VV_ERR_TOO_LARGE);
    CHECK(im.data == NULL);
    image_free(&noise);
}

/* ---- gray, resize, sample, warp ---- */

static void test_gray(void) {
    /* dlib: (r + g + b) / 3, truncated. BT.601 would give 76 for pure red. */
    static const uint8_t rgb[6][3] = {{255, 0, 0}, {10, 20, 31}, {255, 255, 254},
                                      {1, 1, 0}, {100, 150, 200}, {0, 0, 255}};
    static const uint8_t expected[6] = {85, 20, 254, 0, 150, 85};
    vv_image in, gray;
    CHECK_OK(image_create(&in, 6, 1, 3));
    memcpy(in.data, rgb, sizeof rgb);
    CHECK_OK(image_to_gray(&gray, &in));
    CHECK(gray.channels == 1 && gray.width == 6 && gray.height == 1);
    if (gray.data)
        for (int i = 0; i < 6; i++) CHECK_MSG(gray.data[i] == expected[i], "gray[%d] = %d", i, gray.data[i]);
    vv_image again;
    CHECK_OK(image_to_gray(&again, &gray)); /* gray in: copy */
    CHECK(again.data && memcmp(again.data, gray.data, 6) == 0);
    image_free(&again);
    image_free(&gray);
    image_free(&in);
}

static void test_resize(void) {
    vv_image in, out;
    /* 4x4 -> 2x2: each output is the mean of a 2x2 block. */
    static const uint8_t block[16] = {10, 20, 100, 100, 30, 40, 100, 104,
                                      0, 0, 255, 255, 4, 8, 255, 251};
    CHECK_OK(image_create(&in, 4, 4, 1));
    memcpy(in.data, block, 16);
    CHECK_OK(image_resize(&out, &in, 2, 2));
    if (out.data) {
        CHECK(out.data[0] == 25);
        CHECK(out.data[1] == 101);
        CHECK(out.data[2] == 3);
        CHECK(out.data[3] == 254);
    }
    image_free(&out);
    /* Same size: unchanged. */
    CHECK_OK(image_resize(&out, &in, 4, 4));
    CHECK(out.data && memcmp(out.data, block, 16) == 0);
    image_free(&out);
    image_free(&in);

    /* 2 -> 4 bilinear between pixel centres: sources -0.25, 0.25, 0.75, 1.25 (clamped). */
    CHECK_OK(image_create(&in, 2, 1, 1));
    in.data[0] = 0;
    in.data[1] = 100;
    CHECK_OK(image_resize(&out, &in, 4, 1));
    if (out.data) {
        CHECK(out.data[0] == 0);
        CHECK(out.data[1] == 25);
        CHECK(out.data[2] == 75);
        CHECK(out.data[3] == 100);
    }
    image_free(&out);
    image_free(&in);

    /* 3 -> 2 area: out0 = (p0 + p1 / 2) / 1.5, out1 = (p1 / 2 + p2) / 1.5. */
    CHECK_OK(image_create(&in, 3, 1, 3));
    for (int k = 0; k < 3; k++) {
        in.data[0 + k] = 0;
        in.data[3 + k] = 30;
        in.data[6 + k] = 60;
    }
    CHECK_OK(image_resize(&out, &in, 2, 1));
    if (out.data) {
        CHECK(pixel_is(&out, 0, 0, 10, 10, 10));
        CHECK(pixel_is(&out, 1, 0, 50, 50, 50));
    }
    image_free(&out);
    image_free(&in);

    /* An exact 3x area downscale keeps the mean; in-place (out == in) works. */
    vv_image noise;
    make_noise(&noise, 99, 60, 3);
    double mean_in = 0, mean_out = 0;
    for (size_t i = 0; i < 99 * 60 * 3; i++) mean_in += noise.data[i];
    mean_in /= 99 * 60 * 3;
    CHECK_OK(image_resize(&noise, &noise, 33, 20));
    CHECK(noise.width == 33 && noise.height == 20);
    for (size_t i = 0; i < 33 * 20 * 3; i++) mean_out += noise.data[i];
    mean_out /= 33 * 20 * 3;
    CHECK_NEAR(mean_out, mean_in, 0.5);
    image_free(&noise);

    CHECK(image_resize(&out, &in, 10, 10) == VV_ERR_INVALID_ARGUMENT); /* in was freed */
    vv_image small;
    CHECK_OK(image_create(&small, 2, 2, 3));
    CHECK(image_resize(&out, &small, 0, 10) == VV_ERR_INVALID_ARGUMENT);
    CHECK(image_resize(&out, &small, 100000, 10) == VV_ERR_TOO_LARGE);
    image_free(&small);
}

static void test_sample_and_warp(void) {
    vv_image in;
    CHECK_OK(image_create(&in, 3, 2, 1));
    static const uint8_t values[6] = {0, 100, 200, 50, 150, 250};
    memcpy(in.data, values, 6);
    CHECK_NEAR(image_sample(&in, 1, 0, 0), 100, 0);
    CHECK_NEAR(image_sample(&in, 0.5f, 0, 0), 50, 1e-4);
    CHECK_NEAR(image_sample(&in, 0.5f, 0.5f, 0), 75, 1e-4);
    CHECK_NEAR(image_sample(&in, -5, -5, 0), 0, 0);    /* clamped to (0, 0) */
    CHECK_NEAR(image_sample(&in, 10, 10, 0), 250, 0);  /* clamped to (2, 1) */
    CHECK_NEAR(image_sample(&in, NAN, 1e30f, 0), 50, 0); /* NaN -> 0, huge -> clamped */
    CHECK_NEAR(image_sample(&in, 0, 0, 3), 0, 0);      /* channel out of range */
    float rgb[3];
    image_sample_rgb(&in, 0.5f, 0.5f, rgb); /* gray: three equal values */
    CHECK(rgb[0] == image_sample(&in, 0.5f, 0.5f, 0) && rgb[1] == rgb[0] && rgb[2] == rgb[0]);
    image_free(&in);

    vv_image noise, out;
    make_noise(&noise, 40, 30, 11);
    int rgb_wrong = 0; /* colour: each channel as image_sample gives it, clamped alike */
    for (int i = 0; i < 50; i++) {
        float x = -3.0f + 0.97f * (float)i, y = -2.0f + 0.71f * (float)i;
        image_sample_rgb(&noise, x, y, rgb);
        for (int c = 0; c < 3; c++) rgb_wrong += rgb[c] != image_sample(&noise, x, y, c);
    }
    CHECK_MSG(rgb_wrong == 0, "%d image_sample_rgb values differ from image_sample", rgb_wrong);
    CHECK_OK(image_create(&out, 40, 30, 3));
    const float identity[6] = {1, 0, 0, 0, 1, 0};
    image_warp_affine(&out, &noise, identity, NULL);
    CHECK(memcmp(out.data, noise.data, 40 * 30 * 3) == 0);

    /* out(x, y) = in(x - 3, y + 2): an exact shift, fill where the source is outside. */
    const float shift[6] = {1, 0, -3, 0, 1, 2};
    const uint8_t fill[3] = {1, 2, 3};
    image_warp_affine(&out, &noise, shift, fill);
    int wrong = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++) {
            const uint8_t *p = pixel(&out, x, y);
            int sx = x - 3, sy = y + 2;
            const uint8_t *want = (sx >= 0 && sy < 30) ? pixel(&noise, sx, sy) : fill;
            wrong += memcmp(p, want, 3) != 0;
        }
    CHECK_MSG(wrong == 0, "%d pixels wrong after integer shift", wrong);
    image_free(&out);

    /* 90-degree rotation: out (30 x 40) (x, y) = in(y, 29 - x), exact. */
    CHECK_OK(image_create(&out, 30, 40, 3));
    const float rotate[6] = {0, 1, 0, -1, 0, 29};
    image_warp_affine(&out, &noise, rotate, NULL);
    wrong = 0;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 30; x++) wrong += memcmp(pixel(&out, x, y), pixel(&noise, y, 29 - x), 3) != 0;
    CHECK_MSG(wrong == 0, "%d pixels wrong after rotation", wrong);
    image_free(&out);

    /* A sub-pixel scale agrees with image_sample, rounded. */
    CHECK_OK(image_create(&out, 40, 30, 3));
    const float zoom[6] = {0.5f, 0, 3.25f, 0, 0.5f, 2.75f};
    image_warp_affine(&out, &noise, zoom, NULL);
    wrong = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            for (int k = 0; k < 3; k++) {
                float want = image_sample(&noise, 0.5f * x + 3.25f, 0.5f * y + 2.75f, k);
                wrong += fabsf(pixel(&out, x, y)[k] - want) > 0.5001f;
            }
    CHECK_MSG(wrong == 0, "%d samples differ from image_sample", wrong);
    image_free(&out);

    image_free(&noise);
}

/* ---- drawing ---- */

static int count_set(const vv_image *im) {
    int n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            const uint8_t *p = pixel(im, x, y);
            n += p[0] || p[1] || p[2];
        }
    return n;
}

static void test_drawing(void) {
    vv_image im;
    const uint8_t red[3] = {255, 0, 0};
    CHECK_OK(image_create(&im, 12, 12, 3));
    image_draw_line(&im, 2, 5, 8, 5, red, 1);
    for (int x = 2; x <= 8; x++) CHECK(pixel_is(&im, x, 5, 255, 0, 0));
    CHECK(count_set(&im) == 7);

    memset(im.data, 0, 12 * 12 * 3);
    image_draw_line(&im, 2, 5, 8, 5, red, 3); /* rows within 1.5 of y = 5 */
    /* 3 rows x 7, plus round caps: (1, 4..6) and (9, 4..6) lie within 1.5 of the ends. */
    CHECK(count_set(&im) == 7 * 3 + 2 * 3);
    memset(im.data, 0, 12 * 12 * 3);
    image_draw_line(&im, 1, 1, 10, 10, red, 1);
    for (int i = 1; i <= 10; i++) CHECK(pixel_is(&im, i, i, 255, 0, 0));
    CHECK(count_set(&im) == 10);

    /* Clipping: a line far beyond the image only sets the diagonal inside. */
    memset(im.data, 0, 12 * 12 * 3);
    image_draw_line(&im, -100, -100, 1000, 1000, red, 1);
    CHECK(count_set(&im) == 12);
    image_draw_line(&im, NAN, 0, 5, 5, red, 1);
    image_draw_line(&im, -1e30f, 5, 1e30f, 5, red, 1);
    CHECK(pixel_is(&im, 0, 5, 255, 0, 0) && pixel_is(&im, 11, 5, 255, 0, 0));
    image_free(&im);

    CHECK_OK(image_create(&im, 21, 21, 3));
    image_draw_circle(&im, 10, 10, 3, red, true);
    CHECK(pixel_is(&im, 13, 10, 255, 0, 0));
    CHECK(pixel_is(&im, 12, 12, 255, 0, 0)); /* distance 2.83 */
    CHECK(pixel_is(&im, 14, 10, 0, 0, 0));
    CHECK(pixel_is(&im, 13, 13, 0, 0, 0));   /* distance 4.24 */
    CHECK(count_set(&im) == 29);             /* lattice points with x^2 + y^2 <= 9 */
    memset(im.data, 0, 21 * 21 * 3);
    image_draw_circle(&im, 10, 10, 5, red, false);
    CHECK(pixel_is(&im, 15, 10, 255, 0, 0) && pixel_is(&im, 10, 5, 255, 0, 0));
    CHECK(pixel_is(&im, 10, 10, 0, 0, 0) && pixel_is(&im, 12, 10, 0, 0, 0));
    memset(im.data, 0, 21 * 21 * 3);
    image_draw_rect(&im, 2, 2, 7, 5, red, 1);
    CHECK(pixel_is(&im, 2, 2, 255, 0, 0) && pixel_is(&im, 7, 5, 255, 0, 0));
    CHECK(pixel_is(&im, 4, 2, 255, 0, 0) && pixel_is(&im, 7, 4, 255, 0, 0));
    CHECK(pixel_is(&im, 4, 3, 0, 0, 0) && pixel_is(&im, 8, 5, 0, 0, 0));
    CHECK(count_set(&im) == 2 * 6 + 2 * 2);
    image_free(&im);

    vv_image gray;
    CHECK_OK(image_create(&gray, 8, 8, 1));
    const uint8_t level = 77;
    image_draw_line(&gray, 0, 3, 7, 3, &level, 1);
    CHECK(gray.data[3 * 8 + 0] == 77 && gray.data[3 * 8 + 7] == 77 && gray.data[2 * 8 + 3] == 0);
    image_free(&gray);
}

static void test_rasterize(void) {
    float points[68][2];
    /* Each part in its own area so colours can be checked at segment midpoints. */
    for (int i = 0; i <= 16; i++) { /* jaw: a V from (20, 160) down to (100, 240) */
        points[i][0] = 20.0f + 10 * i;
        points[i][1] = 160.0f + 10 * (i <= 8 ? i : 16 - i);
    }
    for (int k = 0; k < 5; k++) {
        points[17 + k][0] = 20.0f + 10 * k, points[17 + k][1] = 30;
        points[22 + k][0] = 140.0f + 10 * k, points[22 + k][1] = 30;
        points[31 + k][0] = 108.0f + 10 * k, points[31 + k][1] = 80;
    }
    for (int k = 0; k < 4; k++) points[27 + k][0] = 128, points[27 + k][1] = 50.0f + 5 * k;
    for (int k = 0; k < 6; k++) {
        float a = (float)(k * M_PI / 3);
        points[36 + k][0] = 70 + 12 * cosf(a), points[36 + k][1] = 110 + 12 * sinf(a);
        points[42 + k][0] = 186 + 12 * cosf(a), points[42 + k][1] = 110 + 12 * sinf(a);
    }
    for (int k = 0; k < 12; k++) {
        float a = (float)(k * M_PI / 6);
        points[48 + k][0] = 128 + 20 * cosf(a), points[48 + k][1] = 140 + 20 * sinf(a);
    }
    for (int k = 0; k < 8; k++) {
        float a = (float)(k * M_PI / 4);
        points[60 + k][0] = 128 + 8 * cosf(a), points[60 + k][1] = 140 + 8 * sinf(a);
    }
    vv_image im;
    CHECK_OK(image_create(&im, 256, 256, 3));
    memset(im.data, 7, 256 * 256 * 3); /* must be cleared */
    landmarks_rasterize(&im, (const float(*)[2])points, 2);
#define MID(a, b) (int)lroundf((points[a][0] + points[b][0]) / 2), (int)lroundf((points[a][1] + points[b][1]) / 2)
    CHECK(pixel_is(&im, MID(0, 1), 255, 255, 255));   /* jaw white */
    CHECK(pixel_is(&im, MID(15, 16), 255, 255, 255));
    CHECK(pixel_is(&im, 40, 160, 0, 0, 0));           /* jaw is open: no 16 -> 0 */
    CHECK(pixel_is(&im, MID(17, 18), 255, 0, 0));     /* brows red, green */
    CHECK(pixel_is(&im, MID(25, 26), 0, 255, 0));
    CHECK(pixel_is(&im, 100, 30, 0, 0, 0));           /* 21 -> 22 not joined */
    CHECK(pixel_is(&im, MID(27, 28), 0, 0, 255));     /* nose blue */
    CHECK(pixel_is(&im, MID(33, 34), 0, 0, 255));
    CHECK(pixel_is(&im, MID(30, 31), 0, 0, 0));       /* bridge and nostrils separate */
    CHECK(pixel_is(&im, MID(36, 37), 255, 0, 255));   /* eyes magenta, cyan, closed */
    CHECK(pixel_is(&im, MID(41, 36), 255, 0, 255));
    CHECK(pixel_is(&im, MID(47, 42), 0, 255, 255));
    CHECK(pixel_is(&im, MID(50, 51), 255, 255, 0));   /* outer lips yellow, closed */
    CHECK(pixel_is(&im, MID(59, 48), 255, 255, 0));
    CHECK(pixel_is(&im, MID(60, 61), 0, 0, 0));       /* inner lips not drawn */
    CHECK(pixel_is(&im, 136, 140, 0, 0, 0));
    CHECK(pixel_is(&im, 5, 5, 0, 0, 0));
#undef MID
    /* Every set pixel has one of the scheme's colours. */
    int odd = 0;
    for (int i = 0; i < 256 * 256; i++) {
        const uint8_t *p = im.data + i * 3;
        for (int k = 0; k < 3; k++) odd += p[k] != 0 && p[k] != 255;
    }
    CHECK(odd == 0);
    CHECK(count_set(&im) > 500);
    image_free(&im);
}

/* ---- shared data: sizes from `file`, RGB sums from ffmpeg (PNG) and djpeg -rgb (JPEG) ---- */

static void test_shared_images(void) {
    const char *shared = test_shared_data();
    if (!shared) {
        test_skip("shared image checks: ../shared/data absent");
        return;
    }
    static const struct {
        const char *path;
        int width, height;
        unsigned long long sum;
    } files[] = {
        {"portraits/deb_grace_hopper_512.jpg", 512, 512, 69250620ull},
        {"portraits/deb_mona.png", 500, 756, 54283619ull},
        {"portraits/lp_s0.jpg", 600, 704, 171088590ull},
        {"portraits/lp_s10.jpg", 1092, 1280, 203584566ull},
        {"portraits/lp_s12.jpg", 375, 500, 52371335ull},
        {"portraits/lp_s3.jpg", 564, 729, 85134460ull},
        {"portraits/lp_s5.jpg", 720, 720, 228852725ull},
        {"portraits/lp_s8.jpg", 562, 1000, 141572595ull},
        {"portraits/lp_s9.jpg", 720, 1280, 203281983ull},
        {"portraits/st_art_10.png", 506, 510, 105074364ull},
        {"portraits/st_art_13.png", 510, 504, 55411804ull},
        {"portraits/tpsmm_source.png", 680, 676, 186751049ull},
        {"landmarks_golden/2007_007763.jpg", 500, 375, 53914986ull},
        {"landmarks_golden/2008_001009.jpg", 360, 480, 25576047ull},
        {"landmarks_golden/2008_001322.jpg", 500, 375, 57943826ull},
        {"landmarks_golden/2008_002079.jpg", 500, 375, 47789361ull},
        {"landmarks_golden/2008_002470.jpg", 500, 332, 30962482ull},
        {"landmarks_golden/2008_002506.jpg", 500, 375, 51688061ull},
        {"landmarks_golden/2008_004176.jpg", 480, 438, 63809746ull},
        {"landmarks_golden/2008_007676.jpg", 500, 334, 27581921ull},
        {"landmarks_golden/2009_004587.jpg", 400, 500, 64888962ull},
        {"landmarks_golden/Tom_Cruise_avp_2014_4.jpg", 565, 800, 141043344ull},
        {"landmarks_golden/bald_guys.jpg", 1986, 1545, 1128012512ull},
        {"landmarks_golden/dogs.jpg", 900, 916, 312707682ull},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", shared, files[i].path);
        if (!file_exists(path)) {
            printf("note: %s missing\n", path);
            continue;
        }
        vv_image im;
        CHECK_OK(image_load(&im, path));
        CHECK_MSG(im.width == files[i].width && im.height == files[i].height && im.channels == 3,
                  "%s is %dx%d", files[i].path, im.width, im.height);
        unsigned long long sum = 0;
        if (im.data)
            for (size_t k = 0; k < (size_t)im.width * im.height * 3; k++) sum += im.data[k];
        CHECK_MSG(sum == files[i].sum, "%s: pixel sum %llu, expected %llu", files[i].path, sum,
                  files[i].sum);
        image_free(&im);
    }
}

int main(void) {
    tmp = test_tmp_dir("test_image");
    test_png_flavours();
    test_save_round_trip();
    test_exif_orientation();
    test_bad_inputs();
    test_gray();
    test_resize();
    test_sample_and_warp();
    test_drawing();
    test_rasterize();
    test_shared_images();
    return test_finish("test_image");
}
