/* nn/layers_basic: NCHW elementwise, normalisation, pooling, resampling and loss ops with
 * their backward passes.  Reductions accumulate in double so gradients stay exact enough
 * for finite-difference checks on large planes. */
#include "nn/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- Activations ---- */

void relu_backward(float *din, const float *dout, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += in[i] > 0.0f ? dout[i] : 0.0f;
}

void leaky_relu_backward(float *din, const float *dout, const float *in, float slope, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += in[i] > 0.0f ? dout[i] : slope * dout[i];
}

void tanh_backward(float *din, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void sigmoid_backward(float *din, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * out[i] * (1.0f - out[i]);
}

void prelu_nchw_forward(float *out, const float *in, const float *alpha, int N, int C, int HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t base = ((size_t)n * C + c) * HW;
            float a = alpha[c];
            for (int i = 0; i < HW; i++) {
                float x = in[base + i];
                out[base + i] = x >= 0.0f ? x : a * x;
            }
        }
}

void prelu_nchw_backward(float *din, float *dalpha, const float *dout, const float *in,
                         const float *alpha, int N, int C, int HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t base = ((size_t)n * C + c) * HW;
            float a = alpha[c];
            double da = 0.0;
            for (int i = 0; i < HW; i++) {
                float x = in[base + i], g = dout[base + i];
                if (x > 0.0f) { if (din) din[base + i] += g; }
                else {
                    if (din) din[base + i] += a * g;
                    da += (double)g * x;
                }
            }
            if (dalpha) dalpha[c] += (float)da;
        }
}

/* ---- Instance norm and AdaIN ---- */

/* Planes are independent: the norm ops split them over base's pool in chunks of at least
 * ~64K floats (below that waking the pool costs more than it saves), two chunks per
 * thread, as many threads as OpenBLAS uses (nn_blas_threads sets the training core's
 * threads: OpenBLAS's, oneDNN's and these). */
typedef void (*plane_range_fn)(void *ctx, size_t first, size_t last);
typedef struct plane_job {
    plane_range_fn fn;
    void *ctx;
    size_t planes;
    int chunks;
} plane_job;

static void plane_chunk(void *ctx, int index) {
    const plane_job *j = ctx;
    size_t first = j->planes * (size_t)index / (size_t)j->chunks;
    size_t last = j->planes * (size_t)(index + 1) / (size_t)j->chunks;
    if (last > first) j->fn(j->ctx, first, last);
}

static void for_planes(size_t planes, int HW, plane_range_fn fn, void *ctx) {
    int threads = openblas_get_num_threads();
    if (threads < 1) threads = 1;
    size_t total = planes * (size_t)HW, chunks = total / (64u * 1024u);
    if (chunks > (size_t)threads * 2) chunks = (size_t)threads * 2;
    if (chunks > planes) chunks = planes;
    if (threads == 1 || chunks < 2) {
        fn(ctx, 0, planes);
        return;
    }
    plane_job j = {fn, ctx, planes, (int)chunks};
    parallel_for(j.chunks, threads, plane_chunk, &j);
}

/* Sums in double over 16 independent lanes (vectorisable: each lane adds in order, so no
 * reassociation is needed), then the lanes; exact enough for finite-difference checks. */
#define LANES 16

/* Mean and 1/sqrt(biased variance + eps) of one plane (two passes, in double). */
static void plane_stats(const float *x, int HW, float eps, float *mean, float *rstd) {
    double lane[LANES] = {0};
    int i = 0;
    for (; i + LANES <= HW; i += LANES)
        for (int l = 0; l < LANES; l++) lane[l] += x[i + l];
    double sum = 0.0;
    for (; i < HW; i++) sum += x[i];
    for (int l = 0; l < LANES; l++) sum += lane[l];
    double m = sum / HW;
    float mf = (float)m;
    double sq_lane[LANES] = {0}, sq = 0.0;
    for (i = 0; i + LANES <= HW; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[i + l] - mf; /* exact enough: |d| carries float's relative error */
            sq_lane[l] += (double)d * d;
        }
    for (; i < HW; i++) { double d = x[i] - mf; sq += d * d; }
    for (int l = 0; l < LANES; l++) sq += sq_lane[l];
    /* the variance about mf, corrected to the one about m */
    double shift = (double)mf - m;
    double var = sq / HW - shift * shift;
    if (var < 0.0) var = 0.0;
    *mean = mf;
    *rstd = (float)(1.0 / sqrt(var + eps));
}

