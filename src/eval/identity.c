/* eval/identity: landmark-aligned faceres embeddings (the template is in identity.h). */
#include "eval/identity.h"

#include "face/pose.h"
#include "img/image.h"
#include "nn/tfjs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_SCALE (224.0f / 2.6f)
#define TEMPLATE_CX 112.0f
#define TEMPLATE_CY 123.2f
/* Rigid points used for the fit: brows 17-26, nose 27-35, eyes 36-47. */
#define FIT_FIRST 17
#define FIT_LAST 47
/* Above this many image pixels per crop pixel the image is first area-downscaled. */
#define MAX_SAMPLING_STEP 1.25

struct identity_model {
    tfjs_model *net;
};

void identity_template(float out[68][2]) {
    const float (*shape)[3] = face_mean_shape_3d();
    for (int k = 0; k < 68; k++) {
        out[k][0] = TEMPLATE_CX + TEMPLATE_SCALE * shape[k][0];
        out[k][1] = TEMPLATE_CY + TEMPLATE_SCALE * shape[k][1];
    }
}

vv_status identity_alignment(const float landmarks[68][2], float crop_to_image[6]) {
    float tmpl[68][2];
    identity_template(tmpl);
    double tc[2] = {0, 0}, pc[2] = {0, 0};
    int n = FIT_LAST - FIT_FIRST + 1;
    for (int k = FIT_FIRST; k <= FIT_LAST; k++) {
        if (!isfinite(landmarks[k][0]) || !isfinite(landmarks[k][1]))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "identity alignment: landmark %d is not finite", k);
        for (int c = 0; c < 2; c++) { tc[c] += tmpl[k][c]; pc[c] += landmarks[k][c]; }
    }
    for (int c = 0; c < 2; c++) { tc[c] /= n; pc[c] /= n; }
    /* image = [a -b; b a] (t - tc) + pc, least squares (Procrustes with scale). */
    double stt = 0, sa = 0, sb = 0;
    for (int k = FIT_FIRST; k <= FIT_LAST; k++) {
        double tx = tmpl[k][0] - tc[0], ty = tmpl[k][1] - tc[1];
        double px = landmarks[k][0] - pc[0], py = landmarks[k][1] - pc[1];
        stt += tx * tx + ty * ty;
        sa += tx * px + ty * py;
        sb += tx * py - ty * px;
    }
    double a = sa / stt, b = sb / stt;
    if (!(sqrt(a * a + b * b) > 1e-3))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "identity alignment: degenerate landmarks (face size ~0)");
    crop_to_image[0] = (float)a;
    crop_to_image[1] = (float)-b;
    crop_to_image[2] = (float)(pc[0] - a * tc[0] + b * tc[1]);
    crop_to_image[3] = (float)b;
    crop_to_image[4] = (float)a;
    crop_to_image[5] = (float)(pc[1] - b * tc[0] - a * tc[1]);
    return VV_OK;
}

vv_status identity_align(const vv_image *image, const float landmarks[68][2], vv_image *crop) {
    if (!image || !image->data || image->channels != 3 || image->width < 1 || image->height < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "identity alignment needs an RGB image");
    float m[6];
    vv_status s = identity_alignment(landmarks, m);
    if (s != VV_OK) return s;
    double step = hypot(m[0], m[3]); /* image pixels per crop pixel */
    vv_image small = {0};
    const vv_image *source = image;
    if (step > MAX_SAMPLING_STEP) {
        int w = (int)lround(image->width / step), h = (int)lround(image->height / step);
        if (w < 1) w = 1;
        if (h < 1) h = 1;
        s = image_resize(&small, image, w, h);
        if (s != VV_OK) return s;
        /* Pixel centres map as (x + 0.5) * w / W - 0.5 (img/image.h). */
        double fx = (double)w / image->width, fy = (double)h / image->height;
        for (int i = 0; i < 3; i++) {
            m[i] = (float)(m[i] * fx);
            m[3 + i] = (float)(m[3 + i] * fy);
        }
        m[2] += (float)(0.5 * fx - 0.5);
        m[5] += (float)(0.5 * fy - 0.5);
        source = &small;
    }
    if (crop->width != IDENTITY_CROP_SIZE || crop->height != IDENTITY_CROP_SIZE || crop->channels != 3 || !crop->data) {
        image_free(crop);
        s = image_create(crop, IDENTITY_CROP_SIZE, IDENTITY_CROP_SIZE, 3);
    }
    if (s == VV_OK) image_warp_affine(crop, source, m, NULL);
    image_free(&small);
    return s;
}

vv_status identity_model_load(identity_model **out, const char *models_dir) {
    *out = NULL;
    char path[4096];
    if (models_dir) {
        if (snprintf(path, sizeof path, "%s/faceres.json", models_dir) >= (int)sizeof path)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "models folder path too long: %s", models_dir);
    } else {
        vv_status s = models_find("faceres.json", path, sizeof path);
        if (s != VV_OK) return s;
    }
    identity_model *model = mem_calloc(1, sizeof *model);
    if (!model) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", path);
    vv_status s = tfjs_model_load(&model->net, path);
    if (s != VV_OK) {
        free(model);
        return s;
    }
    int shape[TENSOR_MAX_DIMS];
    if (tfjs_model_input_shape(model->net, shape) != 4 || shape[1] != IDENTITY_CROP_SIZE ||
        shape[2] != IDENTITY_CROP_SIZE || shape[3] != 3) {
        identity_model_free(model);
        return vv_fail(VV_ERR_MODEL, "%s: expected a 224x224x3 input (is it faceres?)", path);
    }
    *out = model;
    return VV_OK;
}

void identity_model_free(identity_model *model) {
    if (!model) return;
    tfjs_model_free(model->net);
    free(model);
}

vv_status identity_embed_crop(const identity_model *model, const vv_image *crop, float embedding[IDENTITY_DIM]) {
    if (!crop || !crop->data || crop->width != IDENTITY_CROP_SIZE || crop->height != IDENTITY_CROP_SIZE ||
        crop->channels != 3)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "identity embedding needs a %dx%d RGB crop", IDENTITY_CROP_SIZE,
                       IDENTITY_CROP_SIZE);
    const int shape[4] = {1, IDENTITY_CROP_SIZE, IDENTITY_CROP_SIZE, 3};
    tensor input, output = {0};
    vv_status s = tensor_alloc(&input, 4, shape);
    if (s != VV_OK) return s;
    for (size_t i = 0; i < input.size; i++) input.data[i] = crop->data[i];
    s = tfjs_model_run(model->net, &input, "global_pooling/Mean", &output);
    tensor_free(&input);
    if (s != VV_OK) return s;
    if (output.size != IDENTITY_DIM) s = vv_fail(VV_ERR_MODEL, "faceres gave %zu features, expected %d", output.size, IDENTITY_DIM);
    else memcpy(embedding, output.data, IDENTITY_DIM * sizeof(float));
    tensor_free(&output);
    return s;
}

vv_status identity_embed(const identity_model *model, const vv_image *image, const float landmarks[68][2],
                         float embedding[IDENTITY_DIM]) {
    vv_image crop = {0};
    vv_status s = identity_align(image, landmarks, &crop);
    if (s == VV_OK) s = identity_embed_crop(model, &crop, embedding);
    image_free(&crop);
    return s;
}
