/* Fits the mapping from BlazeFace's box to dlib's HOG-detector box (the box convention
 * dlib's 68-point shape predictor expects) and prints the constants for
 * src/face/detector.c (CAL_KEYPOINT; CAL_DX, CAL_DY, CAL_SIDE) with the residuals.
 *
 * Data: ../shared/data/reference/<clip>.jsonl gives dlib 19.24's box [l, t, r, b] for every
 * frame of every clip in train/; every `step`-th frame with exactly one dlib face is used.
 * Clips are split by name (alternating in sorted order) into a fit half and a held-out
 * half; the residuals reported are on the held-out half, then the final constants are fitted
 * on all of it.  The portraits and dlib's hand-checked golden faces (the landmarks_golden
 * XML files) are evaluated as further held-out sets.
 *
 * Two models, both in the frame of BlazeFace's box (origin its centre (cx, cy), unit its
 * width w), each giving dlib's box as a square (centre offset dx, dy and side):
 *  - box model: constants, the medians over samples (CAL_DX, CAL_DY, CAL_SIDE);
 *  - keypoint model: dx, dy and side each linear in the eye, nose and mouth keypoints
 *    (3 x 9 coefficients, least squares; CAL_KEYPOINT).  detector.c uses this one and
 *    falls back to the box model when the keypoints give an implausible box.
 * Residuals: mean IoU with dlib's box, centre offset and side error in % of dlib's side.
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
    float keypoints[4][2]; /* eyes, nose, mouth (the ears are often hidden) */
    float dlib[4];     /* l, t, r, b */
    int set;           /* 0 fit clips, 1 held-out clips, 2 portraits, 3 golden */
} sample;

static sample *samples;
static int sample_count, sample_capacity;

static void add_sample(const face_box *face, const float dlib[4], int set) {
    if (sample_count == sample_capacity) {
        sample_capacity = sample_capacity ? 2 * sample_capacity : 1024;
        samples = realloc(samples, (size_t)sample_capacity * sizeof *samples);
        if (!samples) exit(1);
    }
    sample *s = &samples[sample_count++];
    memcpy(s->raw, face->raw, sizeof s->raw);
    memcpy(s->keypoints, face->keypoints, sizeof s->keypoints);
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
        add_sample(&faces[best], dlib[d], set);
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

/* The keypoint model: in the frame of BlazeFace's box (origin its centre, unit its width),
 * dlib's centre offset and side are each a linear function of the 8 keypoint coordinates
 * (eyes, nose, mouth) plus a constant: 3 x 9 coefficients by least squares. */
#define FEATURES 9
typedef struct linear_mapping { double coef[3][FEATURES]; } linear_mapping;

static void sample_features(const sample *s, double f[FEATURES], double target[3]) {
    double w = s->raw[2] - s->raw[0];
    double cx = 0.5 * (s->raw[0] + s->raw[2]), cy = 0.5 * (s->raw[1] + s->raw[3]);
    f[0] = 1;
    for (int k = 0; k < 4; k++) {
        f[1 + 2 * k] = (s->keypoints[k][0] - cx) / w;
        f[2 + 2 * k] = (s->keypoints[k][1] - cy) / w;
    }
    if (target) {
        target[0] = (0.5 * (s->dlib[0] + s->dlib[2]) - cx) / w;
        target[1] = (0.5 * (s->dlib[1] + s->dlib[3]) - cy) / w;
        target[2] = (s->dlib[2] - s->dlib[0]) / w;
    }
}

static linear_mapping fit_linear(int set_mask) {
    double ata[FEATURES][FEATURES] = {{0}}, atb[3][FEATURES] = {{0}};
    for (int i = 0; i < sample_count; i++) {
        if (!(set_mask & (1 << samples[i].set))) continue;
        double f[FEATURES], t[3];
        sample_features(&samples[i], f, t);
        for (int a = 0; a < FEATURES; a++) {
            for (int b = 0; b < FEATURES; b++) ata[a][b] += f[a] * f[b];
            for (int c = 0; c < 3; c++) atb[c][a] += f[a] * t[c];
        }
    }
    for (int a = 0; a < FEATURES; a++) ata[a][a] += 1e-6; /* keeps it solvable */
    linear_mapping m;
    for (int c = 0; c < 3; c++) {
        /* Gaussian elimination with partial pivoting on a copy. */
        double a[FEATURES][FEATURES + 1];
        for (int r = 0; r < FEATURES; r++) {
            memcpy(a[r], ata[r], sizeof ata[r]);
            a[r][FEATURES] = atb[c][r];
        }
        for (int col = 0; col < FEATURES; col++) {
            int pivot = col;
            for (int r = col + 1; r < FEATURES; r++)
                if (fabs(a[r][col]) > fabs(a[pivot][col])) pivot = r;
            for (int k = 0; k <= FEATURES; k++) {
                double t = a[col][k];
                a[col][k] = a[pivot][k];
                a[pivot][k] = t;
            }
            for (int r = 0; r < FEATURES; r++) {
                if (r == col) continue;
                double factor = a[r][col] / a[col][col];
                for (int k = col; k <= FEATURES; k++) a[r][k] -= factor * a[col][k];
            }
        }
        for (int r = 0; r < FEATURES; r++) m.coef[c][r] = a[r][FEATURES] / a[r][r];
    }
    return m;
}

static void predict_linear(const linear_mapping *m, const sample *s, float box[4]) {
    double f[FEATURES], out[3] = {0, 0, 0};
    sample_features(s, f, NULL);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < FEATURES; k++) out[c] += m->coef[c][k] * f[k];
    double w = s->raw[2] - s->raw[0];
    double cx = 0.5 * (s->raw[0] + s->raw[2]) + out[0] * w;
    double cy = 0.5 * (s->raw[1] + s->raw[3]) + out[1] * w;
    double half = 0.5 * out[2] * w;
    box[0] = (float)(cx - half), box[1] = (float)(cy - half);
    box[2] = (float)(cx + half), box[3] = (float)(cy + half);
}

