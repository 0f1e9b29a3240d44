/* bench_fsth: speed of the few-shot talking-head model (one JSON object per line).
 *   generator: ms per rendered frame (fsth_render: landmark image + G; hybrid adds the
 *              warp) at several sides and widths, after a warm-up frame;
 *   train:     meta-learning samples (episodes of K + 1 frames) per second and GFLOP/s;
 *   finetune:  seconds per fine-tuning step with K = 8 and the default step count's total.
 * Random weights: speed does not depend on training.  OpenBLAS threads do not pay at these
 * sizes: OPENBLAS_NUM_THREADS=1 gives the one-core figure.
 * usage: bench_fsth [--quick] [--full-finetune] */
#include "img/image.h"
#include "train/train.h"
#include "warp/mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) { return (double)clock() / CLOCKS_PER_SEC; }

static void face_points(float points[68][2], int S, float open) {
    const float (*mean)[2] = face_mean_landmarks();
    for (int i = 0; i < 68; i++) {
        float y = mean[i][1] + ((i >= 56 && i <= 59) || i >= 65 ? open : 0.0f);
        points[i][0] = S * 0.5f + mean[i][0] * S / 4.5f;
        points[i][1] = S * 0.4f + y * S / 4.5f;
    }
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_generator(int size, int width, bool hybrid, int frames) {
    fsth_config c = fsth_config_default(size);
    c.width = width, c.hybrid = hybrid;
    fsth_model *m;
    if (fsth_model_new(&m, &c, 1) != VV_OK) {
        fprintf(stderr, "bench_fsth: %s\n", vv_last_error());
        return;
    }
    vv_image shot, out = {0};
    image_create(&shot, size, size, 3);
    memset(shot.data, 128, (size_t)size * size * 3);
    float points[68][2];
    face_points(points, size, 0.0f);
    fsth_prepare(m, &shot, (const float (*)[68][2])points, 1);
    double times[64], cpu0 = 0.0;
    if (frames > 64) frames = 64;
    for (int i = -1; i < frames; i++) {
        if (i == 0) cpu0 = cpu_now();
        face_points(points, size, 0.02f * (i + 1));
        double t0 = time_now();
        fsth_render(m, (const float (*)[2])points, &out);
        if (i >= 0) times[i] = time_now() - t0;
    }
    double cpu = (cpu_now() - cpu0) / frames;
    qsort(times, (size_t)frames, sizeof times[0], compare_double);
    double params = (double)m->G.ps.total;
    printf("{\"bench\": \"generator\", \"size\": %d, \"width\": %d, \"hybrid\": %s, \"ms_per_frame_median\": %.1f, "
           "\"ms_per_frame_min\": %.1f, \"frames_per_s\": %.1f, \"cpu_ms_per_frame\": %.1f, \"gflop_per_frame\": %.3f, \"generator_mparams\": %.2f, \"frames\": %d}\n",
           size, width, hybrid ? "true" : "false", times[frames / 2] * 1e3, times[0] * 1e3,
           1.0 / times[frames / 2], cpu * 1e3, fsth_generator_flops(&m->G) * 1e-9, params * 1e-6, frames);
    fflush(stdout);
    image_free(&out);
    image_free(&shot);
    fsth_model_free(m);
}

/* Random episodes: speed only. */
static vv_status random_episode(void *ctx, uint64_t *rng, fsth_batch *b) {
    (void)ctx;
    size_t plane = (size_t)b->S * b->S;
    size_t n[3] = {(size_t)b->B * b->K * 6 * plane, (size_t)b->B * 6 * plane, (size_t)b->B * b->in_channels * plane};
    float *p[3] = {b->shots, b->target, b->g_in};
    for (int j = 0; j < 3; j++)
        for (size_t i = 0; i < n[j]; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            p[j][i] = (float)((*rng >> 40) * (2.0 / 16777216.0)) - 1.0f;
        }
    for (int i = 0; i < b->B; i++) b->videos[i] = i % 4;
    return VV_OK;
}

static void bench_train(int size, int width, int k, int batch, int steps) {
    fsth_config c = fsth_config_default(size);
    c.width = width, c.videos = 4;
    fsth_model *m;
    fsth_trainer *t;
    fsth_train_params p = fsth_train_default_params();
    p.k = k, p.batch = batch;
    if (fsth_model_new(&m, &c, 1) != VV_OK || fsth_trainer_new(&t, m, &p) != VV_OK) {
        fprintf(stderr, "bench_fsth: %s\n", vv_last_error());
        return;
    }
    fsth_losses l;
    fsth_train_step(t, random_episode, NULL, &l); /* warm-up */
    double t0 = time_now(), c0 = cpu_now();
    for (int i = 0; i < steps; i++) fsth_train_step(t, random_episode, NULL, &l);
    double dt = (time_now() - t0) / steps, cpu = (cpu_now() - c0) / steps;
    printf("{\"bench\": \"train\", \"size\": %d, \"width\": %d, \"k\": %d, \"batch\": %d, \"cpu_ms_per_step\": %.0f, \"ms_per_step\": %.0f, "
           "\"samples_per_s\": %.3f, \"frames_per_s\": %.2f, \"gflop_per_step\": %.2f, \"gflop_per_s\": %.2f}\n",
           size, width, k, batch, cpu * 1e3, dt * 1e3, batch / dt, batch * (k + 1) / dt, fsth_train_step_flops(t) * 1e-9,
           fsth_train_step_flops(t) / dt * 1e-9);
    fflush(stdout);
    fsth_trainer_free(t);
    fsth_model_free(m);
}

static void bench_finetune(int size, int width, int k, int steps) {
    fsth_config c = fsth_config_default(size);
    c.width = width;
    fsth_model *m;
    if (fsth_model_new(&m, &c, 1) != VV_OK) return;
    size_t plane = (size_t)size * size;
    float *frames = calloc((size_t)k * 3 * plane, sizeof(float));
    float (*points)[68][2] = calloc((size_t)k, sizeof *points);
    for (int i = 0; i < k; i++) face_points(points[i], size, 0.02f * i);
    fsth_finetune_params p = fsth_finetune_default_params(k);
    int default_steps = p.steps;
    if (steps > 0) p.steps = steps;
    float loss;
    double t0 = time_now(), c0 = cpu_now();
    vv_status s = fsth_finetune(m, frames, (const float (*)[68][2])points, k, &p, &loss);
    double dt = time_now() - t0, cpu = cpu_now() - c0;
    if (s != VV_OK) fprintf(stderr, "bench_fsth: %s\n", vv_last_error());
    printf("{\"bench\": \"finetune\", \"size\": %d, \"width\": %d, \"k\": %d, \"batch\": %d, \"steps_run\": %d, "
           "\"cpu_s_per_step\": %.3f, \"s_per_step\": %.3f, \"default_steps\": %d, \"default_total_s\": %.1f}\n",
           size, width, k, p.batch, p.steps, cpu / p.steps, dt / p.steps, default_steps, dt / p.steps * default_steps);
    fflush(stdout);
    free(frames);
    free(points);
    fsth_model_free(m);
}

int main(int argc, char **argv) {
    bool quick = false, full = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--full-finetune")) full = true;
    }
    int frames = quick ? 5 : 15;
    bench_generator(128, 16, false, frames);
    bench_generator(128, 32, false, frames);
    bench_generator(256, 8, false, frames);
    bench_generator(256, 16, false, frames);
    bench_generator(256, 16, true, frames);
    if (!quick) bench_generator(256, 32, false, frames / 2);
    bench_train(128, 16, 8, 1, quick ? 2 : 5);
    if (!quick) bench_train(256, 16, 8, 1, 2);
    bench_finetune(128, 16, 8, full ? 0 : 6);
    if (!quick) bench_finetune(256, 16, 8, full ? 0 : 4);
    return 0;
}
