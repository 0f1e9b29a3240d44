/* warp/texture_fill: a hole filled with its surround's colours and grain.
 *
 * image_fill_holes gives a hole the smooth (harmonic) blend of its border: right for a
 * plain wall, but over a textured background (canvas, foliage, a landscape) the filled
 * part reads as a smooth, fogged patch, which shows wherever a moving head uncovers it.
 * Here the fine detail of the known pixels (each minus its local mean over known pixels)
 * is added on top of that fill, taken from the known pixel mirrored across the hole's
 * nearest border: a hole pixel d inside the border takes the detail d outside it, so the
 * grain runs on across the border without a seam; the colours stay the smooth fill's.
 * Once per portrait: a summed-area table gives any known pixel's local mean in four
 * reads, so the detail is computed only where a hole pixel asks for it.
 * image_fill_holes_structured: patch_fill.c's synthesis instead of the smooth fill, which
 * carries its own grain (the grain only where it left the smooth fill). */
#include "warp/raster.h"
#include "img/image.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* (raster.h) Two raster passes propagating the neighbours' nearest: the 8-neighbour vector
 * distance transform, within a pixel or so of the true Euclidean nearest.  Coordinates, not
 * indices: no division per neighbour. */
void image_nearest_known(const uint8_t *known, int w, int h, int32_t (*nearest)[2]) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            nearest[i][0] = known[i] ? x : -1;
            nearest[i][1] = known[i] ? y : -1;
        }
    static const int forward[4][2] = {{-1, 0}, {-1, -1}, {0, -1}, {1, -1}}; /* visited first */
    for (int pass = 0; pass < 2; pass++) {
        int sign = pass == 0 ? 1 : -1;
        for (int yy = 0; yy < h; yy++) {
            int y = pass == 0 ? yy : h - 1 - yy;
            for (int xx = 0; xx < w; xx++) {
                int x = pass == 0 ? xx : w - 1 - xx;
                size_t i = (size_t)y * w + x;
                if (known[i]) continue;
                int32_t *best = nearest[i];
                int64_t best_d = INT64_MAX;
                if (best[0] >= 0) best_d = (int64_t)(best[0] - x) * (best[0] - x) + (int64_t)(best[1] - y) * (best[1] - y);
                for (int k = 0; k < 4; k++) {
                    int u = x + sign * forward[k][0], v = y + sign * forward[k][1];
                    if (u < 0 || v < 0 || u >= w || v >= h) continue;
                    const int32_t *c = nearest[(size_t)v * w + u];
                    if (c[0] < 0) continue;
                    int64_t d = (int64_t)(c[0] - x) * (c[0] - x) + (int64_t)(c[1] - y) * (c[1] - y);
                    if (d < best_d) {
                        best_d = d;
                        best[0] = c[0];
                        best[1] = c[1];
                    }
                }
            }
        }
    }
}

/* Summed-area table of the known pixels' colours and count, (w + 1) x (h + 1) x 4, in
 * unsigned 32-bit arithmetic: it wraps on large images, but a box's sum (a few hundred
 * pixels of at most 255) comes out exact from the four corners all the same. */
static void known_table(const vv_image *im, const uint8_t *known, uint32_t *table) {
    int w = im->width, h = im->height;
    size_t stride = (size_t)(w + 1) * 4;
    memset(table, 0, stride * sizeof *table);
    for (int y = 0; y < h; y++) {
        const uint8_t *p = im->data + (size_t)y * w * 3, *k = known + (size_t)y * w;
        uint32_t *above = table + (size_t)y * stride, *row = above + stride, run[4] = {0, 0, 0, 0};
        for (int c = 0; c < 4; c++) row[c] = 0;
        for (int x = 0; x < w; x++) {
            if (k[x]) {
                run[0] += p[3 * x];
                run[1] += p[3 * x + 1];
                run[2] += p[3 * x + 2];
                run[3] += 1;
            }
            for (int c = 0; c < 4; c++) row[4 * (x + 1) + c] = above[4 * (x + 1) + c] + run[c];
        }
    }
}

