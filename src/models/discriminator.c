/* models/discriminator: D(x, y) -> r.  Downsampling residual blocks without normalisation
 * to 4x4, one more block at 4x4, optional self-attention, ReLU, global sum pooling to v,
 * then the projection r = v . proj + b with proj = W_i + w_0 while meta-learning (W_i a
 * row per training video) or w' after fine-tuning.  Block outputs are the features of
 * the feature-matching loss. */
#include "models/models.h"

#include "nn/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

vv_status fsth_discriminator_new(fsth_discriminator *d, const fsth_config *c, uint64_t seed) {
    memset(d, 0, sizeof *d);
    vv_status status = fsth_config_check(c);
    if (status != VV_OK) return status;
    d->config = *c;
    d->attention_after = -1;
    param_store_init(&d->ps);
    int n = fsth_log2(c->size) - 2, side = c->size, in = 6, emb = fsth_embedding_dim(c);
    int attention_side = c->size / 4 < 32 ? c->size / 4 : 32;
    char name[32];
    for (int i = 0; i < n && status == VV_OK; i++) {
        snprintf(name, sizeof name, "D.block%d", i);
        int out = fsth_down_channels(n, i, c->width);
        status = fsth_block_declare(&d->blocks[i], &d->ps, name, FSTH_NORM_NONE, FSTH_DOWN, i == 0,
                                    in, out, side, side, 0);
        in = out, side /= 2;
        if (status == VV_OK && c->attention && side == attention_side && d->attention_after < 0) {
            d->attention_after = i;
            status = fsth_attention_declare(&d->attention, &d->ps, "D.attention", out, side, side);
        }
    }
    snprintf(name, sizeof name, "D.block%d", n);
    if (status == VV_OK)
        status = fsth_block_declare(&d->blocks[n], &d->ps, name, FSTH_NORM_NONE, FSTH_SAME, false,
                                    in, emb, side, side, 0);
    d->block_count = n + 1;
    int tshape[2] = {c->videos, emb}, wshape[1] = {emb}, bshape[1] = {1};
    if (status == VV_OK) status = param_store_add(&d->ps, "D.W", 2, tshape, &d->table);
    if (status == VV_OK) status = param_store_add(&d->ps, "D.w0", 1, wshape, &d->w0);
    if (status == VV_OK) status = param_store_add(&d->ps, "D.b", 1, bshape, &d->bias);
    if (status == VV_OK) status = param_store_alloc(&d->ps);
    if (status != VV_OK) {
        fsth_discriminator_free(d);
        return status;
    }
    uint64_t rng = seed ^ 0x44u;
    for (int i = 0; i < d->block_count; i++) fsth_block_init(&d->blocks[i], &d->ps, &rng);
    if (d->attention_after >= 0) fsth_attention_init(&d->attention, &d->ps, &rng);
    param_fill_uniform(&d->ps, d->table, 1.0f / sqrtf((float)emb), &rng);
    param_fill_uniform(&d->ps, d->w0, 1.0f / sqrtf((float)emb), &rng);
    return VV_OK;
}

void fsth_discriminator_free(fsth_discriminator *d) {
    for (int i = 0; i < d->block_count; i++) fsth_block_free(&d->blocks[i]);
    if (d->attention_after >= 0) fsth_attention_free(&d->attention);
    param_store_free(&d->ps);
    mem_free_aligned(d->relu_out);
    memset(d, 0, sizeof *d);
}

vv_status fsth_discriminator_prepare(fsth_discriminator *d, bool training) {
    for (int i = 0; i < d->block_count; i++) {
        vv_status status = fsth_block_prepare(&d->blocks[i], &d->ps, training);
        if (status != VV_OK) return status;
    }
    return VV_OK;
}

void fsth_discriminator_projection(const fsth_discriminator *d, float *proj, const int *videos,
                                   int N) {
    int emb = fsth_embedding_dim(&d->config);
    const float *table = param_data(&d->ps, d->table), *w0 = param_data(&d->ps, d->w0);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < emb; j++)
            proj[(size_t)n * emb + j] = table[(size_t)videos[n] * emb + j] + w0[j];
}

