/* models/fsth_block: spectrally normalised convolutions, the pre-activation residual
 * block every network is made of, and the self-attention wrapper. */
#include "models/models.h"

#include "nn/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Spectrally normalised convolution ---- */

vv_status sn_conv_declare(sn_conv *conv, param_store *ps, const char *name, int in_channels,
                          int out_channels, int kernel) {
    memset(conv, 0, sizeof *conv);
    conv->in_channels = in_channels, conv->out_channels = out_channels, conv->kernel = kernel;
    char full[PARAM_NAME_MAX];
    int wshape[4] = {out_channels, in_channels, kernel, kernel}, oshape[1] = {out_channels};
    int vshape[1] = {in_channels * kernel * kernel};
    vv_status status;
    snprintf(full, sizeof full, "%s.weight", name);
    if ((status = param_store_add(ps, full, 4, wshape, &conv->weight)) != VV_OK) return status;
    snprintf(full, sizeof full, "%s.bias", name);
    if ((status = param_store_add(ps, full, 1, oshape, &conv->bias)) != VV_OK) return status;
    snprintf(full, sizeof full, "%s.weight_u", name);
    if ((status = param_store_add(ps, full, 1, oshape, &conv->u)) != VV_OK) return status;
    snprintf(full, sizeof full, "%s.weight_v", name);
    if ((status = param_store_add(ps, full, 1, vshape, &conv->v)) != VV_OK) return status;
    size_t n = (size_t)out_channels * in_channels * kernel * kernel;
    conv->weight_sn = mem_alloc_aligned(n * sizeof(float));
    conv->dweight_sn = mem_alloc_aligned(n * sizeof(float));
    if (!conv->weight_sn || !conv->dweight_sn)
        return vv_fail(VV_ERR_NO_MEMORY, "sn_conv_declare: no memory for %s", name);
    return VV_OK;
}

static void unit_random(float *x, int n, uint64_t *rng, param_store *ps, int index) {
    param_fill_uniform(ps, index, 1.0f, rng);
    double norm = 0.0;
    for (int i = 0; i < n; i++) norm += (double)x[i] * x[i];
    float inv = (float)(1.0 / (sqrt(norm) + 1e-12));
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void sn_conv_init(sn_conv *conv, param_store *ps, uint64_t *rng) {
    int fan_in = conv->in_channels * conv->kernel * conv->kernel;
    param_fill_uniform(ps, conv->weight, 1.0f / sqrtf((float)fan_in), rng);
    memset(param_data(ps, conv->bias), 0, (size_t)conv->out_channels * sizeof(float));
    unit_random(param_data(ps, conv->u), conv->out_channels, rng, ps, conv->u);
    unit_random(param_data(ps, conv->v), fan_in, rng, ps, conv->v);
    /* A converged first estimate of sigma, so early steps see the true normalisation. */
    spectral_norm_forward(conv->weight_sn, param_data(ps, conv->u), param_data(ps, conv->v),
                          param_data(ps, conv->weight), conv->out_channels, fan_in, 20, 1e-12f);
}

vv_status sn_conv_prepare(sn_conv *conv, param_store *ps, bool training) {
    int cols = conv->in_channels * conv->kernel * conv->kernel;
    conv->sigma = spectral_norm_forward(conv->weight_sn, param_data(ps, conv->u),
                                        param_data(ps, conv->v), param_data(ps, conv->weight),
                                        conv->out_channels, cols, training ? 1 : 0, 1e-12f);
    if (!(conv->sigma > 0.0f) || !isfinite(conv->sigma))
        return vv_fail(VV_ERR_MODEL, "spectral norm: weight '%s' has sigma %g",
                       ps->entries[conv->weight].name, (double)conv->sigma);
    return VV_OK;
}

void sn_conv_free(sn_conv *conv) {
    mem_free_aligned(conv->weight_sn);
    mem_free_aligned(conv->dweight_sn);
    conv->weight_sn = conv->dweight_sn = NULL;
}

static bool sn_conv_shape(const sn_conv *conv, conv2d_shape *s, int N, int H, int W) {
    return conv2d_shape_init(s, N, conv->in_channels, H, W, conv->out_channels, conv->kernel,
                             conv->kernel, 1, conv->kernel / 2, 1);
}

vv_status sn_conv_forward(const sn_conv *conv, const param_store *ps, float *out,
                          const float *in, int N, int H, int W) {
    conv2d_shape s;
    if (!sn_conv_shape(conv, &s, N, H, W))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "sn_conv_forward: bad size %dx%dx%d", N, H, W);
    return conv2d_forward(out, in, conv->weight_sn, param_data(ps, conv->bias), &s);
}

