/* cli/metrics: `vivify metrics A B [--json]`: every pairwise metric between two images, two
 * videos (frame by frame, up to the shorter), or an image and every frame of a video (e.g.
 * the portrait against the animation: identity kept?).  B is resized to A; A is the
 * reference. */
#include "cli/cli.h"
#include "eval/protocol.h"
#include "eval/report.h"
#include "img/image.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_image_path(const char *path) {
    char ext[16];
    path_extension(path, ext, sizeof ext);
    return !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
}

/* Frames of an image (one; or, held, the same one for every frame of the other input) or a
 * video, one at a time. */
typedef struct frame_source {
    const char *path;
    bool image;
    bool done;
    bool held;      /* an image compared with every frame of a video: loaded once, kept */
    video_reader *reader;
} frame_source;

static vv_status source_next(frame_source *src, vv_image *frame, bool *got) {
    *got = false;
    if (src->held && frame->data) {
        *got = true;
        return VV_OK;
    }
    if (src->done) return VV_OK;
    if (src->image) {
        src->done = true;
        vv_status s = image_load(frame, src->path);
        *got = s == VV_OK;
        return s;
    }
    double t;
    vv_status s = video_reader_next(src->reader, frame, &t, got);
    if (!*got) src->done = true;
    return s;
}

static cJSON *json_number(double v) {
    if (isnan(v)) return cJSON_CreateNull();
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
    return cJSON_CreateNumber(v);
}

