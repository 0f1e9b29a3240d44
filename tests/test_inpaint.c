/* Textured hole filling (src/warp/inpaint.c), against ground truth on synthetic images
 * whose holes hide a known texture, and against the smooth fill it improves on:
 *  1. Vertical stripes 6 px wide behind a 32 px square: the stripes continue through the
 *     hole (error well under the smooth fill's, which is their grey mean).
 *  2. Horizontal bands behind a tall rectangle reaching the bottom: each band crosses.
 *  3. Known pixels are never changed; same seed -> same bytes for 1 and 2 threads.
 *  4. The band: pixels deeper than it keep the smooth fill, byte for byte.
 *  5. Edge cases: nothing to fill, nothing known, a hole too large for any patch, bad
 *     arguments. */
#include "img/image.h"
#include "test.h"
#include "warp/inpaint.h"
#include "warp/raster.h"

#define N 128

static double hole_error(const vv_image *a, const vv_image *truth, const uint8_t *known) {
    double sum = 0;
    long count = 0;
    for (int i = 0; i < a->width * a->height; i++)
        if (!known[i])
            for (int c = 0; c < 3; c++, count++) sum += fabs((double)a->data[i * 3 + c] - truth->data[i * 3 + c]);
    return count ? sum / count : 0;
}

static bool known_unchanged(const vv_image *a, const vv_image *truth, const uint8_t *known) {
    for (int i = 0; i < a->width * a->height; i++)
        if (known[i] && memcmp(a->data + i * 3, truth->data + i * 3, 3)) return false;
    return true;
}

/* Fills a copy of truth where known is 0, both ways; returns the errors. */
static void compare(const vv_image *truth, const uint8_t *known, double *textured, double *smooth, vv_image *out) {
    vv_image a = {0}, b = {0};
    CHECK_OK(image_copy(&a, truth));
    CHECK_OK(image_copy(&b, truth));
    for (int i = 0; i < N * N; i++)
        if (!known[i]) memset(a.data + i * 3, 0, 3), memset(b.data + i * 3, 0, 3);
    CHECK_OK(image_inpaint(&a, known, 0, 7, 1));
    CHECK_OK(image_fill_holes(&b, known, 1));
    CHECK(known_unchanged(&a, truth, known));
    *textured = hole_error(&a, truth, known);
    *smooth = hole_error(&b, truth, known);
    if (out) *out = a;
    else image_free(&a);
    image_free(&b);
}

