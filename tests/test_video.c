/* video: writer -> reader round trips on self-made clips (mp4, GIF, PNG sequence), audio
 * copy / re-encode with start offset and cut, rotation metadata, bad inputs, atomic output;
 * and, with ../shared, frame counts of real clips against dlib's per-frame reference. */
#include "test.h"

#include "img/image.h"
#include "video/video.h"

#include <dirent.h>
#include <unistd.h>

#define W 161 /* odd on purpose: mp4 crops to 160 x 120 */
#define H 121
#define FRAMES 30

static char tmp[4096];

static const char *tmp_path(const char *name) {
    static char paths[8][4200];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4200, "%s/%s", tmp, name);
    return p;
}

/* Moving smooth gradients, plus the frame number as 8 black/white 8x8 blocks (top-left). */
static void make_frame(vv_image *img, int index) {
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            uint8_t *p = img->data + ((size_t)y * img->width + x) * 3;
            int a = (x * 3 + index * 5) % 512, b = (y * 3 + index * 3) % 512;
            p[0] = (uint8_t)(a < 256 ? a : 511 - a);
            p[1] = (uint8_t)(b < 256 ? b : 511 - b);
            p[2] = (uint8_t)(64 + (x + y) / 3);
            if (y >= 8 && y < 16 && x >= 8 && x < 8 + 8 * 8) {
                int bit = (x - 8) / 8;
                uint8_t v = (index >> bit) & 1 ? 255 : 0;
                p[0] = p[1] = p[2] = v;
            }
        }
}

static int frame_number(const vv_image *img) {
    int n = 0;
    for (int bit = 0; bit < 8; bit++) {
        const uint8_t *p = img->data + ((size_t)12 * img->width + 8 + bit * 8 + 4) * 3;
        if (p[0] + p[1] + p[2] > 3 * 128) n |= 1 << bit;
    }
    return n;
}

