/* nn/layers_attention: SAGAN self-attention over the H*W positions of a feature map.
 * The attention matrix is [P,P] per image, so this is meant for the low-resolution
 * stages (the paper puts it at 32x32 and below); every product is a GEMM. */
#include "nn/backend.h"
#include "nn/layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y [rows,P] = w [rows,C] x [C,P] + b [rows]. */
static void pointwise_forward(float *y, const float *w, const float *b, const float *x, int rows,
                              int C, int P) {
    for (int r = 0; r < rows; r++)
        for (int p = 0; p < P; p++) y[(size_t)r * P + p] = b ? b[r] : 0.0f;
    nn_gemm(false, false, rows, P, C, 1.0f, w, C, x, P, 1.0f, y, P);
}

/* Adjoint of pointwise_forward: dw += dy x^T, db += row sums, dx += w^T dy. */
static void pointwise_backward(float *dx, float *dw, float *db, const float *dy, const float *w,
                               const float *x, int rows, int C, int P) {
    if (dw) nn_gemm(false, true, rows, C, P, 1.0f, dy, P, x, P, 1.0f, dw, C);
    if (db)
        for (int r = 0; r < rows; r++) {
            double sum = 0.0;
            for (int p = 0; p < P; p++) sum += dy[(size_t)r * P + p];
            db[r] += (float)sum;
        }
    if (dx) nn_gemm(true, false, C, P, rows, 1.0f, w, C, dy, P, 1.0f, dx, P);
}

static void softmax_rows(float *a, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float *row = a + (size_t)r * cols, top = row[0];
        for (int j = 1; j < cols; j++) if (row[j] > top) top = row[j];
        double sum = 0.0;
        for (int j = 0; j < cols; j++) { row[j] = expf(row[j] - top); sum += row[j]; }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < cols; j++) row[j] *= inv;
    }
}

void self_attention_forward(float *out, float *q, float *k, float *v, float *attn,
                            const float *in, const attention_weights *w, int N, int C, int CQ,
                            int P) {
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C * P;
        float *qn = q + (size_t)n * CQ * P, *kn = k + (size_t)n * CQ * P;
        float *vn = v + (size_t)n * C * P, *an = attn + (size_t)n * P * P;
        float *y = out + (size_t)n * C * P;
        pointwise_forward(qn, w->wq, w->bq, x, CQ, C, P);
        pointwise_forward(kn, w->wk, w->bk, x, CQ, C, P);
        pointwise_forward(vn, w->wv, w->bv, x, C, C, P);
        nn_gemm(true, false, P, P, CQ, 1.0f, qn, P, kn, P, 0.0f, an, P); /* q^T k */
        softmax_rows(an, P, P);
        /* y = gamma * v attn^T + x */
        memcpy(y, x, (size_t)C * P * sizeof(float));
        nn_gemm(false, true, C, P, P, w->gamma[0], vn, P, an, P, 1.0f, y, P);
    }
}

vv_status self_attention_backward(float *din, const attention_grads *g, const float *dout,
                                  const float *in, const float *q, const float *k,
                                  const float *v, const float *attn,
                                  const attention_weights *w, int N, int C, int CQ, int P) {
    size_t cp = (size_t)C * P, qp = (size_t)CQ * P, pp = (size_t)P * P;
    float *work = mem_alloc(2 * cp + 2 * qp + pp, sizeof(float));
    if (!work) return vv_fail(VV_ERR_NO_MEMORY, "self_attention_backward: no memory for %d positions", P);
    float *o = work, *dv = o + cp, *dq = dv + cp, *dk = dq + qp, *dattn = dk + qp;
    for (int n = 0; n < N; n++) {
        const float *x = in + n * cp, *gy = dout + n * cp;
        const float *qn = q + n * qp, *kn = k + n * qp, *vn = v + n * cp, *an = attn + n * pp;
        float *dx = din ? din + n * cp : NULL;
        if (g->gamma) { /* dgamma = sum(dout * v attn^T) */
            nn_gemm(false, true, C, P, P, 1.0f, vn, P, an, P, 0.0f, o, P);
            double sum = 0.0;
            for (size_t i = 0; i < cp; i++) sum += (double)gy[i] * o[i];
            g->gamma[0] += (float)sum;
        }
        if (dx) for (size_t i = 0; i < cp; i++) dx[i] += gy[i];
        float gamma = w->gamma[0];
        /* dv = gamma dout attn, dattn = gamma dout^T v */
        nn_gemm(false, false, C, P, P, gamma, gy, P, an, P, 0.0f, dv, P);
        nn_gemm(true, false, P, P, C, gamma, gy, P, vn, P, 0.0f, dattn, P);
        for (int i = 0; i < P; i++) { /* softmax backward, in place: dattn -> denergy */
            float *d = dattn + (size_t)i * P;
            const float *a = an + (size_t)i * P;
            double dot = 0.0;
            for (int j = 0; j < P; j++) dot += (double)a[j] * d[j];
            for (int j = 0; j < P; j++) d[j] = a[j] * (d[j] - (float)dot);
        }
        /* energy = q^T k: dq = k denergy^T, dk = q denergy */
        nn_gemm(false, true, CQ, P, P, 1.0f, kn, P, dattn, P, 0.0f, dq, P);
        nn_gemm(false, false, CQ, P, P, 1.0f, qn, P, dattn, P, 0.0f, dk, P);
        pointwise_backward(dx, g->wq, g->bq, dq, w->wq, x, CQ, C, P);
        pointwise_backward(dx, g->wk, g->bk, dk, w->wk, x, CQ, C, P);
        pointwise_backward(dx, g->wv, g->bv, dv, w->wv, x, C, C, P);
    }
    free(work);
    return VV_OK;
}