typedef struct norm_job {
    float *out, *mean, *rstd, *din, *dscale, *dbias;
    const float *in, *gamma, *beta, *scale, *bias, *dout, *relu_out;
    const float *cmean, *crstd;
    int C, HW;
    float eps;
} norm_job;

static void instance_norm_forward_range(void *ctx, size_t first, size_t last) {
    const norm_job *j = ctx;
    int C = j->C, HW = j->HW;
    for (size_t plane = first; plane < last; plane++) {
        size_t base = plane * HW;
        int c = (int)(plane % (size_t)C);
        plane_stats(j->in + base, HW, j->eps, &j->mean[plane], &j->rstd[plane]);
        float scale = j->rstd[plane] * (j->gamma ? j->gamma[c] : 1.0f);
        float shift = (j->beta ? j->beta[c] : 0.0f) - j->mean[plane] * scale;
        const float *x = j->in + base;
        float *y = j->out + base;
        for (int i = 0; i < HW; i++) y[i] = x[i] * scale + shift;
    }
}

void instance_norm_forward(float *out, float *mean, float *rstd, const float *in,
                           const float *gamma, const float *beta, int N, int C, int HW,
                           float eps) {
    norm_job j = {.out = out, .mean = mean, .rstd = rstd, .in = in, .gamma = gamma, .beta = beta,
                  .C = C, .HW = HW, .eps = eps};
    for_planes((size_t)N * C, HW, instance_norm_forward_range, &j);
}

/* din += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * scale, where dout
 * counts only where relu_out > 0 when relu_out is given (a ReLU after the norm); returns
 * sum(dout * xhat) and sum(dout) for the scale and bias gradients. */
static inline __attribute__((always_inline)) void
plane_norm_backward_impl(float *din, const float *dout, const float *relu_out, const float *x, float mean,
                         float rstd, float scale, int HW, double *sum_dy_xhat, double *sum_dy, bool masked) {
#define GRAD(i) (masked ? dout[i] * (float)(relu_out[i] > 0.0f) : dout[i])
    double lane_dy[LANES] = {0}, lane_dyx[LANES] = {0}, s_dy = 0.0, s_dyx = 0.0;
    int i = 0;
    for (; i + LANES <= HW; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float g = GRAD(i + l), xhat = (x[i + l] - mean) * rstd;
            lane_dy[l] += g;
            lane_dyx[l] += (double)g * xhat;
        }
    for (; i < HW; i++) {
        float g = GRAD(i), xhat = (x[i] - mean) * rstd;
        s_dy += g;
        s_dyx += (double)g * xhat;
    }
    for (int l = 0; l < LANES; l++) s_dy += lane_dy[l], s_dyx += lane_dyx[l];
    *sum_dy = s_dy;
    *sum_dy_xhat = s_dyx;
    if (!din) return;
    float mean_g = (float)(scale * s_dy / HW), mean_g_xhat = (float)(scale * s_dyx / HW);
    for (i = 0; i < HW; i++) {
        float g = GRAD(i), xhat = (x[i] - mean) * rstd;
        din[i] += rstd * (scale * g - mean_g - xhat * mean_g_xhat);
    }
#undef GRAD
}

