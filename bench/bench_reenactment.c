/* bench_reenactment: self-reenactment quality of the warp engine (issue 3, item 10).
 *
 * For each ../shared/data/train clip: the source is the clip's first frame, the driver is
 * the clip itself, tracked and smoothed as `vivify animate` tracks a driver (vv_faces_detect
 * on the source, tracking_collect and animate_smooth_track on the driver), then
 * motion_fill_gaps, motion_retarget and the 2D warp_engine_render (`vivify eval` measures
 * the whole pipeline, the 3D head included).  Each output frame is compared with the real frame: SSIM, PSNR and
 * L1 on the full frame and on the face box (the real frame's landmark box grown by 10% a
 * side), and landmark NME (our tracker on the output vs our tracker on the real frame,
 * over the outer-eye-corner distance).  The "floor" is the first frame held still, on the
 * same frames (../shared/data/reference/freeze_floor.tsv has it over whole clips).
 *
 *   bench_reenactment [--max-frames N] [--every K] [--clips a,b,...] [--low-only] [--ablate]
 *                     [--still a,b,...]
 *
 * --max-frames caps the frames tracked per clip (default 300) and --every measures every
 * K-th of them (default 5), so that a run takes minutes yet spans most of each clip;
 * --low-only keeps the clips whose whole-clip floor SSIM is below 0.6 (the target set);
 * --ablate adds variants with one part switched off each; --still adds the absolute engine
 * with other dead zones for a still head (warp_params.still).  Not a test: a measurement. */
#include "animate/animate.h"
#include "animate/tracking.h"
#include "eval/metrics.h"
#include "face/faces.h"
#include "face/motion.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"
#include "warp/warp.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLIPS 256
#define MAX_VARIANTS 12
#define LOW_FLOOR 0.6

typedef struct variant {
    const char *name;
    bool floor;        /* the first frame held still */
    bool absolute;
    warp_params params;
} variant;

enum { M_SSIM, M_PSNR, M_L1, M_FACE_SSIM, M_FACE_PSNR, M_FACE_L1, M_NME, M_COUNT };
static const char *const metric_names[M_COUNT] = {"ssim", "psnr", "l1", "face_ssim", "face_psnr", "face_l1", "nme"};

typedef struct clip {
    char name[128];
    double floor_tsv;  /* whole-clip floor SSIM from freeze_floor.tsv, NAN if absent */
    int frames;
    double sum[MAX_VARIANTS][M_COUNT];
    int count[MAX_VARIANTS][M_COUNT];
} clip;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static double floor_lookup(const char *tsv, const char *name) {
    FILE *f = fopen(tsv, "r");
    if (!f) return NAN;
    char line[512], clipname[256];
    double value = NAN, ssim;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%255s %*d %lf", clipname, &ssim) == 2 && !strcmp(clipname, name)) value = ssim;
    fclose(f);
    return value;
}

/* The top-left w x h of `in`. */
static vv_status crop_top_left(vv_image *out, const vv_image *in, int w, int h) {
    vv_status s = image_create(out, w, h, in->channels);
    if (s != VV_OK) return s;
    for (int y = 0; y < h; y++)
        memcpy(out->data + (size_t)y * w * in->channels, in->data + (size_t)y * in->width * in->channels,
               (size_t)w * in->channels);
    return VV_OK;
}

static void add(clip *c, int v, int m, double value) {
    if (!isfinite(value)) return;
    c->sum[v][m] += value;
    c->count[v][m]++;
}

static double mean(const clip *c, int v, int m) { return c->count[v][m] ? c->sum[v][m] / c->count[v][m] : NAN; }

/* The driver tracked and smoothed as vivify animate does it (raw landmarks, centred smoothing
 * without lag); frames without a face stay unfilled for motion_fill_gaps. */
