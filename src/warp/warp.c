/* warp: piecewise-affine warp (scanline per triangle, bands of rows in parallel),
 * feathered paste-back, inner-mouth fill, and the engine that ties them to a portrait. */
#include "warp/warp.h"
#include "img/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BAND_ROWS 16

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
/* Inline min/max: fminf/fmaxf are library calls without -ffinite-math-only. */
static inline float min2(float a, float b) { return a < b ? a : b; }
static inline float max2(float a, float b) { return a > b ? a : b; }

/* Bilinear sample of all channels at (x, y), clamp-to-edge. */
static inline void sample_bilinear(const vv_image *in, float x, float y, float *out) {
    int w = in->width, h = in->height, c = in->channels;
    x = clampf(x, 0.0f, (float)(w - 1));
    y = clampf(y, 0.0f, (float)(h - 1));
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *r0 = in->data + (size_t)y0 * w * c, *r1 = in->data + (size_t)y1 * w * c;
    for (int k = 0; k < c; k++) {
        float top = r0[x0 * c + k] + fx * (float)(r0[x1 * c + k] - r0[x0 * c + k]);
        float bottom = r1[x0 * c + k] + fx * (float)(r1[x1 * c + k] - r1[x0 * c + k]);
        out[k] = top + fy * (bottom - top);
    }
}

/* The same for exactly 3 channels (the warp's hot loop). */
static inline void sample_bilinear3(const vv_image *in, float x, float y, float *out) {
    int w = in->width, h = in->height;
    x = clampf(x, 0.0f, (float)(w - 1));
    y = clampf(y, 0.0f, (float)(h - 1));
    int x0 = (int)x, y0 = (int)y;
    int dx = x0 + 1 < w ? 3 : 0;
    size_t dy = y0 + 1 < h ? (size_t)w * 3 : 0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *p = in->data + ((size_t)y0 * w + x0) * 3;
    for (int k = 0; k < 3; k++) {
        float top = p[k] + fx * (float)(p[k + dx] - p[k]);
        float bottom = p[k + dy] + fx * (float)(p[k + dy + dx] - p[k + dy]);
        out[k] = top + fy * (bottom - top);
    }
}

static inline uint8_t to_byte(float v) { return (uint8_t)clampf(v + 0.5f, 0.0f, 255.0f); }

/* ---- Piecewise-affine warp. ---- */
typedef struct warp_triangle {
    float m[6];          /* dst pixel -> src pixel */
    float v[3][2];       /* dst vertices */
    int y0, y1;          /* rows covered */
    bool identity;
} warp_triangle;

typedef struct warp_job {
    vv_image *out;
    const vv_image *in;
    warp_triangle *triangles;
    int count;
    uint8_t *moved;
} warp_job;

/* Columns [*x0, *x1] of row y inside triangle t; false if none. */
static bool triangle_row_span(const warp_triangle *t, float y, int width, int *x0, int *x1) {
    float lo = 1e30f, hi = -1e30f;
    for (int e = 0; e < 3; e++) {
        const float *a = t->v[e], *b = t->v[(e + 1) % 3];
        float ya = a[1], yb = b[1];
        if ((y < ya - 1e-3f && y < yb - 1e-3f) || (y > ya + 1e-3f && y > yb + 1e-3f)) continue;
        if (fabsf(yb - ya) < 1e-6f) {
            lo = min2(lo, min2(a[0], b[0]));
            hi = max2(hi, max2(a[0], b[0]));
        } else {
            float s = clampf((y - ya) / (yb - ya), 0.0f, 1.0f), x = a[0] + s * (b[0] - a[0]);
            lo = min2(lo, x);
            hi = max2(hi, x);
        }
    }
    if (lo > hi) return false;
    *x0 = (int)ceilf(lo - 1e-3f);
    *x1 = (int)floorf(hi + 1e-3f);
    if (*x0 < 0) *x0 = 0;
    if (*x1 > width - 1) *x1 = width - 1;
    return *x0 <= *x1;
}

/* Fixed-point fast path of one span (3 channels): source positions in 1/65536 pixel
 * steps, rounded to 1/256 for the bilinear weights (so whole-pixel positions copy
 * exactly).  Only when the whole span samples inside [0, w-2] x [0, h-2] (an affine span:
 * checking both ends suffices); false leaves it to the float path. */
static bool warp_span_fixed(const vv_image *in, uint8_t *dst, float sx, float sy, float dx, float dy, int n) {
    int w = in->width, h = in->height;
    float ex = sx + dx * (float)(n - 1), ey = sy + dy * (float)(n - 1);
    if (!(min2(sx, ex) >= 0 && min2(sy, ey) >= 0 && max2(sx, ex) < (float)(w - 2) && max2(sy, ey) < (float)(h - 2)))
        return false;
    int32_t fx = (int32_t)lrintf(sx * 65536.0f), fy = (int32_t)lrintf(sy * 65536.0f);
    int32_t step_x = (int32_t)lrintf(dx * 65536.0f), step_y = (int32_t)lrintf(dy * 65536.0f);
    size_t stride = (size_t)w * 3;
    for (int i = 0; i < n; i++, dst += 3, fx += step_x, fy += step_y) {
        int32_t px = (fx + 128) >> 8, py = (fy + 128) >> 8; /* 1/256 pixel */
        int ix = px >> 8, iy = py >> 8, wx = px & 255, wy = py & 255;
        if (ix > w - 2) { ix = w - 2; wx = 256; } /* rounding at the very edge */
        if (iy > h - 2) { iy = h - 2; wy = 256; }
        const uint8_t *p = in->data + (size_t)iy * stride + (size_t)ix * 3, *q = p + stride;
        for (int k = 0; k < 3; k++) {
            int top = p[k] * 256 + (p[k + 3] - p[k]) * wx, bottom = q[k] * 256 + (q[k + 3] - q[k]) * wx;
            dst[k] = (uint8_t)((top * 256 + (bottom - top) * wy + 32768) >> 16);
        }
    }
    return true;
}