static void plane_norm_backward(float *din, const float *dout, const float *relu_out, const float *x,
                                float mean, float rstd, float scale, int HW, double *sum_dy_xhat,
                                double *sum_dy) {
    if (relu_out)
        plane_norm_backward_impl(din, dout, relu_out, x, mean, rstd, scale, HW, sum_dy_xhat, sum_dy, true);
    else
        plane_norm_backward_impl(din, dout, NULL, x, mean, rstd, scale, HW, sum_dy_xhat, sum_dy, false);
}

static void instance_norm_backward_range(void *ctx, size_t first, size_t last) {
    const norm_job *j = ctx;
    for (size_t plane = first; plane < last; plane++) {
        size_t base = plane * j->HW;
        int c = (int)(plane % (size_t)j->C);
        double s_dy_xhat, s_dy;
        plane_norm_backward(j->din ? j->din + base : NULL, j->dout + base, NULL, j->in + base, j->cmean[plane],
                            j->crstd[plane], j->gamma ? j->gamma[c] : 1.0f, j->HW, &s_dy_xhat, &s_dy);
        /* per-plane sums; the per-channel gradients are added in order below */
        if (j->dscale) j->dscale[plane] = (float)s_dy_xhat;
        if (j->dbias) j->dbias[plane] = (float)s_dy;
    }
}

void instance_norm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                            const float *in, const float *mean, const float *rstd,
                            const float *gamma, int N, int C, int HW) {
    size_t planes = (size_t)N * C;
    float *sums = (dgamma || dbeta) ? mem_alloc_aligned(2 * planes * sizeof(float)) : NULL;
    norm_job j = {.din = din, .dout = dout, .in = in, .cmean = mean, .crstd = rstd, .gamma = gamma,
                  .C = C, .HW = HW, .dscale = sums, .dbias = sums ? sums + planes : NULL};
    if (!sums && (dgamma || dbeta)) { /* no memory for the sums: one plane at a time */
        for (size_t plane = 0; plane < planes; plane++) {
            size_t base = plane * HW;
            int c = (int)(plane % (size_t)C);
            double s_dy_xhat, s_dy;
            plane_norm_backward(din ? din + base : NULL, dout + base, NULL, in + base, mean[plane], rstd[plane],
                                gamma ? gamma[c] : 1.0f, HW, &s_dy_xhat, &s_dy);
            if (dgamma) dgamma[c] += (float)s_dy_xhat;
            if (dbeta) dbeta[c] += (float)s_dy;
        }
        return;
    }
    for_planes(planes, HW, instance_norm_backward_range, &j);
    if (sums) {
        for (size_t plane = 0; plane < planes; plane++) {
            int c = (int)(plane % (size_t)C);
            if (dgamma) dgamma[c] += sums[plane];
            if (dbeta) dbeta[c] += sums[planes + plane];
        }
        mem_free_aligned(sums);
    }
}

static void adain_forward_range(void *ctx, size_t first, size_t last) {
    const norm_job *j = ctx;
    int HW = j->HW;
    for (size_t plane = first; plane < last; plane++) {
        size_t base = plane * HW;
        plane_stats(j->in + base, HW, j->eps, &j->mean[plane], &j->rstd[plane]);
        float a = j->rstd[plane] * j->scale[plane], b = j->bias[plane] - j->mean[plane] * a;
        const float *x = j->in + base;
        float *y = j->out + base;
        if (j->relu_out) /* flag only: the fused ReLU */
            for (int i = 0; i < HW; i++) {
                float v = x[i] * a + b;
                y[i] = v > 0.0f ? v : 0.0f;
            }
        else
            for (int i = 0; i < HW; i++) y[i] = x[i] * a + b;
    }
}

void adain_forward(float *out, float *mean, float *rstd, const float *in, const float *scale,
                   const float *bias, int N, int C, int HW, float eps) {
    norm_job j = {.out = out, .mean = mean, .rstd = rstd, .in = in, .scale = scale, .bias = bias,
                  .C = C, .HW = HW, .eps = eps};
    for_planes((size_t)N * C, HW, adain_forward_range, &j);
}