vv_status sn_conv_backward(sn_conv *conv, param_store *ps, float *din, const float *dout,
                           const float *in, int N, int H, int W, bool param_grads) {
    conv2d_shape s;
    if (!sn_conv_shape(conv, &s, N, H, W))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "sn_conv_backward: bad size %dx%dx%d", N, H, W);
    int cols = conv->in_channels * conv->kernel * conv->kernel;
    size_t n = (size_t)conv->out_channels * cols;
    if (!din && !param_grads) return VV_OK;
    if (param_grads) memset(conv->dweight_sn, 0, n * sizeof(float));
    vv_status status = conv2d_backward(din, param_grads ? conv->dweight_sn : NULL,
                                       param_grads ? param_grad(ps, conv->bias) : NULL, dout,
                                       in, conv->weight_sn, &s);
    if (status != VV_OK) return status;
    if (param_grads)
        spectral_norm_backward(param_grad(ps, conv->weight), conv->dweight_sn,
                               param_data(ps, conv->weight), param_data(ps, conv->u),
                               param_data(ps, conv->v), conv->sigma, conv->out_channels, cols);
    return VV_OK;
}

/* ---- Residual block ---- */

vv_status fsth_block_declare(fsth_block *b, param_store *ps, const char *name, fsth_norm norm,
                             fsth_resample resample, bool first, int in_channels,
                             int out_channels, int H, int W, int psi_offset) {
    memset(b, 0, sizeof *b);
    if (in_channels < 1 || out_channels < 1 || H < 1 || W < 1 ||
        (resample == FSTH_DOWN && (H % 2 || W % 2)))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "block %s: bad size %dx%dx%d", name, in_channels, H, W);
    b->norm = norm, b->resample = resample, b->first = first;
    b->in_channels = in_channels, b->out_channels = out_channels, b->H = H, b->W = W;
    b->conv_H = resample == FSTH_UP ? 2 * H : H;
    b->conv_W = resample == FSTH_UP ? 2 * W : W;
    b->out_H = resample == FSTH_DOWN ? H / 2 : b->conv_H;
    b->out_W = resample == FSTH_DOWN ? W / 2 : b->conv_W;
    b->psi_offset = psi_offset;
    b->has_skip = in_channels != out_channels || resample != FSTH_SAME;
    char full[PARAM_NAME_MAX];
    vv_status status;
    snprintf(full, sizeof full, "%s.conv1", name);
    if ((status = sn_conv_declare(&b->conv1, ps, full, in_channels, out_channels, 3)) != VV_OK) return status;
    snprintf(full, sizeof full, "%s.conv2", name);
    if ((status = sn_conv_declare(&b->conv2, ps, full, out_channels, out_channels, 3)) != VV_OK) return status;
    if (b->has_skip) {
        snprintf(full, sizeof full, "%s.skip", name);
        if ((status = sn_conv_declare(&b->skip, ps, full, in_channels, out_channels, 1)) != VV_OK) return status;
    }
    return VV_OK;
}

void fsth_block_init(fsth_block *b, param_store *ps, uint64_t *rng) {
    sn_conv_init(&b->conv1, ps, rng);
    sn_conv_init(&b->conv2, ps, rng);
    if (b->has_skip) sn_conv_init(&b->skip, ps, rng);
}