static void warp_band(void *ctx, int band) {
    warp_job *job = ctx;
    vv_image *out = job->out;
    const vv_image *in = job->in;
    int w = out->width, c = out->channels;
    int r0 = band * BAND_ROWS, r1 = r0 + BAND_ROWS < out->height ? r0 + BAND_ROWS : out->height;
    size_t row_bytes = (size_t)w * c;
    memcpy(out->data + (size_t)r0 * row_bytes, in->data + (size_t)r0 * row_bytes, (size_t)(r1 - r0) * row_bytes);
    if (job->moved) memset(job->moved + (size_t)r0 * w, 0, (size_t)(r1 - r0) * w);
    for (int i = 0; i < job->count; i++) {
        const warp_triangle *t = &job->triangles[i];
        if (t->identity || t->y1 < r0 || t->y0 >= r1) continue;
        int ya = t->y0 > r0 ? t->y0 : r0, yb = t->y1 < r1 - 1 ? t->y1 : r1 - 1;
        for (int y = ya; y <= yb; y++) {
            int x0, x1;
            if (!triangle_row_span(t, (float)y, w, &x0, &x1)) continue;
            float sx = t->m[0] * x0 + t->m[1] * y + t->m[2], sy = t->m[3] * x0 + t->m[4] * y + t->m[5];
            uint8_t *dst = out->data + (size_t)y * row_bytes + (size_t)x0 * c;
            uint8_t *moved = job->moved ? job->moved + (size_t)y * w : NULL;
            if (c == 3 && !moved && warp_span_fixed(in, dst, sx, sy, t->m[0], t->m[3], x1 - x0 + 1)) continue;
            for (int x = x0; x <= x1; x++, dst += c, sx += t->m[0], sy += t->m[3]) {
                float v[4];
                if (c == 3) sample_bilinear3(in, sx, sy, v);
                else sample_bilinear(in, sx, sy, v);
                for (int k = 0; k < c; k++) dst[k] = to_byte(v[k]);
                if (moved) { /* 255 from half a pixel of displacement */
                    float d = fabsf(sx - (float)x) + fabsf(sy - (float)y);
                    moved[x] = d >= 0.5f ? 255 : (uint8_t)(d * 510.0f);
                }
            }
        }
    }
}

/* Affine mapping triangle d onto triangle s (double precision); false if degenerate. */
static bool affine_from_triangles(const float d[3][2], const float s[3][2], float m[6]) {
    double ax = d[1][0] - d[0][0], ay = d[1][1] - d[0][1], bx = d[2][0] - d[0][0], by = d[2][1] - d[0][1];
    double det = ax * by - bx * ay;
    if (fabs(det) < 1e-9) return false;
    double ux = s[1][0] - s[0][0], uy = s[1][1] - s[0][1], vx = s[2][0] - s[0][0], vy = s[2][1] - s[0][1];
    /* [m0 m1; m3 m4] = [u v] [a b]^-1 */
    double i00 = by / det, i01 = -bx / det, i10 = -ay / det, i11 = ax / det;
    double m0 = ux * i00 + vx * i10, m1 = ux * i01 + vx * i11;
    double m3 = uy * i00 + vy * i10, m4 = uy * i01 + vy * i11;
    m[0] = (float)m0; m[1] = (float)m1; m[2] = (float)(s[0][0] - m0 * d[0][0] - m1 * d[0][1]);
    m[3] = (float)m3; m[4] = (float)m4; m[5] = (float)(s[0][1] - m3 * d[0][0] - m4 * d[0][1]);
    return true;
}

void warp_piecewise_affine(vv_image *out, const vv_image *in, const float (*src)[2], const float (*dst)[2],
                           const int (*triangles)[3], int triangle_count, uint8_t *moved, int threads) {
    warp_triangle *tris = mem_alloc((size_t)(triangle_count > 0 ? triangle_count : 1), sizeof *tris);
    int count = 0;
    if (tris) {
        for (int i = 0; i < triangle_count; i++) {
            warp_triangle *t = &tris[count];
            float s[3][2];
            for (int e = 0; e < 3; e++) {
                int p = triangles[i][e];
                t->v[e][0] = dst[p][0]; t->v[e][1] = dst[p][1];
                s[e][0] = src[p][0]; s[e][1] = src[p][1];
            }
            if (!affine_from_triangles((const float(*)[2])t->v, (const float(*)[2])s, t->m)) continue;
            float ymin = fminf(t->v[0][1], fminf(t->v[1][1], t->v[2][1]));
            float ymax = fmaxf(t->v[0][1], fmaxf(t->v[1][1], t->v[2][1]));
            t->y0 = (int)ceilf(ymin - 1e-3f);
            t->y1 = (int)floorf(ymax + 1e-3f);
            bool same = true;
            for (int e = 0; e < 3; e++) same &= t->v[e][0] == s[e][0] && t->v[e][1] == s[e][1];
            t->identity = same;
            count++;
        }
    }
    warp_job job = {out, in, tris, count, moved};
    parallel_for((out->height + BAND_ROWS - 1) / BAND_ROWS, threads, warp_band, &job);
    free(tris);
}

/* ---- Paste-back. ---- */
typedef struct paste_job {
    vv_image *image;
    const vv_image *crop;
    const uint8_t *mask;
    float to_crop[6];
    float feather;
    int x0, x1, y0;
} paste_job;

/* Narrows [*lo, *hi] to the x where 0 < slope x + offset < edge. */
static void span_inside(float slope, float offset, float edge, float *lo, float *hi) {
    if (fabsf(slope) < 1e-12f) {
        if (!(offset > 0 && offset < edge)) *hi = *lo - 1;
        return;
    }
    float a = (0 - offset) / slope, b = (edge - offset) / slope;
    if (a > b) { float t = a; a = b; b = t; }
    *lo = max2(*lo, a);
    *hi = min2(*hi, b);
}

