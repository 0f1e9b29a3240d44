/* Derives, from data, the table of face_mesh_to_landmarks68 (src/face/facemesh.c: each of
 * dlib's 68 points as a fixed mesh vertex or a fixed blend of two) and the constants of
 * face_mesh_roi_from_landmarks68 (ROI68_*), and measures the table on held-out clips.
 *
 * Data: the clips of ../shared/data/train with dlib 19.24's 68 points per frame in
 * ../shared/data/reference/<clip>.jsonl.  Clips listed in data/holdout.txt are never used
 * for fitting; `eval` measures on exactly those.
 *
 *   collect: runs the mesh tracker (src/face/mesh_tracker.c, iris on) over every frame of
 *            every other clip; every 2nd frame where the tracker has a face and dlib
 *            exactly one is saved: the mesh's 468 (x, y) with iris refinement and
 *            without (the same ROI), dlib's 68 points, the mesh's tracking ROI.
 *   fit:     per dlib point, the vertex, or the pair of vertices (among the 24 best single
 *            vertices) and blend weight (steps of 0.05), with the smallest mean normalised
 *            distance (distance / dlib's outer-eye-corner distance 36-45) over the saved
 *            frames; prints the C table.  Then the ROI constants: the mesh ROI's centre
 *            offset (along / across the eye line) and side in units of the 68 points'
 *            box's longer side, medians over the frames.
 *   eval:    the tracker over every frame of the held-out clips; mean NME of
 *            face_mesh_to_landmarks68 (as compiled) against dlib, jaw (0-16) and inner
 *            points (17-67) separately, per clip and over all frames.
 *
 * Build (after a release build of the library in build-fm-rel/) and run from the source root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *      scripts/derive_mesh68.c build-fm-rel/libvivify.a $(pkg-config --libs libavformat \
 *      libavcodec libswscale libavutil libswresample libpng libturbojpeg libcjson openblas \
 *      libmicrohttpd) -lm -lpthread -o /tmp/derive_mesh68
 *   /tmp/derive_mesh68 collect ../shared/data data/holdout.txt /tmp/mesh68_samples.bin
 *   /tmp/derive_mesh68 fit /tmp/mesh68_samples.bin
 *   /tmp/derive_mesh68 eval ../shared/data data/holdout.txt
 */
#include "face/detector.h"
#include "face/facemesh.h"
#include "face/mesh_tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLIPS 256

typedef struct sample {
    int clip, frame;
    float mesh[FACE_MESH_POINTS][2];      /* with iris refinement (the tracker's output) */
    float base[FACE_MESH_POINTS][2];      /* without (same ROI) */
    float dlib[68][2];
    float roi[4];
} sample;

/* ---------------------------------------------------------------- clip lists */

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_holdout(const char *path, char names[][128], int max) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        char name[128];
        if (line[0] == '#' || sscanf(line, "%127s", name) != 1) continue;
        snprintf(names[n++], 128, "%s", name);
    }
    fclose(f);
    return n;
}

/* Clips of data/train with a reference file; holdout: 1 only the held-out ones, 0 the rest. */
static int list_clips(const char *data, const char *holdout_path, int holdout, char **out) {
    static char held[64][128];
    int held_count = read_holdout(holdout_path, held, 64);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/train", data);
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "cannot list %s\n", dir); exit(1); }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_CLIPS) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".mp4") != 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 4), e->d_name);
        int is_held = 0;
        for (int i = 0; i < held_count; i++) is_held |= strcmp(held[i], name) == 0;
        if (is_held != holdout) continue;
        out[n++] = strdup(name);
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, compare_names);
    return n;
}

/* dlib's points of each frame (NAN when the frame has not exactly one face). */
static int read_reference(const char *data, const char *clip, float (**points)[68][2]) {
    char path[4096];
    snprintf(path, sizeof path, "%s/reference/%s.jsonl", data, clip);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, cap = 0;
    *points = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        if (n == cap) {
            cap = cap ? 2 * cap : 512;
            *points = realloc(*points, (size_t)cap * sizeof **points);
        }
        float (*p)[2] = (*points)[n++];
        for (int i = 0; i < 68; i++) p[i][0] = p[i][1] = NAN;
        cJSON *root = cJSON_Parse(line);
        cJSON *faces = cJSON_GetObjectItem(root, "faces");
        if (cJSON_GetArraySize(faces) == 1) {
            cJSON *lm = cJSON_GetObjectItem(cJSON_GetArrayItem(faces, 0), "landmarks");
            if (cJSON_GetArraySize(lm) == 68)
                for (int i = 0; i < 68; i++) {
                    cJSON *pt = cJSON_GetArrayItem(lm, i);
                    p[i][0] = (float)cJSON_GetArrayItem(pt, 0)->valuedouble;
                    p[i][1] = (float)cJSON_GetArrayItem(pt, 1)->valuedouble;
                }
        }
        cJSON_Delete(root);
    }
    free(line);
    fclose(f);
    return n;
}