vv_status fsth_block_prepare(fsth_block *b, param_store *ps, bool training) {
    vv_status status = sn_conv_prepare(&b->conv1, ps, training);
    if (status == VV_OK) status = sn_conv_prepare(&b->conv2, ps, training);
    if (status == VV_OK && b->has_skip) status = sn_conv_prepare(&b->skip, ps, training);
    return status;
}

int fsth_block_psi_size(const fsth_block *b) {
    return b->norm == FSTH_NORM_ADAIN ? 2 * (b->in_channels + b->out_channels) : 0;
}

vv_status fsth_block_reserve(fsth_block *b, int N) {
    if (N <= b->capacity) return VV_OK;
    mem_free_aligned(b->cache);
    b->cache = NULL;
    b->capacity = 0;
    size_t cin = (size_t)N * b->in_channels, cout = (size_t)N * b->out_channels;
    size_t in_plane = (size_t)b->H * b->W, conv_plane = (size_t)b->conv_H * b->conv_W;
    size_t out_plane = (size_t)b->out_H * b->out_W;
    size_t sizes[20], k = 0;
    sizes[k++] = cin * in_plane;    /* r1 */
    sizes[k++] = cin * conv_plane;  /* u1 */
    sizes[k++] = cout * conv_plane; /* c1 */
    sizes[k++] = cout * conv_plane; /* r2 */
    sizes[k++] = cout * conv_plane; /* c2 */
    sizes[k++] = cin * out_plane;   /* s_in */
    sizes[k++] = cout * out_plane;  /* out */
    sizes[k++] = cin;               /* mean1 */
    sizes[k++] = cin;               /* rstd1 */
    sizes[k++] = cout;              /* mean2 */
    sizes[k++] = cout;              /* rstd2 */
    sizes[k++] = 2 * (cin + cout);  /* s1 b1 s2 b2 */
    sizes[k++] = 2 * (cin + cout);  /* their gradients */
    sizes[k++] = cin * conv_plane;  /* t_in */
    sizes[k++] = cin * conv_plane;  /* t_in2 */
    sizes[k++] = cout * conv_plane; /* t_conv_a */
    sizes[k++] = cout * conv_plane; /* t_conv_b */
    sizes[k++] = cout * out_plane;  /* t_out */
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        size_t padded = (sizes[i] + 15) / 16 * 16;
        if (!size_add(total, padded, &total))
            return vv_fail(VV_ERR_TOO_LARGE, "block cache for batch %d overflows", N);
    }
    size_t bytes;
    if (!size_mul(total, sizeof(float), &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "block cache for batch %d overflows", N);
    b->cache = mem_alloc_aligned(bytes);
    if (!b->cache) return vv_fail(VV_ERR_NO_MEMORY, "block cache: no memory for %zu bytes", bytes);
    memset(b->cache, 0, bytes);
    float *p = b->cache, *slots[20];
    for (size_t i = 0; i < k; i++) slots[i] = p, p += (sizes[i] + 15) / 16 * 16;
    b->r1 = slots[0], b->u1 = slots[1], b->c1 = slots[2], b->r2 = slots[3], b->c2 = slots[4];
    b->s_in = slots[5], b->out = slots[6];
    b->mean1 = slots[7], b->rstd1 = slots[8], b->mean2 = slots[9], b->rstd2 = slots[10];
    b->s1 = slots[11];
    b->b1 = b->s1 + cin, b->s2 = b->b1 + cin, b->b2 = b->s2 + cout;
    b->t_in = slots[13], b->t_conv_a = slots[15], b->t_conv_b = slots[16], b->t_out = slots[17];
    b->capacity = N;
    return VV_OK;
}

void fsth_block_free(fsth_block *b) {
    sn_conv_free(&b->conv1);
    sn_conv_free(&b->conv2);
    if (b->has_skip) sn_conv_free(&b->skip);
    mem_free_aligned(b->cache);
    b->cache = NULL;
    b->capacity = 0;
}

