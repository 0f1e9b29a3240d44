/* cli/bench: `vivify bench nn [--json] [--quick]`: speed of the training core (nn/bench.h)
 * and, when /usr/bin/python3 can import torch, PyTorch's CPU time for the same residual
 * block, measured in this run with as many threads as OpenBLAS uses; then a whole
 * `vivify train` step (its defaults: width 16, 4 bottleneck blocks, K = 8, batch 1, the
 * faceres identity term when faceres is found) at 128 and 256. */
#include "cli/cli.h"
#include "nn/bench.h"
#include "nn/tfjs.h"
#include "train/train.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Best forward + backward seconds of the block in PyTorch, or -1 when unavailable. */
static double torch_block_seconds(int reps, int threads) {
    const char *python = "/usr/bin/python3";
    if (access(python, X_OK) != 0) return -1;
    char script[4096], path[] = "/tmp/vivify_bench_torch_XXXXXX";
    int written = snprintf(script, sizeof script, nn_bench_torch_script(), threads, NN_BENCH_BLOCK_N,
                           NN_BENCH_BLOCK_C, NN_BENCH_BLOCK_HW, reps);
    if (written < 0 || (size_t)written >= sizeof script) return -1;
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        remove(path);
        return -1;
    }
    fputs(script, f);
    fclose(f);
    char command[256];
    snprintf(command, sizeof command, "%s %s 2>/dev/null", python, path);
    fflush(stdout);
    FILE *p = popen(command, "r");
    double seconds = -1;
    if (p) {
        if (fscanf(p, "%lf", &seconds) != 1) seconds = -1;
        if (pclose(p) != 0) seconds = -1;
    }
    remove(path);
    return seconds;
}

/* ---- a whole training step ---- */

/* Episodes of deterministic noise in [-1, 1] (the step's cost does not depend on content). */
static vv_status noise_episode(void *ctx, uint64_t *rng, fsth_batch *b) {
    (void)ctx;
    size_t plane = (size_t)b->S * b->S;
    size_t counts[3] = {(size_t)b->B * b->K * 6 * plane, (size_t)b->B * 6 * plane, (size_t)b->B * b->in_channels * plane};
    float *buffers[3] = {b->shots, b->target, b->g_in};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            buffers[k][i] = (float)(*rng >> 40) / 8388608.0f - 1.0f;
        }
    for (int e = 0; e < b->B; e++) b->videos[e] = 0;
    return VV_OK;
}

/* Best seconds of one fsth_train_step at side `size` (after one step that builds the
 * primitives and touches the memory), or -1 with *status set on failure. */
static double train_step_seconds(int size, int reps, const tfjs_model *faceres, vv_status *status) {
    fsth_config c = fsth_config_default(size); /* vivify train's defaults */
    fsth_model *m = NULL;
    fsth_trainer *t = NULL;
    *status = fsth_model_new(&m, &c, 1);
    fsth_train_params p = fsth_train_default_params();
    p.faceres = faceres, p.w_identity = faceres ? 10.0f : 0.0f; /* vivify train --identity 10 */
    if (*status == VV_OK) *status = fsth_trainer_new(&t, m, &p);
    double best = 1e30;
    for (int i = 0; i < reps + 1 && *status == VV_OK; i++) {
        fsth_losses losses;
        double start = time_now();
        *status = fsth_train_step(t, noise_episode, NULL, &losses);
        double seconds = time_now() - start;
        if (i > 0 && seconds < best) best = seconds;
    }
    if (t) fsth_trainer_free(t);
    if (m) fsth_model_free(m);
    return *status == VV_OK ? best : -1;
}

static void print_number_or_null(const char *name, double value, const char *format) {
    printf("\"%s\": ", name);
    if (value >= 0) printf(format, value);
    else printf("null");
}

