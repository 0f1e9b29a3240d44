/* warp/raster: z-buffered textured triangles and push-pull hole filling.
 *
 * Coverage is decided in exact integer arithmetic on positions snapped to 1/256 pixel:
 * each edge's first / last covered column per row is an integer division, stepped from
 * row to row without dividing (a Bresenham-like quotient and remainder), with the
 * top-left rule folded into the edge constant.  So shared edges are watertight and no
 * pixel is drawn twice, whatever the thread count.  Texcoords and depth are planes
 * through the unsnapped vertices (double precision), so an identity mesh maps every
 * pixel centre to exactly itself.  Rows are split into bands, each band drawing the
 * triangles that touch it in mesh order: no two threads write the same pixel. */
#include "warp/raster.h"
#include "img/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BAND_ROWS 16
#define SUBPIXEL 256              /* positions snapped to 1/256 pixel */
#define TEXCOORD_LIMIT 1048576.0  /* 2^20: texcoords beyond are refused */
#define FIXED_ONE 4294967296.0    /* texcoords stepped in 32.32 fixed point */

/* llrint without the call (this build calls libm's llrint, four to eight times a span):
 * cvtsd2si rounds in the current rounding mode as llrint does, and is what glibc's llrint
 * runs on x86-64; every caller's values are far inside int64. */
#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
static inline int64_t round_i64(double x) { return _mm_cvtsd_si64(_mm_set_sd(x)); }
#else
static inline int64_t round_i64(double x) { return (int64_t)llrint(x); }
#endif

static inline double min3d(double a, double b, double c) {
    double m = a < b ? a : b;
    return m < c ? m : c;
}
static inline double max3d(double a, double b, double c) {
    double m = a > b ? a : b;
    return m > c ? m : c;
}

static inline int64_t floor_div(int64_t n, int64_t d) { /* d > 0 */
    int64_t q = n / d;
    return (n % d != 0 && n < 0) ? q - 1 : q;
}

/* One edge's bound on the covered columns of row y: a left edge's first column is
 * floor(N(y) / d) + 1, a right edge's last floor(N(y) / d), with N(y) = n0 + step y;
 * a horizontal edge admits the whole row or none of it. */
enum { EDGE_LEFT, EDGE_RIGHT, EDGE_FLAT };
typedef struct raster_edge {
    int kind;
    int64_t d, n0, step;   /* left / right: as above */
    int64_t step_q, step_r; /* floor(step / d) and the remainder, for row-to-row stepping */
    int64_t b, c;          /* flat: inside when b * y + c > 0 */
} raster_edge;

/* A plane f(x, y) = f0 + fx (x - x0) + fy (y - y0). */
typedef struct raster_plane {
    double f0, fx, fy;
} raster_plane;

typedef struct raster_triangle {
    raster_edge edge[3];
    raster_plane u, v, z;
    double x0, y0;          /* the planes' origin */
    int row0, row1;         /* rows that may be covered, clipped to the target */
    uint8_t layer;
    bool valid, depth_only;
    uint8_t extras;         /* bit e: extra e is drawn by this triangle */
    raster_plane extra_u[RASTER_MAX_EXTRAS], extra_v[RASTER_MAX_EXTRAS];
} raster_triangle;

/* The texels of a texture that are picture (x0, y0, x1, y1 inclusive): all of them, or
 * those inside a frame line drawn round it (raster_target.frame).  Samples beyond are
 * clamped to its edge texels. */
typedef struct picture_box {
    int x0, y0, x1, y1;
} picture_box;

typedef struct raster_job {
    raster_target *target;
    const vv_image *texture;
    const raster_mesh *mesh;
    bool cull;
    raster_triangle *triangles;
    int *band_start, *band_list; /* triangles touching band b: band_list[band_start[b] .. band_start[b+1]) */
    int clear_box[4];            /* target->clear_box clipped to the target (empty: y1 < y0) */
    int bands;
    bool wide;                   /* the AVX-512 span loops may sample the texture */
    int fused;                   /* an extra the wide colour loop samples itself (-1: none) */
    picture_box picture;         /* the texture's picture inside its frame (target->frame) */
} raster_job;

static bool plane_fit(const double p[3][2], const double f[3], raster_plane *out) {
    double e1x = p[1][0] - p[0][0], e1y = p[1][1] - p[0][1], e2x = p[2][0] - p[0][0], e2y = p[2][1] - p[0][1];
    double det = e1x * e2y - e2x * e1y;
    double d1 = f[1] - f[0], d2 = f[2] - f[0];
    /* Written so that f = x gives fx = det / det = 1 and fy = 0 exactly (identity meshes). */
    out->f0 = f[0];
    out->fx = (d1 * e2y - d2 * e1y) / det;
    out->fy = (e1x * d2 - e2x * d1) / det;
    return det != 0 && isfinite(out->fx) && isfinite(out->fy);
}

static void edge_setup(raster_edge *e, const int64_t a[2], const int64_t b[2]) {
    int64_t A = a[1] - b[1], B = b[0] - a[0];
    int64_t C = -(A * a[0] + B * a[1]);
    /* Inside: A X + B Y + C > 0 (X, Y in 1/256 pixel); on the edge (== 0) only for top and
     * left edges (inside to the right: A > 0; below a horizontal edge: B > 0). */
    if (A > 0 || (A == 0 && B > 0)) C += 1;
    if (A > 0) { /* left: 256 A x > -(256 B y + C) */
        e->kind = EDGE_LEFT;
        e->d = SUBPIXEL * A;
        e->n0 = -C;
        e->step = -SUBPIXEL * B;
    } else if (A < 0) { /* right: x < (256 B y + C) / (-256 A) */
        e->kind = EDGE_RIGHT;
        e->d = -SUBPIXEL * A;
        e->n0 = C - 1;
        e->step = SUBPIXEL * B;
    } else {
        e->kind = EDGE_FLAT;
        e->b = SUBPIXEL * B;
        e->c = C;
        return;
    }
    e->step_q = floor_div(e->step, e->d);
    e->step_r = e->step - e->step_q * e->d;
}

/* Validates and prepares triangle i; false (skipped) for anything not drawable. */
static bool triangle_setup(const raster_job *job, int i, raster_triangle *t) {
    const raster_mesh *m = job->mesh;
    int width = job->target->color->width, height = job->target->color->height;
    double p[3][2], u[3], v[3], z[3];
    for (int k = 0; k < 3; k++) {
        int index = m->triangles[i][k];
        if (index < 0 || index >= m->vertex_count) return false;
        const float *pos = m->position[index], *tex = m->texcoord[index];
        p[k][0] = pos[0]; p[k][1] = pos[1]; z[k] = pos[2];
        u[k] = tex[0]; v[k] = tex[1];
        if (!isfinite(p[k][0]) || !isfinite(p[k][1]) || !isfinite(z[k]) || !(fabs(u[k]) <= TEXCOORD_LIMIT) ||
            !(fabs(v[k]) <= TEXCOORD_LIMIT))
            return false;
    }
    /* (finite here: plain comparisons, without fmin's and fmax's calls) */
    double min_x = min3d(p[0][0], p[1][0], p[2][0]), max_x = max3d(p[0][0], p[1][0], p[2][0]);
    double min_y = min3d(p[0][1], p[1][1], p[2][1]), max_y = max3d(p[0][1], p[1][1], p[2][1]);
    double limit = 4.0 * (width > height ? width : height);
    if (max_x - min_x > limit || max_y - min_y > limit) return false;
    if (max_x < 0 || max_y < 0 || min_x > width - 1 || min_y > height - 1) return false;
    /* Now every coordinate lies within 5x the target: snapped, the edge products stay far
     * inside int64. */
    int64_t q[3][2];
    for (int k = 0; k < 3; k++) {
        q[k][0] = round_i64(p[k][0] * SUBPIXEL);
        q[k][1] = round_i64(p[k][1] * SUBPIXEL);
    }
    int64_t area2 = (q[1][0] - q[0][0]) * (q[2][1] - q[0][1]) - (q[1][1] - q[0][1]) * (q[2][0] - q[0][0]);
    if (area2 == 0) return false;
    int order[3] = {0, 1, 2};
    if (area2 < 0) {
        if (m->cull ? m->cull[i] : job->cull) return false;
        order[1] = 2; order[2] = 1;
    }
    for (int k = 0; k < 3; k++) edge_setup(&t->edge[k], q[order[k]], q[order[(k + 1) % 3]]);
    int64_t top = q[0][1] < q[1][1] ? q[0][1] : q[1][1], bottom = q[0][1] > q[1][1] ? q[0][1] : q[1][1];
    top = top < q[2][1] ? top : q[2][1];
    bottom = bottom > q[2][1] ? bottom : q[2][1];
    int64_t row0 = -floor_div(-top, SUBPIXEL), row1 = floor_div(bottom, SUBPIXEL);
    if (row0 < 0) row0 = 0;
    if (row1 > height - 1) row1 = height - 1;
    if (row0 > row1) return false;
    t->row0 = (int)row0;
    t->row1 = (int)row1;
    /* Planes through the unsnapped vertices; a sliver that only snapping gave an area
     * gets them from the snapped ones. */
    double s[3][2];
    const double(*at)[2] = (const double(*)[2])p;
    if (!plane_fit(at, u, &t->u) || !plane_fit(at, v, &t->v) || !plane_fit(at, z, &t->z)) {
        for (int k = 0; k < 3; k++) {
            s[k][0] = (double)q[k][0] / SUBPIXEL;
            s[k][1] = (double)q[k][1] / SUBPIXEL;
        }
        at = (const double(*)[2])s;
        if (!plane_fit(at, u, &t->u) || !plane_fit(at, v, &t->v) || !plane_fit(at, z, &t->z)) return false;
    }
    t->x0 = at[0][0];
    t->y0 = at[0][1];
    t->layer = m->triangle_layer ? m->triangle_layer[i] : 0;
    t->depth_only = m->depth_only && m->depth_only[i];
    t->extras = 0;
    for (int e = 0; e < job->target->extra_count && !t->depth_only; e++) {
        const raster_extra *extra = &job->target->extras[e];
        if (extra->draw && !extra->draw[i]) continue;
        const float(*texcoord)[2] = extra->texcoord ? extra->texcoord : m->texcoord;
        double eu[3], ev[3];
        bool ok = true;
        for (int k = 0; k < 3; k++) {
            const float *c = texcoord[m->triangles[i][k]];
            eu[k] = c[0];
            ev[k] = c[1];
            ok = ok && fabs(eu[k]) <= TEXCOORD_LIMIT && fabs(ev[k]) <= TEXCOORD_LIMIT;
        }
        if (ok && plane_fit(at, eu, &t->extra_u[e]) && plane_fit(at, ev, &t->extra_v[e])) t->extras |= (uint8_t)(1u << e);
    }
    return true;
}