/* One image row: the crop sampled along the row's (incremental) crop coordinates, only
 * over the span inside the crop; the mask is sampled first so untouched pixels cost
 * little. */
static void paste_row(void *ctx, int row) {
    paste_job *job = ctx;
    vv_image *im = job->image;
    const vv_image *crop = job->crop;
    const float *m = job->to_crop;
    int y = job->y0 + row, c = im->channels, cw = crop->width, ch = crop->height;
    float edge = (float)(cw - 1), edge_y = (float)(ch - 1);
    float ub = m[1] * (float)y + m[2], vb = m[4] * (float)y + m[5];
    float lo = (float)job->x0, hi = (float)job->x1;
    span_inside(m[0], ub, edge, &lo, &hi);
    span_inside(m[3], vb, edge_y, &lo, &hi);
    int xa = (int)ceilf(lo), xb = (int)floorf(hi);
    if (xa < job->x0) xa = job->x0;
    if (xb > job->x1) xb = job->x1;
    float inv_feather = 1.0f / job->feather;
    uint8_t *p = im->data + ((size_t)y * im->width + xa) * c;
    for (int x = xa; x <= xb; x++, p += c) {
        float u = m[0] * (float)x + ub, v = m[3] * (float)x + vb;
        float d = min2(min2(u, v), min2(edge - u, edge_y - v));
        if (d <= 0) continue;
        u = clampf(u, 0, edge);
        v = clampf(v, 0, edge_y);
        int iu = (int)u, iv = (int)v;
        int iu1 = iu + 1 < cw ? iu + 1 : iu, iv1 = iv + 1 < ch ? iv + 1 : iv;
        float fu = u - (float)iu, fv = v - (float)iv;
        float a = 1.0f;
        if (job->mask) {
            const uint8_t *m0 = job->mask + (size_t)iv * cw, *m1 = job->mask + (size_t)iv1 * cw;
            if ((m0[iu] | m0[iu1] | m1[iu] | m1[iu1]) == 0) continue;
            float top = m0[iu] + fu * (float)(m0[iu1] - m0[iu]), bottom = m1[iu] + fu * (float)(m1[iu1] - m1[iu]);
            a = (top + fv * (bottom - top)) * (1.0f / 255);
        }
        if (d < job->feather) {
            float e = d * inv_feather;
            a *= e * e * (3 - 2 * e);
        }
        if (a <= 0) continue;
        const uint8_t *r0 = crop->data + (size_t)iv * cw * c, *r1 = crop->data + (size_t)iv1 * cw * c;
        for (int k = 0; k < c; k++) {
            float top = r0[iu * c + k] + fu * (float)(r0[iu1 * c + k] - r0[iu * c + k]);
            float bottom = r1[iu * c + k] + fu * (float)(r1[iu1 * c + k] - r1[iu * c + k]);
            float sample = top + fv * (bottom - top);
            p[k] = to_byte((float)p[k] + a * (sample - (float)p[k]));
        }
    }
}

void warp_paste_back(vv_image *image, const vv_image *crop, const uint8_t *mask, const float crop_to_image[6],
                     float feather, int threads) {
    float cw = (float)(crop->width - 1), ch = (float)(crop->height - 1);
    float corners[4][2] = {{0, 0}, {cw, 0}, {0, ch}, {cw, ch}};
    affine_apply_points(crop_to_image, (const float(*)[2])corners, corners, 4);
    float minx = fminf(fminf(corners[0][0], corners[1][0]), fminf(corners[2][0], corners[3][0]));
    float maxx = fmaxf(fmaxf(corners[0][0], corners[1][0]), fmaxf(corners[2][0], corners[3][0]));
    float miny = fminf(fminf(corners[0][1], corners[1][1]), fminf(corners[2][1], corners[3][1]));
    float maxy = fmaxf(fmaxf(corners[0][1], corners[1][1]), fmaxf(corners[2][1], corners[3][1]));
    paste_job job = {image, crop, mask, {0}, feather > 0.5f ? feather : 0.5f, 0, 0, 0};
    affine_invert(crop_to_image, job.to_crop);
    job.x0 = (int)fmaxf(0.0f, floorf(minx));
    job.x1 = (int)fminf((float)(image->width - 1), ceilf(maxx));
    job.y0 = (int)fmaxf(0.0f, floorf(miny));
    int y1 = (int)fminf((float)(image->height - 1), ceilf(maxy));
    if (job.x0 > job.x1 || job.y0 > y1) return;
    parallel_for(y1 - job.y0 + 1, threads, paste_row, &job);
}

/* ---- Inner mouth. ---- */
static float polygon_area(const float (*p)[2], int first, int count) {
    float a = 0;
    for (int k = 0; k < count; k++) {
        const float *u = p[first + k], *v = p[first + (k + 1) % count];
        a += u[0] * v[1] - v[0] * u[1];
    }
    return 0.5f * fabsf(a);
}

static float eye_distance(const float (*p)[2]) {
    float lx = 0, ly = 0, rx = 0, ry = 0;
    for (int k = 0; k < 6; k++) {
        lx += p[36 + k][0]; ly += p[36 + k][1];
        rx += p[42 + k][0]; ry += p[42 + k][1];
    }
    return hypotf(rx - lx, ry - ly) / 6;
}

static void mean_colour(const vv_image *im, const float (*p)[2], const int *idx, int n, float out[3]) {
    out[0] = out[1] = out[2] = 0;
    int samples = 0;
    for (int k = 0; k < n; k++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                float v[4];
                sample_bilinear(im, p[idx[k]][0] + (float)dx, p[idx[k]][1] + (float)dy, v);
                for (int ch = 0; ch < 3; ch++) out[ch] += v[ch];
                samples++;
            }
    for (int ch = 0; ch < 3; ch++) out[ch] /= (float)samples;
}

