/* nn/resblock: pre-activation residual block with AdaIN and spectral norm. */
#include "nn/resblock.h"

#include "nn/ops.h"

#include <string.h>

vv_status resblock_adain_init(resblock_adain *rb, int N, int C, int H, int W) {
    memset(rb, 0, sizeof *rb);
    if (!conv2d_shape_init(&rb->conv, N, C, H, W, C, 3, 3, 1, 1, 1))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "resblock_adain_init: bad size %dx%dx%dx%d", N, C, H, W);
    rb->N = N, rb->C = C, rb->H = H, rb->W = W;
    size_t act, weights = (size_t)C * C * 9, planes = (size_t)N * C, total;
    if (!size_mul3((size_t)N * C, (size_t)H, (size_t)W, &act) || !size_mul(act, 5, &total) ||
        !size_add(total, 3 * weights + 4 * planes, &total) ||
        !size_mul(total, sizeof(float), &total))
        return vv_fail(VV_ERR_TOO_LARGE, "resblock_adain_init: %dx%dx%dx%d overflows", N, C, H, W);
    rb->buffer = mem_alloc_aligned(total);
    if (!rb->buffer) return vv_fail(VV_ERR_NO_MEMORY, "resblock_adain_init: no memory for %zu bytes", total);
    float *p = rb->buffer;
    rb->r1 = p, p += act;
    rb->c1 = p, p += act;
    rb->r2 = p, p += act;
    rb->t1 = p, p += act;
    rb->t2 = p, p += act;
    rb->w1_sn = p, p += weights;
    rb->w2_sn = p, p += weights;
    rb->dweight_sn = p, p += weights;
    rb->mean1 = p, p += planes;
    rb->rstd1 = p, p += planes;
    rb->mean2 = p, p += planes;
    rb->rstd2 = p;
    return VV_OK;
}

void resblock_adain_free(resblock_adain *rb) {
    mem_free_aligned(rb->buffer);
    memset(rb, 0, sizeof *rb);
}

vv_status resblock_adain_forward(resblock_adain *rb, float *out, const float *x, const float *s1,
                                 const float *b1, const float *s2, const float *b2,
                                 const resblock_params *p, bool training) {
    int N = rb->N, C = rb->C, HW = rb->H * rb->W, iterations = training ? 1 : 0;
    size_t act = (size_t)N * C * HW;
    rb->sigma1 = spectral_norm_forward(rb->w1_sn, p->u1, p->v1, p->w1, C, C * 9, iterations, 1e-12f);
    rb->sigma2 = spectral_norm_forward(rb->w2_sn, p->u2, p->v2, p->w2, C, C * 9, iterations, 1e-12f);
    /* relu'(a) = [relu(a) > 0]: the fused AdaIN + ReLU output serves the backward */
    adain_relu_forward(rb->r1, rb->mean1, rb->rstd1, x, s1, b1, N, C, HW, 1e-5f);
    vv_status status = conv2d_forward(rb->c1, rb->r1, rb->w1_sn, p->bias1, &rb->conv);
    if (status != VV_OK) return status;
    adain_relu_forward(rb->r2, rb->mean2, rb->rstd2, rb->c1, s2, b2, N, C, HW, 1e-5f);
    status = conv2d_forward(out, rb->r2, rb->w2_sn, p->bias2, &rb->conv);
    if (status != VV_OK) return status;
    for (size_t i = 0; i < act; i++) out[i] += x[i];
    return VV_OK;
}

vv_status resblock_adain_backward(resblock_adain *rb, float *dx, float *ds1, float *db1,
                                  float *ds2, float *db2, const resblock_grads *g,
                                  const float *dout, const float *x, const float *s1,
                                  const float *s2, const resblock_params *p) {
    int N = rb->N, C = rb->C, HW = rb->H * rb->W;
    size_t act = (size_t)N * C * HW, weights = (size_t)C * C * 9;
    if (dx) add_backward(dx, NULL, dout, act); /* the skip path */
    /* conv2: t1 = d r2 */
    memset(rb->t1, 0, act * sizeof(float));
    memset(rb->dweight_sn, 0, weights * sizeof(float));
    vv_status status = conv2d_backward(rb->t1, rb->dweight_sn, g->bias2, dout, rb->r2, rb->w2_sn, &rb->conv);
    if (status != VV_OK) return status;
    if (g->w2) spectral_norm_backward(g->w2, rb->dweight_sn, p->w2, p->u2, p->v2, rb->sigma2, C, C * 9);
    /* relu2 + adain2: t2 = d c1 */
    memset(rb->t2, 0, act * sizeof(float));
    adain_relu_backward(rb->t2, ds2, db2, rb->t1, rb->r2, rb->c1, rb->mean2, rb->rstd2, s2, N, C, HW);
    /* conv1: t1 = d r1 */
    memset(rb->t1, 0, act * sizeof(float));
    memset(rb->dweight_sn, 0, weights * sizeof(float));
    status = conv2d_backward(rb->t1, rb->dweight_sn, g->bias1, rb->t2, rb->r1, rb->w1_sn, &rb->conv);
    if (status != VV_OK) return status;
    if (g->w1) spectral_norm_backward(g->w1, rb->dweight_sn, p->w1, p->u1, p->v1, rb->sigma1, C, C * 9);
    /* relu1 + adain1 into dx */
    adain_relu_backward(dx, ds1, db1, rb->t1, rb->r1, x, rb->mean1, rb->rstd1, s1, N, C, HW);
    return VV_OK;
}
