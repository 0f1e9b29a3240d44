/* warp/patch_fill: a hole's colours re-synthesised from patches of the known image.
 *
 * The smooth fill (image_fill_holes) of a person's outline over a structured background (a
 * flag's stripes, a brick wall under wooden cupboards, a landscape) is a fog that mixes the
 * colours around the hole: a red and white flag beside a head turns into pink, and a head
 * that moves far uncovers it; the matte's de-mixing of hair against that plate also tints
 * the hair's edge with the colour the plate lacks.  Here the hole is rebuilt, at a coarse
 * scale (at most STRUCTURE_SIZE pixels across, where the structure is and the cost is
 * small), the way exemplar completion does (Wexler, Shechtman and Irani; nearest-neighbour
 * fields by Barnes et al.'s PatchMatch): every hole pixel's 7x7 patch is matched to a
 * wholly known one (propagation from the neighbours' matches, then random search), each hole
 * pixel becomes the mean of what the matches covering it put there, and that repeats on a
 * pyramid from coarse to fine; the coarsest level's hole starts from the background's
 * structure carried in along its direction (level_oriented), and its matches are held to
 * that start.  Then a detail level at half that scale (its hole started
 * from the structure's matches, one round of propagation), and the image's own pixels
 * copied by those matches (copy_from_coarser): the hole gets the background's texture at
 * full resolution (canvas, a landscape's foliage, cloth), where the structure level's
 * colours upsampled were a blur of 192 pixels across.  A fixed seed: the same portrait,
 * the same plate. */
#include "warp/raster.h"
#include "img/image.h"
#include "base/base.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_RADIUS 3   /* 7x7 patches */
#define MAX_LEVELS 8
#define STRUCTURE_SIZE 192 /* the finest level synthesised: at most this many pixels across
                              (256: the same pictures at 2x the cost) */
#define SMALLEST_SIZE 64   /* the coarsest level: at least this many pixels across (below, few
                              wholly known 7x7 patches are left: on a portrait in a gilt frame
                              its one dark corner filled the head's hole at every level) */
#define ITERATIONS 4
#define RANDOM_TRIES 6
#define DETAIL_ITERATIONS 1 /* at the detail level (copy_from_coarser), propagation only: a
                               random search there (2 tries within 4 px) changed next to
                               nothing on tpsmm and Grace Hopper, for 15-30 ms */

typedef struct fill_level {
    int w, h;
    float *rgb;       /* w x h x 3 */
    uint8_t *known;   /* 1 known, 0 unknown */
    uint8_t *target;  /* the hole: pixels to synthesise */
    uint8_t *source;  /* 1 where a whole patch around the pixel is known */
    int32_t (*match)[2]; /* per target pixel: its source patch's centre */
    float *cost;      /* that match's distance */
    float *guide;     /* the coarsest level: its hole's start (level_oriented), or NULL */
    float *hold;      /* per pixel: the weight of the distance to the guide in a match's */
} fill_level;