/* PSNR of `got` against the top-left got->width x got->height area of `want`. */
static double psnr(const vv_image *got, const vv_image *want) {
    double sum = 0;
    for (int y = 0; y < got->height; y++)
        for (int x = 0; x < got->width * 3; x++) {
            double d = (double)got->data[(size_t)y * got->width * 3 + x] -
                       (double)want->data[(size_t)y * want->width * 3 + x];
            sum += d * d;
        }
    double mse = sum / ((double)got->width * got->height * 3);
    return mse <= 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

/* PSNR of 4x4 block means (ordered-dither noise averages out; colour errors do not). */
static double box_psnr(const vv_image *got, const vv_image *want) {
    double sum = 0;
    long count = 0;
    for (int by = 0; by + 4 <= got->height; by += 4)
        for (int bx = 0; bx + 4 <= got->width; bx += 4)
            for (int c = 0; c < 3; c++) {
                double a = 0, b = 0;
                for (int y = by; y < by + 4; y++)
                    for (int x = bx; x < bx + 4; x++) {
                        a += got->data[((size_t)y * got->width + x) * 3 + c];
                        b += want->data[((size_t)y * want->width + x) * 3 + c];
                    }
                double d = (a - b) / 16.0;
                sum += d * d;
                count++;
            }
    double mse = sum / (double)count;
    return mse <= 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static double last_min_box_psnr; /* set by read_all */

static int run(const char *cmd) {
    int rc = system(cmd);
    return rc;
}

static bool have_ffmpeg(void) { return run("ffmpeg -version >/dev/null 2>&1") == 0; }

/* One line of a shell command's output. */
static bool command_output(const char *cmd, char *out, size_t size) {
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    bool ok = fgets(out, (int)size, p) != NULL;
    pclose(p);
    if (ok) out[strcspn(out, "\r\n")] = 0;
    return ok;
}

static vv_status write_clip(const char *path, int width, int height, int frames,
                            const video_writer_params *extra) {
    video_writer_params params = extra ? *extra : video_writer_default_params();
    params.width = width;
    params.height = height;
    vv_image img = {0};
    vv_status s = image_create(&img, width, height, 3);
    if (s != VV_OK) return s;
    video_writer *writer = NULL;
    s = video_writer_open(&writer, path, &params);
    for (int i = 0; s == VV_OK && i < frames; i++) {
        make_frame(&img, i);
        s = video_writer_write(writer, &img);
    }
    if (s == VV_OK) s = video_writer_finish(writer);
    else if (writer) video_writer_abort(writer);
    image_free(&img);
    return s;
}

/* Reads every frame; checks order via the frame-number blocks and returns the lowest PSNR. */
static long read_all(const char *path, double *min_psnr, int *order_errors, double *last_time) {
    video_reader *reader = NULL;
    if (video_reader_open(&reader, path) != VV_OK) {
        fprintf(stderr, "open %s: %s\n", path, vv_last_error());
        return -1;
    }
    vv_image frame = {0}, want = {0};
    image_create(&want, W, H, 3);
    long n = 0;
    *min_psnr = 99;
    last_min_box_psnr = 99;
    *order_errors = 0;
    for (;;) {
        bool got = false;
        double t = 0;
        if (video_reader_next(reader, &frame, &t, &got) != VV_OK) {
            fprintf(stderr, "next %s: %s\n", path, vv_last_error());
            n = -1;
            break;
        }
        if (!got) break;
        make_frame(&want, (int)n);
        double p = psnr(&frame, &want);
        if (p < *min_psnr) *min_psnr = p;
        double pb = box_psnr(&frame, &want);
        if (pb < last_min_box_psnr) last_min_box_psnr = pb;
        if (frame_number(&frame) != (int)(n & 255)) (*order_errors)++;
        if (last_time) *last_time = t;
        n++;
    }
    image_free(&frame);
    image_free(&want);
    video_reader_close(reader);
    return n;
}

static void test_mp4_round_trip(void) {
    const char *path = tmp_path("clip.mp4");
    CHECK_OK(write_clip(path, W, H, FRAMES, NULL));
    video_reader *reader = NULL;
    CHECK_OK(video_reader_open(&reader, path));
    if (reader) {
        const video_info *info = video_reader_info(reader);
        CHECK(info->width == 160 && info->height == 120);
        CHECK_NEAR(info->fps, 25.0, 1e-6);
        CHECK(info->frame_count == FRAMES);
        CHECK_NEAR(info->duration, FRAMES / 25.0, 0.05);
        CHECK(info->rotation == 0);
        CHECK(!info->has_audio);
        video_reader_close(reader);
    }
    double min_psnr, last_time = 0;
    int order_errors;
    long n = read_all(path, &min_psnr, &order_errors, &last_time);
    CHECK(n == FRAMES);
    CHECK_MSG(min_psnr > 35.0, "mp4 CRF 18 min PSNR %.2f dB", min_psnr);
    CHECK(order_errors == 0);
    CHECK_NEAR(last_time, (FRAMES - 1) / 25.0, 1e-3);
    printf("mp4 round trip: %ld frames, min PSNR %.2f dB\n", n, min_psnr);

    /* faststart: the index (moov) precedes the media data (mdat). */
    FILE *f = fopen(path, "rb");
    uint8_t head[4096];
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    long moov = -1, mdat = -1;
    for (size_t i = 0; i + 4 <= got; i++) {
        if (moov < 0 && !memcmp(head + i, "moov", 4)) moov = (long)i;
        if (mdat < 0 && !memcmp(head + i, "mdat", 4)) mdat = (long)i;
    }
    CHECK_MSG(moov >= 0 && (mdat < 0 || moov < mdat), "moov at %ld, mdat at %ld", moov, mdat);

    /* A higher CRF gives a smaller file (the option reaches x264). */
    video_writer_params params = video_writer_default_params();
    params.crf = 40;
    params.preset = "ultrafast";
    const char *small = tmp_path("clip_crf40.mp4");
    CHECK_OK(write_clip(small, W, H, FRAMES, &params));
    struct stat a, b;
    CHECK(stat(path, &a) == 0 && stat(small, &b) == 0 && b.st_size < a.st_size);
    /* .mov and .mkv use the same H.264 path. */
    const char *others[2] = {tmp_path("clip_h264.mov"), tmp_path("clip_h264.mkv")};
    for (int k = 0; k < 2; k++) {
        CHECK(video_format_for_path(others[k]) == VIDEO_FORMAT_MP4);
        CHECK_OK(write_clip(others[k], W, H, 6, NULL));
        int errors;
        double p;
        CHECK(read_all(others[k], &p, &errors, NULL) == 6);
        CHECK(errors == 0);
    }
    /* Finishing with no frames is an error and leaves nothing. */
    CHECK(write_clip(tmp_path("empty_out.mp4"), W, H, 0, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK(!file_exists(tmp_path("empty_out.mp4")));

    params.preset = "no-such-preset";
    CHECK(write_clip(tmp_path("bad_preset.mp4"), W, H, 2, &params) != VV_OK);
    CHECK(!file_exists(tmp_path("bad_preset.mp4")));
}

static void test_gif_round_trip(void) {
    const char *path = tmp_path("clip.gif");
    video_writer_params params = video_writer_default_params();
    params.fps = 20;
    CHECK(video_format_for_path(path) == VIDEO_FORMAT_GIF);
    CHECK_OK(write_clip(path, W, H, FRAMES, &params));
    video_reader *reader = NULL;
    CHECK_OK(video_reader_open(&reader, path));
    if (reader) {
        const video_info *info = video_reader_info(reader);
        CHECK(info->width == W && info->height == H);
        CHECK_NEAR(info->fps, 20.0, 0.5);
        video_reader_close(reader);
    }
    double min_psnr, last_time = 0;
    int order_errors;
    long n = read_all(path, &min_psnr, &order_errors, &last_time);
    CHECK(n == FRAMES);
    CHECK_MSG(min_psnr > 20.0, "GIF min PSNR %.2f dB", min_psnr); /* 252 colours, dithered */
    CHECK_MSG(last_min_box_psnr > 32.0, "GIF 4x4-mean PSNR %.2f dB", last_min_box_psnr);
    CHECK(order_errors == 0);
    CHECK_NEAR(last_time, (FRAMES - 1) / 20.0, 0.011);
    printf("gif round trip: %ld frames, min PSNR %.2f dB (4x4 means %.2f dB)\n", n, min_psnr,
           last_min_box_psnr);
}

static void test_png_sequence(void) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/frames/", tmp);
    CHECK(video_format_for_path(dir) == VIDEO_FORMAT_PNG_SEQUENCE);
    CHECK_OK(write_clip(dir, W, H, 5, NULL));
    vv_image got = {0}, want = {0};
    image_create(&want, W, H, 3);
    for (int i = 0; i < 5; i++) {
        char name[4300];
        snprintf(name, sizeof name, "%sframe_%05d.png", dir, i);
        CHECK_OK(image_load(&got, name));
        make_frame(&want, i);
        CHECK(got.width == W && got.height == H && got.data &&
              !memcmp(got.data, want.data, (size_t)W * H * 3));
        image_free(&got);
    }
    char name[4300];
    snprintf(name, sizeof name, "%sframe_00005.png", dir);
    CHECK(!file_exists(name));
    /* Rewriting into the existing folder replaces the sequence; stale frames go. */
    CHECK_OK(write_clip(dir, W, H, 3, NULL));
    snprintf(name, sizeof name, "%sframe_00002.png", dir);
    CHECK(file_exists(name));
    snprintf(name, sizeof name, "%sframe_00003.png", dir);
    CHECK(!file_exists(name));
    image_free(&want);
}

/* Decodes the output's audio to 8 kHz mono and returns when the tone starts (s), or -1. */
static double tone_onset(const char *path) {
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -map 0:a:0 -ac 1 -ar 8000 -f s16le -", path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int16_t s;
    long i = 0;
    double onset = -1;
    while (fread(&s, sizeof s, 1, p) == 1) {
        if (onset < 0 && abs(s) > 3000) onset = (double)i / 8000.0;
        i++;
    }
    pclose(p);
    return onset;
}

static double probe_double(const char *path, const char *stream, const char *field) {
    char cmd[8600], out[256];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -select_streams %s -show_entries stream=%s -of csv=p=0 '%s'",
             stream, field, path);
    if (!command_output(cmd, out, sizeof out)) return -1;
    return atof(out);
}

static void test_audio(void) {
    /* 1 s of silence, then a 440 Hz tone, 3 s in all: as AAC (copied) and WAV (re-encoded). */
    char m4a[4200], wav[4200], mp3[4200]; /* copies: tmp_path's buffers rotate */
    snprintf(m4a, sizeof m4a, "%s", tmp_path("tone.m4a"));
    snprintf(wav, sizeof wav, "%s", tmp_path("tone.wav"));
    snprintf(mp3, sizeof mp3, "%s", tmp_path("tone.mp3"));
    char cmd[9000];
    const char *source = "aevalsrc='if(gte(t,1),0.5*sin(2*PI*440*t),0)':s=44100:d=3";
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i \"%s\" -c:a aac '%s'", source, m4a);
    CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i \"%s\" -ac 2 -c:a pcm_s16le '%s'", source, wav);
    CHECK(run(cmd) == 0);

    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i \"%s\" -c:a libmp3lame '%s'", source, mp3);
    bool have_mp3 = run(cmd) == 0;
    const char *sources[3] = {m4a, wav, mp3};
    const char *outputs[3] = {tmp_path("with_aac_copy.mp4"), tmp_path("with_wav_audio.mp4"),
                              tmp_path("with_mp3_copy.mp4")};
    const char *codecs[3] = {"aac", "aac", "mp3"};
    for (int k = 0; k < (have_mp3 ? 3 : 2); k++) {
        video_writer_params params = video_writer_default_params();
        params.audio_source = sources[k];
        params.audio_start = 0.5; /* the tone should start 0.5 s into the output */
        CHECK_OK(write_clip(outputs[k], W, H, FRAMES, &params));
        video_reader *reader = NULL;
        CHECK_OK(video_reader_open(&reader, outputs[k]));
        if (reader) {
            CHECK(video_reader_info(reader)->has_audio);
            video_reader_close(reader);
        }
        double video = probe_double(outputs[k], "v:0", "duration");
        double audio = probe_double(outputs[k], "a:0", "duration");
        CHECK_NEAR(video, FRAMES / 25.0, 0.01);
        CHECK_NEAR(audio, video, 0.1);
        double onset = tone_onset(outputs[k]);
        CHECK_NEAR(onset, 0.5, 0.05);
        char codec[64] = "";
        snprintf(cmd, sizeof cmd,
                 "ffprobe -v error -select_streams a:0 -show_entries stream=codec_name -of csv=p=0 '%s'",
                 outputs[k]);
        command_output(cmd, codec, sizeof codec);
        CHECK_MSG(!strcmp(codec, codecs[k]), "audio codec %s, expected %s", codec, codecs[k]);
        printf("audio %s: video %.3f s, audio %.3f s, tone at %.3f s\n", sources[k], video, audio, onset);
    }

    /* audio_duration cuts earlier than the video's end. */
    video_writer_params params = video_writer_default_params();
    params.audio_source = wav;
    params.audio_duration = 0.6;
    const char *cut = tmp_path("cut_audio.mp4");
    CHECK_OK(write_clip(cut, W, H, FRAMES, &params));
    CHECK_NEAR(probe_double(cut, "a:0", "duration"), 0.6, 0.05);

    /* A source with no audio is refused, and leaves nothing behind. */
    params = video_writer_default_params();
    params.audio_source = tmp_path("clip.mp4");
    CHECK(write_clip(tmp_path("no_audio_src.mp4"), W, H, 2, &params) == VV_ERR_FORMAT);
    CHECK(!file_exists(tmp_path("no_audio_src.mp4")));

    /* An audio-only file is not a video. */
    video_reader *reader = NULL;
    CHECK(video_reader_open(&reader, m4a) == VV_ERR_NO_VIDEO);
    CHECK(strstr(vv_last_error(), "tone.m4a") != NULL);
    CHECK(video_reader_open(&reader, wav) == VV_ERR_NO_VIDEO);
}

