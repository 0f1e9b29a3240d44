/* face/shape_predictor: a hand-serialised tiny model with a hand-computed prediction and
 * hostile buffers (always run); dlib's 68-point model against dlib's own landmarks on
 * its example faces and on the portraits (needs ../shared and libdlib-data). */
#include "face/shape_predictor.h"
#include "img/image.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#define MAX_POINTS_FOR_FUZZ 512

/* ---- writing dlib's serialisation, to build models by hand ---- */

typedef struct writer {
    uint8_t data[4096];
    size_t size;
} writer;

static void put_int(writer *w, int64_t value) {
    uint8_t control = value < 0 ? 0x80 : 0;
    uint64_t magnitude = value < 0 ? (uint64_t)(-value) : (uint64_t)value;
    size_t at = w->size++;
    uint8_t count = 0;
    do {
        w->data[w->size++] = (uint8_t)(magnitude & 0xFF);
        magnitude >>= 8;
        count++;
    } while (magnitude);
    w->data[at] = control | count;
}

/* dlib's float_details for a float: 24-bit mantissa and exponent, low zero bytes shifted off. */
static void put_float(writer *w, float value) {
    int exponent;
    double fraction = frexp(value, &exponent);
    int64_t mantissa = (int64_t)(fraction * (1 << 24));
    exponent -= 24;
    for (int i = 0; i < 8 && (mantissa & 0xFF) == 0; i++) {
        mantissa /= 256; /* exact: the low byte is zero */
        exponent += 8;
    }
    put_int(w, mantissa);
    put_int(w, exponent);
}

static void put_column(writer *w, const float *values, int count) {
    put_int(w, -count);
    put_int(w, -1);
    for (int i = 0; i < count; i++) put_float(w, values[i]);
}

/* Two landmarks, one cascade level with one depth-1 tree and two feature pixels:
 * pixel 0 is landmark 0 + (0, 0.25), pixel 1 is landmark 1 + (0, -0.25); the tree goes
 * left when pixel0 - pixel1 > 10.5. */
static const float tiny_initial[4] = { 0.25f, 0.5f, 0.75f, 0.5f };
static const float tiny_left_leaf[4] = { 0.125f, -0.0625f, 0.0f, 0.25f };
static const float tiny_right_leaf[4] = { -0.125f, 0.0f, 0.0625f, 0.0f };

/* version -1: version 1 with the threshold in a longer (still valid) encoding. */
static void build_tiny_model(writer *w, int version, int anchor1) {
    w->size = 0;
    put_int(w, version == -1 ? 1 : version);
    put_column(w, tiny_initial, 4);
    put_int(w, 1);        /* cascade levels */
    put_int(w, 1);        /* trees in level 0 */
    put_int(w, 1);        /* splits */
    put_int(w, 0);        /* idx1 */
    put_int(w, 1);        /* idx2 */
    if (version == -1) {  /* the same 10.5 as 21 * 2^24 * 2^-25: a 4-byte mantissa */
        version = 1;
        put_int(w, (int64_t)21 << 24);
        put_int(w, -25);
    } else {
        put_float(w, 10.5f); /* threshold */
    }
    put_int(w, 2);        /* leaves */
    put_column(w, tiny_left_leaf, 4);
    put_column(w, tiny_right_leaf, 4);
    put_int(w, 1);        /* anchor lists */
    put_int(w, 2);
    put_int(w, 0);
    put_int(w, anchor1);
    put_int(w, 1);        /* delta lists */
    put_int(w, 2);
    put_float(w, 0.0f);
    put_float(w, 0.25f);
    put_float(w, 0.0f);
    put_float(w, -0.25f);
}