#define SETUP_CHUNK 256

static void setup_chunk(void *ctx, int chunk) {
    raster_job *job = ctx;
    int first = chunk * SETUP_CHUNK, last = first + SETUP_CHUNK;
    if (last > job->mesh->triangle_count) last = job->mesh->triangle_count;
    for (int i = first; i < last; i++) job->triangles[i].valid = triangle_setup(job, i, &job->triangles[i]);
}

static inline double plane_at(const raster_plane *p, double dx, double dy) { return p->f0 + p->fx * dx + p->fy * dy; }

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Bilinear RGB at p (texel), p + 3, p + stride, p + stride + 3 with weights wx, wy in
 * 1/256: the integer formula of the per-pixel loop, so both paths agree bit for bit.  With
 * GCC / Clang vectors, the three channels go in 32-bit lanes (one load and one shuffle
 * per texel); the 4-byte loads read one byte past the texel, so p + stride + 3 must not
 * be the texture's last texel. */
#if defined(__has_builtin) && defined(__BYTE_ORDER__)
#if __has_builtin(__builtin_shufflevector) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RASTER_LANES 1
#endif
#endif

#ifdef RASTER_LANES
#ifdef __SSE4_1__
#include <smmintrin.h>
#endif
typedef uint32_t lanes4 __attribute__((vector_size(16)));
typedef uint8_t bytes16 __attribute__((vector_size(16)));

static inline lanes4 texel_load(const uint8_t *p) {
    uint32_t word;
    memcpy(&word, p, 4);
#ifdef __SSE4_1__ /* one load-and-widen instruction */
    return (lanes4)_mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)word));
#else
    bytes16 b = (bytes16)(lanes4){word, 0, 0, 0}, zero = {0};
    return (lanes4)__builtin_shufflevector(b, zero, 0, 16, 16, 16, 1, 16, 16, 16, 2, 16, 16, 16, 3, 16, 16, 16);
#endif
}

static inline void bilinear_inside(const uint8_t *p, size_t stride, uint32_t wx, uint32_t wy, uint8_t *out) {
    const uint8_t *q = p + stride;
    /* a 256 + (b - a) w: the same value as a (256 - w) + b w, wrapping in the unsigned
     * lanes but exact at the end (one multiply instead of two). */
    lanes4 a = texel_load(p), c = texel_load(q);
    lanes4 top = (a << 8) + (texel_load(p + 3) - a) * wx;
    lanes4 bottom = (c << 8) + (texel_load(q + 3) - c) * wx;
    lanes4 v = ((top << 8) + (bottom - top) * wy + 32768) >> 16;
    bytes16 packed = __builtin_shufflevector((bytes16)v, (bytes16)v, 0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    uint32_t rgb = ((lanes4)packed)[0];
    memcpy(out, &rgb, 3); /* little-endian: R, G, B */
}
#else
static inline void bilinear_inside(const uint8_t *p, size_t stride, uint32_t wx, uint32_t wy, uint8_t *out) {
    const uint8_t *q = p + stride;
    for (int k = 0; k < 3; k++) {
        uint32_t top = p[k] * (256 - wx) + p[k + 3] * wx, bottom = q[k] * (256 - wx) + q[k + 3] * wx;
        out[k] = (uint8_t)((top * (256 - wy) + bottom * wy + 32768) >> 16);
    }
}
#endif

/* Bilinear gray at p, p + 1, p + stride, p + stride + 1: bilinear_inside's formula for one
 * channel. */
static inline uint8_t bilinear_gray(const uint8_t *p, size_t stride, uint32_t wx, uint32_t wy) {
    const uint8_t *q = p + stride;
    int top = p[0] * 256 + (p[1] - p[0]) * (int)wx, bottom = q[0] * 256 + (q[1] - q[0]) * (int)wx;
    return (uint8_t)((top * 256 + (bottom - top) * (int)wy + 32768) >> 16);
}

/* AVX-512 forms of the span loops (this machine's -march=native: F, BW, VL, DQ, VBMI,
 * VBMI2): sixteen pixels at a time, the depth test as a mask, the four texels of each
 * winner picked from row loads (or gathered), the bilinear in the same integers as
 * bilinear_inside (frames bit-identical; test_raster checks every weight pair against the
 * integer formula, magnified and minified), the winners' colour, coverage, layer and
 * extras written through the mask.  The scalar loops ran ~40 instructions a pixel. */
#if defined(RASTER_LANES) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__AVX512VBMI__) && defined(__AVX512VBMI2__) && defined(__BMI2__)
#define RASTER_AVX512 1
#include <immintrin.h>

/* Gathers index texels by signed 32-bit byte offsets: textures up to 2 GB less a row. */
static inline bool gather_fits(const vv_image *tex) {
    return (uint64_t)tex->height * tex->width * tex->channels + (uint64_t)tex->width * tex->channels < ((uint64_t)1 << 31) - 64;
}

/* 16 fixed-point positions p + d k (k = 0..15, 32.32, the +2^23 rounding included) as
 * 1/256-pixel integers (p >> 24): texel (>> 8) and weight (& 255). */
static inline __m512i fixed16(int64_t p, int64_t d) {
    const __m512i k = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    __m512i lo = _mm512_add_epi64(_mm512_set1_epi64(p), _mm512_mullo_epi64(_mm512_set1_epi64(d), k));
    __m512i hi = _mm512_add_epi64(lo, _mm512_set1_epi64((int64_t)((uint64_t)d * 8)));
    __m256i a = _mm512_cvtepi64_epi32(_mm512_srli_epi64(lo, 24)), b = _mm512_cvtepi64_epi32(_mm512_srli_epi64(hi, 24));
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* bilinear_inside for 16 pixels from their four texels a (x, y), b (x + 1, y), c (x, y + 1),
 * d (x + 1, y + 1) (R, G, B in bytes 0-2 of each 32-bit lane) and weights wx, wy (0..255
 * per lane); the result's bytes 0-2 of each lane. */
static inline __m512i bilinear16_math(__m512i a, __m512i b, __m512i c, __m512i d, __m512i wx, __m512i wy) {
    const __m512i zero = _mm512_setzero_si512();
    /* Horizontal, in 16-bit lanes: a 256 + (b - a) wx wraps but ends in 0..65280, exact. */
    __m512i wx2 = _mm512_or_si512(wx, _mm512_slli_epi32(wx, 16));
    __m512i wxl = _mm512_unpacklo_epi32(wx2, wx2), wxh = _mm512_unpackhi_epi32(wx2, wx2);
#define H16(P, Q, W) _mm512_add_epi16(_mm512_slli_epi16(P, 8), _mm512_mullo_epi16(_mm512_sub_epi16(Q, P), W))
    __m512i al = _mm512_unpacklo_epi8(a, zero), ah = _mm512_unpackhi_epi8(a, zero);
    __m512i bl = _mm512_unpacklo_epi8(b, zero), bh = _mm512_unpackhi_epi8(b, zero);
    __m512i cl = _mm512_unpacklo_epi8(c, zero), ch = _mm512_unpackhi_epi8(c, zero);
    __m512i dl = _mm512_unpacklo_epi8(d, zero), dh = _mm512_unpackhi_epi8(d, zero);
    const __m512i sign = _mm512_set1_epi16(-32768); /* top - 32768 as a signed 16-bit value */
    __m512i tl = _mm512_xor_si512(H16(al, bl, wxl), sign), th = _mm512_xor_si512(H16(ah, bh, wxh), sign);
    __m512i ul = _mm512_xor_si512(H16(cl, dl, wxl), sign), uh = _mm512_xor_si512(H16(ch, dh, wxh), sign);
#undef H16
    /* Vertical: (top - 32768)(256 - wy) + (bottom - 32768) wy by pairs (vpmaddwd), then
     * + 32768 256 + 32768, >> 16: the scalar form's integer. */
    __m512i wpair = _mm512_or_si512(_mm512_sub_epi32(_mm512_set1_epi32(256), wy), _mm512_slli_epi32(wy, 16));
    __m512i wl = _mm512_unpacklo_epi32(wpair, wpair), wh = _mm512_unpackhi_epi32(wpair, wpair);
    const __m512i bias = _mm512_set1_epi32(32768 * 256 + 32768);
#define V32(T, U, W) _mm512_srli_epi32(_mm512_add_epi32(_mm512_madd_epi16(_mm512_unpacklo_epi16(T, U), W), bias), 16)
#define V32H(T, U, W) _mm512_srli_epi32(_mm512_add_epi32(_mm512_madd_epi16(_mm512_unpackhi_epi16(T, U), W), bias), 16)
    __m512i p0 = V32(tl, ul, _mm512_unpacklo_epi64(wl, wl)), p1 = V32H(tl, ul, _mm512_unpackhi_epi64(wl, wl));
    __m512i p2 = V32(th, uh, _mm512_unpacklo_epi64(wh, wh)), p3 = V32H(th, uh, _mm512_unpackhi_epi64(wh, wh));
#undef V32
#undef V32H
    return _mm512_packus_epi16(_mm512_packus_epi32(p0, p1), _mm512_packus_epi32(p2, p3));
}

/* A block's texels: x, y (32-bit lanes) its top-left texel; channels bytes a texel.  When
 * the block's texels lie within 64 bytes of a row and two neighbouring top rows (a span
 * at about the texture's own scale: almost all of the 3D head's), they are picked from
 * three row loads by byte permutes; else gathered (slower on this CPU than the scalar
 * loads).  xa, xb, ya, yb: the first and last active lanes' x and y.  Lanes outside m are
 * garbage. */
typedef struct texels16 {
    __m512i a, b, c, d;
} texels16;

static inline texels16 texels16_load(const uint8_t *texels, size_t stride, int channels, __m512i x, __m512i y, int xa, int xb,
                                     int ya, int yb, __mmask16 m) {
    texels16 t;
    int x0 = xa < xb ? xa : xb, x1 = xa < xb ? xb : xa, y0 = ya < yb ? ya : yb, y1 = ya < yb ? yb : ya;
    int need = (x1 - x0 + 2) * channels; /* bytes of each row the block reads */
    if (need <= 64 && y1 - y0 <= 1) {
        const uint8_t *base = texels + (size_t)y0 * stride + (size_t)x0 * channels;
        __mmask64 bytes = need >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << need) - 1;
        __m512i r0 = _mm512_maskz_loadu_epi8(bytes, base), r1 = _mm512_maskz_loadu_epi8(bytes, base + stride);
        __m512i r2 = y1 > y0 ? _mm512_maskz_loadu_epi8(bytes, base + 2 * stride) : r1;
        /* each lane's byte indices: its texel's offset in the row load + 0, 1, 2, 3, and
         * + 64 (the second table) where its top row is the lower one */
        __m512i dx = _mm512_mullo_epi32(_mm512_sub_epi32(x, _mm512_set1_epi32(x0)), _mm512_set1_epi32(channels));
        __m512i dy = _mm512_slli_epi32(_mm512_sub_epi32(y, _mm512_set1_epi32(y0)), 6);
        __m512i ia = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(dx, dy), _mm512_set1_epi32(0x01010101)),
                                      _mm512_set1_epi32(0x03020100));
        __m512i ib = _mm512_add_epi32(ia, _mm512_set1_epi32(0x01010101 * channels));
        t.a = _mm512_permutex2var_epi8(r0, ia, r1);
        t.b = _mm512_permutex2var_epi8(r0, ib, r1);
        t.c = _mm512_permutex2var_epi8(r1, ia, r2);
        t.d = _mm512_permutex2var_epi8(r1, ib, r2);
        return t;
    }
    const __m512i zero = _mm512_setzero_si512();
    __m512i off = _mm512_add_epi32(_mm512_mullo_epi32(y, _mm512_set1_epi32((int)stride)),
                                   _mm512_mullo_epi32(x, _mm512_set1_epi32(channels)));
    t.a = _mm512_mask_i32gather_epi32(zero, m, off, texels, 1);
    t.b = _mm512_mask_i32gather_epi32(zero, m, off, texels + channels, 1);
    t.c = _mm512_mask_i32gather_epi32(zero, m, off, texels + stride, 1);
    t.d = _mm512_mask_i32gather_epi32(zero, m, off, texels + stride + channels, 1);
    return t;
}