static uint32_t rng_next(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void level_free(fill_level *l) {
    free(l->rgb);
    free(l->known);
    free(l->target);
    free(l->source);
    free(l->match);
    free(l->cost);
    free(l->guide);
    free(l->hold);
    memset(l, 0, sizeof *l);
}

static bool level_alloc(fill_level *l, int w, int h) {
    size_t n = (size_t)w * h;
    l->w = w;
    l->h = h;
    l->rgb = malloc(n * 3 * sizeof *l->rgb);
    l->known = calloc(n, 1);
    l->target = calloc(n, 1);
    l->source = calloc(n, 1);
    l->match = malloc(n * sizeof *l->match);
    l->cost = malloc(n * sizeof *l->cost);
    return l->rgb && l->known && l->target && l->source && l->match && l->cost;
}

/* Sources: pixels whose whole patch lies in the image and is known. */
static void level_sources(fill_level *l) {
    int w = l->w, h = l->h, r = PATCH_RADIUS;
    /* rows of known runs: a pixel is a source when every pixel within r is known */
    int32_t *run = malloc((size_t)w * h * sizeof *run);
    if (!run) return; /* no sources: the level keeps its fill */
    for (int y = 0; y < h; y++) { /* horizontal: known pixels within r either side */
        const uint8_t *k = l->known + (size_t)y * w;
        int32_t *o = run + (size_t)y * w;
        int last_gap = -1;
        for (int x = 0; x < w; x++) {
            if (!k[x]) last_gap = x;
            o[x] = last_gap; /* the last unknown at or left of x */
        }
        for (int x = 0; x < w; x++) {
            int right = x + r;
            bool ok = x - r >= 0 && right < w && o[right] < x - r;
            o[x] = ok; /* (reads o[right] >= x before it is overwritten) */
        }
    }
    for (int x = 0; x < w; x++) { /* vertical over the horizontal results */
        int last_gap = -1;
        for (int y = 0; y < h; y++) {
            if (!run[(size_t)y * w + x]) last_gap = y;
            if (y - 2 * r >= 0 && last_gap < y - 2 * r) l->source[(size_t)(y - r) * w + x] = 1;
        }
    }
    free(run);
}

/* Patch distance (sum of squared RGB differences) of target centre (tx, ty) against source
 * centre (sx, sy), stopping early past `limit`; target pixels off the image count nothing. */
static float patch_distance(const fill_level *l, int tx, int ty, int sx, int sy, float limit) {
    int w = l->w, h = l->h, r = PATCH_RADIUS;
    float sum = 0;
    for (int dy = -r; dy <= r; dy++) {
        int y = ty + dy;
        if (y < 0 || y >= h) continue;
        const float *t = l->rgb + ((size_t)y * w) * 3, *s = l->rgb + ((size_t)(sy + dy) * w) * 3;
        int x0 = tx - r < 0 ? 0 : tx - r, x1 = tx + r >= w ? w - 1 : tx + r;
        if (!l->guide)
            for (int x = x0; x <= x1; x++) {
                const float *a = t + 3 * x, *b = s + 3 * (sx + x - tx);
                sum += (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
            }
        else { /* the coarsest level: plus the source's distance from the start, by `hold` */
            const float *g = l->guide + ((size_t)y * w) * 3, *hold = l->hold + (size_t)y * w;
            for (int x = x0; x <= x1; x++) {
                const float *a = t + 3 * x, *b = s + 3 * (sx + x - tx);
                sum += (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
                if (hold[x] > 0) {
                    const float *c = g + 3 * x;
                    sum += hold[x] * ((c[0] - b[0]) * (c[0] - b[0]) + (c[1] - b[1]) * (c[1] - b[1]) + (c[2] - b[2]) * (c[2] - b[2]));
                }
            }
        }
        if (sum > limit) return sum;
    }
    return sum;
}

static void try_match(fill_level *l, size_t i, int tx, int ty, int sx, int sy) {
    if (sx < 0 || sy < 0 || sx >= l->w || sy >= l->h || !l->source[(size_t)sy * l->w + sx]) return;
    if (sx == l->match[i][0] && sy == l->match[i][1]) return;
    float d = patch_distance(l, tx, ty, sx, sy, l->cost[i]);
    if (d < l->cost[i]) {
        l->cost[i] = d;
        l->match[i][0] = sx;
        l->match[i][1] = sy;
    }
}

/* One PatchMatch pass over the hole, row by row on the threads: forwards on even passes,
 * backwards on odd ones; a row takes its own left (right) neighbour's match as it goes and
 * the row above's (below's) as it was before the pass, and its random search is seeded by
 * the level, pass and row: the same result for any number of threads. */
typedef struct pass_job {
    fill_level *l;
    const int32_t (*before)[2]; /* the matches at the start of the pass */
    float *scratch;
    int pass;
    uint32_t seed;
    int radius, tries; /* the random search: from radius, halving, at most tries times */
} pass_job;

static void patchmatch_row(void *ctx, int y) {
    pass_job *job = ctx;
    fill_level *l = job->l;
    int w = l->w, h = l->h, step = job->pass & 1 ? -1 : 1;
    uint32_t seed = job->seed ^ (uint32_t)(y + 1) * 0x85ebca6bu;
    if (!seed) seed = 1;
    int py = y - step;
    for (int j = 0; j < w; j++) {
        int x = step > 0 ? j : w - 1 - j;
        size_t i = (size_t)y * w + x;
        if (!l->target[i]) continue;
        int px = x - step; /* propagation: the neighbours' matches, shifted */
        if (px >= 0 && px < w && l->target[(size_t)y * w + px])
            try_match(l, i, x, y, l->match[(size_t)y * w + px][0] + step, l->match[(size_t)y * w + px][1]);
        if (py >= 0 && py < h && l->target[(size_t)py * w + x])
            try_match(l, i, x, y, job->before[(size_t)py * w + x][0], job->before[(size_t)py * w + x][1] + step);
        /* random search around the match, the radius halving */
        for (int radius = job->radius, tries = 0; radius >= 1 && tries < job->tries; radius /= 2, tries++) {
            int ox = (int)(rng_next(&seed) % (uint32_t)(2 * radius + 1)) - radius;
            int oy = (int)(rng_next(&seed) % (uint32_t)(2 * radius + 1)) - radius;
            try_match(l, i, x, y, l->match[i][0] + ox, l->match[i][1] + oy);
        }
    }
}

/* The current matches' distances, a row at a time. */
static void cost_row(void *ctx, int y) {
    pass_job *job = ctx;
    fill_level *l = job->l;
    for (int x = 0; x < l->w; x++) {
        size_t i = (size_t)y * l->w + x;
        if (l->target[i]) l->cost[i] = patch_distance(l, x, y, l->match[i][0], l->match[i][1], FLT_MAX);
    }
}

/* Each hole pixel: the mean of what the matches of the hole patches covering it put there
 * (into scratch, a row at a time). */
static void vote_row(void *ctx, int y) {
    pass_job *job = ctx;
    const fill_level *l = job->l;
    int w = l->w, h = l->h, r = PATCH_RADIUS;
    for (int x = 0; x < w; x++) {
        size_t i = (size_t)y * w + x;
        if (!l->target[i]) continue;
        float sum[3] = {0, 0, 0}, n = 0;
        for (int dy = -r; dy <= r; dy++) {
            int qy = y - dy;
            if (qy < 0 || qy >= h) continue;
            for (int dx = -r; dx <= r; dx++) {
                int qx = x - dx;
                if (qx < 0 || qx >= w) continue;
                size_t q = (size_t)qy * w + qx;
                if (!l->target[q]) continue;
                const float *src = l->rgb + ((size_t)(l->match[q][1] + dy) * w + l->match[q][0] + dx) * 3;
                for (int c = 0; c < 3; c++) sum[c] += src[c];
                n += 1;
            }
        }
        for (int c = 0; c < 3; c++) job->scratch[i * 3 + c] = n > 0 ? sum[c] / n : l->rgb[i * 3 + c];
    }
}

/* One iteration on a level: distances, a forward and a backward pass, the vote; the random
 * search from `radius` pixels, `tries` times. */
static void level_iterate(fill_level *l, float *scratch, int32_t (*before)[2], uint32_t seed, int radius, int tries, int threads) {
    size_t cells = (size_t)l->w * l->h;
    pass_job job = {l, (const int32_t(*)[2])before, scratch, 0, seed, radius, tries};
    parallel_for(l->h, threads, cost_row, &job);
    for (int pass = 0; pass < 2; pass++) {
        memcpy(before, l->match, cells * sizeof *before);
        job.pass = pass;
        job.seed = seed * 2654435761u + (uint32_t)pass + 1;
        parallel_for(l->h, threads, patchmatch_row, &job);
    }
    parallel_for(l->h, threads, vote_row, &job);
    for (size_t i = 0; i < cells; i++)
        if (l->target[i]) memcpy(l->rgb + i * 3, scratch + i * 3, 3 * sizeof *scratch);
}

/* The nearest source for every hole pixel without a match yet (a start for the search). */
static void seed_matches(fill_level *l, uint32_t *seed) {
    int w = l->w, h = l->h;
    int32_t (*nearest)[2] = malloc((size_t)w * h * sizeof *nearest);
    if (nearest) image_nearest_known(l->source, w, h, nearest);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        if (!l->target[i] || l->match[i][0] >= 0) continue;
        if (nearest) {
            l->match[i][0] = nearest[i][0];
            l->match[i][1] = nearest[i][1];
        } else { /* no memory for the passes: random sources */
            for (int tries = 0; tries < 1000 && l->match[i][0] < 0; tries++) {
                int u = (int)(rng_next(seed) % (uint32_t)w), v = (int)(rng_next(seed) % (uint32_t)h);
                if (l->source[(size_t)v * w + u]) l->match[i][0] = u, l->match[i][1] = v;
            }
        }
    }
    free(nearest);
}

/* Level 0: the image shrunk by `factor` (block means; known where the whole block is). */
static void level_shrink(fill_level *l, const vv_image *image, const uint8_t *known, int factor) {
    int w = image->width, h = image->height;
    for (int y = 0; y < l->h; y++)
        for (int x = 0; x < l->w; x++) {
            size_t i = (size_t)y * l->w + x;
            float sum[3] = {0, 0, 0};
            int cells = 0, known_cells = 0;
            for (int v = y * factor; v < (y + 1) * factor && v < h; v++)
                for (int u = x * factor; u < (x + 1) * factor && u < w; u++) {
                    size_t j = (size_t)v * w + u;
                    for (int c = 0; c < 3; c++) sum[c] += image->data[j * 3 + c];
                    cells++;
                    known_cells += known[j] != 0;
                }
            for (int c = 0; c < 3; c++) l->rgb[i * 3 + c] = sum[c] / (float)cells;
            l->known[i] = known_cells == cells;
            l->target[i] = !l->known[i];
        }
}

/* The next coarser level: 2x2 means, known where all four children are. */
static void level_halve(fill_level *l, const fill_level *f) {
    for (int y = 0; y < l->h; y++)
        for (int x = 0; x < l->w; x++) {
            size_t i = (size_t)y * l->w + x;
            float sum[3] = {0, 0, 0};
            int cells = 0, known_cells = 0;
            for (int v = 2 * y; v < 2 * y + 2 && v < f->h; v++)
                for (int u = 2 * x; u < 2 * x + 2 && u < f->w; u++) {
                    size_t j = (size_t)v * f->w + u;
                    for (int c = 0; c < 3; c++) sum[c] += f->rgb[j * 3 + c];
                    cells++;
                    known_cells += f->known[j];
                }
            for (int c = 0; c < 3; c++) l->rgb[i * 3 + c] = sum[c] / (float)cells;
            l->known[i] = known_cells == cells;
            l->target[i] = !l->known[i];
        }
}

/* A level's hole from the coarser level's result: its matches doubled, its colours. */
static void level_from_coarser(fill_level *l, const fill_level *c) {
    for (int y = 0; y < l->h; y++)
        for (int x = 0; x < l->w; x++) {
            size_t i = (size_t)y * l->w + x, j = (size_t)(y / 2) * c->w + x / 2;
            if (!l->target[i]) continue;
            if (c->target[j]) memcpy(l->rgb + i * 3, c->rgb + j * 3, 3 * sizeof *l->rgb);
            if (c->match[j][0] >= 0) {
                int sx = 2 * c->match[j][0] + (x & 1), sy = 2 * c->match[j][1] + (y & 1);
                if (sx < l->w && sy < l->h && l->source[(size_t)sy * l->w + sx]) l->match[i][0] = sx, l->match[i][1] = sy;
            }
        }
}

/* The coarsest level's hole, started along the background's structure.  Each hole pixel
 * takes the mix of the first known pixels on ORIENT_RAYS rays around it, weighted by the
 * inverse fourth power of the ray's length and by how well the ray runs along the
 * structure where it lands (the known pixels' colour structure tensor, smoothed over
 * ORIENT_SMOOTH: its edges' direction and how sure that is).  A flag's stripe met by the
 * hole's border goes on along its direction and nowhere else; a plain wall, with no
 * direction, comes in from all sides, the nearest most; a shelf or a brick course goes on
 * across.  Rays end ORIENT_REACH of the level's larger side away; the start holds in full
 * to half that from the border and fades into the smooth fill by its end (the Mona Lisa's
 * hole reaches the picture's bottom from a road half way down: carried all the way, the
 * road's orange striped the bottom).
 * Before (each row's known pixels left and right by distance), a flag's red stripe beside
 * the tpsmm portrait's head filled the hole's rows half way to the wall, and the patches
 * kept it: a red rectangle behind the hair where the stripe runs steeply down.
 * The start is kept as the level's guide: a match's distance adds the distance of its
 * source patch to the start, weighted by the same fade (`hold`: as much as the patch's own
 * where the start holds in full).  Without it the iterations
 * drifted back to the red rectangle (the patches beside a white stripe that runs on beside
 * the wall have no like in the picture, and red ones won).  Returns false without memory
 * (the level keeps the smooth fill). */
#define ORIENT_RAYS 32
#define ORIENT_SPREAD 0.25f /* sine of the angle off the structure at which a ray's weight falls by 1/e (fully sure) */
#define ORIENT_SMOOTH 8     /* the tensor's box half-width in level pixels, two passes (3: a wide stripe's inside had no direction) */
#define ORIENT_FLOOR 300.0f /* squared colour gradient against which an edge's sureness is measured (a wall's grain: unsure) */
#define ORIENT_REACH 0.33f

/* Box sums of `comps` values a pixel over (2r + 1) pixels, rows then columns, via tmp. */
static void box_sums(float *v, float *tmp, int w, int h, int comps, int r) {
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? h : w, lines = pass ? w : h;
        for (int a = 0; a < lines; a++)
            for (int b = 0; b < n; b++) {
                float sum[4] = {0, 0, 0, 0};
                for (int c = b - r < 0 ? 0 : b - r; c <= b + r && c < n; c++) {
                    size_t i = pass ? (size_t)c * w + a : (size_t)a * w + c;
                    for (int k = 0; k < comps; k++) sum[k] += v[i * comps + k];
                }
                size_t o = pass ? (size_t)b * w + a : (size_t)a * w + b;
                for (int k = 0; k < comps; k++) tmp[o * comps + k] = sum[k];
            }
        memcpy(v, tmp, (size_t)w * h * comps * sizeof *v);
    }
}

static bool level_oriented(fill_level *l) {
    int w = l->w, h = l->h, reach = (int)(ORIENT_REACH * (float)(w > h ? w : h));
    size_t n = (size_t)w * h;
    float *tensor = calloc(n * 4, sizeof *tensor), *tmp = malloc(n * 4 * sizeof *tmp);
    float (*structure)[3] = malloc(n * sizeof *structure); /* per pixel: the edges' direction (x, y), sureness 0-1 */
    int (*offsets)[2] = malloc((size_t)ORIENT_RAYS * (reach + 1) * sizeof *offsets); /* ray k's step s: [k * (reach + 1) + s] */
    int32_t (*nearest)[2] = malloc(n * sizeof *nearest);
    int *clear = malloc(n * sizeof *clear);
    l->guide = malloc(n * 3 * sizeof *l->guide);
    l->hold = calloc(n, sizeof *l->hold);
    bool ok = tensor && tmp && structure && offsets && nearest && clear && l->guide && l->hold;
    if (!ok) {
        free(l->guide);
        free(l->hold);
        l->guide = l->hold = NULL;
        goto done;
    }
    /* Di Zenzo's colour tensor from central differences, where all four neighbours are known;
     * its mean over those within the box */
    for (int y = 1; y + 1 < h; y++)
        for (int x = 1; x + 1 < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!l->known[i] || !l->known[i - 1] || !l->known[i + 1] || !l->known[i - w] || !l->known[i + w]) continue;
            float *t = tensor + i * 4;
            for (int c = 0; c < 3; c++) {
                float gx = (l->rgb[(i + 1) * 3 + c] - l->rgb[(i - 1) * 3 + c]) / 2, gy = (l->rgb[(i + w) * 3 + c] - l->rgb[(i - w) * 3 + c]) / 2;
                t[0] += gx * gx;
                t[1] += gx * gy;
                t[2] += gy * gy;
            }
            t[3] = 1;
        }
    for (int pass = 0; pass < 2; pass++) box_sums(tensor, tmp, w, h, 4, ORIENT_SMOOTH);
    for (size_t i = 0; i < n; i++) {
        const float *t = tensor + i * 4;
        float count = t[3] > 0 ? t[3] : 1, xx = t[0] / count, xy = t[1] / count, yy = t[2] / count;
        float root = sqrtf((xx - yy) * (xx - yy) + 4 * xy * xy);
        float across = 0.5f * atan2f(2 * xy, xx - yy); /* the gradient's direction: the edges run at right angles to it */
        structure[i][0] = -sinf(across);
        structure[i][1] = cosf(across);
        structure[i][2] = root / (xx + yy + ORIENT_FLOOR); /* (larger - smaller eigenvalue) / (sum + floor) */
    }
    float rays[ORIENT_RAYS][2];
    for (int k = 0; k < ORIENT_RAYS; k++) {
        float a = (float)k * 6.2831853f / ORIENT_RAYS;
        rays[k][0] = cosf(a);
        rays[k][1] = sinf(a);
        for (int step = 0; step <= reach; step++) {
            offsets[k * (reach + 1) + step][0] = (int)lrintf(rays[k][0] * (float)step);
            offsets[k * (reach + 1) + step][1] = (int)lrintf(rays[k][1] * (float)step);
        }
    }
    image_nearest_known(l->known, w, h, nearest);
    /* how far a ray may skip from each hole pixel and meet no known one (the nearest's
     * distance, less 2.5 for the rays' rounding and the transform's error): a few steps
     * where a pixel by pixel march took 60 ms on the Mona Lisa's 125x189 level */
    for (size_t i = 0; i < n; i++) {
        float dx = (float)(nearest[i][0] - (int)(i % w)), dy = (float)(nearest[i][1] - (int)(i / w));
        float skip = nearest[i][0] < 0 ? (float)(w + h) : sqrtf(dx * dx + dy * dy) - 2.5f;
        clear[i] = skip < 1 ? 1 : (int)skip;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (l->known[i]) continue;
            memcpy(tmp + i * 3, l->rgb + i * 3, 3 * sizeof *tmp);
            float dx = (float)(nearest[i][0] - x), dy = (float)(nearest[i][1] - y), gap = sqrtf(dx * dx + dy * dy);
            if (nearest[i][0] < 0 || gap > (float)(reach + 1)) continue; /* no ray reaches */
            float sum[3] = {0, 0, 0}, total = 0;
            int shortest = reach + 1;
            for (int k = 0; k < ORIENT_RAYS; k++)
                for (int step = 1; step <= reach;) {
                    int u = x + offsets[k * (reach + 1) + step][0], v = y + offsets[k * (reach + 1) + step][1];
                    if (u < 0 || v < 0 || u >= w || v >= h) break;
                    size_t j = (size_t)v * w + u;
                    if (!l->known[j]) {
                        step += clear[j];
                        continue;
                    }
                    float off = rays[k][0] * structure[j][1] - rays[k][1] * structure[j][0]; /* the sine of the angle between */
                    int length = step;
                    if (off * off * structure[j][2] < 4 * ORIENT_SPREAD * ORIENT_SPREAD) {
                        /* near the structure's direction (weight over 1/e^4): along that direction
                         * exactly, from here; ORIENT_RAYS apart, the two rays either side of a
                         * stripe landed a stripe apart 20 pixels out and blurred red and white
                         * into a pink that the patches took for a plain wall */
                        float ex = structure[j][0], ey = structure[j][1];
                        if (ex * rays[k][0] + ey * rays[k][1] < 0) ex = -ex, ey = -ey;
                        for (int along = 1; along <= reach;) {
                            int ua = x + (int)lrintf(ex * (float)along), va = y + (int)lrintf(ey * (float)along);
                            if (ua < 0 || va < 0 || ua >= w || va >= h) break;
                            size_t at = (size_t)va * w + ua;
                            if (!l->known[at]) {
                                along += clear[at];
                                continue;
                            }
                            j = at;
                            length = along;
                            off = 0;
                            break;
                        }
                    }
                    float square = (float)length * (float)length;
                    float weight = expf(-off * off / (ORIENT_SPREAD * ORIENT_SPREAD) * structure[j][2]) / (square * square);
                    for (int c = 0; c < 3; c++) sum[c] += weight * l->rgb[j * 3 + c];
                    total += weight;
                    shortest = length < shortest ? length : shortest;
                    break;
                }
            /* the start in full to half the reach, the smooth fill at its end (only fading from
             * the border in, the middle of a hole 40 pixels across was half the smooth fill's
             * pink blur and went to the wall) */
            float fade = total > 0 ? 2 * (1 - (float)shortest / (float)(reach + 1)) : 0;
            fade = fade > 1 ? 1 : fade < 0 ? 0 : fade;
            for (int c = 0; c < 3 && fade > 0; c++) tmp[i * 3 + c] = fade * sum[c] / total + (1 - fade) * l->rgb[i * 3 + c];
            l->hold[i] = fade;
        }
    for (size_t i = 0; i < n; i++)
        if (!l->known[i]) memcpy(l->rgb + i * 3, tmp + i * 3, 3 * sizeof *tmp);
    memcpy(l->guide, l->rgb, n * 3 * sizeof *l->guide);
done:
    free(offsets);
    free(nearest);
    free(clear);
    free(tensor);
    free(tmp);
    free(structure);
    return ok;
}