/* The fill (smooth, or structured from patches), then the grain mirrored in. */
static vv_status fill_grained(vv_image *image, const uint8_t *known, int grain, int threads, bool structured) {
    if (!image || !image->data || image->channels != 3 || image->width < 1 || image->height < 1 || !known || grain < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fill holes: needs an RGB image, its known mask and a grain of 1 or more");
    int w = image->width, h = image->height;
    size_t n = (size_t)w * h;
    if (!memchr(known, 0, n)) return VV_OK;
    bool any_known = false;
    for (size_t i = 0; i < n && !any_known; i++) any_known = known[i] != 0;
    if (!any_known) return image_fill_holes(image, known, threads); /* no grain to carry */
    int32_t (*nearest)[2] = malloc(n * sizeof *nearest);
    uint32_t *table = malloc((size_t)(w + 1) * (h + 1) * 4 * sizeof *table);
    uint8_t *original = malloc(n * 3);
    if (!nearest || !table || !original) {
        free(nearest);
        free(table);
        free(original);
        return vv_fail(VV_ERR_NO_MEMORY, "fill holes: out of memory for a %dx%d image", w, h);
    }
    memcpy(original, image->data, n * 3); /* the known pixels, before the fill writes the hole */
    known_table(image, known, table);
    image_nearest_known(known, w, h, nearest);
    vv_status s = image_fill_holes(image, known, threads);
    /* the patches copy the known pixels' own detail into the hole at full resolution: the
     * grain mirrored on top drew the border's shapes in again (a chair's flowers as ghostly
     * outlines in lp_s0's plate); it stays where the patches left the smooth fill */
    uint8_t *smooth = NULL;
    if (s == VV_OK && structured) {
        smooth = malloc(n * 3);
        if (!smooth) s = vv_fail(VV_ERR_NO_MEMORY, "fill holes: out of memory for a %dx%d image", w, h);
        else memcpy(smooth, image->data, n * 3);
    }
    if (s == VV_OK && structured) s = image_fill_holes_patches(image, known, threads);
    int reach = 8 * grain; /* the grain's full strength this far in, fading out over as far again */
    size_t stride = (size_t)(w + 1) * 4;
    for (int y = 0; s == VV_OK && y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (known[i] || nearest[i][0] < 0 || (smooth && memcmp(smooth + i * 3, image->data + i * 3, 3))) continue;
            int qx = nearest[i][0], qy = nearest[i][1], mx = 2 * qx - x, my = 2 * qy - y;
            /* full near the border, none deep inside: mirrored from far off, the grain
             * repeats whatever structure lies there (a brick wall's courses across a
             * wooden door) where the smooth fill is the safer guess */
            float d = hypotf((float)(qx - x), (float)(qy - y)), fade = (float)(2 * reach - d) / (float)reach;
            if (fade <= 0 || mx < 0 || my < 0 || mx >= w || my >= h) continue;
            size_t m = (size_t)my * w + mx;
            if (!known[m]) continue;
            /* the mirrored pixel's detail: itself less the mean of the known pixels within
             * `grain` of it */
            int x0 = mx - grain < 0 ? 0 : mx - grain, x1 = mx + grain + 1 > w ? w : mx + grain + 1;
            int y0 = my - grain < 0 ? 0 : my - grain, y1 = my + grain + 1 > h ? h : my + grain + 1;
            const uint32_t *a = table + (size_t)y0 * stride + 4 * x0, *b = table + (size_t)y0 * stride + 4 * x1;
            const uint32_t *c = table + (size_t)y1 * stride + 4 * x0, *e = table + (size_t)y1 * stride + 4 * x1;
            uint32_t count = e[3] - c[3] - b[3] + a[3];
            if (!count) continue;
            int weight = fade >= 1 ? 256 : (int)(fade * 256);
            uint8_t *p = image->data + i * 3;
            for (int k = 0; k < 3; k++) {
                float mean = (float)(e[k] - c[k] - b[k] + a[k]) / (float)count;
                int detail = (int)lrintf((float)original[m * 3 + k] - mean);
                int v = p[k] + (detail * weight) / 256;
                p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    free(nearest);
    free(table);
    free(original);
    free(smooth);
    return s;
}

vv_status image_fill_holes_textured(vv_image *image, const uint8_t *known, int grain, int threads) {
    return fill_grained(image, known, grain, threads, false);
}

vv_status image_fill_holes_structured(vv_image *image, const uint8_t *known, int grain, int threads) {
    return fill_grained(image, known, grain, threads, true);
}