/* The skin's mean colour where it is skin on any face, turned or not: the nose below the
 * bridge (29, 30) and both cheeks (halfway from the lower lid to the mouth's corner); the
 * jaw's points (2, 14) fall on hair, collar or background once the head turns or tips. */
static void skin_colour(const vv_image *im, const float (*p)[2], float out[3]) {
    float at[4][2] = {{p[29][0], p[29][1]}, {p[30][0], p[30][1]},
                      {(p[41][0] + p[48][0]) / 2, (p[41][1] + p[48][1]) / 2}, {(p[46][0] + p[54][0]) / 2, (p[46][1] + p[54][1]) / 2}};
    static const int all[4] = {0, 1, 2, 3};
    mean_colour(im, (const float(*)[2])at, all, 4, out);
}

/* y of a polyline (sorted by x, local frame) at x, linear between vertices. */
static float polyline_y(const float (*q)[2], int n, float x) {
    if (x <= q[0][0]) return q[0][1];
    for (int k = 0; k + 1 < n; k++)
        if (x <= q[k + 1][0]) {
            float dx = q[k + 1][0] - q[k][0];
            return dx > 1e-6f ? q[k][1] + (x - q[k][0]) / dx * (q[k + 1][1] - q[k][1]) : q[k][1];
        }
    return q[n - 1][1];
}

static float segment_distance(float px, float py, const float *a, const float *b) {
    float dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
    float t = l2 > 0 ? clampf(((px - a[0]) * dx + (py - a[1]) * dy) / l2, 0, 1) : 0;
    return hypotf(px - a[0] - t * dx, py - a[1] - t * dy);
}

static bool polygon_contains(const float (*p)[2], int first, int n, float x, float y) {
    bool inside = false;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        const float *a = p[first + i], *b = p[first + j];
        if ((a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0]) inside = !inside;
    }
    return inside;
}

/* A mouth's inner-lip frame: origin at corner 60, u along 60 -> 64 (length `width`), v
 * perpendicular (down); the upper (60-64) and lower (60, 67-64) inner lips as polylines. */
typedef struct mouth_frame {
    float ox, oy, ux, uy, vx, vy, width;
    float upper[5][2], lower[5][2];
} mouth_frame;

static bool mouth_frame_init(mouth_frame *m, const float (*p)[2]) {
    m->ox = p[60][0];
    m->oy = p[60][1];
    m->width = hypotf(p[64][0] - m->ox, p[64][1] - m->oy);
    if (!(m->width >= 1)) return false;
    m->ux = (p[64][0] - m->ox) / m->width;
    m->uy = (p[64][1] - m->oy) / m->width;
    m->vx = -m->uy;
    m->vy = m->ux;
    static const int upper_idx[5] = {60, 61, 62, 63, 64}, lower_idx[5] = {60, 67, 66, 65, 64};
    for (int k = 0; k < 5; k++) {
        const float *a = p[upper_idx[k]], *b = p[lower_idx[k]];
        m->upper[k][0] = (a[0] - m->ox) * m->ux + (a[1] - m->oy) * m->uy;
        m->upper[k][1] = (a[0] - m->ox) * m->vx + (a[1] - m->oy) * m->vy;
        m->lower[k][0] = (b[0] - m->ox) * m->ux + (b[1] - m->oy) * m->uy;
        m->lower[k][1] = (b[0] - m->ox) * m->vx + (b[1] - m->oy) * m->vy;
    }
    return true;
}

/* Driver-mouth pixel for a target pixel at fraction s (0..1) along the corners and t (0
 * upper lip .. 1 lower lip) across the opening. */
static void mouth_frame_point(const mouth_frame *m, float s, float t, float *x, float *y) {
    float lu = s * m->width;
    float yu = polyline_y((const float(*)[2])m->upper, 5, lu), yl = polyline_y((const float(*)[2])m->lower, 5, lu);
    float lv = yu + t * (yl - yu);
    *x = m->ox + lu * m->ux + lv * m->vx;
    *y = m->oy + lu * m->uy + lv * m->vy;
}

float warp_mouth_fill(vv_image *crop, uint8_t *moved, const vv_image *source_crop, const float source[68][2],
                      const float target[68][2], const vv_image *driver, const float driver_points[68][2]) {
    return warp_mouth_fill_contour(crop, moved, source_crop, source, target, NULL, NULL, 0, driver, driver_points);
}