/* A finer grid's hole from a coarser level's matches, `ratio` (> 1) times finer: a hole pixel
 * p under coarse pixel c takes the known pixel its match points to at the finer scale,
 * p + ratio (match(c) - c), and the four coarse pixels around p give theirs in bilinear
 * proportion.  Where matches run on together (a stripe, a wall) that copies the sources'
 * texture pixel for pixel; where they change, one copy fades into the next over a coarse
 * pixel (no blocks).  Upsampling the level's colours instead (as before) blurred the plate
 * to its 192 pixels: soft blobs where a moving head uncovers it.  A coarse pixel without a
 * match (or known), or whose copy falls on an unknown pixel, gives nothing; a pixel with no
 * copy at all takes the coarse colours in bilinear proportion.  The finer grid is
 * a level (float colours, `match` set to the nearest coarse pixel's copy where that is a
 * source) or the image itself (8-bit, no matches). */
typedef struct fine_grid {
    int w, h;
    const uint8_t *known;
    float *rgb;             /* a level's colours, or NULL */
    uint8_t *data;          /* else the image's */
    const uint8_t *source;  /* a level's sources and matches (NULL: none kept) */
    int32_t (*match)[2];
} fine_grid;

typedef struct copy_job {
    fine_grid *g;
    const fill_level *l;
    float ratio;
} copy_job;