/* Reads the first frame of a file through FFmpeg's CLI (which auto-rotates). */
static bool ffmpeg_first_frame(const char *path, vv_image *out) {
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -frames:v 1 -f rawvideo -pix_fmt rgb24 -", path);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    size_t want = (size_t)out->width * out->height * 3;
    size_t got = fread(out->data, 1, want, p);
    pclose(p);
    return got == want;
}

/* Widths that are not a multiple of 16: every pixel of a row converted (swscale's fast path
 * left the last 2-6 of each row unwritten at widths 146, 150, 854: leftover memory). */
static void test_odd_widths(void) {
    const int widths[] = {146, 150, 250, 854};
    for (int k = 0; k < 4; k++) {
        char name[64], cmd[1024];
        snprintf(name, sizeof name, "flat_%d.mp4", widths[k]);
        const char *path = tmp_path(name);
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -v error -y -f lavfi -i color=c=0x8a7a52:s=%dx32:d=0.2 -pix_fmt yuv420p -c:v libx264 '%s'",
                 widths[k], path);
        CHECK_MSG(run(cmd) == 0, "ffmpeg made no %d-wide clip", widths[k]);
        video_reader *r = NULL;
        CHECK_OK(video_reader_open(&r, path));
        if (!r) continue;
        vv_image frame = {0};
        bool got = false;
        int frames = 0, worst = 0;
        while (video_reader_next(r, &frame, NULL, &got) == VV_OK && got) {
            frames++;
            for (int y = 0; y < frame.height; y++)
                for (int x = 0; x < frame.width; x++)
                    for (int c = 0; c < 3; c++) { /* a flat clip: every pixel as the first */
                        int d = abs(frame.data[((size_t)y * frame.width + x) * 3 + c] - frame.data[c]);
                        worst = d > worst ? d : worst;
                    }
        }
        CHECK_MSG(frames > 0, "width %d: no frames read", widths[k]);
        CHECK_MSG(worst <= 3, "width %d: a pixel %d levels off the flat colour (an unconverted column)", widths[k], worst);
        image_free(&frame);
        video_reader_close(r);
    }
}

