/* bench_animate: end-to-end `vivify animate` speed for a 512x512 driver and a 1024x1024
 * source, against ffmpeg decoding and re-encoding the same clip with the same encoder
 * settings (libx264 veryfast crf 18 yuv420p), once at the driver's size and once scaled
 * to our output size.  Needs the ffmpeg CLI and ../shared/data/driving/lp_d0.mp4 (or a
 * driver given as argv[1]).  Noisy on a shared machine: run it a few times. */
#include "base/base.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double run(const char *command) {
    double start = time_now();
    int rc = system(command);
    double elapsed = time_now() - start;
    if (rc != 0) {
        fprintf(stderr, "bench_animate: failed (%d): %s\n", rc, command);
        exit(1);
    }
    return elapsed;
}

int main(int argc, char **argv) {
    char driver[4096], exe[4096], dir[4096], cmd[16384];
    if (argc > 1) snprintf(driver, sizeof driver, "%s", argv[1]);
    else snprintf(driver, sizeof driver, "%s/../shared/data/driving/lp_d0.mp4", VV_SOURCE_DIR);
    if (!file_exists(driver)) {
        printf("bench_animate: skipped, no driver at %s\n", driver);
        return 0;
    }
    snprintf(dir, sizeof dir, "%s", argv[0]);
    snprintf(exe, sizeof exe, "%s/vivify", dirname(dir));
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(cmd, sizeof cmd,
             "ffmpeg -loglevel error -y -i %s/examples/mona_lisa.png -vf scale=1024:1024 %s/bench_src1024.png",
             VV_SOURCE_DIR, tmp);
    run(cmd);
    int repeats = 3;
    double ours = 1e30, same_size = 1e30, upscaled = 1e30;
    for (int i = 0; i < repeats; i++) {
        snprintf(cmd, sizeof cmd, "%s animate %s/bench_src1024.png --driving '%s' -o %s/bench_out.mp4 2>/dev/null",
                 exe, tmp, driver, tmp);
        double t = run(cmd);
        ours = t < ours ? t : ours;
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -loglevel error -y -i '%s' -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -an %s/bench_ff.mp4",
                 driver, tmp);
        t = run(cmd);
        same_size = t < same_size ? t : same_size;
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -loglevel error -y -i '%s' -vf scale=1024:1024 -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -an "
                 "%s/bench_ff.mp4", driver, tmp);
        t = run(cmd);
        upscaled = t < upscaled ? t : upscaled;
    }
    snprintf(cmd, sizeof cmd, "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
                              "-of csv=p=0 %s/bench_out.mp4", tmp);
    FILE *p = popen(cmd, "r");
    long frames = 0;
    if (p) {
        if (fscanf(p, "%ld", &frames) != 1) frames = 0;
        pclose(p);
    }
    printf("bench_animate: %ld frames, 1024x1024 source, driver %s, %d cores (best of %d)\n", frames, driver,
           cpu_count(), repeats);
    printf("  vivify animate end to end  %.2f s  %.1f frames/s\n", ours, frames / ours);
    printf("  ffmpeg transcode 512       %.2f s  ratio %.2fx\n", same_size, ours / same_size);
    printf("  ffmpeg transcode to 1024   %.2f s  ratio %.2fx\n", upscaled, ours / upscaled);
    return 0;
}
