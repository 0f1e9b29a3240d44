/* nn/bench: measures the backend's sgemm, 3x3 convolutions, the AdaIN residual block and faceres in
 * training mode (moved here from bench/bench_nn.c so `vivify bench nn` can report them). */
#include "nn/bench.h"

#include "nn/backend.h"
#include "nn/layers.h"
#include "nn/resblock.h"
#include "nn/tfjs.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_arena {
    float *blocks[32];
    int count;
    uint64_t rng;
    bool failed; /* an allocation failed */
} bench_arena;

/* A buffer of n floats, uniform in [-scale, scale], freed with the arena; NULL (and
 * a->failed) when out of memory. */
static float *arena_filled(bench_arena *a, size_t n, float scale) {
    float *p = a->count < 32 ? mem_alloc_aligned((n ? n : 1) * sizeof(float)) : NULL;
    if (!p) {
        a->failed = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        a->rng = a->rng * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = ((float)(a->rng >> 40) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
    a->blocks[a->count++] = p;
    return p;
}

static void arena_free(bench_arena *a) {
    for (int i = 0; i < a->count; i++) mem_free_aligned(a->blocks[i]);
    a->count = 0;
}

static vv_status bench_sgemm(nn_bench_result *r, int reps) {
    int n = 1024;
    bench_arena a = {.rng = 42};
    float *x = arena_filled(&a, (size_t)n * n, 1), *y = arena_filled(&a, (size_t)n * n, 1);
    float *z = arena_filled(&a, (size_t)n * n, 1);
    if (a.failed) {
        arena_free(&a);
        return vv_fail(VV_ERR_NO_MEMORY, "nn_bench: out of memory for sgemm");
    }
    double best = 1e30;
    for (int i = 0; i < reps + 2; i++) {
        double t = time_now();
        nn_gemm(false, false, n, n, n, 1.0f, x, n, y, n, 0.0f, z, n);
        t = time_now() - t;
        if (t < best) best = t;
    }
    arena_free(&a);
    r->sgemm_gflops = 2.0 * n * n * n / best / 1e9;
    return VV_OK;
}

static vv_status bench_conv(nn_bench_result *r, int reps) {
    const int cases[NN_BENCH_CONV_CASES][2] = {{64, 128}, {128, 64}, {256, 64}};
    double flops = 0, fwd_time = 0, bwd_time = 0;
    vv_status s = VV_OK;
    for (int k = 0; k < NN_BENCH_CONV_CASES && !s; k++) {
        conv2d_shape c;
        conv2d_shape_init(&c, 1, cases[k][0], cases[k][1], cases[k][1], cases[k][0], 3, 3, 1, 1, 1);
        size_t act = (size_t)c.C * c.H * c.W, weights = (size_t)c.OC * c.C * 9;
        bench_arena a = {.rng = 42 + (uint64_t)k};
        float *x = arena_filled(&a, act, 1), *w = arena_filled(&a, weights, 0.05f), *b = arena_filled(&a, c.OC, 0.1f);
        float *y = arena_filled(&a, act, 0), *dy = arena_filled(&a, act, 1), *dx = arena_filled(&a, act, 0);
        float *dw = arena_filled(&a, weights, 0), *db = arena_filled(&a, c.OC, 0);
        if (a.failed) s = vv_fail(VV_ERR_NO_MEMORY, "nn_bench: out of memory for conv");
        double best_f = 1e30, best_b = 1e30;
        for (int i = 0; i < reps && !s; i++) {
            double t = time_now();
            if ((s = conv2d_forward(y, x, w, b, &c))) break;
            t = time_now() - t;
            if (t < best_f) best_f = t;
            t = time_now();
            if ((s = conv2d_backward(dx, dw, db, dy, x, w, &c))) break;
            t = time_now() - t;
            if (t < best_b) best_b = t;
        }
        arena_free(&a);
        r->conv_channels[k] = c.C;
        r->conv_size[k] = c.H;
        r->conv_fwd_ms[k] = best_f * 1e3;
        r->conv_bwd_ms[k] = best_b * 1e3;
        flops += 2.0 * c.OC * c.OH * c.OW * c.C * 9;
        fwd_time += best_f;
        bwd_time += best_b;
    }
    if (s) return s;
    r->conv_fwd_gflops = flops / fwd_time / 1e9;
    r->conv_bwd_gflops = 2.0 * flops / bwd_time / 1e9;
    return VV_OK;
}

static vv_status bench_block(nn_bench_result *r, int reps) {
    int N = NN_BENCH_BLOCK_N, C = NN_BENCH_BLOCK_C, H = NN_BENCH_BLOCK_HW;
    resblock_adain rb;
    vv_status s = resblock_adain_init(&rb, N, C, H, H);
    if (s) return s;
    size_t act = (size_t)N * C * H * H, weights = (size_t)C * C * 9, planes = (size_t)N * C;
    bench_arena a = {.rng = 7};
    resblock_params p = {arena_filled(&a, weights, 0.05f), arena_filled(&a, C, 0.1f), arena_filled(&a, C, 1),
                         arena_filled(&a, C * 9, 0), arena_filled(&a, weights, 0.05f), arena_filled(&a, C, 0.1f),
                         arena_filled(&a, C, 1), arena_filled(&a, C * 9, 0)};
    resblock_grads g = {arena_filled(&a, weights, 0), arena_filled(&a, C, 0), arena_filled(&a, weights, 0),
                        arena_filled(&a, C, 0)};
    float *x = arena_filled(&a, act, 1), *out = arena_filled(&a, act, 0), *dout = arena_filled(&a, act, 1);
    float *dx = arena_filled(&a, act, 0);
    float *s1 = arena_filled(&a, planes, 1), *b1 = arena_filled(&a, planes, 1), *s2 = arena_filled(&a, planes, 1);
    float *b2 = arena_filled(&a, planes, 1), *ds1 = arena_filled(&a, planes, 0), *db1 = arena_filled(&a, planes, 0);
    float *ds2 = arena_filled(&a, planes, 0), *db2 = arena_filled(&a, planes, 0);
    double best = 1e30;
    if (a.failed) s = vv_fail(VV_ERR_NO_MEMORY, "nn_bench: out of memory for the residual block");
    for (int i = 0; i < reps && !s; i++) {
        double t = time_now();
        memset(dx, 0, act * sizeof(float)); /* zero the gradients as a training step does */
        if ((s = resblock_adain_forward(&rb, out, x, s1, b1, s2, b2, &p, true))) break;
        if ((s = resblock_adain_backward(&rb, dx, ds1, db1, ds2, db2, &g, dout, x, s1, s2, &p))) break;
        t = time_now() - t;
        if (t < best) best = t;
    }
    resblock_adain_free(&rb);
    arena_free(&a);
    r->block_ms = best * 1e3;
    return s;
}

static vv_status bench_faceres(nn_bench_result *r, int reps) {
    r->faceres_forward_ms = r->faceres_train_ms = -1;
    char path[4096];
    if (models_find("faceres.json", path, sizeof path) != VV_OK) return VV_OK; /* reported as absent */
    tfjs_model *model;
    vv_status s = tfjs_model_load(&model, path);
    if (s) return s;
    int shape[4] = {1, 224, 224, 3}, feature_shape[2] = {1, 1024};
    tensor input = {0}, out = {0}, d_out = {0}, d_input = {0};
    if (!(s = tensor_alloc(&input, 4, shape)) && !(s = tensor_alloc(&d_out, 2, feature_shape))) {
        for (size_t i = 0; i < input.size; i++) input.data[i] = (float)((i * 37) % 256);
        for (size_t i = 0; i < d_out.size; i++) d_out.data[i] = 1.0f / 1024;
    }
    double best_f = 1e30, best_t = 1e30;
    for (int i = 0; i < reps + 1 && !s; i++) {
        double t = time_now();
        if ((s = tfjs_model_run(model, &input, "global_pooling/Mean", &out))) break;
        t = time_now() - t;
        tensor_free(&out);
        if (t < best_f) best_f = t;
        tfjs_tape *tape = NULL;
        t = time_now();
        s = tfjs_model_run_train(model, &input, "global_pooling/Mean", &out, &tape);
        if (!s) s = tfjs_model_backward(model, tape, &d_out, &d_input);
        t = time_now() - t;
        tfjs_tape_free(tape);
        tensor_free(&out);
        tensor_free(&d_input);
        if (t < best_t) best_t = t;
    }
    tensor_free(&input);
    tensor_free(&d_out);
    tfjs_model_free(model);
    if (s) return s;
    r->faceres_forward_ms = best_f * 1e3;
    r->faceres_train_ms = best_t * 1e3;
    return VV_OK;
}

vv_status nn_bench_run(nn_bench_result *out, int reps) {
    memset(out, 0, sizeof *out);
    if (reps < 1) reps = 1;
    out->threads = openblas_get_num_threads();
    out->backend = nn_backend_current()->name;
    vv_status s;
    if ((s = bench_sgemm(out, reps))) return s;
    if ((s = bench_conv(out, reps))) return s;
    if ((s = bench_block(out, NN_BENCH_BLOCK_REPS(reps)))) return s;
    return bench_faceres(out, reps);
}

static const char torch_script[] =
    "import time, torch, torch.nn.functional as F\n"
    "torch.set_num_threads(%d)\n"
    "N, C, H = %d, %d, %d\n"
    "def adain(x, s, b):\n"
    "    return F.instance_norm(x, eps=1e-5) * s.view(N, C, 1, 1) + b.view(N, C, 1, 1)\n"
    "c1 = torch.nn.utils.spectral_norm(torch.nn.Conv2d(C, C, 3, padding=1))\n"
    "c2 = torch.nn.utils.spectral_norm(torch.nn.Conv2d(C, C, 3, padding=1))\n"
    "x = torch.randn(N, C, H, H, requires_grad=True)\n"
    "s1, b1, s2, b2 = [torch.randn(N, C, requires_grad=True) for _ in range(4)]\n"
    "dout = torch.randn(N, C, H, H)\n"
    "best = 1e30\n"
    "for r in range(%d):\n"
    "    t = time.perf_counter()\n"
    "    for p in [x, s1, b1, s2, b2] + list(c1.parameters()) + list(c2.parameters()): p.grad = None\n"
    "    y = c2(F.relu(adain(c1(F.relu(adain(x, s1, b1))), s2, b2))) + x\n"
    "    y.backward(dout)\n"
    "    best = min(best, time.perf_counter() - t)\n"
    "print(best)\n";

const char *nn_bench_torch_script(void) { return torch_script; }