static void test_rotation(void) {
    const char *source = tmp_path("clip.mp4");
    int angles[3] = {90, 180, 270};
    for (int k = 0; k < 3; k++) {
        char name[64], cmd[9000];
        snprintf(name, sizeof name, "rotated_%d.mp4", angles[k]);
        const char *path = tmp_path(name);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' -c copy -metadata:s:v rotate=%d '%s'",
                 source, angles[k], path);
        CHECK(run(cmd) == 0);
        video_reader *reader = NULL;
        CHECK_OK(video_reader_open(&reader, path));
        if (!reader) continue;
        const video_info *info = video_reader_info(reader);
        /* ffprobe prints the display matrix's counter-clockwise angle; players (and ffmpeg's
         * autorotate) turn the picture clockwise by its negation. */
        char cmd2[9000], out[64] = "";
        snprintf(cmd2, sizeof cmd2,
                 "ffprobe -v error -select_streams v:0 -show_entries stream_side_data=rotation "
                 "-of csv=p=0 '%s'", path);
        command_output(cmd2, out, sizeof out);
        int expected = ((-atoi(out)) % 360 + 360) % 360;
        CHECK_MSG(expected != 0, "ffprobe shows no rotation for %s", path);
        bool swap = expected != 180;
        CHECK_MSG(info->rotation == expected, "rotation %d, ffprobe says %d clockwise", info->rotation, expected);
        CHECK(info->width == (swap ? 120 : 160) && info->height == (swap ? 160 : 120));
        vv_image frame = {0}, reference = {0};
        bool got = false;
        CHECK_OK(video_reader_next(reader, &frame, NULL, &got));
        CHECK(got && frame.width == info->width && frame.height == info->height);
        image_create(&reference, info->width, info->height, 3);
        CHECK(ffmpeg_first_frame(path, &reference));
        double p = got ? psnr(&frame, &reference) : 0;
        CHECK_MSG(p > 35.0, "rotation %d: PSNR vs ffmpeg's autorotated frame %.2f dB", angles[k], p);
        image_free(&frame);
        image_free(&reference);
        video_reader_close(reader);
    }
}