#define MOUTH_HUE_TAKE 0.7f
float warp_mouth_fill_contour(vv_image *crop, uint8_t *moved, const vv_image *source_crop, const float source[68][2],
                              const float target[68][2], const float (*inner_upper)[2], const float (*inner_lower)[2],
                              int inner_count, const vv_image *driver, const float driver_points[68][2]) {
    float eye = eye_distance(target);
    float width = hypotf(target[64][0] - target[60][0], target[64][1] - target[60][1]);
    if (eye < 4 || width < 2) return 0;
    float area_t = polygon_area(target, 60, 8), area_s = polygon_area(source, 60, 8);
    float scale_s = eye_distance(source), ratio = scale_s > 0 ? eye / scale_s : 1;
    area_s *= ratio * ratio; /* compare at the same face size */
    float height = area_t / width;
    if (height < 0.04f * eye) return 0;
    float strength = clampf((1 - area_s / area_t - 0.15f) / 0.35f, 0, 1);
    strength *= clampf((height - 0.04f * eye) / (0.04f * eye), 0, 1);
    if (strength <= 0) return 0;

    static const int lips[] = {48, 49, 50, 52, 53, 54, 55, 56, 58, 59};
    static const int skin[] = {29, 30, 31, 35, 2, 14};
    float lip[3], face[3];
    mean_colour(source_crop, source, lips, 10, lip);
    mean_colour(source_crop, source, skin, 6, face);
    /* Teeth carry the portrait's own colour cast (a neutral white looks blue on an old
     * varnished painting): the skin colour brightened, slightly desaturated. */
    float luma = 0.299f * face[0] + 0.587f * face[1] + 0.114f * face[2];
    float gain = clampf(luma * 1.25f, 60.0f, 235.0f) / fmaxf(luma, 1.0f);
    float teeth[3];
    for (int ch = 0; ch < 3; ch++) teeth[ch] = clampf((0.7f * face[ch] + 0.3f * luma) * gain, 0, 245);
    /* The cavity: the lips' colour in shadow, near black at the back; the tongue a darker,
     * redder lip colour. */
    const float cavity[3] = {lip[0] * 0.30f, lip[1] * 0.17f, lip[2] * 0.17f};
    const float deep[3] = {lip[0] * 0.10f, lip[1] * 0.06f, lip[2] * 0.06f};
    const float tongue[3] = {lip[0] * 0.62f, lip[1] * 0.36f, lip[2] * 0.38f};
    /* The tongue's hue, half way to grey, per unit of luma: what a driver's purple interior
     * takes on (below). */
    float tongue_luma = 0.299f * tongue[0] + 0.587f * tongue[1] + 0.114f * tongue[2], tongue_tint[3];
    for (int ch = 0; ch < 3; ch++) tongue_tint[ch] = 1 + 0.5f * ((tongue_luma > 1 ? tongue[ch] / tongue_luma : 1) - 1);
    /* No teeth where the portrait's own open mouth shows none (its inner mouth no brighter
     * than its lips); a closed mouth tells nothing, so teeth are drawn. */
    float teeth_allowed = 1;
    float source_width = hypotf(source[64][0] - source[60][0], source[64][1] - source[60][1]);
    if (source_width > 1 && polygon_area(source, 60, 8) / source_width > 0.06f * scale_s) {
        float inner = 0, lip_luma = 0.299f * lip[0] + 0.587f * lip[1] + 0.114f * lip[2];
        float bx0 = 1e30f, bx1 = -1e30f, by0 = 1e30f, by1 = -1e30f;
        for (int k = 60; k < 68; k++) {
            bx0 = fminf(bx0, source[k][0]); bx1 = fmaxf(bx1, source[k][0]);
            by0 = fminf(by0, source[k][1]); by1 = fmaxf(by1, source[k][1]);
        }
        int n = 0;
        for (int j = 0; j < 12; j++)
            for (int i = 0; i < 12; i++) { /* a grid over the source's inner mouth */
                float qx = bx0 + (i + 0.5f) / 12 * (bx1 - bx0), qy = by0 + (j + 0.5f) / 12 * (by1 - by0);
                if (!polygon_contains(source, 60, 8, qx, qy)) continue;
                float c[4];
                sample_bilinear(source_crop, qx, qy, c);
                inner += 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2];
                n++;
            }
        if (n > 8 && inner / n < 1.05f * lip_luma) teeth_allowed = 0;
    }

    /* The driver's own mouth interior (a real video whose mouth is open): mapped inner lip
     * to inner lip, and colour-matched to the portrait: the skins' brightness ratio, and per
     * channel the smaller of two colour casts, the skins' (half way) or the lips'.  Either
     * alone went wrong: the lips' carried their own pigment (a painted man's mauve lips
     * against a driver's red ones turned the driver's white teeth lavender), the skins' in
     * full turned a warm-lit driver's teeth blue-grey (lp_d12 on Grace Hopper). */
    mouth_frame from_driver;
    float driver_weight = 0, gain_driver[3] = {1, 1, 1};
    if (driver && driver_points && driver->data && driver->channels >= 3 && mouth_frame_init(&from_driver, driver_points)) {
        float driver_eye = eye_distance(driver_points);
        float driver_height = polygon_area(driver_points, 60, 8) / from_driver.width;
        if (driver_eye > 4) driver_weight = clampf((driver_height / driver_eye - 0.04f) / 0.04f, 0, 1);
        float source_skin[3], driver_skin[3];
        skin_colour(source_crop, source, source_skin);
        skin_colour(driver, driver_points, driver_skin);
        float source_luma = 0.299f * source_skin[0] + 0.587f * source_skin[1] + 0.114f * source_skin[2];
        float driver_luma = 0.299f * driver_skin[0] + 0.587f * driver_skin[1] + 0.114f * driver_skin[2];
        float bright = (source_luma + 8) / (driver_luma + 8);
        float driver_lip[3];
        mean_colour(driver, driver_points, lips, 10, driver_lip);
        /* A black-and-white driver's interior has no colour to match: cast to the portrait's
         * hues it came out a flat slate hole (lp_d20 in grey on Grace Hopper); the drawn
         * cavity and teeth stand in, fully where its lips are grey (chroma under 4 levels). */
        float lip_chroma = fmaxf(driver_lip[0], fmaxf(driver_lip[1], driver_lip[2])) -
                           fminf(driver_lip[0], fminf(driver_lip[1], driver_lip[2]));
        driver_weight *= clampf((lip_chroma - 4) / 8, 0, 1);
        float source_lip_luma = 0.299f * lip[0] + 0.587f * lip[1] + 0.114f * lip[2];
        float driver_lip_luma = 0.299f * driver_lip[0] + 0.587f * driver_lip[1] + 0.114f * driver_lip[2];
        for (int ch = 0; ch < 3; ch++) {
            float cast = sqrtf(((source_skin[ch] + 8) / (source_luma + 8)) / ((driver_skin[ch] + 8) / (driver_luma + 8)));
            float lip_cast = ((lip[ch] + 8) / (source_lip_luma + 8)) / ((driver_lip[ch] + 8) / (driver_lip_luma + 8));
            if (fabsf(logf(lip_cast)) < fabsf(logf(cast))) cast = lip_cast; /* the smaller colour shift of the two */
            gain_driver[ch] = clampf(bright * cast, 0.5f, 2.0f);
        }
    }

    /* The opening: the inner lips' contours from corner to corner (the 68 points' five each,
     * or the caller's finer ones), as a closed polygon: upper, then lower backwards. */
    float contour_upper[MOUTH_CONTOUR_MAX][2], contour_lower[MOUTH_CONTOUR_MAX][2];
    int n = 5;
    if (inner_upper && inner_lower && inner_count >= 3 && inner_count <= MOUTH_CONTOUR_MAX) {
        n = inner_count;
        memcpy(contour_upper, inner_upper, sizeof(float[2]) * (size_t)n);
        memcpy(contour_lower, inner_lower, sizeof(float[2]) * (size_t)n);
    } else {
        static const int upper_idx[5] = {60, 61, 62, 63, 64}, lower_idx[5] = {60, 67, 66, 65, 64};
        for (int k = 0; k < 5; k++) {
            memcpy(contour_upper[k], target[upper_idx[k]], sizeof contour_upper[k]);
            memcpy(contour_lower[k], target[lower_idx[k]], sizeof contour_lower[k]);
        }
    }
    float polygon[2 * MOUTH_CONTOUR_MAX][2];
    int corners = 0;
    for (int k = 0; k < n; k++) memcpy(polygon[corners++], contour_upper[k], sizeof polygon[0]);
    for (int k = n - 2; k > 0; k--) memcpy(polygon[corners++], contour_lower[k], sizeof polygon[0]);
    /* Local frame: u along the mouth corners, v perpendicular (down). */
    float ox = contour_upper[0][0], oy = contour_upper[0][1];
    float span = hypotf(contour_upper[n - 1][0] - ox, contour_upper[n - 1][1] - oy);
    if (!(span > 1)) return 0;
    float ux = (contour_upper[n - 1][0] - ox) / span, uy = (contour_upper[n - 1][1] - oy) / span, vx = -uy, vy = ux;
    width = span;
    height = polygon_area((const float(*)[2])polygon, 0, corners) / span; /* the teeth's scale: this opening's */
    if (!(height > 1e-3f)) return 0;
    float upper[MOUTH_CONTOUR_MAX][2], lower[MOUTH_CONTOUR_MAX][2];
    for (int k = 0; k < n; k++) {
        const float *a = contour_upper[k], *b = contour_lower[k];
        upper[k][0] = (a[0] - ox) * ux + (a[1] - oy) * uy;
        upper[k][1] = (a[0] - ox) * vx + (a[1] - oy) * vy;
        lower[k][0] = (b[0] - ox) * ux + (b[1] - oy) * uy;
        lower[k][1] = (b[0] - ox) * vx + (b[1] - oy) * vy;
    }
    float minx = 1e30f, maxx = -1e30f, miny = 1e30f, maxy = -1e30f;
    for (int k = 0; k < corners; k++) {
        minx = fminf(minx, polygon[k][0]); maxx = fmaxf(maxx, polygon[k][0]);
        miny = fminf(miny, polygon[k][1]); maxy = fmaxf(maxy, polygon[k][1]);
    }
    if (!(maxx - minx < 4 * (float)crop->width) || !(maxy - miny < 4 * (float)crop->height)) return 0; /* not a number, or absurd */
    int x0 = (int)fmaxf(0, floorf(minx)), x1 = (int)fminf((float)crop->width - 1, ceilf(maxx));
    int y0 = (int)fmaxf(0, floorf(miny)), y1 = (int)fminf((float)crop->height - 1, ceilf(maxy));
    /* Teeth follow the upper lip: a band under it of at most 0.11 eye distances (under half
     * the opening), fading softly into the cavity, shaded by the lip at its top, receding at
     * the corners, with faint gaps between the front teeth; lower teeth only on a wide
     * opening, fainter. */
    float upper_teeth = fminf(0.45f, 0.11f * eye / height), lower_teeth = fminf(0.22f, 0.05f * eye / height);
    float lower_weight = teeth_allowed * 0.6f * clampf((height / eye - 0.16f) / 0.1f, 0, 1);
    float tooth_width = 0.085f * eye;
    float feather = fmaxf(1.0f, 0.02f * eye);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float px = (float)x, py = (float)y;
            if (!polygon_contains((const float(*)[2])polygon, 0, corners, px, py)) continue;
            float d = 1e30f;
            for (int k = 0; k < corners; k++) d = fminf(d, segment_distance(px, py, polygon[k], polygon[(k + 1) % corners]));
            float edge = clampf(d / feather, 0, 1);
            float lu = (px - ox) * ux + (py - oy) * uy, lv = (px - ox) * vx + (py - oy) * vy;
            float yu = polyline_y((const float(*)[2])upper, n, lu), yl = polyline_y((const float(*)[2])lower, n, lu);
            float t = yl - yu > 1e-3f ? clampf((lv - yu) / (yl - yu), 0, 1) : 0.5f;
            float across = clampf(lu / width * 2 - 1, -1, 1);
            float shade = 1 - 0.5f * across * across;
            float soft = 0.35f * upper_teeth + 0.04f;
            float front = clampf((0.62f - fabsf(across)) / 0.25f, 0, 1); /* teeth recede at the corners */
            float wt = teeth_allowed * front * clampf((upper_teeth - t) / soft + 0.5f, 0, 1);
            float teeth_shade = 0.72f + 0.28f * clampf(t / (0.5f * upper_teeth + 1e-3f), 0, 1); /* the lip's shadow */
            float gap = fabsf(remainderf((lu - 0.5f * width) / tooth_width, 1.0f)); /* 0 at a gap between teeth */
            teeth_shade *= 1 - 0.12f * clampf(1 - gap / 0.08f, 0, 1);
            float wl = lower_weight * front * clampf((t - (1 - lower_teeth)) / soft + 0.5f, 0, 1);
            if (wl > wt) { wt = wl; teeth_shade = 0.8f; }
            /* the cavity: darkest at the back (the middle), the tongue in its lower part */
            float r = sqrtf(across * across + (2 * t - 1) * (2 * t - 1)) / 1.4142f;
            float back = clampf(1 - r * 1.3f, 0, 1);
            float wtongue = clampf((t - 0.55f) / 0.3f, 0, 1) * clampf((0.8f - fabsf(across)) / 0.3f, 0, 1) *
                            clampf((height / eye - 0.08f) / 0.08f, 0, 1);
            float a = strength * edge;
            uint8_t *pix = crop->data + ((size_t)y * crop->width + x) * crop->channels;
            if (moved) moved[(size_t)y * crop->width + x] = 255;
            float from[4] = {0, 0, 0, 0};
            if (driver_weight > 0) {
                float dx, dy;
                mouth_frame_point(&from_driver, clampf(lu / width, 0, 1), t, &dx, &dy);
                sample_bilinear(driver, dx, dy, from);
            }
            /* The driver's pixel, matched.  Where it is purple (blue over green, saturated: a
             * tongue under cool light, lp_d12's lilac mouth on every painting) it takes
             * MOUTH_HUE_TAKE of the portrait's tongue hue at its own luma; teeth (warm
             * or neutral) and red interiors keep theirs. */
            float seen[3] = {0, 0, 0};
            if (driver_weight > 0) {
                for (int ch = 0; ch < 3; ch++) seen[ch] = from[ch] * gain_driver[ch];
                float hi = fmaxf(seen[0], fmaxf(seen[1], seen[2])), lo = fminf(seen[0], fminf(seen[1], seen[2]));
                float l = 0.299f * seen[0] + 0.587f * seen[1] + 0.114f * seen[2];
                float take = MOUTH_HUE_TAKE * clampf(((hi - lo) / fmaxf(hi, 1) - 0.08f) / 0.12f, 0, 1) *
                             clampf((seen[2] - seen[1]) / (0.06f * l + 1), 0, 1);
                for (int ch = 0; ch < 3; ch++) seen[ch] += take * (l * tongue_tint[ch] - seen[ch]);
            }
            for (int ch = 0; ch < 3 && ch < crop->channels; ch++) {
                float hollow = cavity[ch] + back * (deep[ch] - cavity[ch]);
                hollow += 0.8f * wtongue * (tongue[ch] - hollow);
                float fill = (wt * teeth[ch] * teeth_shade * (0.8f + 0.2f * shade) + (1 - wt) * hollow) * shade;
                fill += driver_weight * (clampf(seen[ch], 0, 255) - fill);
                pix[ch] = to_byte((float)pix[ch] + a * (fill - (float)pix[ch]));
            }
        }
    return strength;
}