/* A mask of 16 RGB pixels as one of their 48 bytes. */
static inline __mmask64 rgb_mask(__mmask16 m) {
    uint64_t bits = _pdep_u64(m, 0x249249249249ull); /* pixel k -> bit 3k, then its three bytes */
    return (__mmask64)(bits | bits << 1 | bits << 2);
}

/* Bytes 0-2 of each of the 16 lanes to dst (48 bytes), only the pixels in m. */
static inline void store_rgb16(uint8_t *dst, __m512i rgbx, __mmask16 m) {
    const __m512i pack = _mm512_set_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 62, 61, 60, 58, 57, 56, 54, 53, 52, 50,
                                         49, 48, 46, 45, 44, 42, 41, 40, 38, 37, 36, 34, 33, 32, 30, 29, 28, 26, 25, 24, 22, 21,
                                         20, 18, 17, 16, 14, 13, 12, 10, 9, 8, 6, 5, 4, 2, 1, 0);
    _mm512_mask_storeu_epi8(dst, rgb_mask(m), _mm512_permutexvar_epi8(pack, rgbx));
}

static inline __mmask16 lanes_below(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* bilinear_gray's integers for 16 pixels (in 32-bit lanes) from their texels (byte 0 of
 * each lane) and weights. */
static inline __m128i bilinear16_gray(texels16 t, __m512i wx, __m512i wy) {
    const __m512i c255 = _mm512_set1_epi32(255);
    __m512i p0 = _mm512_and_si512(t.a, c255), p1 = _mm512_and_si512(t.b, c255);
    __m512i q0 = _mm512_and_si512(t.c, c255), q1 = _mm512_and_si512(t.d, c255);
    __m512i top = _mm512_add_epi32(_mm512_slli_epi32(p0, 8), _mm512_mullo_epi32(_mm512_sub_epi32(p1, p0), wx));
    __m512i bottom = _mm512_add_epi32(_mm512_slli_epi32(q0, 8), _mm512_mullo_epi32(_mm512_sub_epi32(q1, q0), wx));
    __m512i v = _mm512_add_epi32(_mm512_slli_epi32(top, 8), _mm512_mullo_epi32(_mm512_sub_epi32(bottom, top), wy));
    return _mm512_cvtepi32_epi8(_mm512_srli_epi32(_mm512_add_epi32(v, _mm512_set1_epi32(32768)), 16));
}

/* span_inside_body, sixteen pixels at a time (same arguments and results).  gray (or
 * NULL): a gray extra under the colour's own texcoords, of the texture's size (the 3D
 * head's matte), sampled at the same positions into gray_out (the span's first pixel). */
static inline __attribute__((always_inline)) int span_inside_avx512(
    uint8_t *dst, float *depth, uint8_t *coverage, uint8_t *layer, uint8_t tag, const uint8_t *texels, size_t stride,
    int64_t fu, int64_t fv, int64_t du, int64_t dv, float z0, float dz, int i0, int i1, int16_t *won, uint16_t *won_bits,
    bool has_coverage, bool has_layer, bool has_won, const uint8_t *gray, uint8_t *gray_out) {
    int count = 0;
    const __m512i k16 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i c255 = _mm512_set1_epi32(255);
    const __m512 vz0 = _mm512_set1_ps(z0), vdz = _mm512_set1_ps(dz);
    for (int i = i0; i < i1; i += 16) {
        __mmask16 in = lanes_below(i1 - i);
        __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(i), k16);
        __m512 z = _mm512_add_ps(vz0, _mm512_mul_ps(vdz, _mm512_cvtepi32_ps(idx)));
        __mmask16 m = _mm512_mask_cmp_ps_mask(in, z, _mm512_maskz_loadu_ps(in, depth + i), _CMP_GT_OQ);
        if (has_won) won_bits[(i - i0) >> 4] = m;
        if (!m) continue;
        _mm512_mask_storeu_ps(depth + i, m, z);
        int64_t ua = fu + du * i + (1 << 23), va = fv + dv * i + (1 << 23);
        int last = (i1 - i < 16 ? i1 - i : 16) - 1;
        __m512i qu = fixed16(ua, du), qv = fixed16(va, dv);
        texels16 t = texels16_load(texels, stride, 3, _mm512_srli_epi32(qu, 8), _mm512_srli_epi32(qv, 8), (int)(ua >> 32),
                                   (int)((ua + du * last) >> 32), (int)(va >> 32), (int)((va + dv * last) >> 32), m);
        __m512i wx = _mm512_and_si512(qu, c255), wy = _mm512_and_si512(qv, c255);
        store_rgb16(dst + (size_t)i * 3, bilinear16_math(t.a, t.b, t.c, t.d, wx, wy), m);
        if (gray) { /* the same texels' rows, one byte a texel: inside wherever the colour's are */
            size_t row = stride / 3;
            int xa = (int)(ua >> 32), xb = (int)((ua + du * last) >> 32), ya = (int)(va >> 32), yb = (int)((va + dv * last) >> 32);
            int span_x = xa < xb ? xb - xa : xa - xb, span_y = ya < yb ? yb - ya : ya - yb;
            if (span_x + 2 <= 64 && span_y <= 1) {
                texels16 g = texels16_load(gray, row, 1, _mm512_srli_epi32(qu, 8), _mm512_srli_epi32(qv, 8), xa, xb, ya, yb, m);
                _mm_mask_storeu_epi8(gray_out + i, m, bilinear16_gray(g, wx, wy));
            } else { /* minified: per winner (a gather's 4-byte lanes could read past the last row) */
                uint32_t su[16], sv[16];
                _mm512_storeu_si512(su, qu);
                _mm512_storeu_si512(sv, qv);
                for (uint32_t bits = m; bits; bits &= bits - 1) {
                    int k = __builtin_ctz(bits);
                    gray_out[i + k] = bilinear_gray(gray + (size_t)(sv[k] >> 8) * row + (su[k] >> 8), row, su[k] & 255, sv[k] & 255);
                }
            }
        }
        if (has_coverage) _mm_mask_storeu_epi8(coverage + i, m, _mm_set1_epi8((char)255));
        if (has_layer) _mm_mask_storeu_epi8(layer + i, m, _mm_set1_epi8((char)tag));
        if (has_won) { /* compressed in a register, then stored whole (won has 16 spare) */
            __m256i at = _mm256_add_epi16(_mm256_set1_epi16((short)(i - i0)), _mm512_cvtepi32_epi16(k16));
            _mm256_storeu_si256((__m256i *)(won + count), _mm256_maskz_compress_epi16(m, at));
            count += __builtin_popcount(m);
        }
    }
    return count;
}
#endif

