/* bench_nn: speed of the training core.  Prints one JSON object:
 *   sgemm_gflops     OpenBLAS sgemm 1024^3, this run (the ceiling for im2col convs)
 *   conv_fwd_gflops  3x3 stride-1 convs (64ch@128x128, 128ch@64x64, 256ch@64x64, batch 1)
 *   conv_bwd_gflops  their backward (input and weight gradients: 2x the forward FLOPs)
 *   torch_ratio      our time / PyTorch CPU time for forward+backward of the AdaIN residual
 *                    block (nn/resblock.h; batch 2, 64 channels, 64x64), PyTorch measured
 *                    in the same run via /usr/bin/python3 with as many threads as we use;
 *                    null when torch is not importable.
 * Each figure is the best of several repetitions.  Usage: bench_nn [--json] [--quick] */
#include "nn/layers.h"
#include "nn/resblock.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 42;
static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = ((float)(rng >> 40) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
}

static float *alloc_filled(size_t n, float scale) {
    float *p = mem_alloc_aligned(n * sizeof(float));
    if (!p) { fprintf(stderr, "bench_nn: out of memory\n"); exit(1); }
    fill(p, n, scale);
    return p;
}

static double bench_sgemm(int reps) {
    int n = 1024;
    float *a = alloc_filled((size_t)n * n, 1), *b = alloc_filled((size_t)n * n, 1), *c = alloc_filled((size_t)n * n, 1);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = time_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = time_now() - t;
        if (t < best) best = t;
    }
    mem_free_aligned(a), mem_free_aligned(b), mem_free_aligned(c);
    return 2.0 * n * n * n / best / 1e9;
}

typedef struct conv_case { int C, H; } conv_case;

static void bench_conv(int reps, double *fwd_gflops, double *bwd_gflops) {
    const conv_case cases[] = {{64, 128}, {128, 64}, {256, 64}};
    double flops = 0, fwd_time = 0, bwd_time = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        conv2d_shape s;
        conv2d_shape_init(&s, 1, cases[k].C, cases[k].H, cases[k].H, cases[k].C, 3, 3, 1, 1, 1);
        size_t act = (size_t)s.C * s.H * s.W, weights = (size_t)s.OC * s.C * 9;
        float *x = alloc_filled(act, 1), *w = alloc_filled(weights, 0.05f), *b = alloc_filled(s.OC, 0.1f);
        float *y = alloc_filled(act, 0), *dy = alloc_filled(act, 1), *dx = alloc_filled(act, 0);
        float *dw = alloc_filled(weights, 0), *db = alloc_filled(s.OC, 0);
        double best_f = 1e30, best_b = 1e30;
        for (int r = 0; r < reps; r++) {
            double t = time_now();
            if (conv2d_forward(y, x, w, b, &s) != VV_OK) exit(1);
            t = time_now() - t;
            if (t < best_f) best_f = t;
            t = time_now();
            if (conv2d_backward(dx, dw, db, dy, x, w, &s) != VV_OK) exit(1);
            t = time_now() - t;
            if (t < best_b) best_b = t;
        }
        flops += 2.0 * s.OC * s.OH * s.OW * s.C * 9;
        fwd_time += best_f;
        bwd_time += best_b;
        fprintf(stderr, "conv %3dch %3dx%-3d fwd %6.1f ms  bwd %6.1f ms\n", s.C, s.H, s.W, best_f * 1e3, best_b * 1e3);
        mem_free_aligned(x), mem_free_aligned(w), mem_free_aligned(b), mem_free_aligned(y);
        mem_free_aligned(dy), mem_free_aligned(dx), mem_free_aligned(dw), mem_free_aligned(db);
    }
    *fwd_gflops = flops / fwd_time / 1e9;
    *bwd_gflops = 2.0 * flops / bwd_time / 1e9;
}

#define BLOCK_N 2
#define BLOCK_C 64
#define BLOCK_HW 64