/* The gradient slots sit right after s1 b1 s2 b2 in the cache. */
static float *block_dgather(const fsth_block *b) {
    size_t n = 2 * ((size_t)b->capacity * (b->in_channels + b->out_channels));
    return b->s1 + (n + 15) / 16 * 16;
}
static float *block_t_in2(const fsth_block *b) {
    size_t n = (size_t)b->capacity * b->in_channels * b->conv_H * b->conv_W;
    return b->t_in + (n + 15) / 16 * 16;
}

static void gather_affine(float *scale, float *bias, const float *psi, int stride, int offset,
                          int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *row = psi + (size_t)n * stride + offset;
        for (int c = 0; c < C; c++) {
            scale[(size_t)n * C + c] = 1.0f + row[c];
            bias[(size_t)n * C + c] = row[C + c];
        }
    }
}

static void scatter_affine(float *dpsi, const float *dscale, const float *dbias, int stride,
                           int offset, int N, int C) {
    for (int n = 0; n < N; n++) {
        float *row = dpsi + (size_t)n * stride + offset;
        for (int c = 0; c < C; c++) {
            row[c] += dscale[(size_t)n * C + c];
            row[C + c] += dbias[(size_t)n * C + c];
        }
    }
}

/* out = relu(norm(in)) with statistics saved; C channels of HW. */
static void norm_relu_forward(const fsth_block *b, float *out, float *mean, float *rstd,
                              const float *in, const float *scale, const float *bias, int N,
                              int C, int HW) {
    size_t n = (size_t)N * C * HW;
    if (b->norm == FSTH_NORM_INSTANCE)
        instance_norm_forward(out, mean, rstd, in, NULL, NULL, N, C, HW, 1e-5f);
    else if (b->norm == FSTH_NORM_ADAIN)
        adain_forward(out, mean, rstd, in, scale, bias, N, C, HW, 1e-5f);
    else
        memcpy(out, in, n * sizeof(float));
    relu_forward(out, out, n);
}

vv_status fsth_block_forward(fsth_block *b, const param_store *ps, const float *x,
                             const float *psi, int psi_stride, int N) {
    vv_status status = fsth_block_reserve(b, N);
    if (status != VV_OK) return status;
    int cin = b->in_channels, cout = b->out_channels;
    int in_plane = b->H * b->W, conv_plane = b->conv_H * b->conv_W;
    if (b->norm == FSTH_NORM_ADAIN) {
        gather_affine(b->s1, b->b1, psi, psi_stride, b->psi_offset, N, cin);
        gather_affine(b->s2, b->b2, psi, psi_stride, b->psi_offset + 2 * cin, N, cout);
    }
    const float *a = x;
    if (!b->first) {
        norm_relu_forward(b, b->r1, b->mean1, b->rstd1, x, b->s1, b->b1, N, cin, in_plane);
        a = b->r1;
    }
    if (b->resample == FSTH_UP) {
        upsample_nearest_forward(b->u1, a, N, cin, b->H, b->W, 2);
        a = b->u1;
    }
    if ((status = sn_conv_forward(&b->conv1, ps, b->c1, a, N, b->conv_H, b->conv_W)) != VV_OK) return status;
    norm_relu_forward(b, b->r2, b->mean2, b->rstd2, b->c1, b->s2, b->b2, N, cout, conv_plane);
    float *c2 = b->resample == FSTH_DOWN ? b->c2 : b->out;
    if ((status = sn_conv_forward(&b->conv2, ps, c2, b->r2, N, b->conv_H, b->conv_W)) != VV_OK) return status;
    if (b->resample == FSTH_DOWN)
        avg_pool2d_forward(b->out, b->c2, N, cout, b->conv_H, b->conv_W, 2, 2, b->out_H, b->out_W);
    size_t out_n = (size_t)N * cout * b->out_H * b->out_W;
    if (b->has_skip) {
        const float *s = x;
        if (b->resample == FSTH_DOWN)
            avg_pool2d_forward(b->s_in, x, N, cin, b->H, b->W, 2, 2, b->out_H, b->out_W), s = b->s_in;
        else if (b->resample == FSTH_UP)
            upsample_nearest_forward(b->s_in, x, N, cin, b->H, b->W, 2), s = b->s_in;
        if ((status = sn_conv_forward(&b->skip, ps, b->t_out, s, N, b->out_H, b->out_W)) != VV_OK) return status;
        for (size_t i = 0; i < out_n; i++) b->out[i] += b->t_out[i];
    } else {
        for (size_t i = 0; i < out_n; i++) b->out[i] += x[i];
    }
    return VV_OK;
}