/* The pixels of a span are drawn in chunks of SPAN_CHUNK; a chunk's winners are listed
 * (their indices in the span) for the extras. */
#define SPAN_CHUNK 256

/* A span whose samples all lie inside the texture: no clamping.  32.32 texcoords,
 * rounded to 1/256 for the weights (whole and 1/256 positions are exact).  Pixels
 * i0 .. i1 - 1 of the span; the winners' indices go to won (when not NULL).  Inside the
 * texture the rounded position (fu + 2^23) >> 24 fits 32 bits, so its texel is
 * (fu + 2^23) >> 32 and its weight the byte below.  Inlined once per combination of the
 * optional outputs (constant flags: the loop tests none of them per pixel), each in a
 * function of its own (inlined into draw_span the loop ran short of registers): 2-4% less
 * raster CPU on the 3D head's frames. */
static inline __attribute__((always_inline)) int span_inside_body(
    uint8_t *dst, float *depth, uint8_t *coverage, uint8_t *layer, uint8_t tag, const uint8_t *texels, size_t stride,
    int64_t fu, int64_t fv, int64_t du, int64_t dv, float z0, float dz, int i0, int i1, int16_t *won, bool has_coverage,
    bool has_layer, bool has_won) {
    int count = 0;
    uint64_t ru = (uint64_t)(fu + du * i0 + (1 << 23)), rv = (uint64_t)(fv + dv * i0 + (1 << 23));
    for (int i = i0; i < i1; i++, ru += (uint64_t)du, rv += (uint64_t)dv) {
        float z = z0 + dz * (float)i;
        if (!(z > depth[i])) continue;
        depth[i] = z;
        bilinear_inside(texels + (size_t)(rv >> 32) * stride + (size_t)(ru >> 32) * 3, stride, (uint32_t)(ru >> 24) & 255,
                        (uint32_t)(rv >> 24) & 255, dst + (size_t)i * 3);
        if (has_coverage) coverage[i] = 255;
        if (has_layer) layer[i] = tag;
        if (has_won) won[count++] = (int16_t)(i - i0);
    }
    return count;
}

#define SPAN_INSIDE_ARGS                                                                                            \
    uint8_t *dst, float *depth, uint8_t *coverage, uint8_t *layer, uint8_t tag, const uint8_t *texels, size_t stride, \
        int64_t fu, int64_t fv, int64_t du, int64_t dv, float z0, float dz, int i0, int i1, int16_t *won, uint16_t *won_bits
#define SPAN_INSIDE_PASS dst, depth, coverage, layer, tag, texels, stride, fu, fv, du, dv, z0, dz, i0, i1

static __attribute__((noinline)) int span_inside_extras(SPAN_INSIDE_ARGS) { /* coverage, layer, winners */
    (void)won_bits;
    return span_inside_body(SPAN_INSIDE_PASS, won, true, true, true);
}

static __attribute__((noinline)) int span_inside_tagged(SPAN_INSIDE_ARGS) { /* coverage, layer */
    (void)won;
    (void)won_bits;
    return span_inside_body(SPAN_INSIDE_PASS, NULL, true, true, false);
}

static __attribute__((noinline)) int span_inside_any(SPAN_INSIDE_ARGS) {
    (void)won_bits;
    return span_inside_body(SPAN_INSIDE_PASS, won, coverage != NULL, layer != NULL, won != NULL);
}

#ifdef RASTER_AVX512
static __attribute__((noinline)) int span_wide_extras(SPAN_INSIDE_ARGS) {
    return span_inside_avx512(SPAN_INSIDE_PASS, won, won_bits, true, true, true, NULL, NULL);
}

static __attribute__((noinline)) int span_wide_tagged(SPAN_INSIDE_ARGS) {
    (void)won;
    (void)won_bits;
    return span_inside_avx512(SPAN_INSIDE_PASS, NULL, NULL, true, true, false, NULL, NULL);
}

/* The 3D head's draw with its matte sampled alongside (and other extras' winners listed). */
static __attribute__((noinline)) int span_wide_matte(SPAN_INSIDE_ARGS, const uint8_t *gray, uint8_t *gray_out) {
    return span_inside_avx512(SPAN_INSIDE_PASS, won, won_bits, true, true, won != NULL, gray, gray_out);
}

static __attribute__((noinline)) int span_wide_any(SPAN_INSIDE_ARGS) {
    return span_inside_avx512(SPAN_INSIDE_PASS, won, won_bits, coverage != NULL, layer != NULL, won != NULL, NULL, NULL);
}
#endif

/* wide: the texture is small enough for the gathers' 32-bit offsets. */
static int span_inside(bool wide, SPAN_INSIDE_ARGS) {
#ifdef RASTER_AVX512
    if (wide) {
        if (coverage && layer)
            return won ? span_wide_extras(SPAN_INSIDE_PASS, won, won_bits) : span_wide_tagged(SPAN_INSIDE_PASS, won, won_bits);
        return span_wide_any(SPAN_INSIDE_PASS, won, won_bits);
    }
#else
    (void)wide;
#endif
    if (coverage && layer) /* the 3D head's draw */
        return won ? span_inside_extras(SPAN_INSIDE_PASS, won, won_bits) : span_inside_tagged(SPAN_INSIDE_PASS, won, won_bits);
    return span_inside_any(SPAN_INSIDE_PASS, won, won_bits);
}

/* Whole texels in 32.32 fixed point (a multiply: negative ones too, where a shift is
 * undefined). */
static inline int64_t fixed_of(int texels) { return (int64_t)texels * (INT64_C(1) << 32); }

/* Bilinear RGB (or gray: channels 1) of tex at 32.32 fixed-point (fu, fv), clamped to the
 * edges of its picture box. */
static inline void sample_clamped_channels(const vv_image *tex, int channels, picture_box box, int64_t fu, int64_t fv,
                                           uint8_t *o) {
    int tw = tex->width, th = tex->height;
    size_t stride = (size_t)tw * channels;
    int64_t lo_u = fixed_of(box.x0), hi_u = fixed_of(box.x1), lo_v = fixed_of(box.y0), hi_v = fixed_of(box.y1);
    int64_t cu = fu < lo_u ? lo_u : fu > hi_u ? hi_u : fu, cv = fv < lo_v ? lo_v : fv > hi_v ? hi_v : fv;
    int pu = (int)((cu + (1 << 23)) >> 24), pv = (int)((cv + (1 << 23)) >> 24); /* 1/256 pixel */
    int ix = pu >> 8, iy = pv >> 8, wx = pu & 255, wy = pv & 255;
    const uint8_t *p = tex->data + (size_t)iy * stride + (size_t)ix * channels;
    const uint8_t *q = iy + 1 < th ? p + stride : p;
    int step = ix + 1 < tw ? channels : 0;
    for (int k = 0; k < channels; k++) {
        int top = p[k] * 256 + (p[k + step] - p[k]) * wx, bottom = q[k] * 256 + (q[k + step] - q[k]) * wx;
        o[k] = (uint8_t)((top * 256 + (bottom - top) * wy + 32768) >> 16);
    }
}

/* Bilinear RGB (or gray) of tex at (u, v) texture pixels in floating point, clamped to the
 * edges of its picture box (for texcoords beyond the fixed-point range). */
static inline void sample_float_channels(const vv_image *tex, int channels, picture_box box, double u, double v, uint8_t *o) {
    int tw = tex->width, th = tex->height, c = channels;
    float x = (float)clampd(u, box.x0, box.x1), yy = (float)clampd(v, box.y0, box.y1);
    int x0 = (int)x, y0 = (int)yy;
    int x1 = x0 + 1 < tw ? x0 + 1 : x0, y1 = y0 + 1 < th ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = yy - (float)y0;
    const uint8_t *r0 = tex->data + (size_t)y0 * tw * c, *r1 = tex->data + (size_t)y1 * tw * c;
    for (int k = 0; k < c; k++) {
        float a = r0[x0 * c + k] + fx * (float)(r0[x1 * c + k] - r0[x0 * c + k]);
        float b = r1[x0 * c + k] + fx * (float)(r1[x1 * c + k] - r1[x0 * c + k]);
        o[k] = (uint8_t)clampf(a + fy * (b - a) + 0.5f, 0, 255);
    }
}

/* A gray extra's clamped sample, beyond its picture's edge by more than half a texel: kept
 * only where the edge holds at least extra->outside_keep. */
static inline void sample_extra_outside(const raster_extra *extra, bool beyond, uint8_t *o) {
    if (extra->outside_keep && beyond && *o < extra->outside_keep) *o = 0;
}

static inline bool fixed_beyond(picture_box box, int64_t fu, int64_t fv) {
    const int64_t half = INT64_C(1) << 31;
    return fu < fixed_of(box.x0) - half || fv < fixed_of(box.y0) - half || fu > fixed_of(box.x1) + half ||
           fv > fixed_of(box.y1) + half;
}

/* The picture box of a texture: the colour's for one of its size (a matte, a twin), else
 * all of it. */
static inline picture_box picture_of(const raster_job *job, const vv_image *tex) {
    if (tex->width == job->texture->width && tex->height == job->texture->height) return job->picture;
    return (picture_box){0, 0, tex->width - 1, tex->height - 1};
}

/* Whether samples from 32.32 (u0, v0) to (u1, v1) (a span's ends: they bound the rest)
 * all have their 2x2 texels in the picture box, so that the unclamped loops may take
 * them; and the 4-byte texel loads stay in the buffer (only the very last texel could
 * read one byte past it). */
