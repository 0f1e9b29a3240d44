/* bench_animate: end-to-end `vivify animate` speed (engines warp and warp2d) for a 512x512
 * driver and a 1024x1024 source, against ffmpeg's own transcode of the same driver to our
 * output size (decode + scale + libx264 medium: the baseline; and with our x264
 * settings, veryfast crf 18), with the per-stage breakdown `vivify animate -v` reports;
 * then the same on the driver played 4 times (forwards, backwards, ...) so that start-up
 * weighs less.  ffmpeg and ours run in turn, round after round, so that a change in the
 * machine's load falls on both.  Needs the ffmpeg CLI and ../shared/data/driving/lp_d0.mp4
 * (or a driver given as argv[1]; argv[2]: another vivify binary, timed beside the one
 * beside this program in the same rounds, for before / after figures from one run: A is
 * this build, B the other).  Wall times are noisy on a shared machine: the CPU times
 * (user + system of the child processes) are printed beside them, and each round's own
 * ratio against the ffmpeg run of the same round with their median. */
#include "base/base.h"

#include <libgen.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

/* Runs a command; returns wall seconds and adds the children's CPU seconds (user + system)
 * to *cpu: on a shared machine CPU time is the steadier figure. */
static double run(const char *command, double *cpu) {
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    double start = time_now();
    int rc = system(command);
    double elapsed = time_now() - start;
    getrusage(RUSAGE_CHILDREN, &after);
    if (rc != 0) {
        fprintf(stderr, "bench_animate: failed (%d): %s\n", rc, command);
        exit(1);
    }
    if (cpu) {
        double u = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) + (after.ru_utime.tv_usec - before.ru_utime.tv_usec) * 1e-6;
        double k = (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) + (after.ru_stime.tv_usec - before.ru_stime.tv_usec) * 1e-6;
        *cpu = u + k;
    }
    return elapsed;
}

static long count_frames(const char *path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
                              "-of csv=p=0 '%s'", path);
    FILE *p = popen(cmd, "r");
    long frames = 0;
    if (p) {
        if (fscanf(p, "%ld", &frames) != 1) frames = 0;
        pclose(p);
    }
    return frames;
}

typedef struct timing {
    double wall, cpu; /* each the best (lowest) of the runs */
} timing;

/* Best wall time and best CPU time of `repeats` runs: on a shared machine the fastest run
 * is the one least disturbed by others. */
static timing best_of(const char *command, int repeats) {
    timing best = {1e30, 1e30};
    for (int i = 0; i < repeats; i++) {
        double cpu = 0, wall = run(command, &cpu);
        if (wall < best.wall) best.wall = wall;
        if (cpu < best.cpu) best.cpu = cpu;
    }
    return best;
}

static void print_load(const char *when) {
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) == 3) printf("  load average %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
}

/* One verbose run: the stage times vivify animate -v reports (wall seconds). */
static void stages(const char *exe, const char *tmp, const char *driver, const char *engine) {
    char cmd[16384], line[4096];
    snprintf(cmd, sizeof cmd, "%s animate %s/bench_src1024.png --driving '%s' -e %s -v -o %s/bench_out.mp4 </dev/null 2>&1 >/dev/null",
             exe, tmp, driver, engine, tmp);
    FILE *p = popen(cmd, "r");
    double faces = 0, mesh = 0, matte = 0, tracking = 0, decode = 0, render = 0, encode = 0, total = 0;
    long frames = 0;
    while (p && fgets(line, sizeof line, p)) {
        const char *w = strstr(line, "wall s: source faces");
        if (w) sscanf(w, "wall s: source faces %lf, mesh %lf, matte %lf, tracking %lf, decode %lf, render %lf, encode %lf", &faces,
                      &mesh, &matte, &tracking, &decode, &render, &encode);
        const char *f = strstr(line, "animate: ");
        const char *in = strstr(line, " in ");
        if (f && in && strstr(line, " frames ")) {
            sscanf(f, "animate: %ld frames", &frames);
            sscanf(in, " in %lf s", &total);
        }
    }
    if (p) pclose(p);
    double n = frames > 0 ? (double)frames : 1;
    printf("  stages, engine %-6s (%ld frames, %.2f s; ms a frame, as LivePortrait's speed.md lists them):\n"
           "    once: source faces %.0f ms, face mesh %.0f ms, matte + head %.0f ms\n"
           "    per frame, wall on the render thread: waiting for the tracker %.2f (the driver is decoded and tracked on a thread\n"
           "      of its own), driver frame handed over %.2f, render %.2f, colour conversion + waiting for the encoder %.2f (x264\n"
           "      runs on the writer's thread)\n",
           engine, frames, total, faces * 1e3, mesh * 1e3, matte * 1e3, tracking / n * 1e3, decode / n * 1e3, render / n * 1e3,
           encode / n * 1e3);
}

