/* Fits the mapping from BlazeFace's box to dlib's HOG-detector box (the box convention
 * dlib's 68-point shape predictor expects) and prints the constants for
 * src/face/detector.c (CAL_DX, CAL_DY, CAL_SIDE) with the residuals.
 *
 * Data: ../shared/data/reference/<clip>.jsonl gives dlib 19.24's box [l, t, r, b] for every
 * frame of every clip in train/; every `step`-th frame with exactly one dlib face is used.
 * Clips are split by name (alternating in sorted order) into a fit half and a held-out
 * half; the residuals reported are on the held-out half, then the final constants are fitted
 * on all of it.  The portraits and dlib's hand-checked golden faces (the landmarks_golden XML files)
 * are evaluated as further held-out sets.
 *
 * Model: the dlib box is the square centred at (cx + DX * w, cy + DY * w) with side
 * SIDE * w, where (cx, cy) is the centre of BlazeFace's box and w its width.  Each
 * parameter is the median over samples (robust to the odd mismatched frame); with a square
 * target and a box the model predicts in units of its own size, least squares on the
 * normalised errors gives the mean instead, which we also print for comparison.
 *
 * Build (after a release build in build/) and run:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc scripts/calibrate_detector.c \
 *      build/libvivify.a $(pkg-config --libs libavformat libavcodec libswscale libavutil \
 *      libswresample libpng libturbojpeg libcjson openblas) -lm -lpthread -o /tmp/calibrate
 *   /tmp/calibrate ../shared/data 10
 */
#include "face/detector.h"
#include "img/image.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    float raw[4];      /* BlazeFace box */
    float dlib[4];     /* l, t, r, b */
    int set;           /* 0 fit clips, 1 held-out clips, 2 portraits, 3 golden */
} sample;

static sample *samples;
static int sample_count, sample_capacity;

static void add_sample(const float raw[4], const float dlib[4], int set) {
    if (sample_count == sample_capacity) {
        sample_capacity = sample_capacity ? 2 * sample_capacity : 1024;
        samples = realloc(samples, (size_t)sample_capacity * sizeof *samples);
        if (!samples) exit(1);
    }
    sample *s = &samples[sample_count++];
    memcpy(s->raw, raw, sizeof s->raw);
    memcpy(s->dlib, dlib, sizeof s->dlib);
    s->set = set;
}

static int detections_total, detections_missed;

/* Detects faces in `image` and pairs the best-overlapping one with each dlib box. */
static void match(face_detector *detector, const vv_image *image, const float (*dlib)[4],
                  int dlib_count, int set) {
    face_box faces[32];
    int count = 0;
    if (face_detect(detector, image, faces, 32, &count) != VV_OK) count = 0;
    for (int d = 0; d < dlib_count; d++) {
        detections_total++;
        int best = -1;
        float best_iou = 0.3f;
        for (int i = 0; i < count; i++) {
            float iou = face_box_iou(faces[i].raw, dlib[d]);
            if (iou > best_iou) best_iou = iou, best = i;
        }
        if (best < 0) {
            detections_missed++;
            continue;
        }
        add_sample(faces[best].raw, dlib[d], set);
    }
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *v, int n) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, compare_float);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct mapping { float dx, dy, side; } mapping;

static mapping fit(int set_mask, bool use_median) {
    float *dx = malloc((size_t)sample_count * sizeof *dx);
    float *dy = malloc((size_t)sample_count * sizeof *dy);
    float *ds = malloc((size_t)sample_count * sizeof *ds);
    int n = 0;
    double sx = 0, sy = 0, ss = 0;
    for (int i = 0; i < sample_count; i++) {
        const sample *s = &samples[i];
        if (!(set_mask & (1 << s->set))) continue;
        float w = s->raw[2] - s->raw[0];
        dx[n] = (0.5f * (s->dlib[0] + s->dlib[2]) - 0.5f * (s->raw[0] + s->raw[2])) / w;
        dy[n] = (0.5f * (s->dlib[1] + s->dlib[3]) - 0.5f * (s->raw[1] + s->raw[3])) / w;
        ds[n] = (s->dlib[2] - s->dlib[0]) / w;
        sx += dx[n], sy += dy[n], ss += ds[n];
        n++;
    }
    mapping m = {0, 0, 1};
    if (n > 0) {
        if (use_median) m = (mapping){median(dx, n), median(dy, n), median(ds, n)};
        else m = (mapping){(float)(sx / n), (float)(sy / n), (float)(ss / n)};
    }
    free(dx), free(dy), free(ds);
    return m;
}