/* ---------------------------------------------------------------- tracking a clip */

typedef void (*frame_fn)(void *ctx, int clip, int frame, const vv_image *image,
                         const face_mesh_result *result, const float dlib[68][2]);

static void track_clip(const char *data, const char *clip, int clip_index, const face_mesh *fm,
                       face_detector *det, frame_fn fn, void *ctx, long *detector_runs, int *frames_out,
                       int *found_out) {
    float (*ref)[68][2] = NULL;
    int ref_count = read_reference(data, clip, &ref);
    char path[4096];
    snprintf(path, sizeof path, "%s/train/%s.mp4", data, clip);
    video_reader *reader;
    if (video_reader_open(&reader, path) != VV_OK) { fprintf(stderr, "%s\n", vv_last_error()); exit(1); }
    mesh_tracker *tracker;
    mesh_tracker_new(&tracker, fm, det, NULL);
    vv_image frame = {0};
    static face_mesh_result result;
    int index = 0, found_count = 0;
    for (;;) {
        bool got, found;
        double time;
        if (video_reader_next(reader, &frame, &time, &got) != VV_OK || !got) break;
        if (mesh_tracker_update(tracker, &frame, &found, &result) != VV_OK) {
            fprintf(stderr, "%s\n", vv_last_error());
            exit(1);
        }
        if (found) found_count++;
        if (found && index < ref_count && !isnan(ref[index][0][0]))
            fn(ctx, clip_index, index, &frame, &result, (const float(*)[2])ref[index]);
        index++;
    }
    mesh_tracker_counts counts = mesh_tracker_get_counts(tracker);
    *detector_runs = counts.quick_searches + counts.full_searches;
    *frames_out = index;
    *found_out = found_count;
    if (index != ref_count) fprintf(stderr, "%s: %d frames, reference has %d\n", clip, index, ref_count);
    mesh_tracker_free(tracker);
    image_free(&frame);
    video_reader_close(reader);
    free(ref);
}

/* ---------------------------------------------------------------- collect */

typedef struct collect_ctx {
    FILE *out;
    const face_mesh *fm;
    long saved;
} collect_ctx;

static void collect_frame(void *p, int clip, int frame, const vv_image *image,
                          const face_mesh_result *result, const float dlib[68][2]) {
    collect_ctx *ctx = p;
    if (frame % 2) return;
    static sample s;
    static face_mesh_result base;
    s.clip = clip;
    s.frame = frame;
    for (int i = 0; i < FACE_MESH_POINTS; i++) s.mesh[i][0] = result->points[i][0], s.mesh[i][1] = result->points[i][1];
    face_mesh_run(ctx->fm, image, &result->roi, false, &base);
    for (int i = 0; i < FACE_MESH_POINTS; i++) s.base[i][0] = base.points[i][0], s.base[i][1] = base.points[i][1];
    memcpy(s.dlib, dlib, sizeof s.dlib);
    face_mesh_roi roi;
    face_mesh_roi_from_mesh((const float(*)[3])result->points, &roi);
    s.roi[0] = roi.cx, s.roi[1] = roi.cy, s.roi[2] = roi.size, s.roi[3] = roi.angle;
    fwrite(&s, sizeof s, 1, ctx->out);
    ctx->saved++;
}

static void collect(const char *data, const char *holdout, const char *out_path) {
    char *clips[MAX_CLIPS];
    int n = list_clips(data, holdout, 0, clips);
    face_mesh *fm;
    face_detector *det;
    if (face_mesh_new(&fm, NULL) != VV_OK || face_detector_load(&det, NULL) != VV_OK) {
        fprintf(stderr, "%s\n", vv_last_error());
        exit(1);
    }
    collect_ctx ctx = {fopen(out_path, "wb"), fm, 0};
    if (!ctx.out) { fprintf(stderr, "cannot write %s\n", out_path); exit(1); }
    for (int c = 0; c < n; c++) {
        long runs;
        int frames, found;
        double t0 = time_now();
        long before = ctx.saved;
        track_clip(data, clips[c], c, fm, det, collect_frame, &ctx, &runs, &frames, &found);
        fprintf(stderr, "%-32s %4d frames, face in %4d, detector runs %ld, saved %ld (%.1f s)\n", clips[c],
                frames, found, runs, ctx.saved - before, time_now() - t0);
    }
    fclose(ctx.out);
    fprintf(stderr, "%d clips, %ld samples\n", n, ctx.saved);
}

