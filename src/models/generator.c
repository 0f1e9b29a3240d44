/* models/generator: G(y; psi).  Landmark encoder (downsampling residual blocks with
 * instance norm), AdaIN residual blocks at the bottleneck, upsampling AdaIN blocks,
 * optional self-attention, head AdaIN -> ReLU -> conv3x3 -> tanh.  All AdaIN scales and
 * biases come from psi = P e.  Hybrid: the input also holds the warped source and its
 * validity (an input only: where the mouth was synthesised), and a fourth output channel
 * is a blend mask:  out = m * warped + (1 - m) * tanh(rgb),  m = sigmoid(raw).  A residual
 * hybrid adds instead:  out = warped + tanh(rgb)  (the fourth channel unused).  A flow
 * hybrid also moves the warp's pixels first:  out = sample(warped, identity + f) + tanh(rgb),
 * f = flow_pixels * tanh(head channels 4 and 5, 0-based) (nn/ops.h flow_sample_nchw_forward). */
#include "models/models.h"

#include "nn/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GENERATOR_LEVELS 4

static int generator_out_channels(const fsth_config *c) { return fsth_generator_out_channels(c); }

vv_status fsth_generator_new(fsth_generator *g, const fsth_config *c, uint64_t seed) {
    memset(g, 0, sizeof *g);
    vv_status status = fsth_config_check(c);
    if (status != VV_OK) return status;
    g->config = *c;
    param_store_init(&g->ps);
    int w = c->width, side = c->size, in = fsth_generator_in_channels(c), psi = 0, k = 0;
    char name[48];
    g->attention_after = -1;
    for (int i = 0; i < GENERATOR_LEVELS && status == VV_OK; i++, k++) {
        snprintf(name, sizeof name, "G.down%d", i);
        int out = w << i;
        status = fsth_block_declare(&g->blocks[k], &g->ps, name, FSTH_NORM_INSTANCE, FSTH_DOWN,
                                    i == 0, in, out, side, side, 0);
        in = out, side /= 2;
    }
    g->encoder_count = GENERATOR_LEVELS;
    for (int i = 0; i < c->bottleneck_blocks && status == VV_OK; i++, k++) {
        snprintf(name, sizeof name, "G.res%d", i);
        status = fsth_block_declare(&g->blocks[k], &g->ps, name, FSTH_NORM_ADAIN, FSTH_SAME,
                                    false, in, in, side, side, psi);
        psi += fsth_block_psi_size(&g->blocks[k]);
    }
    g->bottleneck_count = c->bottleneck_blocks;
    int attention_side = c->size / 4 < 32 ? c->size / 4 : 32;
    for (int i = 0; i < GENERATOR_LEVELS && status == VV_OK; i++, k++) {
        snprintf(name, sizeof name, "G.up%d", i);
        int out = i < GENERATOR_LEVELS - 1 ? w << (GENERATOR_LEVELS - 2 - i) : w;
        status = fsth_block_declare(&g->blocks[k], &g->ps, name, FSTH_NORM_ADAIN, FSTH_UP, false,
                                    in, out, side, side, psi);
        psi += fsth_block_psi_size(&g->blocks[k]);
        in = out, side *= 2;
        if (c->attention && side == attention_side && g->attention_after < 0) {
            g->attention_after = k;
            if (status == VV_OK) status = fsth_attention_declare(&g->attention, &g->ps, "G.attention", out, side, side);
        }
    }
    g->decoder_count = GENERATOR_LEVELS;
    g->block_count = k;
    g->head_psi_offset = psi;
    psi += 2 * w;
    g->psi_dim = psi;
    if (status == VV_OK) status = sn_conv_declare(&g->head, &g->ps, "G.head", w, generator_out_channels(c), 3);
    int pshape[2] = {psi, fsth_embedding_dim(c)};
    if (status == VV_OK) status = param_store_add(&g->ps, "G.projection", 2, pshape, &g->projection);
    if (status == VV_OK) status = param_store_alloc(&g->ps);
    if (status != VV_OK) {
        fsth_generator_free(g);
        return status;
    }
    uint64_t rng = seed ^ 0x47u;
    for (int i = 0; i < g->block_count; i++) fsth_block_init(&g->blocks[i], &g->ps, &rng);
    if (g->attention_after >= 0) fsth_attention_init(&g->attention, &g->ps, &rng);
    sn_conv_init(&g->head, &g->ps, &rng);
    /* Hybrid: the blend starts at sigmoid(3) = 0.95 towards the warp, so a fresh model is
     * the warp engine and training learns where to correct it. */
    if (c->hybrid) param_data(&g->ps, g->head.bias)[3] = 3.0f;
    if (c->residual) fsth_generator_residual_start(g);
    if (c->flow) fsth_generator_flow_start(g);
    /* Small P: psi starts near 0, i.e. AdaIN starts as plain instance norm. */
    param_fill_uniform(&g->ps, g->projection, 0.1f / sqrtf((float)pshape[1]), &rng);
    return VV_OK;
}