/* din += d(norm)(relu'(dout)); dgather for AdaIN.  tmp: N*C*HW scratch. */
static void norm_relu_backward(const fsth_block *b, float *din, float *dscale, float *dbias,
                               float *tmp, const float *dout, const float *in,
                               const float *relu_out, const float *mean, const float *rstd,
                               const float *scale, int N, int C, int HW) {
    size_t n = (size_t)N * C * HW;
    memset(tmp, 0, n * sizeof(float));
    relu_backward(tmp, dout, relu_out, n);
    if (b->norm == FSTH_NORM_INSTANCE)
        instance_norm_backward(din, NULL, NULL, tmp, in, mean, rstd, NULL, N, C, HW);
    else if (b->norm == FSTH_NORM_ADAIN)
        adain_backward(din, dscale, dbias, tmp, in, mean, rstd, scale, N, C, HW);
    else if (din)
        for (size_t i = 0; i < n; i++) din[i] += tmp[i];
}

vv_status fsth_block_backward(fsth_block *b, param_store *ps, float *dx, float *dpsi,
                              const float *dout, const float *x, int psi_stride, int N,
                              bool param_grads) {
    if (N > b->capacity) return vv_fail(VV_ERR_INVALID_ARGUMENT, "block backward: batch %d over the forward's", N);
    int cin = b->in_channels, cout = b->out_channels;
    size_t in_plane = (size_t)b->H * b->W, conv_plane = (size_t)b->conv_H * b->conv_W;
    size_t out_plane = (size_t)b->out_H * b->out_W;
    size_t conv_out_n = (size_t)N * cout * conv_plane, out_n = (size_t)N * cout * out_plane;
    vv_status status;
    bool adain = b->norm == FSTH_NORM_ADAIN;
    float *dg = block_dgather(b);
    float *ds1 = dg, *db1 = ds1 + (size_t)N * cin, *ds2 = db1 + (size_t)N * cin, *db2 = ds2 + (size_t)N * cout;
    if (adain) memset(dg, 0, 2 * (size_t)N * (cin + cout) * sizeof(float));
    /* Skip path. */
    if (b->has_skip) {
        if (b->resample == FSTH_SAME) {
            status = sn_conv_backward(&b->skip, ps, dx, dout, x, N, b->H, b->W, param_grads);
        } else {
            size_t sn = (size_t)N * cin * out_plane;
            if (dx) memset(b->t_in, 0, sn * sizeof(float));
            status = sn_conv_backward(&b->skip, ps, dx ? b->t_in : NULL, dout, b->s_in, N,
                                      b->out_H, b->out_W, param_grads);
            if (status == VV_OK && dx) {
                if (b->resample == FSTH_DOWN)
                    avg_pool2d_backward(dx, b->t_in, N, cin, b->H, b->W, 2, 2, b->out_H, b->out_W);
                else
                    upsample_nearest_backward(dx, b->t_in, N, cin, b->H, b->W, 2);
            }
        }
        if (status != VV_OK) return status;
    } else if (dx) {
        for (size_t i = 0; i < out_n; i++) dx[i] += dout[i];
    }
    /* conv2 (after the pool's backward). */
    const float *dc2 = dout;
    if (b->resample == FSTH_DOWN) {
        memset(b->t_conv_a, 0, conv_out_n * sizeof(float));
        avg_pool2d_backward(b->t_conv_a, dout, N, cout, b->conv_H, b->conv_W, 2, 2, b->out_H, b->out_W);
        dc2 = b->t_conv_a;
    }
    memset(b->t_conv_b, 0, conv_out_n * sizeof(float));
    status = sn_conv_backward(&b->conv2, ps, b->t_conv_b, dc2, b->r2, N, b->conv_H, b->conv_W, param_grads);
    if (status != VV_OK) return status;
    /* relu2 + norm2: d c1 into t_out-sized?  t_conv_a is free again. */
    float *dc1 = b->t_conv_a;
    memset(dc1, 0, conv_out_n * sizeof(float));
    {
        /* tmp for relu: reuse t_conv_b's result as input, so write relu into a copy. */
        float *tmp = b->c2; /* c2 is not needed after conv2's backward */
        if (b->resample != FSTH_DOWN) tmp = b->out; /* out of this block is consumed already */
        norm_relu_backward(b, dc1, ds2, db2, tmp, b->t_conv_b, b->c1, b->r2, b->mean2, b->rstd2,
                           b->s2, N, cout, (int)conv_plane);
    }
    /* conv1 into d(conv input). */
    bool need_input_grad = dx != NULL;
    if (!need_input_grad && !b->first) need_input_grad = adain && dpsi;
    const float *conv_in = b->resample == FSTH_UP ? b->u1 : (b->first ? x : b->r1);
    size_t conv_in_n = (size_t)N * cin * conv_plane, in_n = (size_t)N * cin * in_plane;
    float *t_in2 = block_t_in2(b);
    if (need_input_grad) memset(b->t_in, 0, conv_in_n * sizeof(float));
    status = sn_conv_backward(&b->conv1, ps, need_input_grad ? b->t_in : NULL, dc1, conv_in, N,
                              b->conv_H, b->conv_W, param_grads);
    if (status != VV_OK) return status;
    if (need_input_grad) {
        float *da = b->t_in, *free_buf = t_in2;
        if (b->resample == FSTH_UP) {
            memset(t_in2, 0, in_n * sizeof(float));
            upsample_nearest_backward(t_in2, b->t_in, N, cin, b->H, b->W, 2);
            da = t_in2, free_buf = b->t_in;
        }
        if (b->first) {
            if (dx) for (size_t i = 0; i < in_n; i++) dx[i] += da[i];
        } else {
            norm_relu_backward(b, dx, ds1, db1, free_buf, da, x, b->r1, b->mean1, b->rstd1, b->s1,
                               N, cin, (int)in_plane);
        }
    }
    if (adain && dpsi) {
        scatter_affine(dpsi, ds1, db1, psi_stride, b->psi_offset, N, cin);
        scatter_affine(dpsi, ds2, db2, psi_stride, b->psi_offset + 2 * cin, N, cout);
    }
    return VV_OK;
}

