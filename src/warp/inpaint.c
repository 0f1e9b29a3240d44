/* warp/inpaint: patch-based hole filling on a pyramid (see inpaint.h). */
#include "warp/inpaint.h"

#include "img/image.h"
#include "warp/raster.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define R 3 /* patch radius: 7 x 7 patches */
#define COARSEST_SIDE 48

typedef struct level {
    int w, h;
    float *rgb;         /* w * h * 3, 0..255 */
    uint8_t *known;     /* original pixels */
    uint8_t *frozen;    /* hole pixels beyond the band: they keep the smooth fill */
    uint8_t *source_ok; /* a patch centred here lies inside the image and wholly in known pixels */
    uint8_t *target;    /* a patch centred here touches the hole: it gets a nearest known patch */
    int *nnf;           /* target pixels: their patch's nearest known patch centre (y * w + x) */
    float *cost;        /* its squared distance per channel sample */
    int *sources;       /* the valid centres, for random picks */
    int source_count;
} level;

static void level_free(level *l) {
    free(l->rgb);
    free(l->known);
    free(l->frozen);
    free(l->source_ok);
    free(l->target);
    free(l->nnf);
    free(l->cost);
    free(l->sources);
    memset(l, 0, sizeof *l);
}

static vv_status level_alloc(level *l, int w, int h) {
    size_t n = (size_t)w * h;
    l->w = w, l->h = h;
    l->rgb = malloc(n * 3 * sizeof *l->rgb);
    l->known = malloc(n);
    l->frozen = calloc(n, 1);
    l->source_ok = calloc(n, 1);
    l->target = calloc(n, 1);
    l->nnf = malloc(n * sizeof *l->nnf);
    l->cost = malloc(n * sizeof *l->cost);
    l->sources = malloc(n * sizeof *l->sources);
    if (!l->rgb || !l->known || !l->frozen || !l->source_ok || !l->target || !l->nnf || !l->cost || !l->sources)
        return vv_fail(VV_ERR_NO_MEMORY, "inpaint: out of memory for %dx%d", w, h);
    return VV_OK;
}

/* Valid source centres (a summed-area table of unknown pixels) and target pixels (within
 * R of an unknown one). */