static void test_tiny_model(void) {
    writer w;
    build_tiny_model(&w, 1, 1);
    shape_predictor *sp = NULL;
    CHECK_OK(shape_predictor_load_memory(&sp, w.data, w.size, "tiny"));
    if (!sp) return;
    CHECK(shape_predictor_landmark_count(sp) == 2);
    const float (*mean)[2] = shape_predictor_mean_shape(sp);
    CHECK(mean[1][0] == 0.75f && mean[1][1] == 0.5f);

    /* Box (10, 20)-(30, 40): pixel 0 lands on (15, 35), pixel 1 on (25, 25). */
    static uint8_t pixels[50 * 40];
    vv_image gray = { 40, 50, 1, pixels };
    const float box[4] = { 10, 20, 30, 40 };
    float points[2][2];

    pixels[35 * 40 + 15] = 100;
    pixels[25 * 40 + 25] = 50; /* 100 - 50 > 10.5: left leaf */
    shape_predict(sp, &gray, box, points);
    CHECK_NEAR(points[0][0], 10 + 20 * 0.375, 1e-5);
    CHECK_NEAR(points[0][1], 20 + 20 * 0.4375, 1e-5);
    CHECK_NEAR(points[1][0], 10 + 20 * 0.75, 1e-5);
    CHECK_NEAR(points[1][1], 20 + 20 * 0.75, 1e-5);

    pixels[25 * 40 + 25] = 95; /* 100 - 95 <= 10.5: right leaf */
    shape_predict(sp, &gray, box, points);
    CHECK_NEAR(points[0][0], 10 + 20 * 0.125, 1e-5);
    CHECK_NEAR(points[0][1], 20 + 20 * 0.5, 1e-5);
    CHECK_NEAR(points[1][0], 10 + 20 * 0.8125, 1e-5);
    CHECK_NEAR(points[1][1], 20 + 20 * 0.5, 1e-5);

    /* A 20-wide image puts pixel 1 outside: it reads 0, so 11 goes left and 10 right. */
    vv_image narrow = { 20, 50, 1, pixels };
    memset(pixels, 0, sizeof pixels);
    pixels[35 * 20 + 15] = 11;
    shape_predict(sp, &narrow, box, points);
    CHECK_NEAR(points[1][1], 20 + 20 * 0.75, 1e-5);
    pixels[35 * 20 + 15] = 10;
    shape_predict(sp, &narrow, box, points);
    CHECK_NEAR(points[1][1], 20 + 20 * 0.5, 1e-5);

    /* RGB input uses dlib's intensity, the truncated mean: (100 + 100 + 101) / 3 = 100. */
    static uint8_t rgb[50 * 40 * 3];
    vv_image colour = { 40, 50, 3, rgb };
    rgb[(35 * 40 + 15) * 3 + 0] = 100, rgb[(35 * 40 + 15) * 3 + 1] = 100, rgb[(35 * 40 + 15) * 3 + 2] = 101;
    rgb[(25 * 40 + 25) * 3 + 0] = 89, rgb[(25 * 40 + 25) * 3 + 1] = 90, rgb[(25 * 40 + 25) * 3 + 2] = 90;
    shape_predict(sp, &colour, box, points); /* 100 - 89 = 11 > 10.5: left */
    CHECK_NEAR(points[1][1], 20 + 20 * 0.75, 1e-5);
    shape_predictor_free(sp);

    /* The general float decoder agrees with the fast one on the threshold. */
    build_tiny_model(&w, -1, 1);
    CHECK_OK(shape_predictor_load_memory(&sp, w.data, w.size, "wide"));
    if (!sp) return;
    pixels[35 * 20 + 15] = 11;
    shape_predict(sp, &narrow, box, points);
    CHECK_NEAR(points[1][1], 20 + 20 * 0.75, 1e-5);
    pixels[35 * 20 + 15] = 10;
    shape_predict(sp, &narrow, box, points);
    CHECK_NEAR(points[1][1], 20 + 20 * 0.5, 1e-5);
    shape_predictor_free(sp);
}