static int bench_nn(int argc, char **argv) {
    bool json = false, quick = false;
    const cli_option opts[] = {
        {"json", 0, OPT_FLAG, &json, NULL, "print one JSON object instead of the table", 0, 0},
        {"quick", 0, OPT_FLAG, &quick, NULL, "fewer repetitions (noisier)", 0, 0},
    };
    const char *usage = "vivify bench nn [--json] [--quick]\n"
                        "  sgemm, 3x3 conv forward/backward GFLOP/s, the AdaIN residual block vs PyTorch CPU\n"
                        "  (torch_ratio = our time / PyTorch's, null without python3-torch) and faceres\n"
                        "  (TFJS) inference and training-mode forward+backward per 224x224 image; a whole\n"
                        "  `vivify train` step (its defaults, batch 1) at 128 and 256 and its samples/s";
    int npos = 0;
    int r = cli_parse(argc, argv, opts, 2, NULL, 0, &npos, usage);
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    int reps = quick ? 2 : 5;
    nn_bench_result res;
    vv_status s = nn_bench_run(&res, reps);
    if (s) return cli_fail(s);
    double torch = torch_block_seconds(NN_BENCH_BLOCK_REPS(reps), res.threads);
    double torch_ms = torch > 0 ? torch * 1e3 : -1;
    double ratio = torch > 0 ? res.block_ms / torch_ms : -1;
    /* the training step, as `vivify train` runs it (faceres when found, as it loads it) */
    char faceres_path[4096];
    tfjs_model *faceres = NULL;
    if (models_find("faceres.json", faceres_path, sizeof faceres_path) == VV_OK &&
        (s = tfjs_model_load(&faceres, faceres_path)) != VV_OK)
        return cli_fail(s);
    const int sizes[2] = {128, 256};
    double step_ms[2];
    for (int i = 0; i < 2; i++) {
        double seconds = train_step_seconds(sizes[i], quick ? 1 : 2, faceres, &s);
        if (s) {
            tfjs_model_free(faceres);
            return cli_fail(s);
        }
        step_ms[i] = seconds * 1e3;
    }
    tfjs_model_free(faceres);
    fsth_train_params defaults = fsth_train_default_params();
    int episodes = defaults.batch; /* samples: episodes of K shots + 1 target */
    if (!json) {
        printf("sgemm 1024^3            %8.1f GFLOP/s (%d threads, backend %s)\n", res.sgemm_gflops, res.threads,
               res.backend);
        for (int k = 0; k < NN_BENCH_CONV_CASES; k++)
            printf("conv3x3 %3dch %3dx%-3d   fwd %7.2f ms  bwd %7.2f ms\n", res.conv_channels[k], res.conv_size[k],
                   res.conv_size[k], res.conv_fwd_ms[k], res.conv_bwd_ms[k]);
        printf("conv forward            %8.1f GFLOP/s (%.0f%% of sgemm)\n", res.conv_fwd_gflops,
               100 * res.conv_fwd_gflops / res.sgemm_gflops);
        printf("conv backward           %8.1f GFLOP/s (%.0f%% of sgemm)\n", res.conv_bwd_gflops,
               100 * res.conv_bwd_gflops / res.sgemm_gflops);
        printf("resblock fwd+bwd        %8.2f ms (N=%d C=%d %dx%d)", res.block_ms, NN_BENCH_BLOCK_N, NN_BENCH_BLOCK_C,
               NN_BENCH_BLOCK_HW, NN_BENCH_BLOCK_HW);
        if (torch > 0) printf(", PyTorch %.2f ms, ratio %.2f\n", torch_ms, ratio);
        else printf(", PyTorch unavailable\n");
        if (res.faceres_train_ms >= 0)
            printf("faceres 224x224         %8.1f ms inference, %.1f ms forward+backward (training mode)\n",
                   res.faceres_forward_ms, res.faceres_train_ms);
        else
            printf("faceres                 model not found (./dev setup)\n");
        for (int i = 0; i < 2; i++)
            printf("train step %3dx%-3d      %8.0f ms, %.2f samples/s (K=%d, batch %d, identity term %s)\n", sizes[i],
                   sizes[i], step_ms[i], episodes / (step_ms[i] / 1e3), defaults.k, episodes, faceres ? "on" : "off");
        return EXIT_OK;
    }
    printf("{\"sgemm_gflops\": %.2f, \"conv_fwd_gflops\": %.2f, \"conv_bwd_gflops\": %.2f, "
           "\"conv_fwd_vs_sgemm\": %.3f, \"conv_bwd_vs_sgemm\": %.3f, \"block_ms\": %.2f, ",
           res.sgemm_gflops, res.conv_fwd_gflops, res.conv_bwd_gflops, res.conv_fwd_gflops / res.sgemm_gflops,
           res.conv_bwd_gflops / res.sgemm_gflops, res.block_ms);
    print_number_or_null("torch_block_ms", torch_ms, "%.2f");
    printf(", ");
    print_number_or_null("torch_ratio", ratio, "%.3f");
    printf(", ");
    print_number_or_null("faceres_forward_ms", res.faceres_forward_ms, "%.2f");
    printf(", ");
    print_number_or_null("faceres_train_ms", res.faceres_train_ms, "%.2f");
    for (int i = 0; i < 2; i++)
        printf(", \"train_step_ms_%d\": %.1f, \"train_samples_per_s_%d\": %.3f", sizes[i], step_ms[i], sizes[i],
               episodes / (step_ms[i] / 1e3));
    printf(", \"train_identity_term\": %s, \"backend\": \"%s\", \"threads\": %d}\n", faceres ? "true" : "false",
           res.backend, res.threads);
    return EXIT_OK;
}

int cli_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "nn")) return bench_nn(argc - 1, argv + 1);
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    fprintf(help ? stdout : stderr, "usage: vivify bench nn [--json] [--quick]   (vivify bench nn --help)\n");
    return help ? EXIT_OK : EXIT_USAGE;
}
