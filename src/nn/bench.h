/* nn/bench: speed figures of the training core (what `vivify bench nn` reports).  The
 * library only measures; the CLI prints, and times the PyTorch side itself
 * (nn_bench_torch_script) since the library never spawns programs. */
#ifndef VV_NN_BENCH_H
#define VV_NN_BENCH_H

#include "base/base.h"

/* The AdaIN residual block compared with PyTorch (nn/resblock.h). */
#define NN_BENCH_BLOCK_N 2
#define NN_BENCH_BLOCK_C 64
#define NN_BENCH_BLOCK_HW 64
#define NN_BENCH_CONV_CASES 3
/* Repetitions of the block (ours and PyTorch's, best of): a block takes ~10 ms, so many,
 * which keeps the best of them meaningful on a machine other programs share. */
#define NN_BENCH_BLOCK_REPS(reps) (4 * (reps) + 2)

typedef struct nn_bench_result {
    double sgemm_gflops;    /* the backend's sgemm (nn_gemm) 1024^3, this run */
    double conv_fwd_gflops; /* 3x3 stride-1 convs: 64ch@128x128, 128ch@64x64, 256ch@64x64 */
    double conv_bwd_gflops; /* their input + weight gradients (2x the forward FLOPs) */
    int conv_channels[NN_BENCH_CONV_CASES], conv_size[NN_BENCH_CONV_CASES];
    double conv_fwd_ms[NN_BENCH_CONV_CASES], conv_bwd_ms[NN_BENCH_CONV_CASES];
    double block_ms;        /* resblock forward + backward, batch 2, 64ch, 64x64 */
    /* faceres (TFJS) per 224x224 image, batch 1: inference, and training-mode forward +
     * backward to the input; < 0 when .cache/models/faceres.json is absent. */
    double faceres_forward_ms;
    double faceres_train_ms;
    int threads;            /* OpenBLAS threads (and oneDNN's, and the norm kernels') */
    const char *backend;    /* nn_backend_current()->name: "cpu+onednn" or "cpu" */
} nn_bench_result;

/* Each figure is the best of `reps` repetitions (>= 1); the block of NN_BENCH_BLOCK_REPS(reps). */
vv_status nn_bench_run(nn_bench_result *out, int reps);

/* A Python script timing the same residual block in PyTorch (CPU) and printing the best
 * forward + backward seconds: printf format taking threads, N, C, H, reps (all int). */
const char *nn_bench_torch_script(void);

#endif