/* ---- Engine. ---- */
struct warp_engine {
    warp_params params;
    vv_image source;          /* full portrait (copy, cropped to even width and height) */
    vv_image crop;            /* working-resolution source crop (--crop output, mesh layout) */
    float crop_to_image[6], image_to_crop[6];
    float landmarks_crop[68][2], landmarks_image[68][2];
    float mesh_source[MESH_POINT_COUNT][2];        /* crop pixels */
    float mesh_source_image[MESH_POINT_COUNT][2];  /* the same points in image pixels */
    int out_width, out_height;
};

static void affine_apply(const float m[6], float x, float y, float *ox, float *oy) {
    *ox = m[0] * x + m[1] * y + m[2];
    *oy = m[3] * x + m[4] * y + m[5];
}

warp_params warp_default_params(void) {
    warp_params p = {0};
    p.crop_size = 512;
    p.paste_back = true;
    p.mouth_fill = true;
    p.eyes = true;
    p.motion.head = true;
    p.motion.torso = true;
    p.still = MESH_STILL_DEFAULT;
    return p;
}

typedef struct crop_job {
    vv_image *crop;
    const vv_image *image;
    const float *m;
} crop_job;

static void crop_row(void *ctx, int y) {
    crop_job *job = ctx;
    vv_image *crop = job->crop;
    const float *m = job->m;
    uint8_t *dst = crop->data + (size_t)y * crop->width * crop->channels;
    for (int x = 0; x < crop->width; x++, dst += crop->channels) {
        float v[4];
        sample_bilinear(job->image, m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5], v);
        for (int k = 0; k < crop->channels; k++) dst[k] = to_byte(v[k]);
    }
}