static void copy_row(void *ctx, int y) {
    const copy_job *job = ctx;
    fine_grid *g = job->g;
    const fill_level *l = job->l;
    float ratio = job->ratio;
    float fy = ((float)y + 0.5f) / ratio - 0.5f;
    int y0 = (int)floorf(fy);
    float wy = fy - (float)y0;
    int cy[2] = {y0 < 0 ? 0 : y0 >= l->h ? l->h - 1 : y0, y0 + 1 >= l->h ? l->h - 1 : y0 + 1 < 0 ? 0 : y0 + 1};
    for (int x = 0; x < g->w; x++) {
        size_t i = (size_t)y * g->w + x;
        if (g->known[i]) continue;
        float fx = ((float)x + 0.5f) / ratio - 0.5f;
        int x0 = (int)floorf(fx);
        float wx = fx - (float)x0, sum[3] = {0, 0, 0}, colours[3] = {0, 0, 0}, copied = 0, heaviest = -1;
        int cx[2] = {x0 < 0 ? 0 : x0 >= l->w ? l->w - 1 : x0, x0 + 1 >= l->w ? l->w - 1 : x0 + 1 < 0 ? 0 : x0 + 1};
        for (int k = 0; k < 4; k++) {
            int u = cx[k & 1], v = cy[k >> 1];
            float weight = (k & 1 ? wx : 1 - wx) * (k >> 1 ? wy : 1 - wy);
            size_t c = (size_t)v * l->w + u;
            const float *colour = l->rgb + c * 3;
            if (l->target[c] && l->match[c][0] >= 0) {
                int sx = x + (int)lrintf(ratio * (float)(l->match[c][0] - u)), sy = y + (int)lrintf(ratio * (float)(l->match[c][1] - v));
                if (sx >= 0 && sy >= 0 && sx < g->w && sy < g->h && g->known[(size_t)sy * g->w + sx]) {
                    size_t j = (size_t)sy * g->w + sx;
                    for (int ch = 0; ch < 3; ch++) sum[ch] += weight * (g->rgb ? g->rgb[j * 3 + ch] : g->data[j * 3 + ch]);
                    copied += weight;
                    if (g->match && weight > heaviest && g->source[j]) {
                        heaviest = weight;
                        g->match[i][0] = sx;
                        g->match[i][1] = sy;
                    }
                    continue;
                }
            }
            for (int ch = 0; ch < 3; ch++) colours[ch] += weight * colour[ch];
        }
        /* the copies alone where there are any: beside the hole's border the known coarse
         * pixels' colours (their blocks' means) blurred a band as wide as a coarse pixel */
        for (int ch = 0; ch < 3; ch++) {
            sum[ch] = copied > 0 ? sum[ch] / copied : colours[ch];
            if (g->rgb) g->rgb[i * 3 + ch] = sum[ch];
            else g->data[i * 3 + ch] = (uint8_t)(sum[ch] > 255 ? 255 : sum[ch] + 0.5f);
        }
    }
}

