/* bench_video: decode speed of video_reader (decode + RGB24 conversion) against the ffmpeg
 * CLI on the same clip (`-f null`, decode only; and `-pix_fmt rgb24 -f null`, decode +
 * conversion like ours), and encode speed of video_writer (H.264 veryfast CRF 18, GIF).
 * Clip: ../shared/data/driving/lp_d0.mp4 if present, else a generated 512x512 clip.
 * Prints one JSON line.  Timings on a shared machine are noisy: best of several runs. */
#include "img/image.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define RUNS 3

/* CPU seconds (user + system) of this process or of its finished children: steadier than
 * wall time when other jobs share the cores. */
static double cpu_seconds(int who) {
    struct rusage u;
    getrusage(who, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec * 1e-6;
}

static void pattern(vv_image *img, int index) {
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            uint8_t *p = img->data + ((size_t)y * img->width + x) * 3;
            p[0] = (uint8_t)(x + index * 3);
            p[1] = (uint8_t)(y * 2 + index);
            p[2] = (uint8_t)(128 + 100 * sin((x + y + index * 4) * 0.05));
        }
}

/* Writes `frames` frames of the pattern; returns seconds, or -1. */
static double encode(const char *path, int width, int height, int frames) {
    video_writer_params params = video_writer_default_params();
    params.width = width;
    params.height = height;
    vv_image img = {0};
    if (image_create(&img, width, height, 3) != VV_OK) return -1;
    double elapsed = 0;
    video_writer *writer = NULL;
    vv_status s = video_writer_open(&writer, path, &params);
    for (int i = 0; s == VV_OK && i < frames; i++) {
        pattern(&img, i);
        double t0 = time_now();
        s = video_writer_write(writer, &img);
        elapsed += time_now() - t0;
    }
    double t0 = time_now();
    if (s == VV_OK) s = video_writer_finish(writer);
    else video_writer_abort(writer);
    elapsed += time_now() - t0;
    image_free(&img);
    if (s != VV_OK) {
        fprintf(stderr, "bench_video: %s\n", vv_last_error());
        return -1;
    }
    return elapsed;
}

/* Decodes the whole clip with our reader; returns seconds and the frame count. */
static double decode(const char *path, long *frames, double *cpu) {
    video_reader *reader = NULL;
    double c0 = cpu_seconds(RUSAGE_SELF);
    double t0 = time_now();
    if (video_reader_open(&reader, path) != VV_OK) {
        fprintf(stderr, "bench_video: %s\n", vv_last_error());
        return -1;
    }
    vv_image frame = {0};
    bool got = true;
    long n = 0;
    while (got && video_reader_next(reader, &frame, NULL, &got) == VV_OK && got) n++;
    video_reader_close(reader);
    image_free(&frame);
    *frames = n;
    *cpu = cpu_seconds(RUSAGE_SELF) - c0;
    return time_now() - t0;
}

static double run_seconds(const char *cmd, double *cpu) {
    double c0 = cpu_seconds(RUSAGE_CHILDREN);
    double t0 = time_now();
    int rc = system(cmd);
    *cpu = cpu_seconds(RUSAGE_CHILDREN) - c0;
    return rc == 0 ? time_now() - t0 : -1;
}

static double best(double a, double b) { return (a < 0 || (b >= 0 && b < a)) ? b : a; }

int main(int argc, char **argv) {
    char clip[4096], tmp_mp4[] = "/tmp/bench_video_out.mp4", tmp_gif[] = "/tmp/bench_video_out.gif";
    const char *generated = "/tmp/bench_video_clip.mp4";
    snprintf(clip, sizeof clip, "%s", argc > 1 ? argv[1] : VV_SOURCE_DIR "/../shared/data/driving/lp_d0.mp4");
    const int enc_w = 512, enc_h = 512, enc_frames = 100;
    if (!file_exists(clip)) {
        if (encode(generated, enc_w, enc_h, 250) < 0) return 1;
        snprintf(clip, sizeof clip, "%s", generated);
    }

    long frames = 0;
    double ours = -1, ff_decode = -1, ff_rgb = -1, cpu = 0;
    double ours_cpu = -1, ff_decode_cpu = -1, ff_rgb_cpu = -1;
    char cmd[8400];
    for (int r = 0; r < RUNS; r++) {
        ours = best(ours, decode(clip, &frames, &cpu));
        ours_cpu = best(ours_cpu, cpu);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -i '%s' -f null - 2>/dev/null", clip);
        ff_decode = best(ff_decode, run_seconds(cmd, &cpu));
        ff_decode_cpu = best(ff_decode_cpu, cpu);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -i '%s' -pix_fmt rgb24 -f null - 2>/dev/null", clip);
        ff_rgb = best(ff_rgb, run_seconds(cmd, &cpu));
        ff_rgb_cpu = best(ff_rgb_cpu, cpu);
    }
    if (ours <= 0 || frames == 0) return 1;

    double enc_mp4 = -1, enc_gif = -1;
    for (int r = 0; r < RUNS; r++) {
        enc_mp4 = best(enc_mp4, encode(tmp_mp4, enc_w, enc_h, enc_frames));
        enc_gif = best(enc_gif, encode(tmp_gif, enc_w, enc_h, enc_frames));
    }
    remove(tmp_mp4);
    remove(tmp_gif);

    const video_info *info = NULL;
    video_reader *reader = NULL;
    int width = 0, height = 0;
    if (video_reader_open(&reader, clip) == VV_OK) {
        info = video_reader_info(reader);
        width = info->width;
        height = info->height;
        video_reader_close(reader);
    }
    double ours_fps = frames / ours;
    printf("{\"bench\":\"video\",\"clip\":\"%s\",\"width\":%d,\"height\":%d,\"frames\":%ld,"
           "\"decode_rgb_fps\":%.1f,\"ffmpeg_null_fps\":%.1f,\"ffmpeg_rgb24_fps\":%.1f,"
           "\"ratio_vs_ffmpeg_null\":%.2f,\"ratio_vs_ffmpeg_rgb24\":%.2f,"
           "\"cpu_ms_per_frame\":{\"ours\":%.2f,\"ffmpeg_null\":%.2f,\"ffmpeg_rgb24\":%.2f},"
           "\"encode_h264_veryfast_fps\":%.1f,\"encode_gif_fps\":%.1f,\"encode_size\":\"%dx%d\","
           "\"runs\":%d,\"note\":\"best of runs; ffmpeg times include process start; shared machine, noisy\"}\n",
           clip, width, height, frames, ours_fps, ff_decode > 0 ? frames / ff_decode : 0,
           ff_rgb > 0 ? frames / ff_rgb : 0, ff_decode > 0 ? ours_fps / (frames / ff_decode) : 0,
           ff_rgb > 0 ? ours_fps / (frames / ff_rgb) : 0, 1000 * ours_cpu / frames,
           1000 * ff_decode_cpu / frames, 1000 * ff_rgb_cpu / frames, enc_mp4 > 0 ? enc_frames / enc_mp4 : 0,
           enc_gif > 0 ? enc_frames / enc_gif : 0, enc_w, enc_h, RUNS);
    if (file_exists(generated)) remove(generated);
    return 0;
}