/* The correction starts near 0 (out = the warp): the head's RGB rows scaled to 1 %, their
 * biases 0.  Not to 0: spectral norm divides by the head's largest singular value, which
 * the unused fourth row then keeps away from 0. */
void fsth_generator_residual_start(fsth_generator *g) {
    float *weight = param_data(&g->ps, g->head.weight), *bias = param_data(&g->ps, g->head.bias);
    size_t row = (size_t)g->head.in_channels * g->head.kernel * g->head.kernel;
    for (size_t i = 0; i < 3 * row; i++) weight[i] *= 0.01f;
    for (int c = 0; c < 3; c++) bias[c] = 0.0f;
}

void fsth_generator_flow_start(fsth_generator *g) {
    float *weight = param_data(&g->ps, g->head.weight), *bias = param_data(&g->ps, g->head.bias);
    size_t row = (size_t)g->head.in_channels * g->head.kernel * g->head.kernel;
    for (int c = 4; c < g->head.out_channels; c++) {
        memset(weight + c * row, 0, row * sizeof(float));
        bias[c] = 0.0f;
    }
}

void fsth_generator_free(fsth_generator *g) {
    for (int i = 0; i < g->block_count; i++) fsth_block_free(&g->blocks[i]);
    if (g->attention_after >= 0) fsth_attention_free(&g->attention);
    sn_conv_free(&g->head);
    param_store_free(&g->ps);
    mem_free_aligned(g->head_mean);
    memset(g, 0, sizeof *g);
}

vv_status fsth_generator_prepare(fsth_generator *g, bool training) {
    for (int i = 0; i < g->block_count; i++) {
        vv_status status = fsth_block_prepare(&g->blocks[i], &g->ps, training);
        if (status != VV_OK) return status;
    }
    return sn_conv_prepare(&g->head, &g->ps, training);
}

void fsth_generator_project(const fsth_generator *g, float *psi, const float *e, int N) {
    linear_forward(psi, e, param_data(&g->ps, g->projection), NULL, N,
                   fsth_embedding_dim(&g->config), g->psi_dim);
}

void fsth_generator_project_backward(fsth_generator *g, float *de, const float *dpsi,
                                     const float *e, int N) {
    linear_backward(de, param_grad(&g->ps, g->projection), NULL, dpsi, e,
                    param_data(&g->ps, g->projection), N, fsth_embedding_dim(&g->config),
                    g->psi_dim);
}

static vv_status generator_reserve(fsth_generator *g, int N) {
    if (N <= g->capacity) return VV_OK;
    mem_free_aligned(g->head_mean);
    g->capacity = 0;
    int w = g->config.width, oc = generator_out_channels(&g->config);
    size_t plane = (size_t)g->config.size * g->config.size;
    size_t act = fsth_blocks_max_activation(g->blocks, g->block_count);
    if (act < (size_t)oc * plane) act = (size_t)oc * plane;
    size_t sizes[12] = {(size_t)w, (size_t)w, (size_t)w, (size_t)w, w * plane, oc * plane,
                        3 * plane, plane, act, act, act, g->config.flow ? 2 * plane : 0};
    size_t total = 0, bytes;
    for (int i = 0; i < 12; i++) {
        size_t s;
        if (!size_mul(sizes[i], (size_t)N, &s) || !size_add(s, 15, &s) || !size_add(total, s / 16 * 16, &total))
            return vv_fail(VV_ERR_TOO_LARGE, "generator: batch %d overflows", N);
    }
    if (!size_mul(total, sizeof(float), &bytes)) return vv_fail(VV_ERR_TOO_LARGE, "generator: batch %d overflows", N);
    float *p = mem_alloc_aligned(bytes);
    if (!p) return vv_fail(VV_ERR_NO_MEMORY, "generator: no memory for %zu bytes", bytes);
    float **slots[12] = {&g->head_mean, &g->head_rstd, &g->head_s, &g->head_b, &g->head_r,
                         &g->head_raw, &g->rgb, &g->blend, &g->grad_a, &g->grad_b, &g->grad_c, &g->flow};
    for (int i = 0; i < 12; i++) *slots[i] = p, p += (sizes[i] * N + 15) / 16 * 16;
    g->capacity = N;
    return VV_OK;
}

/* The tensor block i reads: the input, the previous block's output, or the attention's. */
static const float *block_input(const fsth_generator *g, const float *in, int i) {
    if (i == 0) return in;
    if (i - 1 == g->attention_after) return g->attention.out;
    return g->blocks[i - 1].out;
}