static vv_status track_driver(vv_faces *faces, const char *path, int max_frames, motion_track *track) {
    vv_status s = tracking_collect(faces, NULL, path, max_frames, NULL, NULL, NULL, NULL, track);
    if (s != VV_OK) return s;
    if (motion_first_found(track) < 0) {
        motion_track_free(track);
        return vv_fail(VV_ERR_NO_FACE, "no face found in any frame of %s", path);
    }
    vv_animate_params params = vv_animate_default_params();
    smoothed_track smooth;
    s = animate_smooth_track(track, &params, &smooth);
    if (s != VV_OK) {
        motion_track_free(track);
        return s;
    }
    for (int t = 0; t < track->frame_count && t < smooth.count; t++)
        if (track->found[t]) memcpy(track->points[t], smooth.points[t], sizeof track->points[t]);
    smoothed_track_free(&smooth);
    return VV_OK;
}

/* Runs every variant on one clip. */
static vv_status clip_run(vv_faces *faces, const char *path, int max_frames, int every, const variant *variants, int variant_count,
                          clip *c) {
    motion_track track = {0};
    video_reader *reader = NULL;
    vv_image real = {0}, source = {0}, out = {0};
    warp_engine *engines[MAX_VARIANTS] = {0};
    face_tracker *trackers[MAX_VARIANTS] = {0};
    motion_retarget retarget[MAX_VARIANTS];
    vv_status s = track_driver(faces, path, max_frames, &track);
    int first = s == VV_OK ? motion_first_found(&track) : -1;
    if (s == VV_OK) s = motion_fill_gaps(&track, first);
    if (s == VV_OK) s = video_reader_open(&reader, path);
    bool got = false;
    double time = 0;
    if (s == VV_OK) s = video_reader_next(reader, &source, &time, &got);
    if (s == VV_OK && !got) s = vv_fail(VV_ERR_NO_VIDEO, "%s: no first frame", path);
    vv_face face[4];
    int face_count = 0;
    if (s == VV_OK) s = vv_faces_detect(faces, &source, face, 4, &face_count);
    if (s == VV_OK && face_count == 0) s = vv_fail(VV_ERR_NO_FACE, "%s: no face in the first frame", path);
    tracker_params tp = tracker_default_params();
    for (int v = 0; v < variant_count && s == VV_OK; v++) {
        s = face_tracker_new(&trackers[v], faces_detector(faces), faces_predictor(faces), &tp);
        if (s != VV_OK || variants[v].floor) continue;
        s = warp_engine_new(&engines[v], &source, (const float(*)[2])face[0].landmarks, &variants[v].params);
        motion_params mp = motion_default_params();
        mp.absolute = variants[v].absolute;
        motion_retarget_init(&retarget[v], (const float(*)[2])face[0].landmarks, (const float(*)[2])track.points[first],
                             &mp);
    }
    for (int f = 0; s == VV_OK && f < track.frame_count; f++) {
        if (f > 0) {
            s = video_reader_next(reader, &real, &time, &got);
            if (s != VV_OK || !got) break;
        } else {
            image_free(&real);
            s = image_copy(&real, &source);
            if (s != VV_OK) break;
        }
        if (f % every) continue; /* decoded (in order) but not measured */
        metrics_box box;
        bool have_box = metrics_box_from_landmarks((const float(*)[2])track.points[f], 0.1f, real.width & ~1,
                                                   real.height & ~1, &box) == VV_OK;
        for (int v = 0; v < variant_count && s == VV_OK; v++) {
            if (variants[v].floor) {
                image_free(&out); /* image_copy allocates afresh */
                s = image_copy(&out, &source);
            } else {
                float target[68][2];
                motion_retarget_frame(&retarget[v], (const float(*)[2])track.points[f], target);
                s = warp_engine_render(engines[v], (const float(*)[2])target, &real,
                                       (const float(*)[2])track.points[f], &out, NULL);
            }
            if (s != VV_OK) break;
            /* The output is the source rounded down to even: compare that part. */
            vv_image a = out, b = real, ca = {0}, cb = {0};
            int w = out.width < real.width ? out.width : real.width, h = out.height < real.height ? out.height : real.height;
            if (w != out.width || h != out.height) {
                if ((s = crop_top_left(&ca, &out, w, h)) != VV_OK) break;
                a = ca;
            }
            if (w != real.width || h != real.height) {
                if ((s = crop_top_left(&cb, &real, w, h)) != VV_OK) break;
                b = cb;
            }
            image_metrics m;
            if (metrics_images(&a, &b, NULL, 0, &m) == VV_OK) {
                add(c, v, M_SSIM, m.ssim);
                add(c, v, M_PSNR, m.psnr);
                add(c, v, M_L1, m.l1);
            }
            if (have_box && metrics_images(&a, &b, &box, 0, &m) == VV_OK) {
                add(c, v, M_FACE_SSIM, m.ssim);
                add(c, v, M_FACE_PSNR, m.psnr);
                add(c, v, M_FACE_L1, m.l1);
            }
            image_free(&ca);
            image_free(&cb);
            bool found = false;
            float obox[4], score[1], points[68][2];
            s = face_tracker_update(trackers[v], &out, f / (double)track.fps, &found, obox, score, points);
            double nme;
            if (s == VV_OK && found && track.found[f] &&
                metrics_nme((const float(*)[2])points, (const float(*)[2])track.points[f], &nme) == VV_OK)
                add(c, v, M_NME, nme);
        }
        c->frames++;
    }
    for (int v = 0; v < variant_count; v++) {
        warp_engine_free(engines[v]);
        face_tracker_free(trackers[v]);
    }
    image_free(&real);
    image_free(&source);
    image_free(&out);
    video_reader_close(reader);
    motion_track_free(&track);
    return s;
}