vv_status warp_engine_new(warp_engine **out, const vv_image *source, const float landmarks[68][2],
                          const warp_params *params) {
    *out = NULL;
    warp_params p = params ? *params : warp_default_params();
    if (p.crop_size < 64 || p.crop_size > 4096)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "working size %d is outside 64..4096", p.crop_size);
    if (!source || !source->data || source->channels != 3 || source->width < 2 || source->height < 2)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "warp: the source must be an RGB image of at least 2x2");
    float across = hypotf(landmarks[16][0] - landmarks[0][0], landmarks[16][1] - landmarks[0][1]);
    if (!(across >= 40))
        return vv_fail(VV_ERR_NO_FACE, "the face is too small to animate (%.0f px across, need 40)", across);
    if (p.paste_back && (source->width < 2 || source->height < 2))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "warp: the source image is too small");
    warp_engine *e = calloc(1, sizeof *e);
    if (!e) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the warp engine");
    e->params = p;
    /* The output is the source rounded down to even (H.264's 4:2:0 needs it). */
    int even_w = source->width & ~1, even_h = source->height & ~1;
    vv_status s = image_create(&e->source, even_w, even_h, 3);
    for (int y = 0; s == VV_OK && y < even_h; y++)
        memcpy(e->source.data + (size_t)y * even_w * 3, source->data + (size_t)y * source->width * 3, (size_t)even_w * 3);
    if (s == VV_OK) s = image_create(&e->crop, p.crop_size, p.crop_size, 3);
    if (s != VV_OK) {
        warp_engine_free(e);
        return s;
    }
    mesh_crop_transform(landmarks, p.crop_size, e->crop_to_image, e->image_to_crop);
    crop_job job = {&e->crop, &e->source, e->crop_to_image};
    parallel_for(p.crop_size, p.threads, crop_row, &job);
    for (int k = 0; k < 68; k++) {
        float x = landmarks[k][0], y = landmarks[k][1];
        e->landmarks_crop[k][0] = e->image_to_crop[0] * x + e->image_to_crop[1] * y + e->image_to_crop[2];
        e->landmarks_crop[k][1] = e->image_to_crop[3] * x + e->image_to_crop[4] * y + e->image_to_crop[5];
    }
    mesh_source_points((const float(*)[2])e->landmarks_crop, p.crop_size, e->mesh_source);
    for (int i = 0; i < MESH_POINT_COUNT; i++)
        affine_apply(e->crop_to_image, e->mesh_source[i][0], e->mesh_source[i][1], &e->mesh_source_image[i][0],
                     &e->mesh_source_image[i][1]);
    for (int k = 0; k < 68; k++) { /* the landmarks themselves, exactly */
        e->landmarks_image[k][0] = landmarks[k][0];
        e->landmarks_image[k][1] = landmarks[k][1];
        e->mesh_source_image[k][0] = landmarks[k][0];
        e->mesh_source_image[k][1] = landmarks[k][1];
    }
    e->out_width = p.paste_back ? even_w : p.crop_size;
    e->out_height = p.paste_back ? even_h : p.crop_size;
    *out = e;
    return VV_OK;
}