void adain_relu_forward(float *out, float *mean, float *rstd, const float *in, const float *scale,
                        const float *bias, int N, int C, int HW, float eps) {
    norm_job j = {.out = out, .mean = mean, .rstd = rstd, .in = in, .scale = scale, .bias = bias,
                  .relu_out = out, .C = C, .HW = HW, .eps = eps};
    for_planes((size_t)N * C, HW, adain_forward_range, &j);
}

static void adain_backward_range(void *ctx, size_t first, size_t last) {
    const norm_job *j = ctx;
    for (size_t plane = first; plane < last; plane++) {
        size_t base = plane * j->HW;
        double s_dy_xhat, s_dy;
        plane_norm_backward(j->din ? j->din + base : NULL, j->dout + base, j->relu_out ? j->relu_out + base : NULL,
                            j->in + base, j->cmean[plane], j->crstd[plane], j->scale[plane], j->HW, &s_dy_xhat,
                            &s_dy);
        if (j->dscale) j->dscale[plane] += (float)s_dy_xhat;
        if (j->dbias) j->dbias[plane] += (float)s_dy;
    }
}

void adain_backward(float *din, float *dscale, float *dbias, const float *dout,
                    const float *in, const float *mean, const float *rstd, const float *scale,
                    int N, int C, int HW) {
    norm_job j = {.din = din, .dscale = dscale, .dbias = dbias, .dout = dout, .in = in, .cmean = mean,
                  .crstd = rstd, .scale = scale, .C = C, .HW = HW};
    for_planes((size_t)N * C, HW, adain_backward_range, &j);
}

void adain_relu_backward(float *din, float *dscale, float *dbias, const float *dout, const float *out,
                         const float *in, const float *mean, const float *rstd, const float *scale,
                         int N, int C, int HW) {
    norm_job j = {.din = din, .dscale = dscale, .dbias = dbias, .dout = dout, .relu_out = out, .in = in,
                  .cmean = mean, .crstd = rstd, .scale = scale, .C = C, .HW = HW};
    for_planes((size_t)N * C, HW, adain_backward_range, &j);
}

/* ---- Spectral norm ---- */

static void vector_normalise(float *x, int n, float eps) {
    double sq = 0.0;
    for (int i = 0; i < n; i++) sq += (double)x[i] * x[i];
    double norm = sqrt(sq);
    if (norm < eps) norm = eps;
    for (int i = 0; i < n; i++) x[i] = (float)(x[i] / norm);
}

float spectral_norm_forward(float *weight_sn, float *u, float *v, const float *weight,
                            int rows, int cols, int iterations, float eps) {
    for (int it = 0; it < iterations; it++) {
        for (int j = 0; j < cols; j++) v[j] = 0.0f;
        for (int i = 0; i < rows; i++) { /* v = normalise(W^T u) */
            const float *w = weight + (size_t)i * cols;
            for (int j = 0; j < cols; j++) v[j] += w[j] * u[i];
        }
        vector_normalise(v, cols, eps);
        for (int i = 0; i < rows; i++) { /* u = normalise(W v) */
            const float *w = weight + (size_t)i * cols;
            double sum = 0.0;
            for (int j = 0; j < cols; j++) sum += (double)w[j] * v[j];
            u[i] = (float)sum;
        }
        vector_normalise(u, rows, eps);
    }
    double sigma = 0.0;
    for (int i = 0; i < rows; i++) {
        const float *w = weight + (size_t)i * cols;
        double wv = 0.0;
        for (int j = 0; j < cols; j++) wv += (double)w[j] * v[j];
        sigma += u[i] * wv;
    }
    float inv = (float)(1.0 / sigma);
    for (size_t i = 0; i < (size_t)rows * cols; i++) weight_sn[i] = weight[i] * inv;
    return (float)sigma;
}