static void evaluate(const char *label, int set, mapping m) {
    int n = 0;
    double iou = 0, centre = 0, size = 0;
    for (int i = 0; i < sample_count; i++) {
        const sample *s = &samples[i];
        if (s->set != set) continue;
        float w = s->raw[2] - s->raw[0];
        float cx = 0.5f * (s->raw[0] + s->raw[2]) + m.dx * w;
        float cy = 0.5f * (s->raw[1] + s->raw[3]) + m.dy * w;
        float half = 0.5f * m.side * w;
        float box[4] = {cx - half, cy - half, cx + half, cy + half};
        float dside = s->dlib[2] - s->dlib[0];
        float dcx = 0.5f * (s->dlib[0] + s->dlib[2]), dcy = 0.5f * (s->dlib[1] + s->dlib[3]);
        iou += face_box_iou(box, s->dlib);
        centre += hypot(cx - dcx, cy - dcy) / dside;
        size += fabs(m.side * w - dside) / dside;
        n++;
    }
    if (n == 0) {
        printf("%-26s no samples\n", label);
        return;
    }
    printf("%-26s n=%5d  mean IoU %.3f  centre offset %.1f%%  size error %.1f%% (of dlib's side)\n",
           label, n, iou / n, 100 * centre / n, 100 * size / n);
}

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

static int list_dir(const char *dir, const char *ext, char names[][256], int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && strcmp(dot + 1, ext) == 0) snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    return n;
}

/* One dlib reference line: its faces' boxes. Returns the face count (-1 on error). */
static int parse_line(const char *line, float boxes[][4], int max, char *file, size_t file_size) {
    cJSON *root = cJSON_Parse(line);
    if (!root) return -1;
    const cJSON *name = cJSON_GetObjectItem(root, "file");
    if (file && cJSON_IsString(name)) snprintf(file, file_size, "%s", name->valuestring);
    const cJSON *faces = cJSON_GetObjectItem(root, "faces"), *face;
    int n = 0;
    cJSON_ArrayForEach(face, faces) {
        const cJSON *box = cJSON_GetObjectItem(face, "box");
        if (n < max && cJSON_GetArraySize(box) == 4) {
            for (int c = 0; c < 4; c++)
                boxes[n][c] = (float)cJSON_GetArrayItem(box, c)->valuedouble;
            n++;
        }
    }
    cJSON_Delete(root);
    return n;
}

static void run_clips(face_detector *detector, const char *data, int step) {
    static char names[256][256];
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/train", data);
    int n = list_dir(dir, "mp4", names, 256);
    static char line[1 << 16];
    for (int c = 0; c < n; c++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[c]);
        video_reader *reader = NULL;
        if (video_reader_open(&reader, path) != VV_OK) {
            fprintf(stderr, "%s: %s\n", names[c], vv_last_error());
            continue;
        }
        char stem[256];
        snprintf(stem, sizeof stem, "%s", names[c]);
        *strrchr(stem, '.') = 0;
        snprintf(path, sizeof path, "%s/reference/%s.jsonl", data, stem);
        FILE *ref = fopen(path, "r");
        vv_image frame = {0};
        double when;
        bool got = true;
        int before = sample_count;
        for (long index = 0; ref && got; index++) {
            if (video_reader_next(reader, &frame, &when, &got) != VV_OK || !got) break;
            if (!fgets(line, sizeof line, ref)) break;
            if (index % step) continue;
            float boxes[4][4];
            if (parse_line(line, boxes, 4, NULL, 0) != 1) continue;
            match(detector, &frame, (const float(*)[4])boxes, 1, c % 2);
        }
        fprintf(stderr, "%-32s %d samples (missed so far %d / %d)\n", stem, sample_count - before,
                detections_missed, detections_total);
        if (ref) fclose(ref);
        image_free(&frame);
        video_reader_close(reader);
    }
}