vv_status fsth_generator_forward(fsth_generator *g, float *out, const float *in,
                                 const float *psi, int N) {
    vv_status status = generator_reserve(g, N);
    if (status == VV_OK && g->attention_after >= 0) status = fsth_attention_reserve(&g->attention, N);
    if (status != VV_OK) return status;
    for (int i = 0; i < g->block_count; i++) {
        status = fsth_block_forward(&g->blocks[i], &g->ps, block_input(g, in, i), psi, g->psi_dim, N);
        if (status != VV_OK) return status;
        if (i == g->attention_after) fsth_attention_forward(&g->attention, &g->ps, g->blocks[i].out, N);
    }
    const float *x = block_input(g, in, g->block_count);
    int w = g->config.width, S = g->config.size, oc = generator_out_channels(&g->config);
    size_t plane = (size_t)S * S;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < w; c++) {
            const float *row = psi + (size_t)n * g->psi_dim + g->head_psi_offset;
            g->head_s[n * w + c] = 1.0f + row[c];
            g->head_b[n * w + c] = row[w + c];
        }
    adain_forward(g->head_r, g->head_mean, g->head_rstd, x, g->head_s, g->head_b, N, w, (int)plane, 1e-5f);
    relu_forward(g->head_r, g->head_r, (size_t)N * w * plane);
    if ((status = sn_conv_forward(&g->head, &g->ps, g->head_raw, g->head_r, N, S, S)) != VV_OK) return status;
    for (int n = 0; n < N; n++) {
        const float *raw = g->head_raw + (size_t)n * oc * plane;
        float *rgb = g->rgb + (size_t)n * 3 * plane, *o = out + (size_t)n * 3 * plane;
        tanh_forward(rgb, raw, 3 * plane);
        if (!g->config.hybrid) {
            memcpy(o, rgb, 3 * plane * sizeof(float));
            continue;
        }
        const float *warped = in + (size_t)n * 7 * plane + 3 * plane;
        float *blend = g->blend + (size_t)n * plane;
        if (g->config.residual) { /* a correction on top of the warp; the blend unused (0) */
            memset(blend, 0, plane * sizeof(float));
            if (g->config.flow) { /* the warp moved by the displacement first */
                float *f = g->flow + (size_t)n * 2 * plane, bound = g->config.flow_pixels;
                tanh_forward(f, raw + 4 * plane, 2 * plane);
                for (size_t i = 0; i < 2 * plane; i++) f[i] *= bound;
                flow_sample_nchw_forward(o, warped, f, 1, 3, S, S);
                for (size_t i = 0; i < 3 * plane; i++) o[i] += rgb[i];
            } else {
                for (size_t i = 0; i < 3 * plane; i++) o[i] = warped[i] + rgb[i];
            }
            continue;
        }
        sigmoid_forward(blend, raw + 3 * plane, plane);
        for (size_t i = 0; i < plane; i++) {
            float m = blend[i];
            for (int c = 0; c < 3; c++)
                o[c * plane + i] = m * warped[c * plane + i] + (1.0f - m) * rgb[c * plane + i];
        }
    }
    return VV_OK;
}

/* Whether the landmark drawing ([3, S, S], background -1) has a drawn pixel within 2
 * pixels (Chebyshev) of pixel i: where --flow-l1-features holds the displacement back. */
static bool near_drawing(const float *drawing, int S, int i) {
    int x = i % S, y = i / S;
    size_t plane = (size_t)S * S;
    for (int yy = y - 2; yy <= y + 2; yy++)
        for (int xx = x - 2; xx <= x + 2; xx++) {
            if (xx < 0 || yy < 0 || xx >= S || yy >= S) continue;
            size_t j = (size_t)yy * S + xx;
            if (drawing[j] > -0.9f || drawing[plane + j] > -0.9f || drawing[2 * plane + j] > -0.9f) return true;
        }
    return false;
}