static void test_hostile_buffers(void) {
    writer w;
    build_tiny_model(&w, 1, 1);
    shape_predictor *sp = (shape_predictor *)&w; /* must be reset to NULL on failure */

    /* Every truncation fails cleanly. */
    int truncations_failed = 0;
    for (size_t n = 0; n < w.size; n++) {
        vv_status s = shape_predictor_load_memory(&sp, w.data, n, "truncated");
        truncations_failed += s != VV_OK && sp == NULL;
        if (s == VV_OK) shape_predictor_free(sp);
    }
    CHECK_MSG(truncations_failed == (int)w.size, "%d of %zu truncations failed", truncations_failed, w.size);
    CHECK(shape_predictor_load_memory(&sp, w.data, 7, "cut") == VV_ERR_CORRUPT);
    CHECK(strstr(vv_last_error(), "cut") && strstr(vv_last_error(), "byte"));

    /* Wrong version, huge counts, bad indices. */
    writer bad;
    build_tiny_model(&bad, 2, 1);
    CHECK(shape_predictor_load_memory(&sp, bad.data, bad.size, "v2") == VV_ERR_MODEL);
    bad.size = 0;
    put_int(&bad, 1);
    put_column(&bad, tiny_initial, 4);
    put_int(&bad, (int64_t)1 << 40); /* cascade count */
    CHECK(shape_predictor_load_memory(&sp, bad.data, bad.size, "huge") != VV_OK && sp == NULL);
    bad.size = 0;
    put_int(&bad, 1);
    put_int(&bad, -((int64_t)1 << 50)); /* initial shape rows */
    put_int(&bad, -1);
    CHECK(shape_predictor_load_memory(&sp, bad.data, bad.size, "rows") != VV_OK);
    build_tiny_model(&bad, 1, 2); /* pixel 1 anchored to landmark 2 of 2 */
    CHECK(shape_predictor_load_memory(&sp, bad.data, bad.size, "anchor") == VV_ERR_MODEL);
    CHECK(strstr(vv_last_error(), "anchor index is not a landmark") != NULL);
    CHECK(shape_predictor_load_memory(&sp, NULL, 0, "empty") == VV_ERR_CORRUPT);

    /* Every byte set to every value: never a crash (ASan / UBSan watch), and a model that
     * loads still predicts. */
    static uint8_t pixels[50 * 40];
    vv_image gray = { 40, 50, 1, pixels };
    const float box[4] = { 10, 20, 30, 40 };
    for (size_t i = 0; i < w.size; i++) {
        for (int v = 0; v < 256; v += 3) {
            memcpy(&bad, &w, sizeof w);
            bad.data[i] = (uint8_t)v;
            if (shape_predictor_load_memory(&sp, bad.data, bad.size, "flipped") == VV_OK) {
                float points[MAX_POINTS_FOR_FUZZ][2];
                if (shape_predictor_landmark_count(sp) <= MAX_POINTS_FOR_FUZZ)
                    shape_predict(sp, &gray, box, points);
                shape_predictor_free(sp);
            }
        }
    }
    CHECK(shape_predictor_load(&sp, "/nonexistent/model.dat") == VV_ERR_MODEL);
}

/* ---- the parsed-model cache (shape_predictor.c) ---- */

static char cache_root[256];

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, size, f) == size);
    if (f) fclose(f);
}

/* The one cache file in folder (its path in out), or false when there is none or several. */
static bool find_cache(const char *folder, char *out, size_t size) {
    DIR *dir = opendir(folder);
    int found = 0;
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (!strncmp(e->d_name, "shape_predictor-", 16) && strstr(e->d_name, ".cache") &&
            !strstr(e->d_name, ".cache."))
            found++, snprintf(out, size, "%s/%s", folder, e->d_name);
    if (dir) closedir(dir);
    return found == 1;
}

/* Predictions of a and b agree bit for bit on `trials` random images and boxes. */
static bool same_predictions(const shape_predictor *a, const shape_predictor *b, int width, int height, int trials) {
    int parts = shape_predictor_landmark_count(a);
    if (parts != shape_predictor_landmark_count(b) || parts > MAX_POINTS_FOR_FUZZ) return false;
    vv_image image = { 0 };
    if (image_create(&image, width, height, 3) != VV_OK) return false;
    uint32_t seed = 12345;
    bool same = true;
    for (int t = 0; t < trials && same; t++) {
        for (size_t i = 0; i < (size_t)width * height * 3; i++) {
            seed = seed * 1664525u + 1013904223u;
            image.data[i] = (uint8_t)(seed >> 24);
        }
        float box[4] = { (float)(t % 7), (float)(t % 5), width * 0.6f + t, height * 0.7f };
        static float pa[MAX_POINTS_FOR_FUZZ][2], pb[MAX_POINTS_FOR_FUZZ][2];
        shape_predict(a, &image, box, pa);
        shape_predict(b, &image, box, pb);
        same = memcmp(pa, pb, (size_t)parts * sizeof pa[0]) == 0;
    }
    image_free(&image);
    return same;
}