static void test_other_containers(void) {
    const char *source = tmp_path("clip.mp4");
    const char *conversions[][2] = {
        {"clip.webm", "-c:v libvpx -b:v 1M"},
        {"clip.avi", "-c:v mpeg4 -q:v 3"},
        {"clip.mov", "-c copy"},
        {"clip_ffmpeg.gif", ""},
    };
    for (int k = 0; k < 4; k++) {
        char cmd[9000];
        const char *path = tmp_path(conversions[k][0]);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' %s '%s'", source, conversions[k][1], path);
        CHECK(run(cmd) == 0);
        double min_psnr;
        int order_errors;
        long n = read_all(path, &min_psnr, &order_errors, NULL);
        CHECK_MSG(n == FRAMES, "%s: %ld frames", conversions[k][0], n);
        CHECK_MSG(order_errors == 0, "%s: %d frames out of order", conversions[k][0], order_errors);
    }
}

static bool folder_has_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-")) found = true;
    closedir(d);
    return found;
}

static void test_bad_inputs(void) {
    video_reader *reader = NULL;
    CHECK(video_reader_open(&reader, tmp_path("missing.mp4")) == VV_ERR_NOT_FOUND);
    CHECK(strstr(vv_last_error(), "missing.mp4") != NULL);

    FILE *f = fopen(tmp_path("empty.mp4"), "wb");
    if (f) fclose(f);
    CHECK(video_reader_open(&reader, tmp_path("empty.mp4")) == VV_ERR_FORMAT);
    f = fopen(tmp_path("text.mp4"), "wb");
    if (f) {
        fputs("this is not a video, just some text that looks nothing like one\n", f);
        fclose(f);
    }
    CHECK(video_reader_open(&reader, tmp_path("text.mp4")) == VV_ERR_FORMAT);
    CHECK(strstr(vv_last_error(), "text.mp4") != NULL);
    CHECK(video_reader_open(&reader, tmp) == VV_ERR_FORMAT); /* a folder */

    /* Truncated mp4s: never crash; either refused or fewer frames. */
    uint8_t *data = NULL;
    size_t size = 0;
    CHECK_OK(file_read_all(tmp_path("clip.mp4"), 1 << 26, &data, &size));
    double fractions[3] = {0.02, 0.5, 0.9};
    for (int k = 0; k < 3 && data; k++) {
        const char *path = tmp_path("truncated.mp4");
        f = fopen(path, "wb");
        if (!f) continue;
        fwrite(data, 1, (size_t)(size * fractions[k]), f);
        fclose(f);
        vv_status s = video_reader_open(&reader, path);
        if (s == VV_OK) {
            vv_image frame = {0};
            long n = 0;
            bool got = true;
            while (got && (s = video_reader_next(reader, &frame, NULL, &got)) == VV_OK && got) n++;
            CHECK_MSG(n < FRAMES, "truncated to %.0f%%: %ld frames", fractions[k] * 100, n);
            CHECK(s == VV_OK || s == VV_ERR_CORRUPT || s == VV_ERR_NO_VIDEO);
            image_free(&frame);
            video_reader_close(reader);
        } else {
            CHECK_MSG(s == VV_ERR_FORMAT || s == VV_ERR_CORRUPT || s == VV_ERR_NO_VIDEO,
                      "truncated: %s", vv_last_error());
            CHECK(strstr(vv_last_error(), "truncated.mp4") != NULL);
        }
    }
    /* Garbage over the middle of the media data: the damaged frames are skipped or concealed. */
    if (data && size > 2000) {
        const char *path = tmp_path("damaged.mp4");
        for (size_t i = size / 2; i < size / 2 + 600; i++) data[i] = (uint8_t)(i * 131 + 7);
        f = fopen(path, "wb");
        if (f) {
            fwrite(data, 1, size, f);
            fclose(f);
        }
        double min_psnr;
        int order_errors;
        long n = read_all(path, &min_psnr, &order_errors, NULL);
        CHECK_MSG(n > FRAMES / 2 && n <= FRAMES, "damaged: %ld frames", n);
    }
    free(data);

    /* Writer: unwritable paths and bad arguments leave nothing behind. */
    video_writer_params params = video_writer_default_params();
    params.width = 64;
    params.height = 48;
    video_writer *writer = NULL;
    CHECK(video_writer_open(&writer, tmp_path("no_such_folder/out.mp4"), &params) == VV_ERR_WRITE);
    CHECK(strstr(vv_last_error(), "no_such_folder/out.mp4") != NULL);
    CHECK(video_writer_open(&writer, tmp_path("no_such_folder/out.gif"), &params) == VV_ERR_WRITE);
    CHECK(video_writer_open(&writer, tmp_path("no_such_folder/frames/"), &params) == VV_ERR_WRITE);
    CHECK(!file_exists(tmp_path("no_such_folder")));
    CHECK(video_writer_open(&writer, tmp_path("out.webm"), &params) == VV_ERR_UNSUPPORTED);
    params.width = 0;
    CHECK(video_writer_open(&writer, tmp_path("zero.mp4"), &params) == VV_ERR_INVALID_ARGUMENT);
    params.width = 100000;
    CHECK(video_writer_open(&writer, tmp_path("huge.mp4"), &params) == VV_ERR_TOO_LARGE);

    /* Abort mid-way: nothing at the path, no temporary files. */
    const char *outputs[3] = {tmp_path("aborted.mp4"), tmp_path("aborted.gif"), tmp_path("aborted_frames/")};
    for (int k = 0; k < 3; k++) {
        params.width = 64;
        vv_image img = {0};
        image_create(&img, 64, 48, 3);
        CHECK_OK(video_writer_open(&writer, outputs[k], &params));
        if (!writer) continue;
        CHECK(!file_exists(outputs[k]));
        for (int i = 0; i < 3; i++) {
            make_frame(&img, i);
            CHECK_OK(video_writer_write(writer, &img));
        }
        vv_image wrong = {0};
        image_create(&wrong, 32, 32, 3);
        CHECK(video_writer_write(writer, &wrong) == VV_ERR_INVALID_ARGUMENT);
        image_free(&wrong);
        video_writer_abort(writer);
        CHECK(!file_exists(outputs[k]));
        image_free(&img);
    }
    CHECK(!folder_has_temp_files(tmp));
}