void warp_engine_free(warp_engine *engine) {
    if (!engine) return;
    image_free(&engine->source);
    image_free(&engine->crop);
    free(engine);
}

void warp_engine_output_size(const warp_engine *engine, int *width, int *height) {
    *width = engine->out_width;
    *height = engine->out_height;
}

const float (*warp_engine_crop_landmarks(const warp_engine *engine))[2] {
    return (const float(*)[2])engine->landmarks_crop;
}

void warp_engine_transforms(const warp_engine *engine, float crop_to_image[6], float image_to_crop[6]) {
    if (crop_to_image) memcpy(crop_to_image, engine->crop_to_image, 6 * sizeof(float));
    if (image_to_crop) memcpy(image_to_crop, engine->image_to_crop, 6 * sizeof(float));
}

/* Keeps the source's eyelids: each target eye is the source eye moved by the similarity
 * of its corners. */
static void eyes_keep_source(const float source[68][2], float target[68][2]) {
    for (int eye = 0; eye < 2; eye++) {
        int first = 36 + 6 * eye, corners[2] = {first, first + 3};
        float sim[4];
        similarity_fit(source, (const float(*)[2])target, corners, 2, sim);
        for (int k = first; k < first + 6; k++) similarity_apply(sim, source[k][0], source[k][1], &target[k][0], &target[k][1]);
    }
}

vv_status warp_engine_render(warp_engine *e, const float target[68][2], const vv_image *driver_frame,
                             const float driver_points[68][2], vv_image *out, float *mouth_strength) {
    float t[68][2];
    const float *m = e->image_to_crop;
    for (int k = 0; k < 68; k++) {
        float x = target[k][0], y = target[k][1];
        if (!isfinite(x) || !isfinite(y)) return vv_fail(VV_ERR_INVALID_ARGUMENT, "warp: target landmark %d is not finite", k);
        t[k][0] = m[0] * x + m[1] * y + m[2];
        t[k][1] = m[3] * x + m[4] * y + m[5];
    }
    if (!e->params.eyes) eyes_keep_source((const float(*)[2])e->landmarks_crop, t);
    /* The mesh moves in crop coordinates (its layout is in face units); the pixels are
     * then warped either in the crop (--crop) or straight in the full-resolution portrait:
     * one resampling, at the portrait's own resolution, and no seam, since the crop
     * border is pinned and everything outside it is copied untouched. */
    float mesh_target[MESH_POINT_COUNT][2];
    mesh_target_points_damped((const float(*)[2])e->mesh_source, (const float(*)[2])t, &e->params.motion, e->params.still,
                              mesh_target);
    if (out->width != e->out_width || out->height != e->out_height || out->channels != 3 || !out->data) {
        image_free(out);
        vv_status s = image_create(out, e->out_width, e->out_height, 3);
        if (s != VV_OK) return s;
    }
    float strength = 0;
    if (!e->params.paste_back) {
        warp_piecewise_affine(out, &e->crop, (const float(*)[2])e->mesh_source, (const float(*)[2])mesh_target,
                              mesh_triangles(), mesh_triangle_count(), NULL, e->params.threads);
        if (e->params.mouth_fill)
            strength = warp_mouth_fill(out, NULL, &e->crop, (const float(*)[2])e->landmarks_crop,
                                       (const float(*)[2])mesh_target, driver_frame, driver_points);
    } else {
        float mesh_target_image[MESH_POINT_COUNT][2];
        for (int i = 0; i < MESH_POINT_COUNT; i++)
            affine_apply(e->crop_to_image, mesh_target[i][0], mesh_target[i][1], &mesh_target_image[i][0],
                         &mesh_target_image[i][1]);
        for (int i = MESH_BORDER_FIRST; i < MESH_POINT_COUNT; i++) { /* pinned: exactly the source's */
            mesh_target_image[i][0] = e->mesh_source_image[i][0];
            mesh_target_image[i][1] = e->mesh_source_image[i][1];
        }
        warp_piecewise_affine(out, &e->source, (const float(*)[2])e->mesh_source_image,
                              (const float(*)[2])mesh_target_image, mesh_triangles(), mesh_triangle_count(), NULL,
                              e->params.threads);
        if (e->params.mouth_fill)
            strength = warp_mouth_fill(out, NULL, &e->source, (const float(*)[2])e->landmarks_image,
                                       (const float(*)[2])mesh_target_image, driver_frame, driver_points);
    }
    if (mouth_strength) *mouth_strength = strength;
    return VV_OK;
}