static void run_portraits(face_detector *detector, const char *data) {
    char path[8192];
    snprintf(path, sizeof path, "%s/reference/portraits.jsonl", data);
    FILE *ref = fopen(path, "r");
    static char line[1 << 16];
    while (ref && fgets(line, sizeof line, ref)) {
        float boxes[8][4];
        char file[1024];
        int n = parse_line(line, boxes, 8, file, sizeof file);
        const char *base = strrchr(file, '/');
        snprintf(path, sizeof path, "%s/portraits/%s", data, base ? base + 1 : file);
        vv_image image = {0};
        if (n <= 0 || image_load(&image, path) != VV_OK) continue;
        match(detector, &image, (const float(*)[4])boxes, n, 2);
        image_free(&image);
    }
    if (ref) fclose(ref);
}

/* imglab XML: <image file='x.jpg'> followed by <box top left width height> elements. */
static void run_golden(face_detector *detector, const char *data, const char *xml_name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/landmarks_golden/%s", data, xml_name);
    FILE *f = fopen(path, "r");
    static char line[4096];
    char file[1024] = "";
    float boxes[64][4];
    int n = 0;
    for (bool more = true; f && more;) {
        more = fgets(line, sizeof line, f) != NULL;
        char *image_tag = more ? strstr(line, "<image file='") : NULL;
        if (!more || image_tag || strstr(line, "</images>")) {
            if (file[0] && n > 0) {
                snprintf(path, sizeof path, "%s/landmarks_golden/%s", data, file);
                vv_image image = {0};
                if (image_load(&image, path) == VV_OK) {
                    match(detector, &image, (const float(*)[4])boxes, n, 3);
                    image_free(&image);
                }
            }
            n = 0, file[0] = 0;
            if (image_tag) sscanf(image_tag, "<image file='%1000[^']'", file);
            continue;
        }
        int top, left, width, height;
        char *box = strstr(line, "<box ");
        if (box && n < 64 &&
            sscanf(box, "<box top='%d' left='%d' width='%d' height='%d'", &top, &left, &width,
                   &height) == 4) {
            /* dlib rectangles are inclusive: right = left + width - 1. */
            boxes[n][0] = (float)left, boxes[n][1] = (float)top;
            boxes[n][2] = (float)(left + width - 1), boxes[n][3] = (float)(top + height - 1);
            n++;
        }
    }
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <shared/data> [frame step, default 10]\n", argv[0]);
        return 2;
    }
    const char *data = argv[1];
    int step = argc > 2 ? atoi(argv[2]) : 10;
    if (step < 1) step = 1;
    face_detector *detector = NULL;
    if (face_detector_load(&detector, NULL) != VV_OK) {
        fprintf(stderr, "%s\n", vv_last_error());
        return 1;
    }
    run_clips(detector, data, step);
    int clip_total = detections_total, clip_missed = detections_missed;
    run_portraits(detector, data);
    int portrait_total = detections_total - clip_total;
    int portrait_missed = detections_missed - clip_missed;
    run_golden(detector, data, "training_with_face_landmarks.xml");
    run_golden(detector, data, "testing_with_face_landmarks.xml");
    printf("matched dlib faces: clips %d / %d, portraits %d / %d, golden %d / %d\n",
           clip_total - clip_missed, clip_total, portrait_total - portrait_missed, portrait_total,
           detections_total - clip_total - portrait_total - (detections_missed - clip_missed - portrait_missed),
           detections_total - clip_total - portrait_total);

    mapping identity = {0, 0, 1};
    evaluate("uncalibrated, held-out", 1, identity);
    mapping half_mean = fit(1 << 0, false), half_median = fit(1 << 0, true);
    printf("fit on half (mean):   dx %.4f dy %.4f side %.4f\n", half_mean.dx, half_mean.dy, half_mean.side);
    printf("fit on half (median): dx %.4f dy %.4f side %.4f\n", half_median.dx, half_median.dy, half_median.side);
    evaluate("mean fit, held-out clips", 1, half_mean);
    evaluate("median fit, held-out clips", 1, half_median);

    mapping all = fit((1 << 0) | (1 << 1), true);
    printf("final (median, all clips): #define CAL_DX %.4ff  #define CAL_DY %.4ff  #define CAL_SIDE %.4ff\n",
           all.dx, all.dy, all.side);
    evaluate("final, all clips", 0, all);
    evaluate("final, all clips (2nd half)", 1, all);
    evaluate("final, portraits", 2, all);
    evaluate("final, golden faces", 3, all);
    face_detector_free(detector);
    free(samples);
    return 0;
}