/* CPU a frame of the stages that run on other threads, measured apart with the same
 * libraries: decoding the driver to RGB, and x264 at our settings on our own output
 * (ffmpeg re-encoding it, less ffmpeg only decoding it); the rest of `total_cpu` is ours
 * (tracking, render, colour conversion, start-up). */
static void cpu_stages(const char *tmp, const char *driver, long frames, double total_cpu, int repeats) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -loglevel error -y -i '%s' -pix_fmt rgb24 -f null -", driver);
    timing decode = best_of(cmd, repeats);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -loglevel error -y -i %s/bench_out_warp.mp4 -f null -", tmp);
    timing decode_out = best_of(cmd, repeats);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -loglevel error -y -i %s/bench_out_warp.mp4 -c:v libx264 -preset veryfast -crf 18 -an %s/bench_reenc.mp4",
             tmp, tmp);
    timing reencode = best_of(cmd, repeats);
    double n = frames > 0 ? (double)frames : 1, encode = reencode.cpu - decode_out.cpu;
    printf("    CPU a frame: driver decode %.2f ms, x264 encode %.2f ms (both measured apart with ffmpeg), the rest (tracking,\n"
           "      render, colour conversion, start-up) %.2f ms, of %.2f ms in all\n",
           decode.cpu / n * 1e3, encode / n * 1e3, (total_cpu - decode.cpu - encode) / n * 1e3, total_cpu / n * 1e3);
}

#define MAX_ROUNDS 9

/* The median of n values (sorted in place). */
static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Ours against ffmpeg for one driver clip: exes[0] (this build), and exes[1] when given
 * (another build, before / after), all in the same rounds. */