/* The documented layout (shape_predictor.c): a 104-byte header, then the initial shape,
 * levels, anchors, deltas, trees and splits each at a 64-byte boundary, the leaves at a
 * 4096-byte one.  The tiny model: 2 parts, 1 level, 2 pixels, 1 tree, 1 split, 2 leaves. */
#define TINY_CACHE_SPLITS 448
#define TINY_CACHE_BYTES (4096 + 2 * 4 * 4)

static void test_cache_tiny(void) {
    snprintf(cache_root, sizeof cache_root, "/tmp/vv_test_shape_cache_XXXXXX");
    if (!mkdtemp(cache_root)) {
        CHECK_MSG(false, "mkdtemp failed");
        return;
    }
    char model[512], folder[512], cache[1024], blocked[600];
    snprintf(model, sizeof model, "%s/tiny.dat", cache_root);
    snprintf(folder, sizeof folder, "%s/cache/nested", cache_root);
    writer w;
    build_tiny_model(&w, 1, 1);
    write_file(model, w.data, w.size);
    setenv("VIVIFY_CACHE", folder, 1);

    /* First load parses and writes the cache (the folder made); the second maps it. */
    shape_predictor *parsed = NULL, *mapped = NULL, *copy = NULL;
    CHECK_OK(shape_predictor_load(&parsed, model));
    CHECK(parsed && !shape_predictor_mapped(parsed));
    CHECK_MSG(find_cache(folder, cache, sizeof cache), "one cache file in %s", folder);
    CHECK_OK(shape_predictor_load(&mapped, model));
    CHECK(mapped && shape_predictor_mapped(mapped));
    if (!parsed || !mapped) return;
    CHECK(same_predictions(parsed, mapped, 40, 50, 200));

    /* The bytes: loaded from memory they predict the same; every truncation and a wrong
     * split index or a NaN leaf are refused; any byte set to any value never crashes. */
    size_t size = 0;
    uint8_t *bytes = NULL;
    CHECK_OK(file_read_all(cache, 1 << 20, &bytes, &size));
    CHECK_MSG(size == TINY_CACHE_BYTES, "cache of %zu bytes", size);
    if (!bytes || size != TINY_CACHE_BYTES) return;
    CHECK_OK(shape_predictor_load_cache_memory(&copy, bytes, size));
    CHECK(copy && !shape_predictor_mapped(copy) && same_predictions(parsed, copy, 40, 50, 50));
    shape_predictor_free(copy);
    int refused = 0;
    for (size_t n = 0; n < size; n++) {
        copy = (shape_predictor *)&w;
        refused += shape_predictor_load_cache_memory(&copy, bytes, n) == VV_ERR_CORRUPT && copy == NULL;
    }
    CHECK_MSG(refused == (int)size, "%d of %zu truncations refused", refused, size);
    uint8_t *bad = malloc(size);
    if (!bad) return;
    memcpy(bad, bytes, size);
    CHECK(bad[TINY_CACHE_SPLITS] == 0 && bad[TINY_CACHE_SPLITS + 2] == 1); /* pixel_a 0, pixel_b 1 */
    bad[TINY_CACHE_SPLITS + 2] = 2; /* pixel_b past the level's 2 feature pixels */
    CHECK(shape_predictor_load_cache_memory(&copy, bad, size) == VV_ERR_CORRUPT);
    CHECK(strstr(vv_last_error(), "split past its level") != NULL);
    memcpy(bad, bytes, size);
    const float nan_value = NAN;
    memcpy(bad + size - 4, &nan_value, 4);
    CHECK(shape_predictor_load_cache_memory(&copy, bad, size) == VV_ERR_CORRUPT);
    CHECK(strstr(vv_last_error(), "non-finite leaf") != NULL);
    static uint8_t pixels[50 * 40];
    vv_image gray = { 40, 50, 1, pixels };
    const float box[4] = { 10, 20, 30, 40 };
    int loaded = 0;
    for (size_t i = 0; i < 1024 && i < size; i++)
        for (int v = 0; v < 256; v += 5) {
            memcpy(bad, bytes, size);
            bad[i] = (uint8_t)v;
            if (shape_predictor_load_cache_memory(&copy, bad, size) == VV_OK) {
                float points[MAX_POINTS_FOR_FUZZ][2];
                shape_predict(copy, &gray, box, points);
                shape_predictor_free(copy);
                loaded++;
            }
        }
    CHECK(loaded > 0); /* bytes that are values or padding still load */

    /* On disk: a NaN leaf in the cache is refused, the .dat parsed and the cache replaced. */
    memcpy(bad, bytes, size);
    memcpy(bad + size - 4, &nan_value, 4);
    write_file(cache, bad, size);
    shape_predictor *again = NULL;
    CHECK_OK(shape_predictor_load(&again, model));
    CHECK(again && !shape_predictor_mapped(again) && same_predictions(parsed, again, 40, 50, 50));
    shape_predictor_free(again);
    CHECK_OK(shape_predictor_load(&again, model));
    CHECK(again && shape_predictor_mapped(again));
    shape_predictor_free(again);
    /* A rewritten .dat (a new modification time): its old cache is not used. */
    usleep(20000);
    write_file(model, w.data, w.size);
    CHECK_OK(shape_predictor_load(&again, model));
    CHECK(again && !shape_predictor_mapped(again));
    shape_predictor_free(again);
    CHECK_OK(shape_predictor_load(&again, model));
    CHECK(again && shape_predictor_mapped(again));
    shape_predictor_free(again);
    /* Switched off, or a folder that cannot be made: parsed each time, nothing written. */
    setenv("VIVIFY_CACHE", "off", 1);
    CHECK_OK(shape_predictor_load(&again, model));
    CHECK(again && !shape_predictor_mapped(again));
    shape_predictor_free(again);
    snprintf(blocked, sizeof blocked, "%s/cache", model); /* under a regular file */
    setenv("VIVIFY_CACHE", blocked, 1);
    CHECK_OK(shape_predictor_load(&again, model));
    CHECK(again && !shape_predictor_mapped(again));
    shape_predictor_free(again);
    free(bad);
    free(bytes);
    shape_predictor_free(parsed);
    shape_predictor_free(mapped);
}