void spectral_norm_backward(float *dweight, const float *dweight_sn, const float *weight,
                            const float *u, const float *v, float sigma, int rows, int cols) {
    size_t count = (size_t)rows * cols;
    double dot = 0.0;
    for (size_t i = 0; i < count; i++) dot += (double)dweight_sn[i] * weight[i];
    double inv = 1.0 / sigma, coef = dot / ((double)sigma * sigma);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t at = (size_t)i * cols + j;
            dweight[at] += (float)(dweight_sn[at] * inv - coef * u[i] * v[j]);
        }
}

/* ---- Pooling ---- */

void avg_pool2d_forward(float *out, const float *in, int N, int C, int H, int W, int K,
                        int stride, int OH, int OW) {
    float inv = 1.0f / (float)(K * K);
    if (K == 2 && stride == 2) { /* the generator's and discriminator's downsampling: the same sums, vectorisable */
        for (size_t row = 0; row < (size_t)N * C * OH; row++) {
            size_t plane = row / OH, oh = row % OH;
            const float *x0 = in + plane * H * W + 2 * oh * W, *x1 = x0 + W;
            float *y = out + plane * OH * OW + oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                float sum = x0[2 * ow] + x0[2 * ow + 1];
                sum += x1[2 * ow];
                sum += x1[2 * ow + 1];
                y[ow] = sum * inv;
            }
        }
        return;
    }
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        const float *x = in + plane * H * W;
        float *y = out + plane * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float sum = 0.0f;
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++)
                        sum += x[(size_t)(oh * stride + kh) * W + ow * stride + kw];
                y[(size_t)oh * OW + ow] = sum * inv;
            }
    }
}

void avg_pool2d_backward(float *din, const float *dout, int N, int C, int H, int W, int K,
                         int stride, int OH, int OW) {
    float inv = 1.0f / (float)(K * K);
    if (K == 2 && stride == 2) {
        for (size_t row = 0; row < (size_t)N * C * OH; row++) {
            size_t plane = row / OH, oh = row % OH;
            float *x0 = din + plane * H * W + 2 * oh * W, *x1 = x0 + W;
            const float *dy = dout + plane * OH * OW + oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                float g = dy[ow] * inv;
                x0[2 * ow] += g;
                x0[2 * ow + 1] += g;
                x1[2 * ow] += g;
                x1[2 * ow + 1] += g;
            }
        }
        return;
    }
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        float *dx = din + plane * H * W;
        const float *dy = dout + plane * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float g = dy[(size_t)oh * OW + ow] * inv;
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++)
                        dx[(size_t)(oh * stride + kh) * W + ow * stride + kw] += g;
            }
    }
}

void max_pool2d_forward(float *out, int32_t *argmax, const float *in, int N, int C, int H,
                        int W, int K, int stride, int pad, int OH, int OW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        const float *x = in + plane * H * W;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float best = -INFINITY;
                int32_t best_at = -1;
                for (int kh = 0; kh < K; kh++) {
                    int ih = oh * stride - pad + kh;
                    if (ih < 0 || ih >= H) continue;
                    for (int kw = 0; kw < K; kw++) {
                        int iw = ow * stride - pad + kw;
                        if (iw < 0 || iw >= W) continue;
                        float value = x[(size_t)ih * W + iw];
                        if (best_at < 0 || value > best) { best = value; best_at = ih * W + iw; }
                    }
                }
                size_t at = plane * OH * OW + (size_t)oh * OW + ow;
                out[at] = best;
                argmax[at] = best_at;
            }
    }
}

void max_pool2d_backward(float *din, const float *dout, const int32_t *argmax, int N, int C,
                         int H, int W, int OH, int OW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++)
        for (size_t i = 0; i < (size_t)OH * OW; i++) {
            size_t at = plane * OH * OW + i;
            if (argmax[at] >= 0) din[plane * H * W + (size_t)argmax[at]] += dout[at];
        }
}