/* ---------------------------------------------------------------- fit */

static float eye_distance(const float dlib[68][2]) {
    return hypotf(dlib[45][0] - dlib[36][0], dlib[45][1] - dlib[36][1]);
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_float);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

#define CANDIDATES 24

typedef struct choice { int a, b; float w; double error; } choice;

static choice fit_point(const sample *s, int n, const float *inv_iod, int j, bool base) {
    static double single[FACE_MESH_POINTS];
    for (int v = 0; v < FACE_MESH_POINTS; v++) {
        double sum = 0;
        for (int f = 0; f < n; f++) {
            const float *p = base ? s[f].base[v] : s[f].mesh[v];
            sum += hypotf(p[0] - s[f].dlib[j][0], p[1] - s[f].dlib[j][1]) * inv_iod[f];
        }
        single[v] = sum / n;
    }
    int best[CANDIDATES];
    for (int k = 0; k < CANDIDATES; k++) {
        int b = -1;
        for (int v = 0; v < FACE_MESH_POINTS; v++) {
            bool taken = false;
            for (int q = 0; q < k; q++) taken |= best[q] == v;
            if (!taken && (b < 0 || single[v] < single[b])) b = v;
        }
        best[k] = b;
    }
    choice c = {best[0], best[0], 0, single[best[0]]};
    for (int x = 0; x < CANDIDATES; x++)
        for (int y = x + 1; y < CANDIDATES; y++) {
            int a = best[x], b = best[y];
            if (a > b) { int t = a; a = b; b = t; }
            for (int step = 1; step < 20; step++) {
                float w = 0.05f * (float)step;
                double sum = 0;
                for (int f = 0; f < n; f++) {
                    const float *pa = base ? s[f].base[a] : s[f].mesh[a];
                    const float *pb = base ? s[f].base[b] : s[f].mesh[b];
                    float px = (1 - w) * pa[0] + w * pb[0], py = (1 - w) * pa[1] + w * pb[1];
                    sum += hypotf(px - s[f].dlib[j][0], py - s[f].dlib[j][1]) * inv_iod[f];
                }
                double e = sum / n;
                /* A blend must earn its place: 2% better than the best single vertex. */
                if (e < c.error && e < 0.98 * single[best[0]]) c = (choice){a, b, w, e};
            }
        }
    return c;
}

static void fit(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int n = (int)(bytes / (long)sizeof(sample));
    sample *s = malloc((size_t)n * sizeof *s);
    if (!s || fread(s, sizeof *s, (size_t)n, f) != (size_t)n) { fprintf(stderr, "short read\n"); exit(1); }
    fclose(f);
    float *inv_iod = malloc((size_t)n * sizeof *inv_iod);
    for (int i = 0; i < n; i++) inv_iod[i] = 1.0f / eye_distance((const float(*)[2])s[i].dlib);
    int clips = 0;
    for (int i = 0; i < n; i++) clips = s[i].clip + 1 > clips ? s[i].clip + 1 : clips;
    fprintf(stderr, "%d samples from %d clips\n", n, clips);

    for (int pass = 0; pass < 2; pass++) {
        bool base = pass == 1;
        choice table[68];
        double jaw = 0, inner = 0;
        for (int j = 0; j < 68; j++) {
            table[j] = fit_point(s, n, inv_iod, j, base);
            if (j < 17) jaw += table[j].error / 17;
            else inner += table[j].error / 51;
        }
        printf("/* fit on %s: mean NME jaw %.4f, inner %.4f */\n", base ? "meshes without iris" : "meshes with iris",
               jaw, inner);
        if (base) {
            /* The eye points with the iris table applied to iris-less meshes. */
            continue;
        }
        printf("static const mesh68_entry mesh68_table[68] = {\n");
        for (int j = 0; j < 68; j++)
            printf("    {%d, %d, %.2ff}, /* %2d: NME %.4f */\n", table[j].a, table[j].b, table[j].w, j, table[j].error);
        printf("};\n");
    }

    /* ROI constants. */
    float *dx = malloc((size_t)n * sizeof *dx), *dy = malloc((size_t)n * sizeof *dy), *ds = malloc((size_t)n * sizeof *ds);
    for (int i = 0; i < n; i++) {
        const float(*p)[2] = (const float(*)[2])s[i].dlib;
        float x0 = p[0][0], x1 = x0, y0 = p[0][1], y1 = y0;
        for (int k = 1; k < 68; k++) {
            x0 = fminf(x0, p[k][0]), x1 = fmaxf(x1, p[k][0]);
            y0 = fminf(y0, p[k][1]), y1 = fmaxf(y1, p[k][1]);
        }
        float angle = atan2f(p[45][1] - p[36][1], p[45][0] - p[36][0]);
        float side = fmaxf(x1 - x0, y1 - y0);
        float ex = s[i].roi[0] - 0.5f * (x0 + x1), ey = s[i].roi[1] - 0.5f * (y0 + y1);
        float c = cosf(angle), sn = sinf(angle);
        dx[i] = (c * ex + sn * ey) / side;
        dy[i] = (-sn * ex + c * ey) / side;
        ds[i] = s[i].roi[2] / side;
    }
    printf("#define ROI68_DX %.4ff\n#define ROI68_DY %.4ff\n#define ROI68_SIZE %.4ff\n", median(dx, n), median(dy, n),
           median(ds, n));
    free(dx), free(dy), free(ds), free(inv_iod), free(s);
}