static vv_status level_masks(level *l) {
    int w = l->w, h = l->h;
    int *sat = calloc((size_t)(w + 1) * (h + 1), sizeof *sat);
    if (!sat) return vv_fail(VV_ERR_NO_MEMORY, "inpaint: out of memory");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            sat[(size_t)(y + 1) * (w + 1) + x + 1] = !l->known[(size_t)y * w + x] + sat[(size_t)y * (w + 1) + x + 1] +
                                                     sat[(size_t)(y + 1) * (w + 1) + x] - sat[(size_t)y * (w + 1) + x];
    l->source_count = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int x0 = x - R < 0 ? 0 : x - R, y0 = y - R < 0 ? 0 : y - R;
            int x1 = x + R + 1 > w ? w : x + R + 1, y1 = y + R + 1 > h ? h : y + R + 1;
            int unknown = sat[(size_t)y1 * (w + 1) + x1] - sat[(size_t)y0 * (w + 1) + x1] - sat[(size_t)y1 * (w + 1) + x0] +
                          sat[(size_t)y0 * (w + 1) + x0];
            size_t i = (size_t)y * w + x;
            bool inside = x >= R && y >= R && x + R < w && y + R < h;
            l->source_ok[i] = inside && unknown == 0;
            l->target[i] = unknown > 0 && !l->frozen[i];
            if (l->source_ok[i]) l->sources[l->source_count++] = (int)i;
        }
    free(sat);
    return VV_OK;
}

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Squared distance per sample between the patches at p and q (q's patch wholly inside);
 * offsets where p's patch leaves the image are skipped.  Stops early past `bound`. */
static float patch_distance(const level *l, int p, int q, float bound) {
    int w = l->w, px = p % w, py = p / w, qx = q % w, qy = q / w;
    float sum = 0;
    int count = 0;
    for (int dy = -R; dy <= R; dy++) {
        int y = py + dy;
        if (y < 0 || y >= l->h) continue;
        const float *a = l->rgb + ((size_t)y * w) * 3, *b = l->rgb + ((size_t)(qy + dy) * w) * 3;
        for (int dx = -R; dx <= R; dx++) {
            int x = px + dx;
            if (x < 0 || x >= w) continue;
            const float *pa = a + (size_t)x * 3, *pb = b + (size_t)(qx + dx) * 3;
            float d0 = pa[0] - pb[0], d1 = pa[1] - pb[1], d2 = pa[2] - pb[2];
            sum += d0 * d0 + d1 * d1 + d2 * d2;
            count += 3;
        }
        if (sum > bound * (float)(2 * R + 1) * (2 * R + 1) * 3) return FLT_MAX;
    }
    return count ? sum / (float)count : FLT_MAX;
}

static void try_candidate(level *l, int p, int q) {
    if (q < 0 || q >= l->w * l->h || !l->source_ok[q] || q == l->nnf[p]) return;
    float d = patch_distance(l, p, q, l->cost[p]);
    if (d < l->cost[p]) l->nnf[p] = q, l->cost[p] = d;
}

/* One PatchMatch sweep: propagation from the two neighbours already visited (left and up
 * forwards, right and down backwards), then random search in shrinking windows. */
static void patchmatch_sweep(level *l, bool forward, uint64_t *rng) {
    int w = l->w, h = l->h, n = w * h, step = forward ? 1 : -1;
    for (int k = 0; k < n; k++) {
        int p = forward ? k : n - 1 - k;
        if (!l->target[p]) continue;
        int x = p % w, y = p / w;
        int nx = x - step, ny = y - step;
        if (nx >= 0 && nx < w && l->target[p - step]) {
            int q = l->nnf[p - step] + step;
            if ((q % w) - (l->nnf[p - step] % w) == step) try_candidate(l, p, q);
        }
        if (ny >= 0 && ny < h && l->target[p - step * w]) try_candidate(l, p, l->nnf[p - step * w] + step * w);
        int qx = l->nnf[p] % w, qy = l->nnf[p] / w;
        for (int radius = w > h ? w : h; radius >= 1; radius /= 2) {
            int cx = qx + (int)(rng_next(rng) % (uint64_t)(2 * radius + 1)) - radius;
            int cy = qy + (int)(rng_next(rng) % (uint64_t)(2 * radius + 1)) - radius;
            if (cx < 0 || cy < 0 || cx >= w || cy >= h) continue;
            try_candidate(l, p, cy * w + cx);
        }
    }
}

static void costs_update(level *l) {
    for (int p = 0; p < l->w * l->h; p++)
        if (l->target[p]) l->cost[p] = patch_distance(l, p, l->nnf[p], FLT_MAX);
}

/* The vote's bandwidth: the 75th percentile of the patches' distances (Newson et al.). */
static float vote_sigma2(const level *l) {
    int n = 0;
    for (int p = 0; p < l->w * l->h; p++) n += l->target[p];
    if (n == 0) return 1.0f;
    float *c = malloc((size_t)n * sizeof *c);
    if (!c) return 1.0f;
    n = 0;
    for (int p = 0; p < l->w * l->h; p++)
        if (l->target[p]) c[n++] = l->cost[p];
    /* nth element by partial selection: a full sort is fine at these sizes */
    int k = (3 * n) / 4;
    for (int lo = 0, hi = n - 1; lo < hi;) {
        float pivot = c[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (c[i] < pivot) i++;
            while (c[j] > pivot) j--;
            if (i <= j) {
                float t = c[i];
                c[i++] = c[j], c[j--] = t;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    float s = c[k];
    free(c);
    return s > 1.0f ? s : 1.0f;
}

typedef struct vote_job {
    level *l;
    const float *from; /* the colours voted from (a copy, so rows do not read their own output) */
    const float *weight; /* per target pixel: exp(-cost / 2 sigma^2) */
} vote_job;

static void vote_row(void *ctx, int y) {
    vote_job *j = ctx;
    level *l = j->l;
    int w = l->w, h = l->h;
    for (int x = 0; x < w; x++) {
        size_t i = (size_t)y * w + x;
        if (l->known[i] || l->frozen[i]) continue;
        double acc[3] = {0, 0, 0}, total = 0;
        for (int dy = -R; dy <= R; dy++) {
            int py = y + dy;
            if (py < 0 || py >= h) continue;
            for (int dx = -R; dx <= R; dx++) {
                int px = x + dx;
                if (px < 0 || px >= w) continue;
                int p = py * w + px;
                if (!l->target[p]) continue;
                int q = l->nnf[p], sx = q % w - dx, sy = q / w - dy; /* where x sits in p's source patch */
                float weight = j->weight[p];
                const float *c = j->from + ((size_t)sy * w + sx) * 3;
                acc[0] += weight * c[0], acc[1] += weight * c[1], acc[2] += weight * c[2];
                total += weight;
            }
        }
        if (total > 0)
            for (int c = 0; c < 3; c++) l->rgb[i * 3 + c] = (float)(acc[c] / total);
    }
}

static vv_status vote(level *l, int threads) {
    size_t n = (size_t)l->w * l->h * 3;
    float *from = malloc(n * sizeof *from);
    if (!from) return vv_fail(VV_ERR_NO_MEMORY, "inpaint: out of memory");
    memcpy(from, l->rgb, n * sizeof *from);
    float *weight = malloc((size_t)l->w * l->h * sizeof *weight);
    if (!weight) {
        free(from);
        return vv_fail(VV_ERR_NO_MEMORY, "inpaint: out of memory");
    }
    float sigma2 = vote_sigma2(l);
    for (int p = 0; p < l->w * l->h; p++) weight[p] = l->target[p] ? expf(-l->cost[p] / (2.0f * sigma2)) : 0.0f;
    vote_job j = {l, from, weight};
    parallel_for(l->h, threads, vote_row, &j);
    free(from);
    free(weight);
    return VV_OK;
}

static void nnf_random(level *l, uint64_t *rng) {
    for (int p = 0; p < l->w * l->h; p++)
        if (l->target[p]) l->nnf[p] = l->sources[rng_next(rng) % (uint64_t)l->source_count];
}

/* The finer level's field from the coarser one's: the same offset, doubled. */
static void nnf_upsample(level *fine, const level *coarse, uint64_t *rng) {
    for (int y = 0; y < fine->h; y++)
        for (int x = 0; x < fine->w; x++) {
            int p = y * fine->w + x;
            if (!fine->target[p]) continue;
            int cx = x / 2 < coarse->w ? x / 2 : coarse->w - 1, cy = y / 2 < coarse->h ? y / 2 : coarse->h - 1;
            int cp = cy * coarse->w + cx, q = -1;
            if (coarse->target[cp]) {
                int qx = 2 * (coarse->nnf[cp] % coarse->w) + (x - 2 * cx), qy = 2 * (coarse->nnf[cp] / coarse->w) + (y - 2 * cy);
                if (qx >= 0 && qy >= 0 && qx < fine->w && qy < fine->h) q = qy * fine->w + qx;
            }
            fine->nnf[p] = q >= 0 && fine->source_ok[q] ? q : fine->sources[rng_next(rng) % (uint64_t)fine->source_count];
        }
}

/* Frozen: hole pixels more than `band` (city-block) from a known pixel. */
static vv_status level_freeze(level *l, int band) {
    int w = l->w, h = l->h;
    int *d = malloc((size_t)w * h * sizeof *d);
    if (!d) return vv_fail(VV_ERR_NO_MEMORY, "inpaint: out of memory");
    int far = w + h;
    for (int i = 0; i < w * h; i++) d[i] = l->known[i] ? 0 : far;
    for (int y = 0; y < h; y++) /* two passes of the chamfer transform */
        for (int x = 0; x < w; x++) {
            int i = y * w + x;
            if (x > 0 && d[i - 1] + 1 < d[i]) d[i] = d[i - 1] + 1;
            if (y > 0 && d[i - w] + 1 < d[i]) d[i] = d[i - w] + 1;
        }
    for (int y = h - 1; y >= 0; y--)
        for (int x = w - 1; x >= 0; x--) {
            int i = y * w + x;
            if (x + 1 < w && d[i + 1] + 1 < d[i]) d[i] = d[i + 1] + 1;
            if (y + 1 < h && d[i + w] + 1 < d[i]) d[i] = d[i + w] + 1;
        }
    for (int i = 0; i < w * h; i++) l->frozen[i] = d[i] > band;
    free(d);
    return VV_OK;
}

/* Each gap of a row from its known ends, linearly (one end where the gap meets the
 * image's edge; rows with no known pixel keep the smooth fill). */
static void rows_across(level *l, int y) {
    int w = l->w;
    const uint8_t *known = l->known + (size_t)y * w;
    float *row = l->rgb + (size_t)y * w * 3;
    for (int x = 0; x < w;) {
        if (known[x]) {
            x++;
            continue;
        }
        int end = x;
        while (end < w && !known[end]) end++;
        int left = x - 1, right = end; /* known neighbours, or off the row */
        if (left < 0 && right >= w) return;
        for (int i = x; i < end; i++) {
            float t = left < 0 ? 1.0f : right >= w ? 0.0f : (float)(i - left) / (float)(right - left);
            for (int c = 0; c < 3; c++) {
                float a = left < 0 ? 0 : row[left * 3 + c], b = right >= w ? 0 : row[right * 3 + c];
                row[i * 3 + c] = (1 - t) * a + t * b;
            }
        }
        x = end;
    }
}

vv_status image_inpaint(vv_image *image, const uint8_t *known, int band, uint64_t seed, int threads) {
    if (!image || !image->data || image->channels != 3 || !known)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "image_inpaint: needs an RGB image and a known mask");
    level levels[16];
    memset(levels, 0, sizeof levels);
    int count = 0;
    /* The smooth fill first: what stays outside the band keeps it. */
    vv_status s = band > 0 ? image_fill_holes(image, known, threads) : VV_OK;
    if (s == VV_OK) s = level_alloc(&levels[0], image->width, image->height);
    size_t n0 = (size_t)image->width * image->height;
    if (s == VV_OK) {
        for (size_t i = 0; i < n0 * 3; i++) levels[0].rgb[i] = image->data[i];
        for (size_t i = 0; i < n0; i++) levels[0].known[i] = known[i] != 0;
        count = 1;
    }
    /* The pyramid: a coarse pixel is known when all its children are. */
    while (s == VV_OK && count < 16) {
        const level *f = &levels[count - 1];
        if ((f->w > f->h ? f->w : f->h) <= COARSEST_SIDE || f->w < 4 * R || f->h < 4 * R) break;
        level *c = &levels[count];
        s = level_alloc(c, (f->w + 1) / 2, (f->h + 1) / 2);
        if (s != VV_OK) break;
        count++;
        for (int y = 0; y < c->h; y++)
            for (int x = 0; x < c->w; x++) {
                double sum[3] = {0, 0, 0};
                int all = 0, seen = 0;
                for (int k = 0; k < 4; k++) {
                    int fx = 2 * x + (k & 1), fy = 2 * y + (k >> 1);
                    if (fx >= f->w || fy >= f->h) continue;
                    size_t fi = (size_t)fy * f->w + fx;
                    all++;
                    if (!f->known[fi]) continue;
                    seen++;
                    for (int ch = 0; ch < 3; ch++) sum[ch] += f->rgb[fi * 3 + ch];
                }
                size_t ci = (size_t)y * c->w + x;
                c->known[ci] = seen == all;
                for (int ch = 0; ch < 3; ch++) c->rgb[ci * 3 + ch] = seen ? (float)(sum[ch] / seen) : 0.0f;
            }
    }
    /* The band: hole pixels farther than `band` from any known pixel (city-block
     * distance, halved per level) are frozen. */
    for (int k = 0; k < count && s == VV_OK && band > 0; k++) s = level_freeze(&levels[k], band >> k > R + 1 ? band >> k : R + 1);
    for (int k = 0; k < count && s == VV_OK; k++) s = level_masks(&levels[k]);
    /* Too few known pixels for a patch anywhere: the smooth fill is all there is. */
    bool patches = s == VV_OK;
    for (int k = 0; k < count && patches; k++) patches = levels[k].source_count > 0;
    if (s == VV_OK && !patches) {
        for (int k = 0; k < count; k++) level_free(&levels[k]);
        return image_fill_holes(image, known, threads);
    }
    /* The coarsest level starts from the smooth fill, then, row by row, from the known
     * pixels left and right of each gap: a person stands in front of horizontal bands
     * (a horizon, a wall and its skirting, a table), which this carries across. */
    level *top = &levels[count - 1];
    if (s == VV_OK) {
        vv_image small = {0};
        s = image_create(&small, top->w, top->h, 3);
        for (size_t i = 0; s == VV_OK && i < (size_t)top->w * top->h * 3; i++) small.data[i] = (uint8_t)lrintf(top->rgb[i]);
        if (s == VV_OK) s = image_fill_holes(&small, top->known, threads);
        for (size_t i = 0; s == VV_OK && i < (size_t)top->w * top->h * 3; i++) top->rgb[i] = small.data[i];
        image_free(&small);
        for (int y = 0; s == VV_OK && y < top->h; y++) rows_across(top, y);
    }
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int k = count - 1; k >= 0 && s == VV_OK; k--) {
        level *l = &levels[k];
        if (k == count - 1) {
            nnf_random(l, &rng);
        } else { /* hole colours and field from the level below */
            const level *c = &levels[k + 1];
            for (int y = 0; y < l->h; y++)
                for (int x = 0; x < l->w; x++) {
                    size_t i = (size_t)y * l->w + x;
                    if (l->known[i]) continue;
                    size_t ci = (size_t)(y / 2 < c->h ? y / 2 : c->h - 1) * c->w + (x / 2 < c->w ? x / 2 : c->w - 1);
                    for (int ch = 0; ch < 3; ch++) l->rgb[i * 3 + ch] = c->rgb[ci * 3 + ch];
                }
            nnf_upsample(l, c, &rng);
        }
        costs_update(l);
        bool search = (l->w > l->h ? l->w : l->h) <= INPAINT_SEARCH_MAX;
        int rounds = !search ? 1 : k == count - 1 ? 8 : 4;
        for (int round = 0; round < rounds && s == VV_OK; round++) {
            if (search) {
                patchmatch_sweep(l, true, &rng);
                patchmatch_sweep(l, false, &rng);
            }
            s = vote(l, threads);
            if (s == VV_OK && round + 1 < rounds) costs_update(l);
        }
    }
    if (s == VV_OK)
        for (size_t i = 0; i < n0; i++)
            if (!known[i] && !levels[0].frozen[i])
                for (int c = 0; c < 3; c++) {
                    float v = levels[0].rgb[i * 3 + c];
                    image->data[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
                }
    for (int k = 0; k < count; k++) level_free(&levels[k]);
    return s;
}
