/* warp/texture_fill: a hole filled with its surround's colours and grain.
 *
 * image_fill_holes gives a hole the smooth (harmonic) blend of its border: right for a
 * plain wall, but over a textured background (canvas, foliage, a landscape) the filled
 * part reads as a smooth, fogged patch, which shows wherever a moving head uncovers it.
 * Here the fine detail of the known pixels (each minus its local mean over known pixels)
 * is added on top of that fill, taken from the known pixel mirrored across the hole's
 * nearest border: a hole pixel d inside the border takes the detail d outside it, so the
 * grain runs on across the border without a seam; the colours stay the smooth fill's. */
#include "warp/raster.h"
#include "img/image.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Nearest known pixel of every pixel (its index; -1 where there is none), by two raster
 * passes propagating the neighbours' nearest (the 8-neighbour vector distance transform:
 * within a pixel or so of the true Euclidean nearest, which is plenty for mirroring). */
static void nearest_known(const uint8_t *known, int w, int h, int32_t *nearest) {
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) nearest[i] = known[i] ? (int32_t)i : -1;
    /* (dx, dy) offsets of the neighbours already visited in each pass */
    static const int forward[4][2] = {{-1, 0}, {-1, -1}, {0, -1}, {1, -1}};
    for (int pass = 0; pass < 2; pass++) {
        int sign = pass == 0 ? 1 : -1;
        for (int yy = 0; yy < h; yy++) {
            int y = pass == 0 ? yy : h - 1 - yy;
            for (int xx = 0; xx < w; xx++) {
                int x = pass == 0 ? xx : w - 1 - xx;
                size_t i = (size_t)y * w + x;
                if (known[i]) continue;
                int32_t best = nearest[i];
                int64_t best_d = INT64_MAX;
                if (best >= 0) {
                    int64_t dx = best % w - x, dy = best / w - y;
                    best_d = dx * dx + dy * dy;
                }
                for (int k = 0; k < 4; k++) {
                    int u = x + sign * forward[k][0], v = y + sign * forward[k][1];
                    if (u < 0 || v < 0 || u >= w || v >= h) continue;
                    int32_t c = nearest[(size_t)v * w + u];
                    if (c < 0) continue;
                    int64_t dx = c % w - x, dy = c / w - y, d = dx * dx + dy * dy;
                    if (d < best_d) {
                        best_d = d;
                        best = c;
                    }
                }
                nearest[i] = best;
            }
        }
    }
}

/* The mean colour of the known pixels within a (2r + 1)^2 box of each pixel, and their
 * number: box sums by prefix sums, rows into sums (4 floats a pixel), then columns.
 * false: out of memory. */
static bool known_mean(const vv_image *im, const uint8_t *known, int r, float *sums, float *mean, float *count) {
    int w = im->width, h = im->height, longest = w > h ? w : h;
    float *run = malloc((size_t)(longest + 1) * 4 * sizeof *run);
    if (!run) return false;
    for (int y = 0; y < h; y++) {
        const uint8_t *p = im->data + (size_t)y * w * 3, *k = known + (size_t)y * w;
        for (int c = 0; c < 4; c++) run[c] = 0;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 4; c++) run[4 * (x + 1) + c] = run[4 * x + c] + (k[x] ? (c < 3 ? p[3 * x + c] : 1) : 0);
        float *o = sums + (size_t)y * w * 4;
        for (int x = 0; x < w; x++) {
            int a = x - r < 0 ? 0 : x - r, b = x + r + 1 > w ? w : x + r + 1;
            for (int c = 0; c < 4; c++) o[4 * x + c] = run[4 * b + c] - run[4 * a + c];
        }
    }
    for (int x = 0; x < w; x++) {
        for (int c = 0; c < 4; c++) run[c] = 0;
        for (int y = 0; y < h; y++)
            for (int c = 0; c < 4; c++) run[4 * (y + 1) + c] = run[4 * y + c] + sums[((size_t)y * w + x) * 4 + c];
        for (int y = 0; y < h; y++) {
            int a = y - r < 0 ? 0 : y - r, b = y + r + 1 > h ? h : y + r + 1;
            size_t i = (size_t)y * w + x;
            float nk = run[4 * b + 3] - run[4 * a + 3];
            count[i] = nk;
            for (int c = 0; c < 3; c++) mean[i * 3 + c] = nk > 0 ? (run[4 * b + c] - run[4 * a + c]) / nk : 0;
        }
    }
    free(run);
    return true;
}

vv_status image_fill_holes_textured(vv_image *image, const uint8_t *known, int grain, int threads) {
    if (!image || !image->data || image->channels != 3 || image->width < 1 || image->height < 1 || !known || grain < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fill holes: needs an RGB image, its known mask and a grain of 1 or more");
    int w = image->width, h = image->height;
    size_t n = (size_t)w * h;
    if (!memchr(known, 0, n)) return VV_OK;
    if (n > (size_t)INT32_MAX) return image_fill_holes(image, known, threads); /* indices in 32 bits */
    bool any_known = false;
    for (size_t i = 0; i < n && !any_known; i++) any_known = known[i] != 0;
    if (!any_known) return image_fill_holes(image, known, threads); /* no grain to carry */
    /* The known pixels' detail, before the fill writes the hole. */
    float *mean = malloc(n * 3 * sizeof *mean), *count = malloc(n * sizeof *count);
    float *sums = malloc(n * 4 * sizeof *sums);
    int32_t *nearest = malloc(n * sizeof *nearest);
    int16_t *detail = malloc(n * 3 * sizeof *detail);
    bool ok = mean && count && sums && nearest && detail && known_mean(image, known, grain, sums, mean, count);
    if (ok)
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                detail[i * 3 + c] = known[i] && count[i] > 0 ? (int16_t)lrintf((float)image->data[i * 3 + c] - mean[i * 3 + c]) : 0;
    free(mean);
    free(count);
    free(sums);
    if (!ok) {
        free(nearest);
        free(detail);
        return vv_fail(VV_ERR_NO_MEMORY, "fill holes: out of memory for a %dx%d image", w, h);
    }
    nearest_known(known, w, h, nearest);
    vv_status s = image_fill_holes(image, known, threads);
    int reach = 8 * grain; /* the grain's full strength this far in, fading out over as far again */
    for (int y = 0; s == VV_OK && y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (known[i] || nearest[i] < 0) continue;
            int qx = nearest[i] % w, qy = nearest[i] / w, mx = 2 * qx - x, my = 2 * qy - y;
            if (mx < 0 || my < 0 || mx >= w || my >= h) continue;
            size_t m = (size_t)my * w + mx;
            if (!known[m]) continue;
            /* full near the border, none deep inside: mirrored from far off, the grain
             * repeats whatever structure lies there (a brick wall's courses across a
             * wooden door) where the smooth fill is the safer guess */
            float d = hypotf((float)(qx - x), (float)(qy - y)), fade = (float)(2 * reach - d) / (float)reach;
            if (fade <= 0) continue;
            int weight = fade >= 1 ? 256 : (int)(fade * 256);
            uint8_t *p = image->data + i * 3;
            for (int c = 0; c < 3; c++) {
                int v = p[c] + (detail[m * 3 + c] * weight) / 256;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    free(nearest);
    free(detail);
    return s;
}