/* ---- Self-attention ---- */

vv_status fsth_attention_declare(fsth_attention *a, param_store *ps, const char *name, int C,
                                 int H, int W) {
    memset(a, 0, sizeof *a);
    a->C = C, a->CQ = C >= 8 ? C / 8 : 1, a->H = H, a->W = W;
    char full[PARAM_NAME_MAX];
    int qshape[2] = {a->CQ, C}, vshape[2] = {C, C}, qb[1] = {a->CQ}, vb[1] = {C}, one[1] = {1};
    struct { const char *suffix; int ndim; const int *shape; int *index; } tensors[] = {
        {"wq", 2, qshape, &a->wq}, {"bq", 1, qb, &a->bq}, {"wk", 2, qshape, &a->wk},
        {"bk", 1, qb, &a->bk},     {"wv", 2, vshape, &a->wv}, {"bv", 1, vb, &a->bv},
        {"gamma", 1, one, &a->gamma},
    };
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
        snprintf(full, sizeof full, "%s.%s", name, tensors[i].suffix);
        vv_status status = param_store_add(ps, full, tensors[i].ndim, tensors[i].shape, tensors[i].index);
        if (status != VV_OK) return status;
    }
    return VV_OK;
}

void fsth_attention_init(fsth_attention *a, param_store *ps, uint64_t *rng) {
    float bound = 1.0f / sqrtf((float)a->C);
    param_fill_uniform(ps, a->wq, bound, rng);
    param_fill_uniform(ps, a->wk, bound, rng);
    param_fill_uniform(ps, a->wv, bound, rng);
    /* biases and gamma stay 0: the block starts as the identity */
}