static void cache_root_remove(void) {
    if (!cache_root[0]) return;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_root);
    if (system(cmd) != 0) printf("could not remove %s\n", cache_root);
}

/* ---- dlib's 68-point model on real faces ---- */

/* The project's decoder and dlib's gray conversion, (r + g + b) / 3 truncated. */
static bool load_gray(const char *path, vv_image *gray) {
    vv_image rgb = { 0 };
    memset(gray, 0, sizeof *gray);
    vv_status status = image_load(&rgb, path);
    if (status == VV_OK) status = image_to_gray(gray, &rgb);
    image_free(&rgb);
    if (status != VV_OK) fprintf(stderr, "%s: %s\n", path, vv_last_error());
    return status == VV_OK;
}

typedef struct error_stats {
    double sum, max;       /* distance of our sub-pixel points to dlib's integer points */
    double rounded_sum, rounded_max; /* after dlib's own rounding, floor(x + 0.5) */
    long points, faces, rounded_exact, exact_faces;
} error_stats;

static void compare_face(error_stats *e, const float (*ours)[2], const float (*dlib)[2]) {
    long exact_before = e->rounded_exact;
    for (int i = 0; i < 68; i++) {
        double d = hypot(ours[i][0] - dlib[i][0], ours[i][1] - dlib[i][1]);
        double rd = hypot(floor(ours[i][0] + 0.5) - dlib[i][0], floor(ours[i][1] + 0.5) - dlib[i][1]);
        e->sum += d, e->rounded_sum += rd, e->points++;
        if (d > e->max) e->max = d;
        if (rd > e->rounded_max) e->rounded_max = rd;
        e->rounded_exact += rd == 0;
    }
    e->faces++;
    e->exact_faces += e->rounded_exact - exact_before == 68;
}

