/* Minimal test harness: CHECK macros count failures; test_finish() prints the plain
 * summary line and returns the exit code: 1 if any check failed, else 77 (ctest: skipped)
 * if any part was skipped (test_skip), else 0.  So a test passes only when every part
 * ran: a part that needs ../shared (test_shared_data) or a model (test_model_present) and
 * finds it absent calls test_skip.  Only absence skips: a model that is present but
 * invalid (truncated, corrupt) must fail, so never skip on a loader's VV_ERR_MODEL. */
#ifndef VV_TEST_H
#define VV_TEST_H

#include "base/base.h"
#include "face/shape_predictor.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int test_passed, test_failed, test_skipped;

/* A part of the test did not run: says which and why on one line ("SKIPPED ..."), and the
 * test then ends with 77 unless a check failed. */
__attribute__((format(printf, 1, 2))) static inline void test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIPPED ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    test_skipped++;
}

/* Whether a model file is present where the library looks for it: a name for models_find
 * ("blazeface.json": $VIVIFY_MODELS, .cache/models, ...), or "dlib" for the 68-point shape
 * predictor (SHAPE_PREDICTOR_DEFAULT_PATH).  Present is not valid: the test must load it
 * and fail if it cannot. */
static inline bool test_model_present(const char *name) {
    if (strcmp(name, "dlib") == 0) return file_exists(SHAPE_PREDICTOR_DEFAULT_PATH);
    char path[4096];
    return models_find(name, path, sizeof path) == VV_OK;
}

/* Exits 77 (skipped) when one of the NULL-terminated model names is absent. */
static inline void test_require_models(const char *test_name, ...) {
    va_list ap;
    va_start(ap, test_name);
    for (const char *name; (name = va_arg(ap, const char *));) {
        if (!test_model_present(name)) {
            printf("SKIPPED %s: model %s not present (./dev setup fetches it)\n", test_name, name);
            va_end(ap);
            exit(77);
        }
    }
    va_end(ap);
}

/* The first `count` bytes of a file (a fixture), or NULL when it is shorter or missing. */
static inline uint8_t *test_read_bytes(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *data = malloc(count ? count : 1);
    size_t got = data ? fread(data, 1, count, f) : 0;
    fclose(f);
    if (got != count) {
        free(data);
        return NULL;
    }
    return data;
}

/* A face-like set of 68 points: an ellipse with the outer eye corners 100 px apart (the
 * timeline tests' synthetic face). */
static inline void test_template_face(float p[68][2]) {
    for (int k = 0; k < 68; k++) {
        float a = (float)k / 68.0f * 6.2831853f;
        p[k][0] = 200 + 90 * cosf(a);
        p[k][1] = 200 + 110 * sinf(a);
    }
    p[36][0] = 150; p[36][1] = 170;
    p[45][0] = 250; p[45][1] = 170;
}

/* Uniform noise in [-1, 1] from a xorshift32 state (each test seeds its own). */
static inline float test_uniform_noise(uint32_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return (float)(*state >> 8) / 8388608.0f - 1.0f;
}

/* A 16-bit PCM WAV file of `frames` frames of `channels` interleaved samples (speech
 * fixtures for the audio tests); nothing is written when the file cannot be opened. */
static inline void test_write_wav(const char *path, const int16_t *pcm, int frames, int channels, int rate) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint32_t data = (uint32_t)frames * (uint32_t)channels * 2, u32;
    uint16_t u16;
    fwrite("RIFF", 1, 4, f);
    u32 = 36 + data, fwrite(&u32, 4, 1, f);
    fwrite("WAVEfmt ", 1, 8, f);
    u32 = 16, fwrite(&u32, 4, 1, f);
    u16 = 1, fwrite(&u16, 2, 1, f); /* PCM */
    u16 = (uint16_t)channels, fwrite(&u16, 2, 1, f);
    u32 = (uint32_t)rate, fwrite(&u32, 4, 1, f);
    u32 = (uint32_t)(rate * channels * 2), fwrite(&u32, 4, 1, f);
    u16 = (uint16_t)(channels * 2), fwrite(&u16, 2, 1, f);
    u16 = 16, fwrite(&u16, 2, 1, f);
    fwrite("data", 1, 4, f);
    fwrite(&data, 4, 1, f);
    fwrite(pcm, 2, (size_t)frames * (size_t)channels, f);
    fclose(f);
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) test_passed++;                                                     \
        else { test_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (cond) test_passed++;                                                     \
        else { test_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
               fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); }                  \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double a_ = (a), b_ = (b);                                                   \
        if (fabs(a_ - b_) <= (tol)) test_passed++;                                   \
        else { test_failed++; fprintf(stderr, "%s:%d: %s = %g, expected %s = %g (tol %g)\n", \
               __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol)); }                 \
    } while (0)

#define CHECK_OK(expr)                                                               \
    do {                                                                             \
        vv_status s_ = (expr);                                                       \
        if (s_ == VV_OK) test_passed++;                                              \
        else { test_failed++; fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr, \
               vv_status_string(s_), vv_last_error()); }                             \
    } while (0)

/* ../shared/data beside the checkout (or $VV_SHARED), or NULL. */
static inline const char *test_shared_data(void) {
    static char path[4096];
    const char *env = getenv("VV_SHARED");
    if (env) snprintf(path, sizeof path, "%s/data", env);
    else snprintf(path, sizeof path, "%s/../shared/data", VV_SOURCE_DIR);
    struct stat st;
    return stat(path, &st) == 0 ? path : NULL;
}

static inline const char *test_require_shared(const char *test_name) {
    const char *p = test_shared_data();
    if (!p) {
        printf("SKIPPED %s: ../shared/data not present\n", test_name);
        exit(77);
    }
    return p;
}

/* A scratch folder for this test's outputs, under the build folder. */
static inline const char *test_tmp_dir(const char *test_name) {
    static char path[4096];
    snprintf(path, sizeof path, "test_tmp/%s", test_name);
    mkdir("test_tmp", 0777);
    mkdir(path, 0777);
    return path;
}

/* count float32 values from a file of exactly that many (the tests/fixtures .bin files), or NULL
 * (missing, short, or longer).  The caller frees. */
static inline float *test_read_floats(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *data = malloc(count * sizeof(float));
    size_t got = data ? fread(data, sizeof(float), count, f) : 0;
    int extra = fgetc(f);
    fclose(f);
    if (got != count || extra != EOF) {
        free(data);
        return NULL;
    }
    return data;
}

/* max |a[i] - b[i]| in double; NaN anywhere gives NaN (a failed `< tol` check). */
static inline double test_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

/* A linear congruential generator for test inputs (24 bits a call), one stream per test
 * program: test_rng_seed() first where the values are pinned. */
static inline unsigned *test_rng_state(void) {
    static unsigned state = 12345;
    return &state;
}
static inline void test_rng_seed(unsigned seed) { *test_rng_state() = seed; }
static inline unsigned test_rng(void) {
    unsigned *s = test_rng_state();
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* n floats uniform in [-scale, scale) from test_rng, and a copy of n floats (malloc'd,
 * at least one element; the caller frees). */
static inline float *test_random_floats(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; p && i < n; i++) p[i] = scale * ((float)test_rng() / 16777216.0f * 2.0f - 1.0f);
    return p;
}
static inline float *test_copy_floats(const float *src, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (p) memcpy(p, src, n * sizeof(float));
    return p;
}

static inline int test_finish(const char *name) {
    if (test_skipped)
        printf("%s: %d passed, %d failed, %d part(s) skipped\n", name, test_passed, test_failed, test_skipped);
    else printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : test_skipped ? 77 : 0;
}

#endif