static void print_summary(const char *label, clip *clips, int clip_count, const variant *variants, int variant_count,
                          bool low) {
    int n = 0;
    double floor_tsv = 0;
    for (int i = 0; i < clip_count; i++)
        if (clips[i].frames && (!low || clips[i].floor_tsv < LOW_FLOOR)) { n++; floor_tsv += clips[i].floor_tsv; }
    if (!n) return;
    printf("\n%s: %d clips (mean whole-clip floor SSIM from freeze_floor.tsv %.4f)\n", label, n, floor_tsv / n);
    printf("  %-22s", "variant");
    for (int m = 0; m < M_COUNT; m++) printf(" %10s", metric_names[m]);
    printf(" %10s\n", "ssim-floor");
    double base = NAN;
    for (int v = 0; v < variant_count; v++) {
        double avg[M_COUNT];
        for (int m = 0; m < M_COUNT; m++) {
            double sum = 0;
            int k = 0;
            for (int i = 0; i < clip_count; i++) {
                if (!clips[i].frames || (low && !(clips[i].floor_tsv < LOW_FLOOR))) continue;
                double x = mean(&clips[i], v, m);
                if (isfinite(x)) { sum += x; k++; }
            }
            avg[m] = k ? sum / k : NAN;
        }
        if (variants[v].floor) base = avg[M_SSIM];
        printf("  %-22s", variants[v].name);
        for (int m = 0; m < M_COUNT; m++) printf(" %10.4f", avg[m]);
        printf(" %+10.4f\n", avg[M_SSIM] - base);
    }
}