static double attribute(const char *tag, const char *name) {
    char key[32];
    snprintf(key, sizeof key, " %s='", name);
    const char *at = strstr(tag, key);
    return at ? atof(at + strlen(key)) : NAN;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) == (size_t)size) text[size] = 0;
    else { free(text); text = NULL; }
    fclose(f);
    return text;
}

/* dlib's imglab XML: <image file=..><box top left width height><part name x y/>... */
static void run_golden_xml(const shape_predictor *sp, const char *folder, const char *xml_name,
                           error_stats *e) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", folder, xml_name);
    char *xml = read_text(path);
    CHECK_MSG(xml != NULL, "cannot read %s", path);
    if (!xml) return;
    for (char *image = strstr(xml, "<image file='"); image; image = strstr(image + 1, "<image file='")) {
        char *end = strstr(image, "</image>");
        if (!end) break;
        *end = 0;
        char file[256];
        if (sscanf(image, "<image file='%255[^']'", file) != 1) break;
        snprintf(path, sizeof path, "%s/%s", folder, file);
        vv_image gray;
        CHECK_MSG(load_gray(path, &gray), "cannot decode %s", path);
        for (char *box = strstr(image, "<box "); box; box = strstr(box + 1, "<box ")) {
            float dlib[68][2], ours[68][2];
            int parts = 0;
            char *next_box = strstr(box + 1, "<box ");
            for (char *part = strstr(box, "<part "); part && (!next_box || part < next_box);
                 part = strstr(part + 1, "<part ")) {
                int index = (int)attribute(part, "name");
                if (index >= 0 && index < 68) {
                    dlib[index][0] = (float)attribute(part, "x");
                    dlib[index][1] = (float)attribute(part, "y");
                    parts++;
                }
            }
            if (parts != 68) continue;
            /* imglab stores top/left/width/height; dlib's right = left + width - 1. */
            double left = attribute(box, "left"), top = attribute(box, "top");
            const float corners[4] = { (float)left, (float)top,
                                       (float)(left + attribute(box, "width") - 1),
                                       (float)(top + attribute(box, "height") - 1) };
            shape_predict(sp, &gray, corners, ours);
            long exact_before = e->rounded_exact;
            double sum_before = e->sum;
            compare_face(e, (const float (*)[2])ours, (const float (*)[2])dlib);
            if (getenv("VV_VERBOSE"))
                printf("  %s box %g,%g,%g,%g: %ld/68 exact, mean %.3f\n", file, corners[0], corners[1],
                       corners[2], corners[3], e->rounded_exact - exact_before, (e->sum - sum_before) / 68);
        }
        image_free(&gray);
        image = end;
    }
    free(xml);
}

/* reference/portraits.jsonl: dlib 19.24's boxes [l, t, r, b] and landmarks. */
static void run_portraits(const shape_predictor *sp, const char *shared, error_stats *e) {
    char path[8192];
    snprintf(path, sizeof path, "%s/reference/portraits.jsonl", shared);
    char *text = read_text(path);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text) return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *json = cJSON_Parse(line);
        const cJSON *file = cJSON_GetObjectItem(json, "file");
        const cJSON *faces = cJSON_GetObjectItem(json, "faces");
        if (!cJSON_IsString(file) || !cJSON_IsArray(faces)) { cJSON_Delete(json); continue; }
        const char *base = strrchr(file->valuestring, '/');
        snprintf(path, sizeof path, "%s/portraits/%s", shared, base ? base + 1 : file->valuestring);
        vv_image gray;
        bool loaded = load_gray(path, &gray);
        CHECK_MSG(loaded, "cannot decode %s", path);
        if (!loaded) { cJSON_Delete(json); continue; }
        const cJSON *face;
        cJSON_ArrayForEach(face, faces) {
            const cJSON *box = cJSON_GetObjectItem(face, "box");
            const cJSON *landmarks = cJSON_GetObjectItem(face, "landmarks");
            if (cJSON_GetArraySize(box) != 4 || cJSON_GetArraySize(landmarks) != 68) continue;
            float corners[4], dlib[68][2], ours[68][2];
            for (int k = 0; k < 4; k++) corners[k] = (float)cJSON_GetArrayItem(box, k)->valuedouble;
            for (int i = 0; i < 68; i++) {
                const cJSON *point = cJSON_GetArrayItem(landmarks, i);
                dlib[i][0] = (float)cJSON_GetArrayItem(point, 0)->valuedouble;
                dlib[i][1] = (float)cJSON_GetArrayItem(point, 1)->valuedouble;
            }
            shape_predict(sp, &gray, corners, ours);
            compare_face(e, (const float (*)[2])ours, (const float (*)[2])dlib);
        }
        image_free(&gray);
        cJSON_Delete(json);
    }
    free(text);
}