static inline bool span_inside_box(const vv_image *tex, picture_box box, int64_t u0, int64_t u1, int64_t v0, int64_t v1) {
    int64_t lo_u = fixed_of(box.x0), lo_v = fixed_of(box.y0);
    int64_t inner_u = fixed_of(box.x1 - 1), inner_v = fixed_of(box.y1 - 1);
    int64_t last_u = fixed_of(tex->width - 2) - (1 << 24), last_v = fixed_of(tex->height - 2) - (1 << 24);
    return tex->width >= 2 && tex->height >= 2 && u0 >= lo_u && u1 >= lo_u && v0 >= lo_v && v1 >= lo_v && u0 <= inner_u &&
           u1 <= inner_u && v0 <= inner_v && v1 <= inner_v && ((u0 < last_u && u1 < last_u) || (v0 < last_v && v1 < last_v));
}

#ifdef RASTER_AVX512
/* draw_extras' inside case, sixteen pixels at a time: the listed winners (count of them,
 * ascending, under SPAN_CHUNK) of a chunk whose pixel j samples tex at (fu + du j, fv + dv j)
 * (32.32), into out[j] (RGB or gray); the same integers as the scalar loops. */
static void extras_avx512(const vv_image *tex, int64_t fu, int64_t fv, int64_t du, int64_t dv, const int16_t *won, int count,
                          const uint16_t *won_bits, uint8_t *out) {
    uint16_t own[SPAN_CHUNK / 16] = {0};
    if (!won_bits) { /* from the list (in registers: or-ing into memory stalled on each store) */
        for (int k = 0; k < count;) {
            int b = won[k] >> 4;
            uint32_t m = 0;
            for (; k < count && won[k] >> 4 == b; k++) m |= 1u << (won[k] & 15);
            own[b] = (uint16_t)m;
        }
        won_bits = own;
    }
    const uint16_t *bits = won_bits;
    int ch = tex->channels;
    size_t stride = (size_t)tex->width * ch;
    const __m512i c255 = _mm512_set1_epi32(255);
    for (int b = won[0] >> 4; b <= won[count - 1] >> 4; b++) {
        __mmask16 m = bits[b];
        if (!m) continue;
        int j = b * 16, first = __builtin_ctz(m), last = 31 - __builtin_clz(m);
        int64_t ua = fu + du * j + (1 << 23), va = fv + dv * j + (1 << 23);
        __m512i qu = fixed16(ua, du), qv = fixed16(va, dv), wx = _mm512_and_si512(qu, c255), wy = _mm512_and_si512(qv, c255);
        texels16 t = texels16_load(tex->data, stride, ch, _mm512_srli_epi32(qu, 8), _mm512_srli_epi32(qv, 8),
                                   (int)((ua + du * first) >> 32), (int)((ua + du * last) >> 32), (int)((va + dv * first) >> 32),
                                   (int)((va + dv * last) >> 32), m);
        if (ch == 3) {
            store_rgb16(out + (size_t)j * 3, bilinear16_math(t.a, t.b, t.c, t.d, wx, wy), m);
            continue;
        }
        _mm_mask_storeu_epi8(out + j, m, bilinear16_gray(t, wx, wy));
    }
}
#endif

/* Each extra of triangle t at the listed winners of row y: pixels xl + i0 + won[k] of the
 * span starting at xl, stepped from xl as the colour is (the same texcoords give the same
 * samples bit for bit).  won_bits (or NULL): the same winners as a mask per 16 pixels; done:
 * extras the colour loop drew already (bit e). */
static void draw_extras(const raster_job *job, const raster_triangle *t, int y, int xl, int i0, const int16_t *won,
                        int count, const uint16_t *won_bits, unsigned done) {
    const raster_target *target = job->target;
    size_t row = (size_t)y * target->color->width;
    for (int e = 0; e < target->extra_count; e++) {
        if (!(t->extras >> e & 1) || (done >> e & 1)) continue;
        const raster_extra *extra = &target->extras[e];
        const raster_plane *pu = &t->extra_u[e], *pv = &t->extra_v[e];
        double dx = xl - t->x0, dy = y - t->y0;
        double us = plane_at(pu, dx, dy), vs = plane_at(pv, dx, dy);
        double ue = us + pu->fx * (i0 + SPAN_CHUNK - 1), ve = vs + pv->fx * (i0 + SPAN_CHUNK - 1);
        const vv_image *tex = extra->texture;
        int ch = tex->channels; /* 3, or 1: a gray extra */
        picture_box box = picture_of(job, tex);
        uint8_t *out = extra->out->data + (row + xl + i0) * ch;
        const double fixed_limit = 4194304.0;
        if (fabs(us) <= fixed_limit && fabs(ue) <= fixed_limit && fabs(vs) <= fixed_limit && fabs(ve) <= fixed_limit) {
            int64_t du = round_i64(pu->fx * FIXED_ONE), dv = round_i64(pv->fx * FIXED_ONE);
            int64_t fu = round_i64(us * FIXED_ONE) + du * i0, fv = round_i64(vs * FIXED_ONE) + dv * i0;
            /* The first and last winners bound the rest (linear): inside as in draw_span. */
            int64_t u0 = fu + du * won[0], u1 = fu + du * won[count - 1], v0 = fv + dv * won[0], v1 = fv + dv * won[count - 1];
            if (span_inside_box(tex, box, u0, u1, v0, v1)) {
                size_t stride = (size_t)tex->width * ch;
#ifdef RASTER_AVX512
                /* Gathered, a gray texel's 4-byte lanes read three bytes past its right
                 * neighbour: not on the last row's last three columns. */
                int64_t last_u = fixed_of(tex->width - 2) - (1 << 24), last_v = fixed_of(tex->height - 2) - (1 << 24);
                int64_t gray_u = last_u - (INT64_C(2) << 32);
                if (job->wide && gather_fits(tex) &&
                    (ch == 3 || (v0 < last_v && v1 < last_v) || (u0 < gray_u && u1 < gray_u))) {
                    extras_avx512(tex, fu, fv, du, dv, won, count, won_bits, out);
                    continue;
                }
#endif
                if (ch == 1) {
                    for (int k = 0; k < count; k++) {
                        int64_t su = fu + du * won[k], sv = fv + dv * won[k];
                        uint32_t qu = (uint32_t)((su + (1 << 23)) >> 24), qv = (uint32_t)((sv + (1 << 23)) >> 24);
                        out[won[k]] = bilinear_gray(tex->data + (size_t)(qv >> 8) * stride + (qu >> 8), stride, qu & 255, qv & 255);
                    }
                } else {
                    for (int k = 0; k < count; k++) {
                        int64_t su = fu + du * won[k], sv = fv + dv * won[k];
                        uint32_t qu = (uint32_t)((su + (1 << 23)) >> 24), qv = (uint32_t)((sv + (1 << 23)) >> 24);
                        bilinear_inside(tex->data + (size_t)(qv >> 8) * stride + (size_t)(qu >> 8) * 3, stride, qu & 255,
                                        qv & 255, out + won[k] * 3);
                    }
                }
            } else {
                bool keep = ch == 1 && extra->outside_keep;
                for (int k = 0; k < count; k++) {
                    int64_t su = fu + du * won[k], sv = fv + dv * won[k];
                    sample_clamped_channels(tex, ch, box, su, sv, out + won[k] * ch);
                    if (keep) sample_extra_outside(extra, fixed_beyond(box, su, sv), out + won[k]);
                }
            }
        } else {
            bool keep = ch == 1 && extra->outside_keep;
            for (int k = 0; k < count; k++) {
                double u = us + pu->fx * (i0 + won[k]), v = vs + pv->fx * (i0 + won[k]);
                sample_float_channels(tex, ch, box, u, v, out + won[k] * ch);
                bool beyond = u < box.x0 - 0.5 || v < box.y0 - 0.5 || u > box.x1 + 0.5 || v > box.y1 + 0.5;
                if (keep) sample_extra_outside(extra, beyond, out + won[k]);
            }
        }
    }
}

#ifdef RASTER_AVX512
/* A depth-only span (n pixels), sixteen at a time: the winners' depth, coverage, layer and
 * the backdrop under them. */
static void depth_only_avx512(uint8_t *dst, float *depth, uint8_t *coverage, uint8_t *layer, uint8_t tag, const uint8_t *back,
                              float z0, float dz, int n) {
    const __m512i k16 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 vz0 = _mm512_set1_ps(z0), vdz = _mm512_set1_ps(dz);
    for (int i = 0; i < n; i += 16) {
        __mmask16 in = lanes_below(n - i);
        __m512 z = _mm512_add_ps(vz0, _mm512_mul_ps(vdz, _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(i), k16))));
        __mmask16 m = _mm512_mask_cmp_ps_mask(in, z, _mm512_maskz_loadu_ps(in, depth + i), _CMP_GT_OQ);
        if (!m) continue;
        _mm512_mask_storeu_ps(depth + i, m, z);
        if (coverage) _mm_mask_storeu_epi8(coverage + i, m, _mm_set1_epi8((char)255));
        if (layer) _mm_mask_storeu_epi8(layer + i, m, _mm_set1_epi8((char)tag));
        if (back) _mm512_mask_storeu_epi8(dst + (size_t)i * 3, rgb_mask(m), _mm512_maskz_loadu_epi8(rgb_mask(m), back + (size_t)i * 3));
    }
}
#endif