void global_sum_pool_forward(float *out, const float *in, int N, int C, int HW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        double sum = 0.0;
        for (int i = 0; i < HW; i++) sum += in[plane * HW + i];
        out[plane] = (float)sum;
    }
}

void global_sum_pool_backward(float *din, const float *dout, int N, int C, int HW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++)
        for (int i = 0; i < HW; i++) din[plane * HW + i] += dout[plane];
}

void global_mean_pool_forward(float *out, const float *in, int N, int C, int HW) {
    global_sum_pool_forward(out, in, N, C, HW);
    for (size_t plane = 0; plane < (size_t)N * C; plane++) out[plane] /= (float)HW;
}

void global_mean_pool_backward(float *din, const float *dout, int N, int C, int HW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        float g = dout[plane] / (float)HW;
        for (int i = 0; i < HW; i++) din[plane * HW + i] += g;
    }
}

/* ---- Resampling ---- */

void upsample_nearest_forward(float *out, const float *in, int N, int C, int H, int W, int f) {
    int OW = W * f;
    for (size_t plane = 0; plane < (size_t)N * C; plane++)
        for (int oh = 0; oh < H * f; oh++) {
            const float *x = in + plane * H * W + (size_t)(oh / f) * W;
            float *y = out + plane * H * W * f * f + (size_t)oh * OW;
            for (int ow = 0; ow < OW; ow++) y[ow] = x[ow / f];
        }
}

void upsample_nearest_backward(float *din, const float *dout, int N, int C, int H, int W, int f) {
    int OW = W * f;
    for (size_t plane = 0; plane < (size_t)N * C; plane++)
        for (int oh = 0; oh < H * f; oh++) {
            float *dx = din + plane * H * W + (size_t)(oh / f) * W;
            const float *dy = dout + plane * H * W * f * f + (size_t)oh * OW;
            for (int ow = 0; ow < OW; ow++) dx[ow / f] += dy[ow];
        }
}

/* Source index and weight of one output coordinate, align_corners=False. */
static void bilinear_source(int o, int in, int out, int *i0, int *i1, float *lambda) {
    float src = ((float)o + 0.5f) * ((float)in / (float)out) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int lo = (int)src;
    if (lo > in - 1) lo = in - 1;
    *i0 = lo;
    *i1 = lo < in - 1 ? lo + 1 : lo;
    *lambda = src - (float)lo;
}

void upsample_bilinear_forward(float *out, const float *in, int N, int C, int H, int W,
                               int OH, int OW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        const float *x = in + plane * H * W;
        float *y = out + plane * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            float lh;
            bilinear_source(oh, H, OH, &h0, &h1, &lh);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                float lw;
                bilinear_source(ow, W, OW, &w0, &w1, &lw);
                float top = x[(size_t)h0 * W + w0] * (1.0f - lw) + x[(size_t)h0 * W + w1] * lw;
                float bottom = x[(size_t)h1 * W + w0] * (1.0f - lw) + x[(size_t)h1 * W + w1] * lw;
                y[(size_t)oh * OW + ow] = top * (1.0f - lh) + bottom * lh;
            }
        }
    }
}

void upsample_bilinear_backward(float *din, const float *dout, int N, int C, int H, int W,
                                int OH, int OW) {
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        float *dx = din + plane * H * W;
        const float *dy = dout + plane * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            float lh;
            bilinear_source(oh, H, OH, &h0, &h1, &lh);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                float lw;
                bilinear_source(ow, W, OW, &w0, &w1, &lw);
                float g = dy[(size_t)oh * OW + ow];
                dx[(size_t)h0 * W + w0] += g * (1.0f - lh) * (1.0f - lw);
                dx[(size_t)h0 * W + w1] += g * (1.0f - lh) * lw;
                dx[(size_t)h1 * W + w0] += g * lh * (1.0f - lw);
                dx[(size_t)h1 * W + w1] += g * lh * lw;
            }
        }
    }
}