int main(void) {
    vv_image truth = {0};
    uint8_t *known = malloc(N * N);
    CHECK_OK(image_create(&truth, N, N, 3));
    if (!known || !truth.data) return test_finish("test_inpaint");

    /* 1. Vertical stripes, 6 px dark, 6 px light. */
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            uint8_t v = (x / 6) % 2 ? 220 : 40;
            truth.data[(y * N + x) * 3] = v, truth.data[(y * N + x) * 3 + 1] = v / 2, truth.data[(y * N + x) * 3 + 2] = 255 - v;
            known[y * N + x] = !(x >= 48 && x < 80 && y >= 48 && y < 80);
        }
    double textured, smooth;
    compare(&truth, known, &textured, &smooth, NULL);
    printf("stripes behind a 32 px square: mean |error| %.1f textured, %.1f smooth\n", textured, smooth);
    CHECK(textured < 0.35 * smooth);

    /* 2. Three horizontal bands behind a rectangle from y = 20 to the bottom. */
    static const uint8_t bands[3][3] = {{200, 180, 120}, {60, 90, 40}, {120, 60, 50}};
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            const uint8_t *c = bands[y < 50 ? 0 : y < 70 ? 1 : 2];
            uint8_t noise = (uint8_t)((x * 7 + y * 13) % 9); /* a little texture */
            for (int k = 0; k < 3; k++) truth.data[(y * N + x) * 3 + k] = (uint8_t)(c[k] + noise);
            known[y * N + x] = !(x >= 40 && x < 88 && y >= 20);
        }
    vv_image filled = {0};
    compare(&truth, known, &textured, &smooth, &filled);
    /* per band, in the middle of the hole */
    double worst = 0;
    for (int b = 0; b < 3; b++) {
        int y0 = b == 0 ? 30 : b == 1 ? 56 : 90, y1 = b == 0 ? 44 : b == 1 ? 64 : 120;
        double sum = 0;
        long count = 0;
        for (int y = y0; y < y1; y++)
            for (int x = 56; x < 72; x++)
                for (int k = 0; k < 3; k++, count++) sum += fabs((double)filled.data[(y * N + x) * 3 + k] - bands[b][k] - 4);
        worst = fmax(worst, sum / count);
    }
    printf("bands behind a rectangle: mean |error| %.1f textured, %.1f smooth; worst band's middle %.1f\n", textured,
           smooth, worst);
    CHECK(textured < 0.5 * smooth);
    CHECK(worst < 12);
    image_free(&filled);

    /* 3. Threads and seed: the same bytes. */
    {
        vv_image a = {0}, b = {0};
        CHECK_OK(image_copy(&a, &truth));
        CHECK_OK(image_copy(&b, &truth));
        CHECK_OK(image_inpaint(&a, known, 0, 3, 1));
        CHECK_OK(image_inpaint(&b, known, 0, 3, 2));
        CHECK(memcmp(a.data, b.data, (size_t)N * N * 3) == 0);
        image_free(&a);
        image_free(&b);
    }

    /* 4. The band: 8 px; the hole's middle (x 56..72, y >= 40) is farther than that. */
    {
        vv_image a = {0}, b = {0};
        CHECK_OK(image_copy(&a, &truth));
        CHECK_OK(image_copy(&b, &truth));
        CHECK_OK(image_inpaint(&a, known, 8, 3, 1));
        CHECK_OK(image_fill_holes(&b, known, 1));
        bool deep_same = true, near_differs = false;
        for (int y = 40; y < N; y++)
            for (int x = 56; x < 72; x++) deep_same = deep_same && !memcmp(a.data + (y * N + x) * 3, b.data + (y * N + x) * 3, 3);
        for (int y = 40; y < N; y++) near_differs = near_differs || memcmp(a.data + (y * N + 42) * 3, b.data + (y * N + 42) * 3, 3);
        CHECK(deep_same);
        CHECK(near_differs);
        CHECK(known_unchanged(&a, &truth, known));
        image_free(&a);
        image_free(&b);
    }

    /* 5. Edge cases. */
    {
        vv_image a = {0};
        CHECK_OK(image_copy(&a, &truth));
        memset(known, 1, N * N);
        CHECK_OK(image_inpaint(&a, known, 0, 1, 1));
        CHECK(memcmp(a.data, truth.data, (size_t)N * N * 3) == 0);
        memset(known, 0, N * N); /* nothing known: left as it is, as the smooth fill does */
        CHECK_OK(image_inpaint(&a, known, 0, 1, 1));
        CHECK(memcmp(a.data, truth.data, (size_t)N * N * 3) == 0);
        /* a 5 px frame known: no 7x7 patch fits in it; the smooth fill instead */
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) known[y * N + x] = x < 5 || y < 5 || x >= N - 5 || y >= N - 5;
        CHECK_OK(image_inpaint(&a, known, 0, 1, 1));
        CHECK(known_unchanged(&a, &truth, known));
        CHECK(image_inpaint(&a, NULL, 0, 1, 1) == VV_ERR_INVALID_ARGUMENT);
        vv_image gray = {0};
        CHECK_OK(image_create(&gray, 8, 8, 1));
        CHECK(image_inpaint(&gray, known, 0, 1, 1) == VV_ERR_INVALID_ARGUMENT);
        image_free(&gray);
        image_free(&a);
    }
    free(known);
    image_free(&truth);
    return test_finish("test_inpaint");
}