/* Every clip in ../shared: frame count equals the lines of dlib's per-frame reference. */
static void test_shared_clips(void) {
    const char *shared = test_shared_data();
    if (!shared) {
        test_skip("real-clip frame counts: ../shared/data absent");
        return;
    }
    static char dir[2048], paths[128][2400];
    snprintf(dir, sizeof dir, "%s/train", shared);
    DIR *d = opendir(dir);
    if (!d) return;
    int count = 0;
    snprintf(paths[count++], sizeof paths[0], "%s/driving/lp_d0.mp4", shared);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 128)
        if (strstr(e->d_name, ".mp4")) snprintf(paths[count++], sizeof paths[0], "%s/%s", dir, e->d_name);
    closedir(d);
    int checked = 0;
    for (int i = 0; i < count; i++) {
        const char *slash = strrchr(paths[i], '/');
        char name[512], reference[4700];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(slash + 1) - 4), slash + 1);
        snprintf(reference, sizeof reference, "%s/reference/%s.jsonl", shared, name);
        FILE *f = fopen(reference, "r");
        if (!f) continue;
        long lines = 0;
        int c;
        while ((c = fgetc(f)) != EOF)
            if (c == '\n') lines++;
        fclose(f);
        video_reader *reader = NULL;
        CHECK_OK(video_reader_open(&reader, paths[i]));
        if (!reader) continue;
        const video_info *info = video_reader_info(reader);
        vv_image frame = {0};
        long n = 0;
        bool got = true;
        vv_status s = VV_OK;
        while (got && (s = video_reader_next(reader, &frame, NULL, &got)) == VV_OK && got) {
            if (frame.width != info->width || frame.height != info->height) break;
            n++;
        }
        CHECK_OK(s);
        CHECK_MSG(n == lines, "%s: %ld frames, reference has %ld", name, n, lines);
        CHECK_MSG(labs(info->frame_count - n) <= 1, "%s: estimate %ld, decoded %ld", name,
                  info->frame_count, n);
        image_free(&frame);
        video_reader_close(reader);
        checked++;
    }
    printf("shared clips: %d checked against reference frame counts\n", checked);

    /* A real clip as the audio source: its audio goes in, or, without audio, it is refused. */
    video_reader *probe = NULL;
    bool source_has_audio = false;
    if (video_reader_open(&probe, paths[0]) == VV_OK) {
        source_has_audio = video_reader_info(probe)->has_audio;
        video_reader_close(probe);
    }
    video_writer_params params = video_writer_default_params();
    params.audio_source = paths[0];
    const char *out = tmp_path("with_driving_audio.mp4");
    if (!source_has_audio) {
        CHECK(write_clip(out, W, H, 2, &params) == VV_ERR_FORMAT);
        CHECK(!file_exists(out));
    } else if (have_ffmpeg()) {
        CHECK_OK(write_clip(out, W, H, FRAMES, &params));
        video_reader *reader = NULL;
        CHECK_OK(video_reader_open(&reader, out));
        if (reader) {
            CHECK(video_reader_info(reader)->has_audio);
            video_reader_close(reader);
        }
        CHECK_NEAR(probe_double(out, "a:0", "duration"), FRAMES / 25.0, 0.1);
    }
    CHECK(checked >= 2);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "%s", test_tmp_dir("test_video"));
    test_mp4_round_trip();
    test_gif_round_trip();
    test_png_sequence();
    test_bad_inputs();
    if (have_ffmpeg()) { /* fixtures made with the ffmpeg CLI (installed by ./dev setup) */
        test_audio();
        test_rotation();
        test_odd_widths();
        test_other_containers();
    } else {
        test_skip("audio, rotation and container tests: ffmpeg CLI absent");
    }
    test_shared_clips();
    return test_finish("test_video");
}
