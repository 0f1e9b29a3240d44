/* models/embedder: E(x, y) -> e.  Downsampling residual blocks without normalisation from
 * the frame + landmark image (6 channels) to 4x4, ReLU, global sum pooling (PAPER.md). */
#include "models/models.h"

#include "nn/ops.h"

#include <stdio.h>
#include <string.h>

vv_status fsth_embedder_new(fsth_embedder *e, const fsth_config *c, uint64_t seed) {
    memset(e, 0, sizeof *e);
    vv_status status = fsth_config_check(c);
    if (status != VV_OK) return status;
    e->config = *c;
    param_store_init(&e->ps);
    int n = fsth_log2(c->size) - 2, side = c->size, in = 6;
    e->block_count = n;
    for (int i = 0; i < n && status == VV_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "E.block%d", i);
        int out = fsth_down_channels(n, i, c->width);
        status = fsth_block_declare(&e->blocks[i], &e->ps, name, FSTH_NORM_NONE, FSTH_DOWN, i == 0,
                                    in, out, side, side, 0);
        in = out, side /= 2;
    }
    if (status == VV_OK) status = param_store_alloc(&e->ps);
    if (status != VV_OK) {
        fsth_embedder_free(e);
        return status;
    }
    uint64_t rng = seed ^ 0x45u;
    for (int i = 0; i < n; i++) fsth_block_init(&e->blocks[i], &e->ps, &rng);
    return VV_OK;
}

void fsth_embedder_free(fsth_embedder *e) {
    for (int i = 0; i < e->block_count; i++) fsth_block_free(&e->blocks[i]);
    param_store_free(&e->ps);
    mem_free_aligned(e->relu_out);
    memset(e, 0, sizeof *e);
}

vv_status fsth_embedder_prepare(fsth_embedder *e, bool training) {
    for (int i = 0; i < e->block_count; i++) {
        vv_status status = fsth_block_prepare(&e->blocks[i], &e->ps, training);
        if (status != VV_OK) return status;
    }
    return VV_OK;
}

static vv_status embedder_reserve(fsth_embedder *e, int N) {
    if (N <= e->capacity) return VV_OK;
    mem_free_aligned(e->relu_out);
    e->capacity = 0;
    size_t act = fsth_blocks_max_activation(e->blocks, e->block_count), relu_n, total, bytes;
    relu_n = (size_t)N * fsth_embedding_dim(&e->config) * 16;
    if (!size_mul(act, (size_t)N, &act) || !size_mul(act, 2, &total) ||
        !size_add(total, relu_n, &total) || !size_mul(total, sizeof(float), &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "embedder: batch %d overflows", N);
    e->relu_out = mem_alloc_aligned(bytes);
    if (!e->relu_out) return vv_fail(VV_ERR_NO_MEMORY, "embedder: no memory for %zu bytes", bytes);
    e->grad_a = e->relu_out + relu_n;
    e->grad_b = e->grad_a + act;
    e->capacity = N;
    return VV_OK;
}

vv_status fsth_embedder_forward(fsth_embedder *e, float *out, const float *xy, int N) {
    vv_status status = embedder_reserve(e, N);
    if (status != VV_OK) return status;
    const float *x = xy;
    for (int i = 0; i < e->block_count; i++) {
        if ((status = fsth_block_forward(&e->blocks[i], &e->ps, x, NULL, 0, N)) != VV_OK) return status;
        x = e->blocks[i].out;
    }
    int emb = fsth_embedding_dim(&e->config);
    relu_forward(e->relu_out, x, (size_t)N * emb * 16);
    global_sum_pool_forward(out, e->relu_out, N, emb, 16);
    return VV_OK;
}

vv_status fsth_embedder_backward(fsth_embedder *e, const float *dout, const float *xy, int N) {
    if (N > e->capacity) return vv_fail(VV_ERR_INVALID_ARGUMENT, "embedder backward: batch %d over the forward's", N);
    int emb = fsth_embedding_dim(&e->config);
    size_t n = (size_t)N * emb * 16;
    float *g = e->grad_a, *other = e->grad_b;
    memset(e->grad_b, 0, n * sizeof(float));
    global_sum_pool_backward(e->grad_b, dout, N, emb, 16);
    memset(g, 0, n * sizeof(float));
    relu_backward(g, e->grad_b, e->relu_out, n);
    for (int i = e->block_count - 1; i >= 0; i--) {
        fsth_block *b = &e->blocks[i];
        float *dx = NULL;
        if (i > 0) {
            dx = other;
            memset(dx, 0, (size_t)N * b->in_channels * b->H * b->W * sizeof(float));
        }
        const float *x = i > 0 ? e->blocks[i - 1].out : xy;
        vv_status status = fsth_block_backward(b, &e->ps, dx, NULL, g, x, 0, N, true);
        if (status != VV_OK) return status;
        other = g, g = dx;
    }
    return VV_OK;
}
