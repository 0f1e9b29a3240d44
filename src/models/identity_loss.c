/* models/identity_loss: faceres-embedding distance and its input gradient. */
#include "models/identity_loss.h"

#include <math.h>
#include <string.h>

#define EMBEDDING_NODE "global_pooling/Mean"

void identity_loss_features(float *loss, float *d_f_fake, const float *f_fake, const float *f_real,
                            int N, int dim, identity_loss_kind kind) {
    double total = 0;
    for (int n = 0; n < N; n++) {
        const float *a = f_fake + (size_t)n * dim, *b = f_real + (size_t)n * dim;
        float *d = d_f_fake ? d_f_fake + (size_t)n * dim : NULL;
        if (kind == IDENTITY_LOSS_L1) {
            double scale = 1.0 / ((double)N * dim);
            for (int i = 0; i < dim; i++) {
                double diff = (double)a[i] - b[i];
                total += fabs(diff) * scale;
                if (d) d[i] = (float)(diff > 0 ? scale : diff < 0 ? -scale : 0.0);
            }
            continue;
        }
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < dim; i++) {
            ab += (double)a[i] * b[i];
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
        }
        double na = sqrt(aa), nb = sqrt(bb);
        if (na == 0 || nb == 0) { /* cosine undefined: counts as 0, no gradient */
            total += 1.0 / N;
            if (d) memset(d, 0, (size_t)dim * sizeof(float));
            continue;
        }
        double cosine = ab / (na * nb);
        total += (1.0 - cosine) / N;
        /* d(1 - cos)/da = -(b / (|a||b|) - cos a / |a|^2), over N. */
        if (d)
            for (int i = 0; i < dim; i++)
                d[i] = (float)(-(b[i] / (na * nb) - cosine * a[i] / aa) / N);
    }
    *loss = (float)total;
}

vv_status identity_loss_forward_backward(const tfjs_model *faceres, const float *fake, const float *real,
                                         int N, identity_loss_kind kind, float *loss, float *d_fake) {
    if (!faceres || !fake || !real || !loss || N <= 0 || N > 4096)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "identity_loss: missing model, images or loss, or batch %d", N);
    int shape[4] = {N, IDENTITY_LOSS_SIZE, IDENTITY_LOSS_SIZE, 3};
    size_t count = (size_t)N * IDENTITY_LOSS_SIZE * IDENTITY_LOSS_SIZE * 3;
    /* Views: the runner only reads its input (training mode copies it). */
    tensor fake_view = tensor_view((float *)fake, 4, shape), real_view = tensor_view((float *)real, 4, shape);
    tensor f_fake = {0}, f_real = {0}, d_f = {0}, d_input = {0};
    tfjs_tape *tape = NULL;
    vv_status s = tfjs_model_run(faceres, &real_view, EMBEDDING_NODE, &f_real);
    if (s) goto end;
    s = d_fake ? tfjs_model_run_train(faceres, &fake_view, EMBEDDING_NODE, &f_fake, &tape)
               : tfjs_model_run(faceres, &fake_view, EMBEDDING_NODE, &f_fake);
    if (s) goto end;
    if (f_fake.ndim != 2 || f_fake.shape[0] != N || f_real.size != f_fake.size) {
        s = vv_fail(VV_ERR_MODEL, "identity_loss: the model's '%s' is not [N, features]", EMBEDDING_NODE);
        goto end;
    }
    int dim = f_fake.shape[1];
    if (!d_fake) {
        identity_loss_features(loss, NULL, f_fake.data, f_real.data, N, dim, kind);
        goto end;
    }
    if ((s = tensor_alloc(&d_f, 2, f_fake.shape))) goto end;
    identity_loss_features(loss, d_f.data, f_fake.data, f_real.data, N, dim, kind);
    if ((s = tfjs_model_backward(faceres, tape, &d_f, &d_input))) goto end;
    memcpy(d_fake, d_input.data, count * sizeof(float));
end:
    tfjs_tape_free(tape);
    tensor_free(&f_fake);
    tensor_free(&f_real);
    tensor_free(&d_f);
    tensor_free(&d_input);
    return s;
}