static vv_status discriminator_reserve(fsth_discriminator *d, int N) {
    if (N <= d->capacity) return VV_OK;
    mem_free_aligned(d->relu_out);
    d->capacity = 0;
    size_t emb = (size_t)fsth_embedding_dim(&d->config);
    size_t act = fsth_blocks_max_activation(d->blocks, d->block_count), total, bytes;
    if (!size_mul(act, (size_t)N, &act) || !size_mul(act, 3, &total) ||
        !size_add(total, (size_t)N * emb * 17 + 32, &total) || !size_mul(total, sizeof(float), &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "discriminator: batch %d overflows", N);
    d->relu_out = mem_alloc_aligned(bytes);
    if (!d->relu_out) return vv_fail(VV_ERR_NO_MEMORY, "discriminator: no memory for %zu bytes", bytes);
    d->v = d->relu_out + (size_t)N * emb * 16;
    d->grad_a = d->v + ((size_t)N * emb + 31) / 16 * 16;
    d->grad_b = d->grad_a + act;
    d->grad_c = d->grad_b + act;
    d->capacity = N;
    return VV_OK;
}

static const float *block_input(const fsth_discriminator *d, const float *xy, int i) {
    if (i == 0) return xy;
    if (i - 1 == d->attention_after) return d->attention.out;
    return d->blocks[i - 1].out;
}

vv_status fsth_discriminator_forward(fsth_discriminator *d, float *r, const float *xy,
                                     const float *proj, int N) {
    vv_status status = discriminator_reserve(d, N);
    if (status == VV_OK && d->attention_after >= 0) status = fsth_attention_reserve(&d->attention, N);
    if (status != VV_OK) return status;
    for (int i = 0; i < d->block_count; i++) {
        status = fsth_block_forward(&d->blocks[i], &d->ps, block_input(d, xy, i), NULL, 0, N);
        if (status != VV_OK) return status;
        if (i == d->attention_after) fsth_attention_forward(&d->attention, &d->ps, d->blocks[i].out, N);
    }
    int emb = fsth_embedding_dim(&d->config);
    relu_forward(d->relu_out, block_input(d, xy, d->block_count), (size_t)N * emb * 16);
    global_sum_pool_forward(d->v, d->relu_out, N, emb, 16);
    float b = param_data(&d->ps, d->bias)[0];
    for (int n = 0; n < N; n++) {
        double sum = b;
        for (int j = 0; j < emb; j++) sum += (double)d->v[(size_t)n * emb + j] * proj[(size_t)n * emb + j];
        r[n] = (float)sum;
    }
    return VV_OK;
}

int fsth_discriminator_feature_count(const fsth_discriminator *d) { return d->block_count; }

const float *fsth_discriminator_feature(const fsth_discriminator *d, int i, int N, size_t *count) {
    const fsth_block *b = &d->blocks[i];
    *count = (size_t)N * b->out_channels * b->out_H * b->out_W;
    return b->out;
}

vv_status fsth_discriminator_backward(fsth_discriminator *d, float *dxy, float *dproj,
                                      const float *dr, float *const *dfeat, const float *xy,
                                      const float *proj, int N, bool param_grads) {
    if (N > d->capacity) return vv_fail(VV_ERR_INVALID_ARGUMENT, "discriminator backward: batch %d over the forward's", N);
    int emb = fsth_embedding_dim(&d->config);
    size_t top = (size_t)N * emb * 16;
    /* r = v . proj + b */
    float *dv = d->grad_b;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < emb; j++) {
            size_t k = (size_t)n * emb + j;
            dv[k] = dr[n] * proj[k];
            if (dproj) dproj[k] += dr[n] * d->v[k];
        }
    if (param_grads)
        for (int n = 0; n < N; n++) param_grad(&d->ps, d->bias)[0] += dr[n];
    float *cur = d->grad_a, *spare[2] = {d->grad_b, d->grad_c};
    memset(d->grad_c, 0, top * sizeof(float));
    global_sum_pool_backward(d->grad_c, dv, N, emb, 16);
    memset(cur, 0, top * sizeof(float));
    relu_backward(cur, d->grad_c, d->relu_out, top);
    int next_spare = 0;
    vv_status status;
    for (int i = d->block_count - 1; i >= 0; i--) {
        fsth_block *b = &d->blocks[i];
        size_t out_n = (size_t)N * b->out_channels * b->out_H * b->out_W;
        if (i == d->attention_after) {
            float *t = spare[next_spare];
            memset(t, 0, out_n * sizeof(float));
            status = fsth_attention_backward(&d->attention, &d->ps, t, cur, b->out, N, param_grads);
            if (status != VV_OK) return status;
            spare[next_spare] = cur, cur = t;
            next_spare ^= 1;
        }
        if (dfeat && dfeat[i])
            for (size_t k = 0; k < out_n; k++) cur[k] += dfeat[i][k];
        float *dx = dxy;
        if (i > 0) {
            dx = spare[next_spare];
            memset(dx, 0, (size_t)N * b->in_channels * b->H * b->W * sizeof(float));
        }
        if (i == 0 && !dxy && !param_grads) break;
        status = fsth_block_backward(b, &d->ps, dx, NULL, cur, block_input(d, xy, i), 0, N, param_grads);
        if (status != VV_OK) return status;
        if (i > 0) {
            spare[next_spare] = cur, cur = dx;
            next_spare ^= 1;
        }
    }
    return VV_OK;
}