static void compare(const char *const *exes, int exe_count, const char *tmp, const char *driver, int repeats) {
    enum { MAX_COMMANDS = 6 };
    char commands[MAX_COMMANDS][16384];
    long driver_frames = count_frames(driver);
    printf("bench_animate: driver %s (%ld frames, 512x512), source 1024x1024, %d cores; %d rounds, each running ffmpeg and\n"
           "  ours in turn (interleaved, so a change in load falls on both); wall and CPU (user + system) each the lowest\n"
           "  of the rounds\n", driver, driver_frames, cpu_count(), repeats);
    for (int x = 0; x < exe_count; x++) printf("  binary %c: %s\n", 'A' + x, exes[x]);
    print_load("before");
    /* The baseline: ffmpeg's own transcode of the driver to our output size:
     * decode + scale + libx264 medium; and the same with our encoder settings (veryfast). */
    snprintf(commands[0], sizeof commands[0],
             "ffmpeg -nostdin -loglevel error -y -i '%s' -vf scale=1024:1024 -c:v libx264 -preset medium -pix_fmt yuv420p -an "
             "%s/bench_ff.mp4", driver, tmp);
    snprintf(commands[1], sizeof commands[1],
             "ffmpeg -nostdin -loglevel error -y -i '%s' -vf scale=1024:1024 -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -an "
             "%s/bench_ff.mp4", driver, tmp);
    static const char *const engines[] = {"warp", "warp2d"};
    int count = 2;
    for (int x = 0; x < exe_count; x++)
        for (int e = 0; e < 2; e++, count++)
            snprintf(commands[count], sizeof commands[count], "%s animate %s/bench_src1024.png --driving '%s' -e %s -o "
                     "%s/bench_out_%s%s.mp4 </dev/null >/dev/null 2>&1", exes[x], tmp, driver, engines[e], tmp, engines[e],
                     x ? "_b" : "");
    timing best[MAX_COMMANDS], round[MAX_ROUNDS][MAX_COMMANDS];
    if (repeats > MAX_ROUNDS) repeats = MAX_ROUNDS;
    for (int k = 0; k < count; k++) best[k] = (timing){1e30, 1e30};
    for (int r = 0; r < repeats; r++)
        for (int k = 0; k < count; k++) {
            timing t = round[r][k] = best_of(commands[k], 1);
            if (t.wall < best[k].wall) best[k].wall = t.wall;
            if (t.cpu < best[k].cpu) best[k].cpu = t.cpu;
        }
    timing medium = best[0], veryfast = best[1];
    printf("  ffmpeg decode + scale to 1024x1024 + libx264 medium (the issue's baseline)  wall %6.2f s   CPU %6.2f s\n", medium.wall,
           medium.cpu);
    printf("  the same with our x264 settings (veryfast crf 18)                          wall %6.2f s   CPU %6.2f s\n", veryfast.wall,
           veryfast.cpu);
    for (int x = 0; x < exe_count; x++)
        for (int e = 0; e < 2; e++) {
            char out[4096];
            snprintf(out, sizeof out, "%s/bench_out_%s%s.mp4", tmp, engines[e], x ? "_b" : "");
            timing ours = best[2 + 2 * x + e];
            long frames = count_frames(out);
            printf("  %c: vivify animate -e %-6s end to end (%ld frames)   wall %6.2f s  %5.1f frames/s  %.2fx ffmpeg medium   CPU %6.2f s  "
                   "%.2fx\n", 'A' + x, engines[e], frames, ours.wall, frames / ours.wall, ours.wall / medium.wall, ours.cpu,
                   ours.cpu / medium.cpu);
            /* Each round's own ratio (ours against the ffmpeg run just before it): the
             * bests above may pair a quiet moment of one with a busy one of the other. */
            double wall_ratio[MAX_ROUNDS], cpu_ratio[MAX_ROUNDS];
            for (int r = 0; r < repeats; r++) {
                wall_ratio[r] = round[r][2 + 2 * x + e].wall / round[r][0].wall;
                cpu_ratio[r] = round[r][2 + 2 * x + e].cpu / round[r][0].cpu;
            }
            printf("     per round against that round's ffmpeg medium: wall");
            for (int r = 0; r < repeats; r++) printf(" %.2fx", wall_ratio[r]);
            printf(" (median %.2fx), CPU", median(wall_ratio, repeats));
            for (int r = 0; r < repeats; r++) printf(" %.2fx", cpu_ratio[r]);
            printf(" (median %.2fx)\n", median(cpu_ratio, repeats));
            stages(exes[x], tmp, driver, engines[e]);
            if (e == 0 && x == 0) cpu_stages(tmp, driver, frames, ours.cpu, repeats);
        }
    print_load("after");
}

int main(int argc, char **argv) {
    char driver[4096], exe[4096], dir[4096], cmd[16384];
    const char *exes[2] = {exe, NULL};
    int exe_count = 1;
    if (argc > 1) snprintf(driver, sizeof driver, "%s", argv[1]);
    else snprintf(driver, sizeof driver, "%s/../shared/data/driving/lp_d0.mp4", VV_SOURCE_DIR);
    if (!file_exists(driver)) {
        printf("bench_animate: skipped, no driver at %s\n", driver);
        return 0;
    }
    snprintf(dir, sizeof dir, "%s", argv[0]);
    snprintf(exe, sizeof exe, "%s/vivify", dirname(dir));
    if (argc > 2) exes[exe_count++] = argv[2]; /* another build's binary, timed in the same rounds */
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -loglevel error -y -i %s/examples/mona_lisa.png -vf scale=1024:1024 %s/bench_src1024.png",
             VV_SOURCE_DIR, tmp);
    run(cmd, NULL);
    int repeats = 3;
    compare(exes, exe_count, tmp, driver, repeats);
    /* A longer clip (the driver forwards, backwards, forwards, backwards: no jumps) so that
     * start-up (models, source detection) weighs less. */
    char looped[4096];
    snprintf(looped, sizeof looped, "%s/bench_driver_x4.mp4", tmp);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -loglevel error -y -i '%s' -filter_complex \"[0:v]split=2[a][b];[b]reverse[r];[a][r]concat=n=2:v=1,"
             "split=2[c][d];[c][d]concat=n=2:v=1\" -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -an %s",
             driver, looped);
    run(cmd, NULL);
    compare(exes, exe_count, tmp, looped, repeats);
    return 0;
}