/* Columns xl..xr of row y of triangle t. */
static void draw_span(const raster_job *job, const raster_triangle *t, int y, int xl, int xr) {
    raster_target *target = job->target;
    const vv_image *tex = job->texture;
    int width = target->color->width, tw = tex->width;
    size_t row = (size_t)y * width;
    uint8_t *dst = target->color->data + (row + xl) * 3;
    float *depth = target->depth + row + xl;
    uint8_t *coverage = target->coverage ? target->coverage + row + xl : NULL;
    uint8_t *layer = target->layer ? target->layer + row + xl : NULL;
    int n = xr - xl + 1;
    double dx = xl - t->x0, dy = y - t->y0, last = n - 1;
    double us = plane_at(&t->u, dx, dy), vs = plane_at(&t->v, dx, dy), zs = plane_at(&t->z, dx, dy);
    double ue = us + t->u.fx * last, ve = vs + t->v.fx * last, ze = zs + t->z.fx * last;
    int16_t won_list[SPAN_CHUNK + 16], *won = t->extras ? won_list : NULL; /* 16 spare: stored 16 at a time */
    uint16_t won_bits[SPAN_CHUNK / 16];
    if (t->depth_only) { /* depths as the textured paths below have them */
        bool fixed = fabs(zs) <= 1e30 && fabs(ze) <= 1e30;
        float z0 = (float)zs, dz = n > 1 ? (float)t->z.fx : 0;
        const uint8_t *back = target->backdrop ? target->backdrop->data + (row + xl) * 3 : NULL;
#ifdef RASTER_AVX512
        if (fixed) {
            depth_only_avx512(dst, depth, coverage, layer, t->layer, back, z0, dz, n);
            return;
        }
#endif
        int run = 0; /* winners i - run .. i - 1: their backdrop copied in one go */
        for (int i = 0; i < n; i++) {
            float z = fixed ? z0 + dz * (float)i : (float)clampd(zs + t->z.fx * i, -3e38, 3e38);
            if (!(z > depth[i])) {
                if (back && run) memcpy(dst + (size_t)(i - run) * 3, back + (size_t)(i - run) * 3, (size_t)run * 3);
                run = 0;
                continue;
            }
            depth[i] = z;
            run++;
            if (coverage) coverage[i] = 255;
            if (layer) layer[i] = t->layer;
        }
        if (back && run) memcpy(dst + (size_t)(n - run) * 3, back + (size_t)(n - run) * 3, (size_t)run * 3);
        return;
    }
    const double fixed_limit = 4194304.0; /* 2^22 texture pixels: 32.32 fixed point stays in int64 */
    if (fabs(us) <= fixed_limit && fabs(ue) <= fixed_limit && fabs(vs) <= fixed_limit && fabs(ve) <= fixed_limit &&
        fabs(zs) <= 1e30 && fabs(ze) <= 1e30) {
        /* Fixed point: 32.32 texcoords, rounded to 1/256 for the bilinear weights (whole
         * and 1/256 positions are exact), clamped to the picture's edges. */
        int64_t fu = round_i64(us * FIXED_ONE), fv = round_i64(vs * FIXED_ONE);
        int64_t du = n > 1 ? round_i64(t->u.fx * FIXED_ONE) : 0;
        int64_t dv = n > 1 ? round_i64(t->v.fx * FIXED_ONE) : 0;
        float z0 = (float)zs, dz = n > 1 ? (float)t->z.fx : 0;
        size_t stride = (size_t)tw * 3;
        int64_t eu = fu + du * (n - 1), ev = fv + dv * (n - 1);
        /* Inside: every sample has its 2x2 texels in the picture (exact: the fixed-point
         * values are linear in i). */
        bool inside = span_inside_box(tex, job->picture, fu, eu, fv, ev);
        for (int i0 = 0; i0 < n; i0 += SPAN_CHUNK) {
            int i1 = i0 + SPAN_CHUNK < n ? i0 + SPAN_CHUNK : n, count = 0;
            bool bits = false; /* won_bits filled too */
            unsigned done = 0;   /* extras drawn already */
            if (inside) {
#ifdef RASTER_AVX512
                int e = job->fused;
                if (e >= 0 && (t->extras >> e & 1) && coverage && layer) {
                    const raster_extra *x = &target->extras[e];
                    done = 1u << e;
                    int16_t *rest = t->extras & ~done ? won : NULL; /* the other extras' winners */
                    count = span_wide_matte(dst, depth, coverage, layer, t->layer, tex->data, stride, fu, fv, du, dv, z0, dz, i0,
                                            i1, rest, won_bits, x->texture->data, x->out->data + row + xl);
                    bits = true;
                } else
#endif
                {
                    count = span_inside(job->wide, dst, depth, coverage, layer, t->layer, tex->data, stride, fu, fv, du, dv, z0,
                                        dz, i0, i1, won, won_bits);
                    bits = job->wide;
                }
            } else {
                for (int i = i0; i < i1; i++) {
                    float z = z0 + dz * (float)i;
                    if (!(z > depth[i])) continue;
                    depth[i] = z;
                    sample_clamped_channels(tex, 3, job->picture, fu + du * i, fv + dv * i, dst + (size_t)i * 3);
                    if (coverage) coverage[i] = 255;
                    if (layer) layer[i] = t->layer;
                    if (won) won[count++] = (int16_t)(i - i0);
                }
            }
            if (count) draw_extras(job, t, y, xl, i0, won, count, bits ? won_bits : NULL, done);
        }
        return;
    }
    /* Extreme texcoords or depths (slivers with huge gradients): per pixel, clamped. */
    for (int i0 = 0; i0 < n; i0 += SPAN_CHUNK) {
        int i1 = i0 + SPAN_CHUNK < n ? i0 + SPAN_CHUNK : n, count = 0;
        for (int i = i0; i < i1; i++) {
            double u = us + t->u.fx * i, v = vs + t->v.fx * i;
            float z = (float)clampd(zs + t->z.fx * i, -3e38, 3e38);
            if (!(z > depth[i]) || !isfinite(u) || !isfinite(v)) continue;
            depth[i] = z;
            sample_float_channels(tex, 3, job->picture, u, v, dst + (size_t)i * 3);
            if (coverage) coverage[i] = 255;
            if (layer) layer[i] = t->layer;
            if (won) won[count++] = (int16_t)(i - i0);
        }
        if (count) draw_extras(job, t, y, xl, i0, won, count, NULL, 0);
    }
}

/* A hint, no effect on the output: the rows of the texture and of the extras' textures
 * that rows y0 .. y1 - 1 of the target would show unmoved (proportionally, and a row
 * more for the bilinear), fetched towards L2 while this band is drawn, for the band below
 * (bands are taken in order, so with two threads too the next one is about to start):
 * first touches of texture lines were the span loops' main stall.  Raster CPU 2-7% less
 * on the 3D head's frames on one thread, 7-11% on two; an extra drawn by few triangles
 * costs its rows' fetches all the same.  Inlined: GCC takes a function of nothing but prefetches for one without
 * effects and drops its calls. */
static inline __attribute__((always_inline)) void prefetch_rows(const vv_image *tex, int y0, int y1, int height) {
    int a = (int)((int64_t)y0 * tex->height / height), b = (int)((int64_t)y1 * tex->height / height) + 1;
    if (b > tex->height) b = tex->height;
    size_t bytes = (size_t)tex->width * tex->channels;
    for (int y = a; y < b; y++) {
        const uint8_t *row = tex->data + (size_t)y * bytes;
        for (size_t at = 0; at < bytes; at += 64) __builtin_prefetch(row + at, 0, 2);
    }
}

static inline __attribute__((always_inline)) void prefetch_band(const raster_job *job, int y0, int y1) {
    int height = job->target->color->height;
    prefetch_rows(job->texture, y0, y1, height);
    for (int e = 0; e < job->target->extra_count; e++) prefetch_rows(job->target->extras[e].texture, y0, y1, height);
}

