/* Minimal test harness: CHECK macros count failures; test_finish() prints the plain
 * summary line and returns the exit code (0 pass, 1 fail).  Tests that need
 * ../shared call test_shared_path() and exit 77 (ctest: skipped) when it is absent. */
#ifndef VV_TEST_H
#define VV_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int test_passed, test_failed;

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

static inline int test_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
