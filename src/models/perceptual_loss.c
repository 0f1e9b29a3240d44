/* models/perceptual_loss: faceres feature matching over five depths, and its input gradient. */
#include "models/perceptual_loss.h"

#include <math.h>
#include <string.h>

const char *const perceptual_loss_layers[PERCEPTUAL_LOSS_LAYERS] = {
    "conv_pw_1_relu/clip_by_value",  /* 112 x 112 x 64 */
    "conv_pw_3_relu/clip_by_value",  /* 56 x 56 x 128 */
    "conv_pw_5_relu/clip_by_value",  /* 28 x 28 x 256 */
    "conv_pw_11_relu/clip_by_value", /* 14 x 14 x 512 */
    "conv_pw_13_relu/clip_by_value", /* 7 x 7 x 1024 */
};

void perceptual_loss_features(float *loss, tensor *d_fake, const tensor *fake, const tensor *real, int count) {
    double total = 0;
    for (int l = 0; l < count; l++) {
        size_t n = fake[l].size;
        double scale = n ? 1.0 / ((double)count * (double)n) : 0;
        float *d = d_fake ? d_fake[l].data : NULL;
        for (size_t i = 0; i < n; i++) {
            double diff = (double)fake[l].data[i] - real[l].data[i];
            total += fabs(diff) * scale;
            if (d) d[i] = (float)(diff > 0 ? scale : diff < 0 ? -scale : 0.0);
        }
    }
    *loss = (float)total;
}

vv_status perceptual_loss_forward_backward(const tfjs_model *faceres, const float *fake, const float *real, int N,
                                           float *loss, float *d_fake) {
    if (!faceres || !fake || !real || !loss || N <= 0 || N > 4096)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "perceptual_loss: missing model, images or loss, or batch %d", N);
    int shape[4] = {N, PERCEPTUAL_LOSS_SIZE, PERCEPTUAL_LOSS_SIZE, 3};
    size_t count = (size_t)N * PERCEPTUAL_LOSS_SIZE * PERCEPTUAL_LOSS_SIZE * 3;
    /* Views: the runner only reads its input (training mode copies it). */
    tensor fake_view = tensor_view((float *)fake, 4, shape), real_view = tensor_view((float *)real, 4, shape);
    tensor f_fake[PERCEPTUAL_LOSS_LAYERS] = {{0}}, f_real[PERCEPTUAL_LOSS_LAYERS] = {{0}}, d_f[PERCEPTUAL_LOSS_LAYERS] = {{0}};
    tensor d_input = {0};
    tfjs_tape *tape = NULL;
    vv_status s = tfjs_model_run_outputs(faceres, &real_view, perceptual_loss_layers, PERCEPTUAL_LOSS_LAYERS, f_real);
    if (s) goto end;
    s = d_fake ? tfjs_model_run_train_outputs(faceres, &fake_view, perceptual_loss_layers, PERCEPTUAL_LOSS_LAYERS, f_fake, &tape)
               : tfjs_model_run_outputs(faceres, &fake_view, perceptual_loss_layers, PERCEPTUAL_LOSS_LAYERS, f_fake);
    if (s) goto end;
    for (int l = 0; l < PERCEPTUAL_LOSS_LAYERS; l++)
        if (f_fake[l].size != f_real[l].size || f_fake[l].ndim != 4 || f_fake[l].shape[0] != N) {
            s = vv_fail(VV_ERR_MODEL, "perceptual_loss: the model's '%s' is not [N, h, w, c]", perceptual_loss_layers[l]);
            goto end;
        }
    if (!d_fake) {
        perceptual_loss_features(loss, NULL, f_fake, f_real, PERCEPTUAL_LOSS_LAYERS);
        goto end;
    }
    for (int l = 0; l < PERCEPTUAL_LOSS_LAYERS && !s; l++) s = tensor_alloc(&d_f[l], f_fake[l].ndim, f_fake[l].shape);
    if (s) goto end;
    perceptual_loss_features(loss, d_f, f_fake, f_real, PERCEPTUAL_LOSS_LAYERS);
    if ((s = tfjs_model_backward_outputs(faceres, tape, d_f, PERCEPTUAL_LOSS_LAYERS, &d_input))) goto end;
    memcpy(d_fake, d_input.data, count * sizeof(float));
end:
    tfjs_tape_free(tape);
    for (int l = 0; l < PERCEPTUAL_LOSS_LAYERS; l++) {
        tensor_free(&f_fake[l]);
        tensor_free(&f_real[l]);
        tensor_free(&d_f[l]);
    }
    tensor_free(&d_input);
    return s;
}