vv_status fsth_attention_reserve(fsth_attention *a, int N) {
    if (N <= a->capacity) return VV_OK;
    mem_free_aligned(a->cache);
    a->capacity = 0;
    size_t P = (size_t)a->H * a->W, total, bytes;
    if (!size_mul(P, (size_t)(2 * a->CQ + 2 * a->C) + P, &total) || !size_mul(total, (size_t)N, &total) ||
        !size_mul(total, sizeof(float), &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "attention cache for batch %d overflows", N);
    a->cache = mem_alloc_aligned(bytes);
    if (!a->cache) return vv_fail(VV_ERR_NO_MEMORY, "attention cache: no memory for %zu bytes", bytes);
    float *p = a->cache;
    a->q = p, p += (size_t)N * a->CQ * P;
    a->k = p, p += (size_t)N * a->CQ * P;
    a->v = p, p += (size_t)N * a->C * P;
    a->out = p, p += (size_t)N * a->C * P;
    a->attn = p;
    a->capacity = N;
    return VV_OK;
}

void fsth_attention_free(fsth_attention *a) {
    mem_free_aligned(a->cache);
    a->cache = NULL;
    a->capacity = 0;
}

void fsth_attention_forward(fsth_attention *a, const param_store *ps, const float *x, int N) {
    attention_weights w = {param_data(ps, a->wq), param_data(ps, a->bq), param_data(ps, a->wk),
                           param_data(ps, a->bk), param_data(ps, a->wv), param_data(ps, a->bv),
                           param_data(ps, a->gamma)};
    self_attention_forward(a->out, a->q, a->k, a->v, a->attn, x, &w, N, a->C, a->CQ, a->H * a->W);
}

vv_status fsth_attention_backward(fsth_attention *a, param_store *ps, float *dx,
                                  const float *dout, const float *x, int N, bool param_grads) {
    attention_weights w = {param_data(ps, a->wq), param_data(ps, a->bq), param_data(ps, a->wk),
                           param_data(ps, a->bk), param_data(ps, a->wv), param_data(ps, a->bv),
                           param_data(ps, a->gamma)};
    attention_grads g = {0};
    if (param_grads)
        g = (attention_grads){param_grad(ps, a->wq), param_grad(ps, a->bq), param_grad(ps, a->wk),
                              param_grad(ps, a->bk), param_grad(ps, a->wv), param_grad(ps, a->bv),
                              param_grad(ps, a->gamma)};
    return self_attention_backward(dx, &g, dout, x, a->q, a->k, a->v, a->attn, &w, N, a->C, a->CQ,
                                   a->H * a->W);
}

/* ---- Helpers shared by the networks ---- */

int fsth_down_channels(int n, int i, int width) {
    int shift = i + (n < 4 ? 4 - n : 0);
    if (shift > 3) shift = 3;
    if (i == n - 1) shift = 3;
    return width << shift;
}

size_t fsth_blocks_max_activation(const fsth_block *blocks, int count) {
    size_t best = 0;
    for (int i = 0; i < count; i++) {
        const fsth_block *b = &blocks[i];
        size_t in = (size_t)b->in_channels * b->H * b->W;
        size_t out = (size_t)b->out_channels * b->out_H * b->out_W;
        if (in > best) best = in;
        if (out > best) best = out;
    }
    return best;
}

int fsth_log2(int size) {
    for (int k = 0; k < 16; k++)
        if ((1 << k) == size) return k;
    return -1;
}