int main(int argc, char **argv) {
    int max_frames = 300, every = 5;
    bool low_only = false, ablate = false;
    const char *only = NULL, *still_list = NULL;
    char train[4096], tsv[4096];
    snprintf(train, sizeof train, "%s/../shared/data/train", VV_SOURCE_DIR);
    snprintf(tsv, sizeof tsv, "%s/../shared/data/reference/freeze_floor.tsv", VV_SOURCE_DIR);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-frames") && i + 1 < argc) max_frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--every") && i + 1 < argc) every = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clips") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--low-only")) low_only = true;
        else if (!strcmp(argv[i], "--ablate")) ablate = true;
        else if (!strcmp(argv[i], "--still") && i + 1 < argc) still_list = argv[++i];
        else {
            fprintf(stderr, "usage: bench_reenactment [--max-frames N] [--every K] [--clips a,b,...] [--low-only] [--ablate] [--still a,b,...]\n");
            return 2;
        }
    }
    DIR *dir = opendir(train);
    if (!dir) {
        printf("bench_reenactment: skipped, no clips at %s\n", train);
        return 0;
    }
    char *names[MAX_CLIPS];
    int name_count = 0;
    for (struct dirent *e; (e = readdir(dir)) && name_count < MAX_CLIPS;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && len < 120 && !strcmp(e->d_name + len - 4, ".mp4")) names[name_count++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)name_count, sizeof names[0], cmp_str);

    variant variants[MAX_VARIANTS];
    int variant_count = 0;
    warp_params all = warp_default_params();
    variants[variant_count++] = (variant){"floor (first frame)", true, false, all};
    variants[variant_count++] = (variant){"absolute", false, true, all};
    variants[variant_count++] = (variant){"relative", false, false, all};
    if (ablate) {
        warp_params p = all;
        p.motion.head = false;
        variants[variant_count++] = (variant){"absolute -head", false, true, p};
        p = all;
        p.motion.torso = false;
        variants[variant_count++] = (variant){"absolute -torso", false, true, p};
        p = all;
        p.mouth_fill = false;
        variants[variant_count++] = (variant){"absolute -mouth", false, true, p};
        p = all;
        p.eyes = false;
        variants[variant_count++] = (variant){"absolute -eyes", false, true, p};
        p = all;
        p.still = 0;
        variants[variant_count++] = (variant){"absolute -still damping", false, true, p};
        p = all;
        p.motion.head = p.motion.torso = p.mouth_fill = p.eyes = false;
        variants[variant_count++] = (variant){"absolute face only", false, true, p};
    }
    /* --still a,b,...: the absolute engine with other dead zones for a still head. */
    static char still_names[MAX_VARIANTS][32];
    for (const char *at = still_list; at && *at && variant_count < MAX_VARIANTS;) {
        char *end;
        float value = strtof(at, &end);
        if (end == at) break;
        warp_params p = all;
        p.still = value;
        snprintf(still_names[variant_count], sizeof still_names[0], "absolute still %.3g", value);
        variants[variant_count] = (variant){still_names[variant_count], false, true, p};
        variant_count++;
        at = *end == ',' ? end + 1 : end;
    }

    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    if (vv_faces_new(&faces, &fp) != VV_OK) {
        fprintf(stderr, "bench_reenactment: %s\n", vv_last_error());
        return 1;
    }
    clip *clips = calloc((size_t)name_count + 1, sizeof *clips);
    int clip_count = 0;
    double start = time_now();
    printf("bench_reenactment: the first %d frames of each clip tracked, every %d-th measured; per clip: frames measured,\n"
           "  whole-clip floor SSIM (tsv), then floor / absolute / relative mean SSIM on the measured frames\n",
           max_frames, every);
    for (int i = 0; i < name_count; i++) {
        clip *c = &clips[clip_count];
        size_t len = strlen(names[i]) - 4;
        memcpy(c->name, names[i], len);
        c->name[len] = 0;
        if (only) {
            char pattern[256];
            snprintf(pattern, sizeof pattern, ",%s,", c->name);
            char list[4096];
            snprintf(list, sizeof list, ",%s,", only);
            if (!strstr(list, pattern)) continue;
        }
        c->floor_tsv = floor_lookup(tsv, c->name);
        if (low_only && !(c->floor_tsv < LOW_FLOOR)) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", train, names[i]);
        double t0 = time_now();
        vv_status s = clip_run(faces, path, max_frames, every < 1 ? 1 : every, variants, variant_count, c);
        if (s != VV_OK) {
            printf("  %-30s failed: %s\n", c->name, vv_last_error());
            c->frames = 0;
        } else {
            printf("  %-30s %4d  %.4f  %.4f / %.4f / %.4f  (%.1f s)\n", c->name, c->frames, c->floor_tsv,
                   mean(c, 0, M_SSIM), mean(c, 1, M_SSIM), mean(c, 2, M_SSIM), time_now() - t0);
        }
        fflush(stdout);
        clip_count++;
    }
    print_summary("all clips", clips, clip_count, variants, variant_count, false);
    print_summary("clips with floor SSIM < 0.6", clips, clip_count, variants, variant_count, true);
    printf("\n%.0f s in all\n", time_now() - start);
    for (int i = 0; i < name_count; i++) free(names[i]);
    free(clips);
    vv_faces_free(faces);
    return 0;
}