static double bench_block(int reps) {
    int N = BLOCK_N, C = BLOCK_C, H = BLOCK_HW;
    resblock_adain rb;
    if (resblock_adain_init(&rb, N, C, H, H) != VV_OK) exit(1);
    size_t act = (size_t)N * C * H * H, weights = (size_t)C * C * 9, planes = (size_t)N * C;
    resblock_params p = {alloc_filled(weights, 0.05f), alloc_filled(C, 0.1f), alloc_filled(C, 1), alloc_filled(C * 9, 0),
                         alloc_filled(weights, 0.05f), alloc_filled(C, 0.1f), alloc_filled(C, 1), alloc_filled(C * 9, 0)};
    resblock_grads g = {alloc_filled(weights, 0), alloc_filled(C, 0), alloc_filled(weights, 0), alloc_filled(C, 0)};
    float *x = alloc_filled(act, 1), *out = alloc_filled(act, 0), *dout = alloc_filled(act, 1), *dx = alloc_filled(act, 0);
    float *s1 = alloc_filled(planes, 1), *b1 = alloc_filled(planes, 1), *s2 = alloc_filled(planes, 1), *b2 = alloc_filled(planes, 1);
    float *ds1 = alloc_filled(planes, 0), *db1 = alloc_filled(planes, 0), *ds2 = alloc_filled(planes, 0), *db2 = alloc_filled(planes, 0);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = time_now();
        /* zero the gradients as a training step does */
        memset(dx, 0, act * sizeof(float));
        if (resblock_adain_forward(&rb, out, x, s1, b1, s2, b2, &p, true) != VV_OK ||
            resblock_adain_backward(&rb, dx, ds1, db1, ds2, db2, &g, dout, x, s1, s2, &p) != VV_OK)
            exit(1);
        t = time_now() - t;
        if (t < best) best = t;
    }
    resblock_adain_free(&rb);
    return best;
}

/* The same block in PyTorch; prints the best forward+backward seconds. */
static const char *torch_script =
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

static double bench_torch_block(int reps, int threads) {
    if (!file_exists("/usr/bin/python3")) return -1;
    char script[4096], path[] = "/tmp/bench_nn_torch_XXXXXX";
    snprintf(script, sizeof script, torch_script, threads, BLOCK_N, BLOCK_C, BLOCK_HW, reps);
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) return -1;
    fputs(script, f);
    fclose(f);
    char command[256];
    snprintf(command, sizeof command, "/usr/bin/python3 %s 2>/dev/null", path);
    FILE *p = popen(command, "r");
    double seconds = -1;
    if (p) {
        if (fscanf(p, "%lf", &seconds) != 1) seconds = -1;
        if (pclose(p) != 0) seconds = -1;
    }
    remove(path);
    return seconds;
}

int main(int argc, char **argv) {
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = true;
        else if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "usage: bench_nn [--json] [--quick]\n");
            return 2;
        }
    }
    int reps = quick ? 2 : 5;
    int threads = openblas_get_num_threads();
    double sgemm = bench_sgemm(reps + 2);
    double fwd, bwd;
    bench_conv(reps, &fwd, &bwd);
    double ours = bench_block(reps + 2);
    double torch = bench_torch_block(reps + 2, threads);
    fprintf(stderr, "resblock fwd+bwd (N=%d C=%d %dx%d): ours %.1f ms, torch %.1f ms\n", BLOCK_N, BLOCK_C, BLOCK_HW,
            BLOCK_HW, ours * 1e3, torch * 1e3);
    printf("{\"sgemm_gflops\": %.2f, \"conv_fwd_gflops\": %.2f, \"conv_bwd_gflops\": %.2f, "
           "\"conv_fwd_vs_sgemm\": %.3f, \"conv_bwd_vs_sgemm\": %.3f, \"block_ms\": %.2f, ",
           sgemm, fwd, bwd, fwd / sgemm, bwd / sgemm, ours * 1e3);
    if (torch > 0) printf("\"torch_block_ms\": %.2f, \"torch_ratio\": %.3f, ", torch * 1e3, ours / torch);
    else printf("\"torch_block_ms\": null, \"torch_ratio\": null, ");
    printf("\"threads\": %d}\n", threads);
    return 0;
}