static void draw_band(void *ctx, int band) {
    raster_job *job = ctx;
    const raster_target *target = job->target;
    int width = target->color->width, height = target->color->height;
    int r0 = band * BAND_ROWS, r1 = r0 + BAND_ROWS < height ? r0 + BAND_ROWS : height;
    if (target->clear) {
        const int *box = job->clear_box;
        for (int y = r0 > box[1] ? r0 : box[1]; y < r1 && y <= box[3]; y++) {
            float *d = target->depth + (size_t)y * width;
            for (int x = box[0]; x <= box[2]; x++) d[x] = -INFINITY;
            if (target->coverage) memset(target->coverage + (size_t)y * width + box[0], 0, (size_t)(box[2] - box[0] + 1));
            /* the colour row is about to be written all over: fetched now, not store by store */
            const uint8_t *c = target->color->data + ((size_t)y * width + box[0]) * 3, *end = c + (size_t)(box[2] - box[0] + 1) * 3;
            for (; c < end; c += 64) __builtin_prefetch(c, 1, 3);
        }
    }
    if (job->band_list && band + 1 < job->bands && job->band_start[band + 1] < job->band_start[band + 2])
        prefetch_band(job, r1, r1 + BAND_ROWS < height ? r1 + BAND_ROWS : height);
    for (int j = job->band_start[band]; job->band_list && j < job->band_start[band + 1]; j++) {
        const raster_triangle *t = &job->triangles[job->band_list[j]];
        int ya = t->row0 > r0 ? t->row0 : r0, yb = t->row1 < r1 - 1 ? t->row1 : r1 - 1;
        /* Quotient and remainder of each edge's bound at row ya, then stepped. */
        int64_t q[3] = {0, 0, 0}, r[3] = {0, 0, 0};
        for (int e = 0; e < 3; e++) {
            const raster_edge *edge = &t->edge[e];
            if (edge->kind == EDGE_FLAT) continue;
            int64_t num = edge->n0 + edge->step * ya;
            q[e] = floor_div(num, edge->d);
            r[e] = num - q[e] * edge->d;
        }
        /* Without a horizontal edge (the common case): one or two left edges and one or
         * two right ones, each side padded to two with a copy of its first (the same
         * bound), so that the rows step without a branch on the edges' kinds. */
        int left[2], right[2], lefts = 0, rights = 0;
        for (int e = 0; e < 3; e++) {
            if (t->edge[e].kind == EDGE_LEFT) left[lefts++] = e;
            else if (t->edge[e].kind == EDGE_RIGHT) right[rights++] = e;
        }
        if (lefts && rights && lefts + rights == 3) {
            if (lefts == 1) left[1] = left[0];
            if (rights == 1) right[1] = right[0];
            int64_t lq[2] = {q[left[0]], q[left[1]]}, lr[2] = {r[left[0]], r[left[1]]};
            int64_t rq[2] = {q[right[0]], q[right[1]]}, rr[2] = {r[right[0]], r[right[1]]};
            const raster_edge *l0 = &t->edge[left[0]], *l1 = &t->edge[left[1]], *e0 = &t->edge[right[0]], *e1 = &t->edge[right[1]];
            for (int y = ya; y <= yb; y++) {
                int64_t lo = lq[0] > lq[1] ? lq[0] + 1 : lq[1] + 1, hi = rq[0] < rq[1] ? rq[0] : rq[1];
                if (lo < 0) lo = 0;
                if (hi > width - 1) hi = width - 1;
                if (lo <= hi) draw_span(job, t, y, (int)lo, (int)hi);
#define EDGE_STEP(qq, rr_, edge)                  \
    do {                                          \
        (qq) += (edge)->step_q;                   \
        (rr_) += (edge)->step_r;                  \
        int64_t carry = (rr_) >= (edge)->d;       \
        (rr_) -= carry * (edge)->d;               \
        (qq) += carry;                            \
    } while (0)
                EDGE_STEP(lq[0], lr[0], l0);
                EDGE_STEP(lq[1], lr[1], l1);
                EDGE_STEP(rq[0], rr[0], e0);
                EDGE_STEP(rq[1], rr[1], e1);
#undef EDGE_STEP
            }
            continue;
        }
        for (int y = ya; y <= yb; y++) {
            int64_t lo = 0, hi = width - 1;
            bool empty = false;
            for (int e = 0; e < 3; e++) {
                const raster_edge *edge = &t->edge[e];
                if (edge->kind == EDGE_LEFT) {
                    if (q[e] + 1 > lo) lo = q[e] + 1;
                } else if (edge->kind == EDGE_RIGHT) {
                    if (q[e] < hi) hi = q[e];
                } else if (!(edge->b * y + edge->c > 0)) {
                    empty = true;
                }
                if (edge->kind != EDGE_FLAT) {
                    q[e] += edge->step_q;
                    r[e] += edge->step_r;
                    if (r[e] >= edge->d) {
                        r[e] -= edge->d;
                        q[e]++;
                    }
                }
            }
            if (!empty && lo <= hi) draw_span(job, t, y, (int)lo, (int)hi);
        }
    }
    if (target->rows_done) target->rows_done(target->rows_ctx, r0, r1);
}

vv_status raster_draw(raster_target *target, const vv_image *texture, const raster_mesh *mesh,
                      const raster_params *params) {
    if (!target || !target->color || !target->color->data || target->color->channels != 3 || !target->depth ||
        target->color->width < 1 || target->color->height < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "raster: the target needs an RGB colour image and a depth buffer");
    if (target->color->width > VV_IMAGE_MAX_SIDE || target->color->height > VV_IMAGE_MAX_SIDE)
        return vv_fail(VV_ERR_TOO_LARGE, "raster: target %dx%d is over the size cap", target->color->width,
                       target->color->height);
    if (!texture || !texture->data || texture->channels != 3 || texture->width < 1 || texture->height < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "raster: the texture must be an RGB image");
    if (!mesh || mesh->triangle_count < 0 || mesh->vertex_count < 0 ||
        (mesh->triangle_count > 0 && (!mesh->position || !mesh->texcoord || !mesh->triangles)))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "raster: incomplete mesh");
    if (target->extra_count < 0 || target->extra_count > RASTER_MAX_EXTRAS || (target->extra_count > 0 && !target->extras))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "raster: %d extras (at most %d)", target->extra_count, RASTER_MAX_EXTRAS);
    for (int e = 0; e < target->extra_count; e++) {
        const raster_extra *x = &target->extras[e];
        const vv_image *t = x->texture, *o = x->out;
        if (!t || !t->data || (t->channels != 3 && t->channels != 1) || t->width < 1 || t->height < 1 || !o || !o->data ||
            o->channels != t->channels || o->width != target->color->width || o->height != target->color->height)
            return vv_fail(VV_ERR_INVALID_ARGUMENT,
                           "raster: extra %d needs an RGB or gray texture and an output of the target's size and channels", e);
    }
    const int *frame = target->frame;
    if (frame[0] < 0 || frame[1] < 0 || frame[2] < 0 || frame[3] < 0 || frame[0] + frame[1] >= texture->height ||
        frame[2] + frame[3] >= texture->width)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "raster: a frame of %d, %d, %d, %d texels leaves no picture", frame[0], frame[1],
                       frame[2], frame[3]);
    const vv_image *backdrop = target->backdrop;
    if (backdrop && (!backdrop->data || backdrop->channels != 3 || backdrop->width != target->color->width ||
                     backdrop->height != target->color->height))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "raster: the backdrop must be RGB of the target's size");
    if (mesh->triangle_count == 0 && !target->clear && !target->rows_done) return VV_OK;
    int height = target->color->height, bands = (height + BAND_ROWS - 1) / BAND_ROWS;
    picture_box picture = {frame[2], frame[0], texture->width - 1 - frame[3], texture->height - 1 - frame[1]};
    raster_job job = {target, texture, mesh, params && params->cull_back_faces, NULL, NULL, NULL, {0, 0, -1, -1}, bands, false,
                      -1, picture};
    if (target->clear) { /* clipped to the target; an empty box clears nothing */
        const int *b = target->clear_box;
        int width = target->color->width;
        job.clear_box[0] = b[0] < 0 ? 0 : b[0];
        job.clear_box[1] = b[1] < 0 ? 0 : b[1];
        job.clear_box[2] = b[2] > width - 1 ? width - 1 : b[2];
        job.clear_box[3] = b[3] > height - 1 ? height - 1 : b[3];
        if (job.clear_box[0] > job.clear_box[2]) job.clear_box[3] = job.clear_box[1] - 1;
    }
#ifdef RASTER_AVX512
    job.wide = gather_fits(texture);
    /* A gray extra under the mesh's texcoords with a texture of the colour's size (head3d's
     * matte): the colour's positions, so the colour loop samples it too. */
    for (int e = 0; e < target->extra_count && job.wide && job.fused < 0; e++) {
        const raster_extra *x = &target->extras[e];
        if (!x->texcoord && x->texture->channels == 1 && x->texture->width == texture->width &&
            x->texture->height == texture->height)
            job.fused = e;
    }
#endif
    int threads = params ? params->threads : 0;
    job.triangles = mesh->triangle_count ? mem_alloc((size_t)mesh->triangle_count, sizeof *job.triangles) : NULL;
    job.band_start = mem_calloc((size_t)bands + 1, sizeof *job.band_start);
    if ((mesh->triangle_count && !job.triangles) || !job.band_start) {
        free(job.triangles);
        free(job.band_start);
        return vv_fail(VV_ERR_NO_MEMORY, "raster: out of memory for %d triangles", mesh->triangle_count);
    }
    parallel_for((mesh->triangle_count + SETUP_CHUNK - 1) / SETUP_CHUNK, threads, setup_chunk, &job);
    /* Bin the triangles by band, in mesh order (the depth test's tie-break is draw order). */
    size_t total = 0;
    for (int i = 0; i < mesh->triangle_count; i++) {
        const raster_triangle *t = &job.triangles[i];
        if (!t->valid) continue;
        for (int b = t->row0 / BAND_ROWS; b <= t->row1 / BAND_ROWS; b++) job.band_start[b + 1]++;
        total += (size_t)(t->row1 / BAND_ROWS - t->row0 / BAND_ROWS + 1);
    }
    vv_status status = VV_OK;
    if (total > (size_t)0x7fffffff) {
        status = vv_fail(VV_ERR_TOO_LARGE, "raster: %d triangles over %d bands are too many", mesh->triangle_count, bands);
    } else if (total > 0) {
        for (int b = 0; b < bands; b++) job.band_start[b + 1] += job.band_start[b];
        int *fill = mem_alloc((size_t)bands, sizeof *fill);
        job.band_list = mem_alloc(total, sizeof *job.band_list);
        if (!fill || !job.band_list) {
            status = vv_fail(VV_ERR_NO_MEMORY, "raster: out of memory for the bins");
        } else {
            memcpy(fill, job.band_start, (size_t)bands * sizeof *fill);
            for (int i = 0; i < mesh->triangle_count; i++) {
                const raster_triangle *t = &job.triangles[i];
                if (!t->valid) continue;
                for (int b = t->row0 / BAND_ROWS; b <= t->row1 / BAND_ROWS; b++) job.band_list[fill[b]++] = i;
            }
            parallel_for(bands, threads, draw_band, &job);
        }
        free(fill);
    } else { /* nothing to draw: the clear and the rows' callback all the same */
        parallel_for(bands, threads, draw_band, &job);
    }
    free(job.band_list);
    free(job.band_start);
    free(job.triangles);
    return status;
}

void raster_restore_frame(vv_image *out, const vv_image *source, const int frame[4]) {
    if (!frame[0] && !frame[1] && !frame[2] && !frame[3]) return;
    int w = out->width < source->width ? out->width : source->width;
    int h = out->height < source->height ? out->height : source->height;
    for (int y = 0; y < h; y++) {
        uint8_t *o = out->data + (size_t)y * out->width * 3;
        const uint8_t *in = source->data + (size_t)y * source->width * 3;
        if (y < frame[0] || y >= source->height - frame[1]) { /* a row of the frame */
            memcpy(o, in, (size_t)w * 3);
            continue;
        }
        int left = frame[2] < w ? frame[2] : w, right = source->width - frame[3];
        memcpy(o, in, (size_t)left * 3);
        if (right < w) memcpy(o + (size_t)right * 3, in + (size_t)right * 3, (size_t)(w - right) * 3);
    }
}