/* ---------------------------------------------------------------- eval */

typedef struct eval_ctx {
    double jaw, inner, jaw_base, inner_base;
    long frames;
    const face_mesh *fm;
} eval_ctx;

static void nme(const float mesh[][3], const float dlib[68][2], double *jaw, double *inner) {
    float p[68][2];
    face_mesh_to_landmarks68(mesh, p);
    float iod = eye_distance(dlib);
    for (int i = 0; i < 68; i++) {
        double d = hypotf(p[i][0] - dlib[i][0], p[i][1] - dlib[i][1]) / iod;
        if (i < 17) *jaw += d / 17;
        else *inner += d / 51;
    }
}

static void eval_frame(void *p, int clip, int frame, const vv_image *image, const face_mesh_result *result,
                       const float dlib[68][2]) {
    eval_ctx *ctx = p;
    nme((const float(*)[3])result->points, dlib, &ctx->jaw, &ctx->inner);
    static face_mesh_result base;
    face_mesh_run(ctx->fm, image, &result->roi, false, &base);
    nme((const float(*)[3])base.points, dlib, &ctx->jaw_base, &ctx->inner_base);
    ctx->frames++;
}

static void eval(const char *data, const char *holdout) {
    char *clips[MAX_CLIPS];
    int n = list_clips(data, holdout, 1, clips);
    face_mesh *fm;
    face_detector *det;
    if (face_mesh_new(&fm, NULL) != VV_OK || face_detector_load(&det, NULL) != VV_OK) {
        fprintf(stderr, "%s\n", vv_last_error());
        exit(1);
    }
    eval_ctx total = {0};
    double clip_jaw = 0, clip_inner = 0;
    printf("held-out clip                    frames  tracked  scored  det.runs   NME jaw  NME inner  (no iris: jaw, inner)\n");
    for (int c = 0; c < n; c++) {
        eval_ctx ctx = {0};
        ctx.fm = fm;
        long runs;
        int frames, found;
        track_clip(data, clips[c], c, fm, det, eval_frame, &ctx, &runs, &frames, &found);
        double fr = ctx.frames ? (double)ctx.frames : 1;
        printf("%-32s %6d  %7d  %6ld  %8ld   %.4f   %.4f     (%.4f, %.4f)\n", clips[c], frames, found, ctx.frames,
               runs, ctx.jaw / fr, ctx.inner / fr, ctx.jaw_base / fr, ctx.inner_base / fr);
        clip_jaw += ctx.jaw / fr / n;
        clip_inner += ctx.inner / fr / n;
        total.jaw += ctx.jaw, total.inner += ctx.inner, total.frames += ctx.frames;
        total.jaw_base += ctx.jaw_base, total.inner_base += ctx.inner_base;
    }
    double fr = total.frames ? (double)total.frames : 1;
    printf("all %ld frames: NME jaw %.4f, inner %.4f (without iris: %.4f, %.4f); mean of clip means: jaw %.4f, inner %.4f\n",
           total.frames, total.jaw / fr, total.inner / fr, total.jaw_base / fr, total.inner_base / fr, clip_jaw,
           clip_inner);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "collect") == 0) collect(argv[2], argv[3], argv[4]);
    else if (argc == 3 && strcmp(argv[1], "fit") == 0) fit(argv[2]);
    else if (argc == 4 && strcmp(argv[1], "eval") == 0) eval(argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: %s collect DATA HOLDOUT OUT | fit SAMPLES | eval DATA HOLDOUT\n", argv[0]);
        return 2;
    }
    return 0;
}