static void copy_from_coarser(fine_grid *g, const fill_level *l, float ratio, int threads) {
    copy_job job = {g, l, ratio};
    parallel_for(g->h, threads, copy_row, &job);
}

vv_status image_fill_holes_patches(vv_image *image, const uint8_t *known, int threads) {
    if (!image || !image->data || image->channels != 3 || image->width < 1 || image->height < 1 || !known)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "patch fill: needs an RGB image and its known mask");
    int w = image->width, h = image->height;
    size_t n = (size_t)w * h;
    if (!memchr(known, 0, n)) return VV_OK;
    int larger = w > h ? w : h, factor = (larger + STRUCTURE_SIZE - 1) / STRUCTURE_SIZE;
    fill_level levels[MAX_LEVELS];
    memset(levels, 0, sizeof levels);
    int count = 0;
    vv_status s = VV_OK;
    for (int lw = (w + factor - 1) / factor, lh = (h + factor - 1) / factor; count < MAX_LEVELS;) {
        fill_level *l = &levels[count];
        if (!level_alloc(l, lw, lh)) {
            s = vv_fail(VV_ERR_NO_MEMORY, "patch fill: out of memory for a %dx%d image", w, h);
            break;
        }
        if (count == 0) level_shrink(l, image, known, factor);
        else level_halve(l, &levels[count - 1]);
        level_sources(l);
        for (size_t i = 0; i < (size_t)lw * lh; i++) l->match[i][0] = l->match[i][1] = -1;
        count++;
        lw = (lw + 1) / 2;
        lh = (lh + 1) / 2;
        if ((lw < lh ? lw : lh) < SMALLEST_SIZE) break;
    }
    uint32_t seed = 0x9e3779b9u;
    float *scratch = s == VV_OK ? malloc((size_t)levels[0].w * levels[0].h * 3 * sizeof *scratch) : NULL;
    int32_t (*before)[2] = s == VV_OK ? malloc((size_t)levels[0].w * levels[0].h * sizeof *before) : NULL;
    if (s == VV_OK && (!scratch || !before)) s = vv_fail(VV_ERR_NO_MEMORY, "patch fill: out of memory for a %dx%d image", w, h);
    bool filled = false;
    for (int k = count - 1; s == VV_OK && k >= 0; k--) {
        fill_level *l = &levels[k];
        size_t cells = (size_t)l->w * l->h;
        if (k < count - 1) level_from_coarser(l, &levels[k + 1]);
        else level_oriented(l);
        seed_matches(l, &seed);
        bool any = false;
        for (size_t i = 0; i < cells; i++) {
            if (!l->target[i]) continue;
            if (l->match[i][0] < 0) { /* no wholly known patch anywhere: the fill stays */
                l->target[i] = 0;
                continue;
            }
            any = true;
        }
        if (!any) continue;
        int reach = (l->w > l->h ? l->w : l->h) / 4;
        for (int it = 0; it < ITERATIONS; it++)
            level_iterate(l, scratch, before, (uint32_t)(k * 64 + it + 1) * 0x9e3779b9u, reach, RANDOM_TRIES, threads);
        filled = k == 0;
    }
    /* The detail level: half the structure level's factor (rounded up), its hole started
     * from the structure level's copies and refined by DETAIL_ITERATIONS rounds; then copied
     * up to the image.  Edges the structure level drew in steps of its pixels (a flag's red
     * against a wall) are matched again at the finer scale. */
    int detail = (factor + 1) / 2;
    fill_level fine = {0};
    if (s == VV_OK && filled && factor > 1 && detail > 1 && DETAIL_ITERATIONS > 0) {
        int dw = (w + detail - 1) / detail, dh = (h + detail - 1) / detail;
        size_t cells = (size_t)dw * dh;
        float *more = level_alloc(&fine, dw, dh) ? realloc(scratch, cells * 3 * sizeof *scratch) : NULL;
        if (more) scratch = more;
        int32_t (*more_before)[2] = more ? realloc(before, cells * sizeof *before) : NULL;
        if (more_before) before = more_before;
        if (more && more_before) {
            level_shrink(&fine, image, known, detail);
            level_sources(&fine);
            for (size_t i = 0; i < cells; i++) fine.match[i][0] = fine.match[i][1] = -1;
            fine_grid g = {dw, dh, fine.known, fine.rgb, NULL, fine.source, fine.match};
            copy_from_coarser(&g, &levels[0], (float)factor / (float)detail, threads);
            seed_matches(&fine, &seed);
            bool any = false;
            for (size_t i = 0; i < cells; i++) {
                if (fine.target[i] && fine.match[i][0] < 0) fine.target[i] = 0;
                any = any || fine.target[i];
            }
            for (int it = 0; any && it < DETAIL_ITERATIONS; it++)
                level_iterate(&fine, scratch, before, (uint32_t)(MAX_LEVELS * 64 + it + 1) * 0x9e3779b9u, 0, 0, threads);
        } else level_free(&fine);
    }
    if (s == VV_OK && filled) {
        fine_grid g = {w, h, known, NULL, image->data, NULL, NULL};
        copy_from_coarser(&g, fine.rgb ? &fine : &levels[0], (float)(fine.rgb ? detail : factor), threads);
    }
    level_free(&fine);
    free(scratch);
    free(before);
    for (int k = 0; k < MAX_LEVELS; k++) level_free(&levels[k]);
    return s;
}