int cli_metrics(int argc, char **argv) {
    bool json = false, no_faces = false;
    int max_frames = 0;
    const char *models = NULL;
    const cli_option opts[] = {
        {"json", 0, OPT_FLAG, &json, NULL, "print JSON (PSNR of identical frames is the string \"inf\"; null: not measured)", 0, 0},
        {"max-frames", 0, OPT_INT, &max_frames, "N", "compare at most the first N frames (default: all)", 1, 1000000},
        {"no-faces", 0, OPT_FLAG, &no_faces, NULL, "pixel metrics only (no face detection, CSIM or landmark metrics)", 0, 0},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json and faceres.json (default: search)", 0, 0},
    };
    const char *positional[2];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 2, &npos,
                      "usage: vivify metrics A B [--json]\n\n"
                      "Pairwise metrics of B against the reference A: two images, two videos frame by frame\n"
                      "(up to the shorter), or an image and every frame of a video (vivify metrics portrait.png\n"
                      "result.mp4: does the animation keep the portrait's identity?).  B is resized to A's size.  SSIM, PSNR, L1 always; when both have a\n"
                      "face: CSIM (faceres identity), NME and AKD (landmarks), expression and pose distance.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (npos != 2) {
        fprintf(stderr, "vivify: metrics needs two inputs A and B (see vivify metrics --help)\n");
        return EXIT_USAGE;
    }
    frame_source src[2] = {{positional[0], is_image_path(positional[0]), false, false, NULL},
                           {positional[1], is_image_path(positional[1]), false, false, NULL}};
    for (int i = 0; i < 2; i++)
        if (!file_exists(src[i].path)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", src[i].path));
    /* An image with a video: the image against every frame. */
    bool mixed = src[0].image != src[1].image;
    for (int i = 0; i < 2; i++) src[i].held = mixed && src[i].image;
    vv_status s = VV_OK;
    for (int i = 0; i < 2 && s == VV_OK; i++)
        if (!src[i].image) s = video_reader_open(&src[i].reader, src[i].path);
    eval_context ctx;
    memset(&ctx, 0, sizeof ctx);
    if (s == VV_OK && !no_faces) s = eval_context_open(&ctx, models, 0);
    int capacity = 64, frames = 0;
    double (*values)[METRIC_COUNT] = mem_alloc((size_t)capacity, sizeof *values);
    if (!values) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory");
    vv_image fa = {0}, fb = {0};
    int aw = 0, ah = 0, bw = 0, bh = 0;
    eval_reference reference; /* A's face and identity, measured once when A is a held image */
    memset(&reference, 0, sizeof reference);
    reference.image = &fa;
    while (s == VV_OK && (max_frames == 0 || frames < max_frames)) {
        bool ga = false, gb = false;
        s = source_next(&src[0], &fa, &ga);
        if (s == VV_OK) s = source_next(&src[1], &fb, &gb);
        if (s != VV_OK || !ga || !gb) break;
        if (frames == 0) { aw = fa.width; ah = fa.height; bw = fb.width; bh = fb.height; }
        if (frames == capacity) {
            void *p = realloc(values, (size_t)capacity * 2 * sizeof *values);
            if (!p) { s = vv_fail(VV_ERR_NO_MEMORY, "out of memory"); break; }
            values = p;
            capacity *= 2;
        }
        if (!src[0].held) { /* a new A each frame: measured again */
            memset(&reference, 0, sizeof reference);
            reference.image = &fa;
        }
        s = eval_compare_reference(&ctx, &reference, &fb, values[frames]);
        if (s == VV_OK) frames++;
    }
    if (s == VV_OK && frames == 0) s = vv_fail(VV_ERR_NO_VIDEO, "no frames to compare in %s and %s", src[0].path, src[1].path);
    if (s == VV_OK) {
        eval_series all;
        memset(&all, 0, sizeof all);
        all.frame_count = frames;
        all.values = values;
        double mean[METRIC_COUNT];
        int face_frames = 0;
        for (int m = 0; m < METRIC_COUNT; m++) mean[m] = report_series_mean(&all, (eval_metric)m);
        for (int f = 0; f < frames; f++) face_frames += !isnan(values[f][METRIC_CSIM]);
        bool video = !src[0].image || !src[1].image;
        if (json) {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddStringToObject(root, "a", src[0].path);
            cJSON_AddStringToObject(root, "b", src[1].path);
            cJSON_AddNumberToObject(root, "frames", frames);
            cJSON_AddNumberToObject(root, "width", aw);
            cJSON_AddNumberToObject(root, "height", ah);
            cJSON_AddBoolToObject(root, "b_resized", bw != aw || bh != ah);
            if (mixed) cJSON_AddStringToObject(root, "held", src[0].held ? "a" : "b"); /* the image, against every frame */
            cJSON_AddNumberToObject(root, "face_frames", face_frames);
            cJSON *m = cJSON_AddObjectToObject(root, "mean");
            for (int k = 0; k < METRIC_COUNT; k++) {
                if (no_faces && k >= METRIC_CSIM) continue;
                cJSON_AddItemToObject(m, eval_metric_name((eval_metric)k), json_number(mean[k]));
            }
            if (video) {
                cJSON *per = cJSON_AddObjectToObject(root, "per_frame");
                for (int k = 0; k < METRIC_COUNT; k++) {
                    if (no_faces && k >= METRIC_CSIM) continue;
                    cJSON *a = cJSON_AddArrayToObject(per, eval_metric_name((eval_metric)k));
                    for (int f = 0; f < frames; f++) cJSON_AddItemToArray(a, json_number(values[f][k]));
                }
            }
            char *text = cJSON_Print(root);
            if (text) printf("%s\n", text);
            free(text);
            cJSON_Delete(root);
        } else {
            printf("%s vs %s: %d frame%s, %dx%d%s%s\n", src[0].path, src[1].path, frames, frames == 1 ? "" : "s", aw, ah,
                   bw != aw || bh != ah ? " (B resized to A)" : "",
                   !mixed ? "" : src[0].held ? " (the image A against every frame of B)" : " (every frame of A against the image B)");
            printf("  SSIM  %.4f\n", mean[METRIC_SSIM]);
            if (isinf(mean[METRIC_PSNR])) printf("  PSNR  inf (identical)\n");
            else printf("  PSNR  %.2f dB\n", mean[METRIC_PSNR]);
            printf("  L1    %.4f\n", mean[METRIC_L1]);
            if (!no_faces) {
                if (face_frames == 0) {
                    printf("  faces: not found in both (no face metrics)\n");
                } else {
                    if (video) printf("  faces in both: %d of %d frames (face metrics over those)\n", face_frames, frames);
                    printf("  CSIM  %.4f\n", mean[METRIC_CSIM]);
                    printf("  NME   %.4f\n", mean[METRIC_NME]);
                    printf("  AKD   %.2f px\n", mean[METRIC_AKD]);
                    printf("  Expr  %.4f\n", mean[METRIC_EXPRESSION]);
                    printf("  Pose  %.2f deg\n", mean[METRIC_POSE]);
                }
            }
        }
    }
    free(values);
    image_free(&fa);
    image_free(&fb);
    for (int i = 0; i < 2; i++) video_reader_close(src[i].reader);
    eval_context_close(&ctx);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