static void print_stats(const char *what, const error_stats *e) {
    printf("%s: %ld faces, sub-pixel error mean %.3f max %.3f px; rounded as dlib rounds: "
           "mean %.4f max %.3f px, %.2f%% of points and %ld faces exact\n", what, e->faces,
           e->sum / (double)(e->points ? e->points : 1), e->max,
           e->rounded_sum / (double)(e->points ? e->points : 1), e->rounded_max,
           100.0 * (double)e->rounded_exact / (double)(e->points ? e->points : 1), e->exact_faces);
}

static void test_real_model(void) {
    if (!test_model_present("dlib")) {
        test_skip("the real model: %s absent (libdlib-data)", SHAPE_PREDICTOR_DEFAULT_PATH);
        return;
    }
    const char *shared = test_shared_data();
    if (!shared) {
        test_skip("the real model comparisons: ../shared/data absent");
        return;
    }
    /* Parsed, then from the cache that load wrote (a fresh folder): the references below
     * are checked on the cached one, which must predict as the parsed one bit for bit. */
    if (!cache_root[0]) return; /* test_cache_tiny failed to make it */
    char folder[8192];
    snprintf(folder, sizeof folder, "%s/real", cache_root);
    setenv("VIVIFY_CACHE", folder, 1);
    shape_predictor *sp = NULL, *parsed = NULL;
    double start = time_now();
    CHECK_OK(shape_predictor_load(&parsed, NULL));
    printf("parsed %s in %.3f s\n", SHAPE_PREDICTOR_DEFAULT_PATH, time_now() - start);
    start = time_now();
    CHECK_OK(shape_predictor_load(&sp, NULL));
    printf("mapped its cache in %.3f s\n", time_now() - start);
    if (!sp || !parsed) return;
    CHECK(!shape_predictor_mapped(parsed) && shape_predictor_mapped(sp));
    CHECK(same_predictions(parsed, sp, 320, 240, 20));
    shape_predictor_free(parsed);
    CHECK(shape_predictor_landmark_count(sp) == 68);

    snprintf(folder, sizeof folder, "%s/landmarks_golden", shared);
    error_stats golden = { 0 };
    run_golden_xml(sp, folder, "training_with_face_landmarks.xml", &golden);
    run_golden_xml(sp, folder, "testing_with_face_landmarks.xml", &golden);
    print_stats("landmarks_golden", &golden);
    fflush(stdout);
    /* The XML's points are dlib's own predictor output on those boxes for 36 of the 43
     * faces (we reproduce them exactly after dlib's rounding); the other 7, all with
     * non-square boxes, differ by up to 3 px whatever the box, so were edited by hand. */
    CHECK(golden.faces == 43);
    CHECK(golden.sum / (double)golden.points <= 0.6);
    CHECK(golden.max <= 3.0);
    CHECK(golden.exact_faces >= 36);

    error_stats portraits = { 0 };
    run_portraits(sp, shared, &portraits);
    print_stats("reference/portraits.jsonl", &portraits);
    /* dlib 19.24's output: identical after rounding, so within rounding (sqrt(0.5)) before. */
    CHECK(portraits.faces == 12);
    CHECK(portraits.exact_faces == 12);
    CHECK(portraits.max <= 0.7072);
    shape_predictor_free(sp);
}

int main(void) {
    test_tiny_model();
    test_hostile_buffers();
    test_cache_tiny();
    test_real_model();
    cache_root_remove();
    return test_finish("test_shape_predictor");
}
