/* nn/ops_flow: bilinear resampling of an NCHW image by a per-pixel displacement field
 * (nn/ops.h), and its gradient with respect to both the image and the field.
 *
 * Output pixel (x, y) reads the input at (x + dx, y + dy), the position clamped to the
 * image (the border pixels repeat); a clamped coordinate does not move with its
 * displacement, so its gradient is 0 there. */
#include "nn/ops.h"

/* One axis: position p + d clamped to [0, size - 1] -> cells lo, lo + 1 (or lo alone when
 * size is 1), weight t on the upper one; *moves is 0 when the position was clamped. */
static inline void flow_axis(int p, float d, int size, int *lo, int *hi, float *t, float *moves) {
    float s = (float)p + d;
    *moves = 1.0f;
    if (size < 2) {
        *lo = *hi = 0, *t = 0.0f, *moves = 0.0f;
        return;
    }
    if (!(s > 0.0f)) s = 0.0f, *moves = 0.0f; /* also NaN */
    if (s >= (float)(size - 1)) s = (float)(size - 1), *moves = 0.0f;
    int i = (int)s;
    if (i > size - 2) i = size - 2;
    *lo = i, *hi = i + 1, *t = s - (float)i;
}

/* The four texels output pixel i = (x, y) reads (p[0] top left, p[1] top right, p[2]
 * bottom left, p[3] bottom right), its weights a (across) and b (down), and whether each
 * axis moves with the displacement (mx, my). */
static inline void flow_cell(int x, int y, float dx, float dy, int W, int H, size_t p[4], float *a, float *b, float *mx,
                             float *my) {
    int x0, x1, y0, y1;
    flow_axis(x, dx, W, &x0, &x1, a, mx);
    flow_axis(y, dy, H, &y0, &y1, b, my);
    p[0] = (size_t)y0 * W + x0, p[1] = (size_t)y0 * W + x1;
    p[2] = (size_t)y1 * W + x0, p[3] = (size_t)y1 * W + x1;
}

void flow_sample_nchw_forward(float *restrict out, const float *restrict in, const float *restrict flow, int N,
                              int C, int H, int W) {
    size_t plane = (size_t)H * W;
    for (int n = 0; n < N; n++) {
        const float *fx = flow + (size_t)n * 2 * plane, *fy = fx + plane;
        const float *src = in + (size_t)n * C * plane;
        float *dst = out + (size_t)n * C * plane;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = (size_t)y * W + x, p[4];
                float a, b, mx, my;
                flow_cell(x, y, fx[i], fy[i], W, H, p, &a, &b, &mx, &my);
                size_t p00 = p[0], p01 = p[1], p10 = p[2], p11 = p[3];
                for (int c = 0; c < C; c++) {
                    const float *s = src + c * plane;
                    dst[c * plane + i] = (1.0f - b) * ((1.0f - a) * s[p00] + a * s[p01]) +
                                         b * ((1.0f - a) * s[p10] + a * s[p11]);
                }
            }
    }
}

void flow_sample_nchw_backward(float *restrict d_in, float *restrict d_flow, const float *restrict d_out,
                               const float *restrict in, const float *restrict flow, int N, int C, int H, int W) {
    size_t plane = (size_t)H * W;
    for (int n = 0; n < N; n++) {
        const float *fx = flow + (size_t)n * 2 * plane, *fy = fx + plane;
        const float *src = in + (size_t)n * C * plane, *g = d_out + (size_t)n * C * plane;
        float *gin = d_in ? d_in + (size_t)n * C * plane : NULL;
        float *gfx = d_flow ? d_flow + (size_t)n * 2 * plane : NULL, *gfy = gfx ? gfx + plane : NULL;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = (size_t)y * W + x, p[4];
                float a, b, mx, my;
                flow_cell(x, y, fx[i], fy[i], W, H, p, &a, &b, &mx, &my);
                size_t p00 = p[0], p01 = p[1], p10 = p[2], p11 = p[3];
                float sx = 0.0f, sy = 0.0f;
                for (int c = 0; c < C; c++) {
                    float d = g[c * plane + i];
                    if (gin) {
                        float *t = gin + c * plane;
                        t[p00] += d * (1.0f - a) * (1.0f - b);
                        t[p01] += d * a * (1.0f - b);
                        t[p10] += d * (1.0f - a) * b;
                        t[p11] += d * a * b;
                    }
                    const float *s = src + c * plane;
                    sx += d * ((1.0f - b) * (s[p01] - s[p00]) + b * (s[p11] - s[p10]));
                    sy += d * ((1.0f - a) * (s[p10] - s[p00]) + a * (s[p11] - s[p01]));
                }
                if (gfx) gfx[i] += mx * sx, gfy[i] += my * sy;
            }
    }
}
