/* nn/resblock: the paper's generator body block, composed from nn/layers ops: a
 * pre-activation residual block with AdaIN and spectrally normalised 3x3 convolutions,
 *   out = x + conv2(relu(adain(conv1(relu(adain(x, s1, b1))), s2, b2)))
 * with C channels in and out.  A worked example of chaining forward/backward pairs, the
 * reference test against PyTorch (tests/test_nn_torch.c) and the benchmark's workload. */
#ifndef VV_NN_RESBLOCK_H
#define VV_NN_RESBLOCK_H

#include "nn/layers.h"

typedef struct resblock_params {
    /* conv1 weight [C,C,3,3], bias [C], spectral-norm state u [C] and v [C*9] kept
     * between steps (PyTorch's weight_u / weight_v buffers) */
    float *w1, *bias1, *u1, *v1;
    float *w2, *bias2, *u2, *v2;
} resblock_params;

typedef struct resblock_grads {
    float *w1, *bias1, *w2, *bias2; /* each may be NULL */
} resblock_grads;

typedef struct resblock_adain {
    int N, C, H, W;
    conv2d_shape conv;
    float *buffer; /* one allocation for everything below */
    float *w1_sn, *w2_sn, *dweight_sn;
    float sigma1, sigma2;
    float *r1, *c1, *r2;       /* saved activations [N,C,H,W] */
    float *t1, *t2;            /* backward temporaries [N,C,H,W] */
    float *mean1, *rstd1, *mean2, *rstd2; /* [N*C] */
} resblock_adain;

vv_status resblock_adain_init(resblock_adain *rb, int N, int C, int H, int W);
void resblock_adain_free(resblock_adain *rb);
/* out, x [N,C,H,W]; s1, b1, s2, b2 [N*C].  training: one power iteration per conv
 * (updates u and v), as PyTorch's spectral_norm in train mode; otherwise the stored u, v
 * are used as they are. */
vv_status resblock_adain_forward(resblock_adain *rb, float *out, const float *x, const float *s1,
                                 const float *b1, const float *s2, const float *b2,
                                 const resblock_params *p, bool training);
/* Accumulates into dx, ds1, db1, ds2, db2 (each may be NULL) and the weight gradients. */
vv_status resblock_adain_backward(resblock_adain *rb, float *dx, float *ds1, float *db1,
                                  float *ds2, float *db2, const resblock_grads *g,
                                  const float *dout, const float *x, const float *s1,
                                  const float *s2, const resblock_params *p);

#endif