vv_status fsth_generator_backward(fsth_generator *g, float *dpsi, const float *dout,
                                  const float *in, const float *psi, int N, bool param_grads) {
    if (N > g->capacity) return vv_fail(VV_ERR_INVALID_ARGUMENT, "generator backward: batch %d over the forward's", N);
    int w = g->config.width, S = g->config.size, oc = generator_out_channels(&g->config);
    size_t plane = (size_t)S * S;
    /* Output -> raw head output (grad_c). */
    for (int n = 0; n < N; n++) {
        const float *rgb = g->rgb + (size_t)n * 3 * plane, *d = dout + (size_t)n * 3 * plane;
        float *draw = g->grad_c + (size_t)n * oc * plane;
        if (!g->config.hybrid) {
            for (size_t i = 0; i < 3 * plane; i++) draw[i] = d[i] * (1.0f - rgb[i] * rgb[i]);
            continue;
        }
        const float *warped = in + (size_t)n * 7 * plane + 3 * plane, *blend = g->blend + (size_t)n * plane;
        if (g->config.residual) {
            for (size_t i = 0; i < 3 * plane; i++) draw[i] = d[i] * (1.0f - rgb[i] * rgb[i]);
            memset(draw + 3 * plane, 0, (size_t)(oc - 3) * plane * sizeof(float));
            if (g->config.flow) { /* d displacement, then through bound * tanh */
                const float *f = g->flow + (size_t)n * 2 * plane;
                float *df = draw + 4 * plane, bound = g->config.flow_pixels, inv = 1.0f / bound;
                flow_sample_nchw_backward(NULL, df, d, warped, f, 1, 3, S, S);
                float l1 = g->flow_l1 / (float)((size_t)N * 2 * plane); /* mean |f| over the batch */
                float lf = g->flow_l1_features / (float)((size_t)N * 2 * plane);
                const float *drawing = in + (size_t)n * 7 * plane;
                for (size_t i = 0; i < 2 * plane; i++) {
                    float t = f[i] * inv, weight = l1;
                    if (lf > 0.0f && near_drawing(drawing, S, (int)(i % plane))) weight += lf;
                    if (weight > 0.0f) df[i] += f[i] > 0.0f ? weight : f[i] < 0.0f ? -weight : 0.0f;
                    df[i] *= bound * (1.0f - t * t);
                }
            }
            continue;
        }
        for (size_t i = 0; i < plane; i++) {
            float m = blend[i], dm = 0.0f;
            for (int c = 0; c < 3; c++) {
                size_t j = c * plane + i;
                draw[j] = d[j] * (1.0f - m) * (1.0f - rgb[j] * rgb[j]);
                dm += d[j] * (warped[j] - rgb[j]);
            }
            draw[3 * plane + i] = dm * m * (1.0f - m);
        }
    }
    /* Head conv, ReLU, AdaIN -> d(last activation) in grad_a. */
    size_t head_n = (size_t)N * w * plane;
    memset(g->grad_b, 0, head_n * sizeof(float));
    vv_status status = sn_conv_backward(&g->head, &g->ps, g->grad_b, g->grad_c, g->head_r, N, S, S, param_grads);
    if (status != VV_OK) return status;
    memset(g->grad_c, 0, head_n * sizeof(float));
    relu_backward(g->grad_c, g->grad_b, g->head_r, head_n);
    const float *x = block_input(g, in, g->block_count);
    float *ds = g->head_mean == NULL ? NULL : g->grad_b; /* reuse: N*w floats each */
    float *db = ds + (size_t)N * w;
    memset(ds, 0, 2 * (size_t)N * w * sizeof(float));
    memset(g->grad_a, 0, head_n * sizeof(float));
    adain_backward(g->grad_a, ds, db, g->grad_c, x, g->head_mean, g->head_rstd, g->head_s, N, w, (int)plane);
    if (dpsi)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < w; c++) {
                float *row = dpsi + (size_t)n * g->psi_dim + g->head_psi_offset;
                row[c] += ds[n * w + c];
                row[w + c] += db[n * w + c];
            }
    /* Blocks in reverse; cur holds d(output of block i, after attention). */
    float *cur = g->grad_a, *spare[2] = {g->grad_b, g->grad_c};
    int next_spare = 0;
    for (int i = g->block_count - 1; i >= 0; i--) {
        fsth_block *b = &g->blocks[i];
        size_t out_n = (size_t)N * b->out_channels * b->out_H * b->out_W;
        if (i == g->attention_after) {
            float *t = spare[next_spare];
            memset(t, 0, out_n * sizeof(float));
            status = fsth_attention_backward(&g->attention, &g->ps, t, cur, b->out, N, param_grads);
            if (status != VV_OK) return status;
            spare[next_spare] = cur, cur = t;
            next_spare ^= 1;
        }
        /* The encoder's first block needs no input gradient; the encoder has no psi. */
        float *dx = NULL;
        if (i > 0) {
            dx = spare[next_spare];
            memset(dx, 0, (size_t)N * b->in_channels * b->H * b->W * sizeof(float));
        }
        bool encoder = i < g->encoder_count;
        if (encoder && !param_grads) break; /* nothing below feeds psi */
        status = fsth_block_backward(b, &g->ps, dx, encoder ? NULL : dpsi, cur, block_input(g, in, i),
                                     g->psi_dim, N, param_grads);
        if (status != VV_OK) return status;
        if (dx) {
            spare[next_spare] = cur, cur = dx;
            next_spare ^= 1;
        }
    }
    return VV_OK;
}