/* ---- Hole filling: push-pull. ----
 * Push: each level halves the one below; a cell holds the sum of its children's
 * known-weighted colours and their mean weight (the fraction of it that is known), all
 * the way to 1x1.  Pull: from the top down, a cell's colour is its own known part plus
 * the rest taken from the level above, interpolated bilinearly:
 *   F_k = S_k + (1 - W_k) up(F_k+1)
 * so known pixels (W = 1) keep their colour, a hole's cells blend their surround at every
 * scale, and a colour shared by all known pixels comes out exactly. */
typedef struct fill_level {
    int width, height;
    float *cells; /* S r, g, b (weighted colour sums, divided by 4 per level) and W */
} fill_level;

typedef struct fill_job {
    vv_image *image;
    const uint8_t *known;
    fill_level *levels;
    int level; /* push: the level being computed (>= 1); pull: the one being filled */
} fill_job;

static void push_row(void *ctx, int y) {
    fill_job *job = ctx;
    fill_level *out = &job->levels[job->level], *in = &job->levels[job->level - 1];
    float *o = out->cells + (size_t)y * out->width * 4;
    int rows = 2 * y + 1 < in->height ? 2 : 1;
    for (int x = 0; x < out->width; x++, o += 4) {
        int cols = 2 * x + 1 < in->width ? 2 : 1;
        float s[4] = {0, 0, 0, 0};
        for (int dy = 0; dy < rows; dy++) {
            size_t at = (size_t)(2 * y + dy) * in->width + 2 * x;
            if (job->level == 1) { /* from the image itself */
                const uint8_t *known = job->known + at, *p = job->image->data + at * 3;
                for (int dx = 0; dx < cols; dx++)
                    if (known[dx]) {
                        s[0] += p[3 * dx]; s[1] += p[3 * dx + 1]; s[2] += p[3 * dx + 2];
                        s[3] += 1;
                    }
            } else {
                const float *c = in->cells + at * 4;
                for (int dx = 0; dx < cols; dx++)
                    for (int k = 0; k < 4; k++) s[k] += c[4 * dx + k];
            }
        }
        /* Cells cut by the image border average over the children they have. */
        float norm = 1.0f / (float)(rows * cols);
        for (int k = 0; k < 4; k++) o[k] = s[k] * norm;
    }
}

/* Bilinear interpolation of level `coarse` at the centre of cell (x, y) of the level
 * below: coarse coordinates (x / 2 - 1/4, y / 2 - 1/4), clamped to the edges. */
static inline void pull_sample(const fill_level *coarse, int x, int y, float out[3]) {
    int x0 = (x - 1) >> 1, y0 = (y - 1) >> 1; /* x even: x/2 - 1 (weight 1/4), odd: (x-1)/2 (3/4) */
    float wx = (x & 1) ? 0.25f : 0.75f, wy = (y & 1) ? 0.25f : 0.75f;
    int x1 = x0 + 1, y1 = y0 + 1;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > coarse->width - 1) x1 = coarse->width - 1;
    if (y1 > coarse->height - 1) y1 = coarse->height - 1;
    const float *a = coarse->cells + ((size_t)y0 * coarse->width + x0) * 4;
    const float *b = coarse->cells + ((size_t)y0 * coarse->width + x1) * 4;
    const float *c = coarse->cells + ((size_t)y1 * coarse->width + x0) * 4;
    const float *d = coarse->cells + ((size_t)y1 * coarse->width + x1) * 4;
    for (int k = 0; k < 3; k++) {
        float top = a[k] + wx * (b[k] - a[k]), bottom = c[k] + wx * (d[k] - c[k]);
        out[k] = top + wy * (bottom - top);
    }
}

static void pull_row(void *ctx, int y) {
    fill_job *job = ctx;
    const fill_level *coarse = &job->levels[job->level + 1];
    if (job->level == 0) {
        vv_image *im = job->image;
        const uint8_t *known = job->known + (size_t)y * im->width;
        uint8_t *p = im->data + (size_t)y * im->width * 3;
        for (int x = 0; x < im->width; x++) {
            if (known[x]) continue;
            float v[3];
            pull_sample(coarse, x, y, v);
            for (int k = 0; k < 3; k++) p[3 * x + k] = (uint8_t)clampf(v[k] + 0.5f, 0, 255);
        }
        return;
    }
    fill_level *level = &job->levels[job->level];
    float *c = level->cells + (size_t)y * level->width * 4;
    for (int x = 0; x < level->width; x++, c += 4) {
        if (c[3] >= 1) continue; /* fully known: S is its colour */
        float v[3];
        pull_sample(coarse, x, y, v);
        for (int k = 0; k < 3; k++) c[k] += (1 - c[3]) * v[k];
    }
}

#define FILL_MAX_LEVELS 40
#define FILL_RELAX 6 /* relaxation sweeps per level */

/* After a level's pull: its partly unknown cells relaxed towards the mean of their four
 * neighbours, F = S + (1 - W) mean(F around), Gauss-Seidel.  The pull alone gives a
 * hole's middle the mean of everything within the coarse cell above it, known pixels far
 * from the hole included (a grey door frame beside a white wall tinted the whole plate of
 * a person standing against the wall); relaxed on every level, the fill tends to the
 * smooth (harmonic) interpolation of the hole's own border. */
static void relax_level(fill_level *level, const float *sums) {
    int w = level->width, h = level->height;
    /* The cells to relax, in scan order, listed once for the sweeps (most of a level is
     * known); bit 31: a cell on the level's border (fewer neighbours). */
    size_t cells = (size_t)w * h, count = 0;
    for (size_t at = 0; at < cells; at++) count += level->cells[at * 4 + 3] < 1;
    uint32_t *list = count ? mem_alloc(count, sizeof *list) : NULL;
    if (list) {
        count = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t at = (size_t)y * w + x;
                if (level->cells[at * 4 + 3] >= 1) continue;
                bool border = x == 0 || y == 0 || x == w - 1 || y == h - 1;
                list[count++] = (uint32_t)at | (border ? UINT32_C(1) << 31 : 0);
            }
    }
    for (int sweep = 0; sweep < FILL_RELAX; sweep++)
        for (size_t i = 0, end = list ? count : cells; i < end; i++) {
            size_t at = list ? list[i] & 0x7fffffff : i;
            float *c = level->cells + at * 4;
            if (list && !(list[i] >> 31)) { /* inside: the four neighbours, in the same order as below */
                const float *l = c - 4, *r = c + 4, *u = c - (size_t)w * 4, *d = c + (size_t)w * 4;
                for (int j = 0; j < 3; j++) {
                    float mean = 0;
                    mean += l[j];
                    mean += r[j];
                    mean += u[j];
                    mean += d[j];
                    c[j] = sums[at * 4 + j] + (1 - c[3]) * mean / (float)4;
                }
                continue;
            }
            if (c[3] >= 1) continue;
            int x = (int)(at % (size_t)w), y = (int)(at / (size_t)w);
            float mean[3] = {0, 0, 0};
            int n = 0;
            const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
            for (int k = 0; k < 4; k++) {
                int uu = x + dx[k], vv = y + dy[k];
                if (uu < 0 || vv < 0 || uu >= w || vv >= h) continue;
                const float *q = level->cells + ((size_t)vv * w + uu) * 4;
                for (int j = 0; j < 3; j++) mean[j] += q[j];
                n++;
            }
            if (!n) continue;
            for (int j = 0; j < 3; j++) c[j] = sums[at * 4 + j] + (1 - c[3]) * mean[j] / (float)n;
        }
    free(list);
}

vv_status image_fill_holes(vv_image *image, const uint8_t *known, int threads) {
    if (!image || !image->data || image->channels != 3 || image->width < 1 || image->height < 1 || !known)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fill holes: needs an RGB image and its known mask");
    size_t pixels = (size_t)image->width * image->height;
    if (!memchr(known, 0, pixels)) return VV_OK;
    fill_level levels[FILL_MAX_LEVELS] = {{image->width, image->height, NULL}};
    fill_job job = {image, known, levels, 0};
    int top = 0;
    while (levels[top].width > 1 || levels[top].height > 1) {
        fill_level *level = &levels[top + 1];
        level->width = (levels[top].width + 1) / 2;
        level->height = (levels[top].height + 1) / 2;
        level->cells = mem_alloc((size_t)level->width * level->height, 4 * sizeof(float));
        if (!level->cells) {
            for (int k = 1; k <= top; k++) free(levels[k].cells);
            return vv_fail(VV_ERR_NO_MEMORY, "fill holes: out of memory for a %dx%d image", image->width, image->height);
        }
        top++;
        job.level = top;
        /* Small levels are not worth the threads. */
        parallel_for(level->height, level->height >= 64 ? threads : 1, push_row, &job);
    }
    float *apex = levels[top].cells;
    if (top > 0 && apex[3] > 0) {
        for (int k = 0; k < 3; k++) apex[k] /= apex[3];
        for (int k = top - 1; k >= 0; k--) {
            job.level = k;
            size_t cells = (size_t)levels[k].width * levels[k].height;
            float *sums = k > 0 ? mem_alloc(cells, 4 * sizeof(float)) : NULL;
            if (sums) memcpy(sums, levels[k].cells, cells * 4 * sizeof(float));
            parallel_for(levels[k].height, levels[k].height >= 64 ? threads : 1, pull_row, &job);
            if (sums) relax_level(&levels[k], sums); /* (no memory: the plain pull) */
            free(sums);
        }
    }
    for (int k = 1; k <= top; k++) free(levels[k].cells);
    return VV_OK;
}