static void report(const char *label, int n, double iou, double centre, double size) {
    if (n == 0) {
        printf("%-34s no samples\n", label);
        return;
    }
    printf("%-34s n=%5d  mean IoU %.3f  centre offset %.1f%%  size error %.1f%% (of dlib's side)\n",
           label, n, iou / n, 100 * centre / n, 100 * size / n);
}

static void evaluate_linear(const char *label, int set, const linear_mapping *m) {
    int n = 0;
    double iou = 0, centre = 0, size = 0;
    for (int i = 0; i < sample_count; i++) {
        const sample *s = &samples[i];
        if (s->set != set) continue;
        float box[4];
        predict_linear(m, s, box);
        float dside = s->dlib[2] - s->dlib[0];
        iou += face_box_iou(box, s->dlib);
        centre += hypot(0.5 * (box[0] + box[2] - s->dlib[0] - s->dlib[2]),
                        0.5 * (box[1] + box[3] - s->dlib[1] - s->dlib[3])) / dside;
        size += fabs((box[2] - box[0]) - dside) / dside;
        n++;
    }
    report(label, n, iou, centre, size);
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
    report(label, n, iou, centre, size);
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
        snprintf(path, sizeof path, "%s/%.255s", dir, names[c]);
        video_reader *reader = NULL;
        if (video_reader_open(&reader, path) != VV_OK) {
            fprintf(stderr, "%s: %s\n", names[c], vv_last_error());
            continue;
        }
        char stem[256];
        snprintf(stem, sizeof stem, "%.200s", names[c]);
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

    linear_mapping half_linear = fit_linear(1 << 0);
    evaluate_linear("keypoint fit, held-out clips", 1, &half_linear);

    mapping all = fit((1 << 0) | (1 << 1), true);
    printf("box model (median, all clips): #define CAL_DX %.4ff  #define CAL_DY %.4ff  "
           "#define CAL_SIDE %.4ff\n", all.dx, all.dy, all.side);
    evaluate("box model, clips of the fit half", 0, all);
    evaluate("box model, clips of the other half", 1, all);
    evaluate("box model, portraits", 2, all);
    evaluate("box model, golden faces", 3, all);
    linear_mapping linear = fit_linear((1 << 0) | (1 << 1));
    printf("keypoint model (all clips), rows dx, dy, side; columns 1, right eye x y, left eye x y,"
           " nose x y, mouth x y:\n");
    for (int c = 0; c < 3; c++) {
        printf("    {");
        for (int k = 0; k < FEATURES; k++) printf("%.5ff%s", linear.coef[c][k], k + 1 < FEATURES ? ", " : "},\n");
    }
    evaluate_linear("keypoint model, fit half", 0, &linear);
    evaluate_linear("keypoint model, other half", 1, &linear);
    evaluate_linear("keypoint model, portraits", 2, &linear);
    evaluate_linear("keypoint model, golden faces", 3, &linear);
    face_detector_free(detector);
    free(samples);
    return 0;
}