/* ---- Structure ---- */

void add_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void add_backward(float *da, float *db, const float *dout, size_t n) {
    if (da) for (size_t i = 0; i < n; i++) da[i] += dout[i];
    if (db) for (size_t i = 0; i < n; i++) db[i] += dout[i];
}

void concat_channels_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb,
                             int HW) {
    size_t sa = (size_t)Ca * HW, sb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        memcpy(out + n * (sa + sb), a + n * sa, sa * sizeof(float));
        memcpy(out + n * (sa + sb) + sa, b + n * sb, sb * sizeof(float));
    }
}

void concat_channels_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb,
                              int HW) {
    size_t sa = (size_t)Ca * HW, sb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        if (da) add_backward(da + n * sa, NULL, dout + n * (sa + sb), sa);
        if (db) add_backward(db + n * sb, NULL, dout + n * (sa + sb) + sa, sb);
    }
}

/* ---- Losses ---- */

float l1_loss_forward(const float *a, const float *b, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += fabsf(a[i] - b[i]);
    return (float)(sum / (double)n);
}

void l1_loss_backward(float *da, float *db, const float *a, const float *b, size_t n,
                      float dloss) {
    float g = dloss / (float)n;
    for (size_t i = 0; i < n; i++) {
        float d = a[i] - b[i], s = d > 0.0f ? g : d < 0.0f ? -g : 0.0f;
        if (da) da[i] += s;
        if (db) db[i] -= s;
    }
}

float mse_loss_forward(const float *a, const float *b, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) { double d = (double)a[i] - b[i]; sum += d * d; }
    return (float)(sum / (double)n);
}

void mse_loss_backward(float *da, float *db, const float *a, const float *b, size_t n,
                       float dloss) {
    float g = 2.0f * dloss / (float)n;
    for (size_t i = 0; i < n; i++) {
        float d = (a[i] - b[i]) * g;
        if (da) da[i] += d;
        if (db) db[i] -= d;
    }
}

float hinge_d_loss_forward(const float *real, size_t n_real, const float *fake, size_t n_fake) {
    double sr = 0.0, sf = 0.0;
    for (size_t i = 0; i < n_real; i++) sr += real[i] < 1.0f ? 1.0 - real[i] : 0.0;
    for (size_t i = 0; i < n_fake; i++) sf += fake[i] > -1.0f ? 1.0 + fake[i] : 0.0;
    return (float)(sr / (double)n_real + sf / (double)n_fake);
}

void hinge_d_loss_backward(float *dreal, float *dfake, const float *real, size_t n_real,
                           const float *fake, size_t n_fake, float dloss) {
    if (dreal)
        for (size_t i = 0; i < n_real; i++)
            if (real[i] < 1.0f) dreal[i] -= dloss / (float)n_real;
    if (dfake)
        for (size_t i = 0; i < n_fake; i++)
            if (fake[i] > -1.0f) dfake[i] += dloss / (float)n_fake;
}

float hinge_g_loss_forward(const float *fake, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += fake[i];
    return (float)(-sum / (double)n);
}

void hinge_g_loss_backward(float *dfake, size_t n, float dloss) {
    for (size_t i = 0; i < n; i++) dfake[i] -= dloss / (float)n;
}

float feature_matching_loss_forward(const float *const *real, const float *const *fake,
                                    const size_t *sizes, int layers) {
    double sum = 0.0;
    for (int l = 0; l < layers; l++) sum += l1_loss_forward(fake[l], real[l], sizes[l]);
    return (float)sum;
}

void feature_matching_loss_backward(float *const *dfake, const float *const *real,
                                    const float *const *fake, const size_t *sizes, int layers,
                                    float dloss) {
    for (int l = 0; l < layers; l++)
        l1_loss_backward(dfake[l], NULL, fake[l], real[l], sizes[l], dloss);
}
