/* face/detector: BlazeFace "back camera" model (256x256 input, 896 SSD anchors) as
 * MediaPipe runs it: letterboxed input in [-1, 1], anchors from SsdAnchorsCalculator
 * (strides 16, 32, 32, 32, fixed anchor size, offset 0.5), TensorsToDetections decoding
 * (scale 256, reversed x/y order, sigmoid of logits clipped to +-100) and WEIGHTED NMS.
 * Small faces in large images are found by extra passes over overlapping tiles. */
#include "face/detector.h"
#include "img/image.h"

#include "nn/tfjs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_SIZE FACE_DETECTOR_INPUT_SIZE
#define ANCHOR_COUNT FACE_DETECTOR_ANCHOR_COUNT
#define REGRESSORS FACE_DETECTOR_REGRESSORS
#define KEYPOINTS 6

/* MediaPipe's face_detection_back graph: NMS overlap threshold. */
#define NMS_IOU_THRESHOLD 0.3f
/* Candidates kept per pass before NMS (a face typically fires 5-20 anchors). */
#define MAX_PASS_CANDIDATES 128
/* Detections kept over all passes before the final merge. */
#define MAX_CANDIDATES 1024
/* Tiles are only worth running when their side is this large (in image pixels): a tile
 * smaller than the model input only upsamples. */
#define MIN_TILE_SIDE 192
/* Images whose longer side exceeds this get the tile passes even when the full pass
 * found a face (other, smaller faces may be there). */
#define LARGE_IMAGE_SIDE 1600

struct face_detector {
    tfjs_model *model;
    float min_score;
};

/* ---- Anchors and decoding ---- */

/* SsdAnchorsCalculator groups consecutive layers of equal stride into one grid: stride 16
 * (1 layer x 2 anchors: aspect 1 + the interpolated scale) and stride 32 (3 layers x 2).
 * fixed_anchor_size makes every anchor 1 x 1, so only the centres vary. */
static void anchor_center(int index, float *x, float *y) {
    int cells = INPUT_SIZE / 16, per_cell = 2;
    if (index >= 512) {
        index -= 512;
        cells = INPUT_SIZE / 32;
        per_cell = 6;
    }
    int cell = index / per_cell;
    *x = ((float)(cell % cells) + 0.5f) / (float)cells;
    *y = ((float)(cell / cells) + 0.5f) / (float)cells;
}

void face_detector_anchors(float anchors[ANCHOR_COUNT][2]) {
    for (int i = 0; i < ANCHOR_COUNT; i++) anchor_center(i, &anchors[i][0], &anchors[i][1]);
}

static float sigmoid_clipped(float logit) {
    if (logit > 100.0f) logit = 100.0f;
    if (logit < -100.0f) logit = -100.0f;
    return 1.0f / (1.0f + expf(-logit));
}

static int compare_score_descending(const void *a, const void *b) {
    float sa = ((const face_box *)a)->score, sb = ((const face_box *)b)->score;
    return (sa < sb) - (sa > sb);
}

int face_detector_decode(const float *scores, const float *regressors, float min_score,
                         face_box *out, int max) {
    if (max <= 0) return 0;
    int count = 0;
    for (int i = 0; i < ANCHOR_COUNT; i++) {
        float score = sigmoid_clipped(scores[i]);
        if (!(score >= min_score)) continue; /* also rejects NaN */
        /* Anchors are 1 x 1 in normalised units, so offsets are input pixels (scale 256). */
        const float *r = regressors + (size_t)i * REGRESSORS;
        float ax, ay;
        anchor_center(i, &ax, &ay);
        ax *= INPUT_SIZE;
        ay *= INPUT_SIZE;
        float cx = ax + r[0], cy = ay + r[1], w = r[2], h = r[3];
        if (!(w > 0.0f && h > 0.0f) || !isfinite(cx) || !isfinite(cy)) continue;
        face_box box;
        memset(&box, 0, sizeof box);
        box.score = score;
        box.raw[0] = cx - 0.5f * w;
        box.raw[1] = cy - 0.5f * h;
        box.raw[2] = cx + 0.5f * w;
        box.raw[3] = cy + 0.5f * h;
        for (int k = 0; k < KEYPOINTS; k++) {
            box.keypoints[k][0] = ax + r[4 + 2 * k];
            box.keypoints[k][1] = ay + r[5 + 2 * k];
        }
        box.x0 = box.raw[0], box.y0 = box.raw[1], box.x1 = box.raw[2], box.y1 = box.raw[3];
        if (count < max) {
            out[count++] = box;
        } else {
            /* Full: replace the weakest kept box if this one is better. */
            int weakest = 0;
            for (int j = 1; j < count; j++)
                if (out[j].score < out[weakest].score) weakest = j;
            if (out[weakest].score < score) out[weakest] = box;
        }
    }
    return count;
}

float face_box_iou(const float a[4], const float b[4]) {
    float area_a = (a[2] - a[0]) * (a[3] - a[1]);
    float area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if (!(area_a > 0.0f) || !(area_b > 0.0f)) return 0.0f;
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0.0f || ih <= 0.0f) return 0.0f;
    float inter = iw * ih;
    return inter / (area_a + area_b - inter);
}

/* Tile passes see parts of a large face as faces of their own (an eye and a mouth fill
 * a small tile like a whole face).  Drop a box that lies mostly (>= 60% of its area)
 * inside a larger box that scored at least as high. */
static int face_boxes_drop_contained(face_box *boxes, int count) {
    int kept = 0;
    for (int i = 0; i < count; i++) {
        const face_box *b = &boxes[i];
        float area_b = (b->x1 - b->x0) * (b->y1 - b->y0);
        bool contained = false;
        for (int j = 0; j < count && !contained; j++) {
            const face_box *a = &boxes[j];
            if (j == i) continue;
            float area_a = (a->x1 - a->x0) * (a->y1 - a->y0);
            if (area_a <= area_b || a->score < b->score) continue;
            float iw = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0);
            float ih = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
            contained = iw > 0 && ih > 0 && iw * ih >= 0.6f * area_b;
        }
        if (!contained) boxes[kept++] = boxes[i];
    }
    return kept;
}

int face_boxes_weighted_nms(face_box *boxes, int count, float iou_threshold) {
    if (count <= 0) return 0;
    qsort(boxes, (size_t)count, sizeof *boxes, compare_score_descending);
    /* remaining[0..left) are the unassigned boxes (indices into `boxes`, score order);
     * merged results are written over `boxes` from the front, which never overtakes the
     * best remaining index, so an unread box is never overwritten. */
    int *remaining = malloc((size_t)count * sizeof *remaining);
    if (!remaining) return count > 0 ? 1 : 0; /* no memory: keep only the best box */
    for (int i = 0; i < count; i++) remaining[i] = i;
    int left = count, kept = 0;
    while (left > 0) {
        face_box best = boxes[remaining[0]];
        double weight = 0.0, sum_box[4] = {0}, sum_kp[KEYPOINTS][2] = {{0}};
        int still = 0;
        for (int j = 0; j < left; j++) {
            const face_box *b = &boxes[remaining[j]];
            if (j == 0 || face_box_iou(best.raw, b->raw) > iou_threshold) {
                double s = b->score;
                weight += s;
                for (int c = 0; c < 4; c++) sum_box[c] += s * b->raw[c];
                for (int k = 0; k < KEYPOINTS; k++) {
                    sum_kp[k][0] += s * b->keypoints[k][0];
                    sum_kp[k][1] += s * b->keypoints[k][1];
                }
            } else {
                remaining[still++] = remaining[j];
            }
        }
        if (weight > 0.0) {
            for (int c = 0; c < 4; c++) best.raw[c] = (float)(sum_box[c] / weight);
            for (int k = 0; k < KEYPOINTS; k++) {
                best.keypoints[k][0] = (float)(sum_kp[k][0] / weight);
                best.keypoints[k][1] = (float)(sum_kp[k][1] / weight);
            }
        }
        best.x0 = best.raw[0], best.y0 = best.raw[1], best.x1 = best.raw[2], best.y1 = best.raw[3];
        boxes[kept++] = best;
        left = still;
    }
    free(remaining);
    return kept;
}

/* ---- Calibration to dlib's box ---- */

/* Fitted by scripts/calibrate_detector.c on dlib 19.24's HOG boxes (the reference/ JSONL files:
 * every 10th frame of the 50 train/ clips, 1438 faces).  In the frame of BlazeFace's box
 * (origin its centre, unit its width w), dlib's box centre offset (dx, dy) and side are
 * linear in the eye, nose and mouth keypoints.  Held-out residuals (clips not in the fit:
 * mean IoU with dlib's box / centre offset / side error, in % of dlib's side): clips 0.845 /
 * 4.4% / 6.3%, portraits 0.846 / 5.6% / 5.1%, dlib's golden faces 0.805 / 6.2% / 8.2%;
 * the box-only model below reaches 0.805 / 6.6% / 7.2% on the clips. */
static const float CAL_KEYPOINT[3][9] = {
    /* 1, right eye x y, left eye x y, nose x y, mouth x y */
    {-0.11384f, -0.11686f, -0.56186f, -0.47489f, 0.43239f, 0.73401f, -0.31804f, 0.14164f, 0.69876f},
    {0.14153f, -0.56335f, 1.11346f, 0.54182f, 0.82813f, 0.50108f, -0.49446f, -0.56513f, 0.17541f},
    {0.33649f, 0.08670f, -2.75851f, 1.03349f, 0.02038f, -3.75996f, 1.55369f, 3.93495f, -0.94252f},
};
/* Box-only fallback (medians over the same samples), used when the keypoints give an
 * implausible box: the square centred at (cx + DX w, cy + DY w) with side SIDE w. */
#define CAL_DX -0.0168f
#define CAL_DY -0.0286f
#define CAL_SIDE 0.9382f

void face_box_calibrate(face_box *box) {
    float w = box->raw[2] - box->raw[0];
    float cx = 0.5f * (box->raw[0] + box->raw[2]), cy = 0.5f * (box->raw[1] + box->raw[3]);
    float out[3] = {CAL_DX, CAL_DY, CAL_SIDE};
    if (w > 0.0f) {
        float features[9] = {1.0f};
        for (int k = 0; k < 4; k++) {
            features[1 + 2 * k] = (box->keypoints[k][0] - cx) / w;
            features[2 + 2 * k] = (box->keypoints[k][1] - cy) / w;
        }
        float fitted[3] = {0, 0, 0};
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 9; k++) fitted[c] += CAL_KEYPOINT[c][k] * features[k];
        /* Keypoints far outside the face (a poor detection) make the linear model
         * extrapolate; the fitted values stay within about +-0.1 / 0.8-1.1 on real faces. */
        if (fabsf(fitted[0]) < 0.25f && fabsf(fitted[1]) < 0.25f && fitted[2] > 0.7f &&
            fitted[2] < 1.25f)
            memcpy(out, fitted, sizeof out);
    }
    cx += out[0] * w;
    cy += out[1] * w;
    float half = 0.5f * out[2] * w;
    box->x0 = cx - half;
    box->y0 = cy - half;
    box->x1 = cx + half;
    box->y1 = cy + half;
}

/* ---- Input preparation ---- */

/* A square window of the image (may extend past its borders) fed to one model pass. */
typedef struct pass_window {
    float x0, y0, side;
    /* Which window edges lie inside the image: detections touching them are cut faces. */
    bool cut_left, cut_top, cut_right, cut_bottom;
} pass_window;

/* Fills the NHWC [1, 256, 256, 3] tensor from the window: area averaging when shrinking
 * (so large images do not alias), bilinear when enlarging; outside the image is black.
 * Values map 0..255 to -1..1 as MediaPipe's ImageToTensor does for this model. */
static void window_to_input(const vv_image *image, const pass_window *window, float *input) {
    const float step = window->side / (float)INPUT_SIZE;
    const int channels = image->channels;
    const int w = image->width, h = image->height;
    const float to_unit = 2.0f / 255.0f;
    for (int v = 0; v < INPUT_SIZE; v++) {
        float *row = input + (size_t)v * INPUT_SIZE * 3;
        for (int u = 0; u < INPUT_SIZE; u++) {
            float rgb[3] = {0, 0, 0};
            if (step > 1.0f) {
                int xa = (int)floorf(window->x0 + (float)u * step);
                int xb = (int)floorf(window->x0 + (float)(u + 1) * step);
                int ya = (int)floorf(window->y0 + (float)v * step);
                int yb = (int)floorf(window->y0 + (float)(v + 1) * step);
                if (xb <= xa) xb = xa + 1;
                if (yb <= ya) yb = ya + 1;
                int area = (xb - xa) * (yb - ya);
                /* Pixels outside the image count as black. */
                if (xa < 0) xa = 0;
                if (ya < 0) ya = 0;
                if (xb > w) xb = w;
                if (yb > h) yb = h;
                double sum[3] = {0, 0, 0};
                for (int y = ya; y < yb; y++) {
                    const uint8_t *p = image->data + ((size_t)y * w + xa) * channels;
                    for (int x = xa; x < xb; x++, p += channels) {
                        sum[0] += p[0];
                        sum[1] += p[channels == 3 ? 1 : 0];
                        sum[2] += p[channels == 3 ? 2 : 0];
                    }
                }
                for (int c = 0; c < 3; c++) rgb[c] = (float)(sum[c] / area);
            } else {
                float sx = window->x0 + ((float)u + 0.5f) * step - 0.5f;
                float sy = window->y0 + ((float)v + 0.5f) * step - 0.5f;
                if (sx > -1.0f && sy > -1.0f && sx < (float)w && sy < (float)h) {
                    int x = (int)floorf(sx), y = (int)floorf(sy);
                    float fx = sx - (float)x, fy = sy - (float)y;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            int px = x + dx, py = y + dy;
                            if (px < 0 || py < 0 || px >= w || py >= h) continue;
                            float weight = (dx ? fx : 1.0f - fx) * (dy ? fy : 1.0f - fy);
                            const uint8_t *p = image->data + ((size_t)py * w + px) * channels;
                            for (int c = 0; c < 3; c++)
                                rgb[c] += weight * p[channels == 3 ? c : 0];
                        }
                }
            }
            for (int c = 0; c < 3; c++) row[u * 3 + c] = rgb[c] * to_unit - 1.0f;
        }
    }
}

/* ---- Passes ---- */

typedef struct pass_job {
    const face_detector *detector;
    const vv_image *image;
    const pass_window *windows;
    face_box *boxes;  /* MAX_PASS_CANDIDATES per window */
    int *counts;
    vv_status *statuses;
    char (*messages)[256]; /* vv_last_error() is per thread: copied out of the worker */
} pass_job;

static vv_status run_pass(const face_detector *detector, const vv_image *image,
                          const pass_window *window, face_box *boxes, int *count) {
    static const char *const names[4] = {"Identity", "Identity_2", "Identity_1", "Identity_3"};
    *count = 0;
    int shape[4] = {1, INPUT_SIZE, INPUT_SIZE, 3};
    tensor input, outputs[4];
    memset(outputs, 0, sizeof outputs);
    vv_status s = tensor_alloc(&input, 4, shape);
    if (s != VV_OK) return s;
    window_to_input(image, window, input.data);
    s = tfjs_model_run_outputs(detector->model, &input, names, 4, outputs);
    tensor_free(&input);
    float *scores = NULL, *regressors = NULL;
    if (s == VV_OK) {
        /* Identity: [1,512,1] scores, Identity_2: [1,512,16] regressors (16x16 grid);
         * Identity_1: [1,384,1], Identity_3: [1,384,16] (8x8 grid). */
        static const size_t expected[4] = {512, 512 * REGRESSORS, 384, 384 * REGRESSORS};
        for (int i = 0; i < 4; i++)
            if (outputs[i].size != expected[i]) {
                s = vv_fail(VV_ERR_MODEL, "blazeface output %s has %zu values, expected %zu",
                            names[i], outputs[i].size, expected[i]);
                break;
            }
    }
    if (s == VV_OK) {
        scores = malloc(ANCHOR_COUNT * sizeof *scores);
        regressors = malloc((size_t)ANCHOR_COUNT * REGRESSORS * sizeof *regressors);
        if (!scores || !regressors) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory decoding faces");
    }
    if (s == VV_OK) {
        memcpy(scores, outputs[0].data, 512 * sizeof *scores);
        memcpy(scores + 512, outputs[2].data, 384 * sizeof *scores);
        memcpy(regressors, outputs[1].data, 512 * REGRESSORS * sizeof *regressors);
        memcpy(regressors + 512 * REGRESSORS, outputs[3].data,
               384 * REGRESSORS * sizeof *regressors);
        int n = face_detector_decode(scores, regressors, detector->min_score, boxes,
                                     MAX_PASS_CANDIDATES);
        n = face_boxes_weighted_nms(boxes, n, NMS_IOU_THRESHOLD);
        /* Input pixels -> image pixels; drop faces cut by an edge inside the image. */
        const float scale = window->side / (float)INPUT_SIZE;
        const float margin = 0.02f * INPUT_SIZE;
        int kept = 0;
        for (int i = 0; i < n; i++) {
            face_box b = boxes[i];
            if ((window->cut_left && b.raw[0] < margin) ||
                (window->cut_top && b.raw[1] < margin) ||
                (window->cut_right && b.raw[2] > INPUT_SIZE - margin) ||
                (window->cut_bottom && b.raw[3] > INPUT_SIZE - margin))
                continue;
            for (int c = 0; c < 4; c++)
                b.raw[c] = b.raw[c] * scale + (c % 2 == 0 ? window->x0 : window->y0);
            for (int k = 0; k < KEYPOINTS; k++) {
                b.keypoints[k][0] = b.keypoints[k][0] * scale + window->x0;
                b.keypoints[k][1] = b.keypoints[k][1] * scale + window->y0;
            }
            boxes[kept++] = b;
        }
        *count = kept;
    }
    free(scores);
    free(regressors);
    for (int i = 0; i < 4; i++) tensor_free(&outputs[i]);
    return s;
}

static void pass_job_run(void *ctx, int index) {
    pass_job *job = ctx;
    job->statuses[index] = run_pass(job->detector, job->image, &job->windows[index],
                                    job->boxes + (size_t)index * MAX_PASS_CANDIDATES,
                                    &job->counts[index]);
    if (job->statuses[index] != VV_OK)
        snprintf(job->messages[index], sizeof job->messages[index], "%s", vv_last_error());
}

/* Runs the passes in parallel and appends their detections to all[*total]. */
static vv_status run_passes(const face_detector *detector, const vv_image *image,
                            const pass_window *windows, int window_count, face_box *all,
                            int *total) {
    face_box *boxes = mem_alloc((size_t)window_count * MAX_PASS_CANDIDATES, sizeof *boxes);
    int *counts = mem_calloc((size_t)window_count, sizeof *counts);
    vv_status *statuses = mem_calloc((size_t)window_count, sizeof *statuses);
    char (*messages)[256] = mem_calloc((size_t)window_count, sizeof *messages);
    vv_status s = VV_OK;
    if (!boxes || !counts || !statuses || !messages) {
        s = vv_fail(VV_ERR_NO_MEMORY, "out of memory for %d detector passes", window_count);
    } else {
        pass_job job = {detector, image, windows, boxes, counts, statuses, messages};
        parallel_for(window_count, 0, pass_job_run, &job);
        for (int i = 0; i < window_count && s == VV_OK; i++) {
            if (statuses[i] != VV_OK) {
                s = vv_fail(statuses[i], "%s", messages[i]);
                break;
            }
            for (int j = 0; j < counts[i] && *total < MAX_CANDIDATES; j++)
                all[(*total)++] = boxes[(size_t)i * MAX_PASS_CANDIDATES + j];
        }
    }
    free(boxes);
    free(counts);
    free(statuses);
    free(messages);
    return s;
}

/* Overlapping square tiles of the given side covering the image, half a tile apart. */
static int tile_windows(int width, int height, float side, pass_window *out, int max) {
    int n = 0;
    int nx = width <= side ? 1 : (int)ceilf(((float)width - side) / (0.5f * side)) + 1;
    int ny = height <= side ? 1 : (int)ceilf(((float)height - side) / (0.5f * side)) + 1;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx && n < max; i++) {
            pass_window *t = &out[n++];
            t->side = side;
            t->x0 = nx == 1 ? 0.5f * ((float)width - side)
                            : (float)i * ((float)width - side) / (float)(nx - 1);
            t->y0 = ny == 1 ? 0.5f * ((float)height - side)
                            : (float)j * ((float)height - side) / (float)(ny - 1);
            t->cut_left = t->x0 > 0.5f;
            t->cut_top = t->y0 > 0.5f;
            t->cut_right = t->x0 + side < (float)width - 0.5f;
            t->cut_bottom = t->y0 + side < (float)height - 0.5f;
        }
    return n;
}

static int compare_area_descending(const void *a, const void *b) {
    const face_box *p = a, *q = b;
    float ap = (p->x1 - p->x0) * (p->y1 - p->y0), aq = (q->x1 - q->x0) * (q->y1 - q->y0);
    return (ap < aq) - (ap > aq);
}

/* ---- Public ---- */

vv_status face_detector_load(face_detector **out, const char *model_path) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_detector_load: out is NULL");
    *out = NULL;
    char found[4096];
    if (!model_path) {
        vv_status s = models_find("blazeface.json", found, sizeof found);
        if (s != VV_OK) return s;
        model_path = found;
    }
    face_detector *detector = mem_calloc(1, sizeof *detector);
    if (!detector) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading %s", model_path);
    vv_status s = tfjs_model_load(&detector->model, model_path);
    if (s != VV_OK) {
        free(detector);
        return s;
    }
    int shape[TENSOR_MAX_DIMS];
    int ndim = tfjs_model_input_shape(detector->model, shape);
    if (ndim != 4 || shape[1] != INPUT_SIZE || shape[2] != INPUT_SIZE || shape[3] != 3) {
        tfjs_model_free(detector->model);
        free(detector);
        return vv_fail(VV_ERR_MODEL, "%s is not the 256x256 BlazeFace model (input shape)",
                       model_path);
    }
    detector->min_score = 0.6f;
    *out = detector;
    return VV_OK;
}

void face_detector_free(face_detector *detector) {
    if (!detector) return;
    tfjs_model_free(detector->model);
    free(detector);
}

void face_detector_set_threshold(face_detector *detector, float min_score) {
    if (detector && min_score > 0.0f && min_score < 1.0f) detector->min_score = min_score;
}

vv_status face_detect(face_detector *detector, const vv_image *image, face_box *out,
                      int max, int *count) {
    return face_detect_thorough(detector, image, out, max, count, false);
}

vv_status face_detect_thorough(face_detector *detector, const vv_image *image, face_box *out,
                               int max, int *count, bool thorough) {
    if (count) *count = 0;
    if (!detector || !image || !count || (max > 0 && !out))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_detect: NULL argument");
    if (!image->data || image->width <= 0 || image->height <= 0 ||
        (image->channels != 1 && image->channels != 3))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_detect: invalid %dx%dx%d image",
                       image->width, image->height, image->channels);
    face_box *all = mem_alloc(MAX_CANDIDATES, sizeof *all);
    if (!all) return vv_fail(VV_ERR_NO_MEMORY, "out of memory detecting faces");
    const int w = image->width, h = image->height;
    const float longest = (float)(w > h ? w : h);
    int total = 0;

    /* 1. The whole image, letterboxed (centred) into a square. */
    pass_window full = {0.5f * ((float)w - longest), 0.5f * ((float)h - longest), longest,
                        false, false, false, false};
    vv_status s = run_passes(detector, image, &full, 1, all, &total);

    /* 2. Tiles at half and quarter of the longer side, when nothing was found or the
     * image is large enough to hide small faces; quarter tiles only if halves fail. */
    for (int level = 1; level <= 2 && s == VV_OK; level++) {
        float side = longest / (float)(1 << level);
        if (side < MIN_TILE_SIDE || (total > 0 && longest <= LARGE_IMAGE_SIDE && !thorough)) break;
        if (level == 2 && total > 0) break;
        pass_window tiles[64];
        int n = tile_windows(w, h, side, tiles, 64);
        s = run_passes(detector, image, tiles, n, all, &total);
    }

    if (s == VV_OK) {
        total = face_boxes_weighted_nms(all, total, NMS_IOU_THRESHOLD);
        total = face_boxes_drop_contained(all, total);
        for (int i = 0; i < total; i++) face_box_calibrate(&all[i]);
        qsort(all, (size_t)total, sizeof *all, compare_area_descending);
        int n = total < max ? total : (max > 0 ? max : 0);
        if (n > 0) memcpy(out, all, (size_t)n * sizeof *out);
        *count = n;
    }
    free(all);
    return s;
}

/* ---- Searching while no face is tracked (detector.h). ---- */

#define QUICK_EVERY_FRAME_UNTIL 8
#define QUICK_EVERY_2ND_UNTIL 24
#define FULL_SEARCH_FIRST 25
#define FULL_SEARCH_MAX_GAP 100

vv_status face_detect_downscaled(face_detector *detector, const vv_image *frame, face_box *out, int max,
                                 int *count) {
    int longest = frame->width > frame->height ? frame->width : frame->height;
    if (longest <= FACE_DETECTOR_INPUT_SIZE) return face_detect(detector, frame, out, max, count);
    float scale = (float)FACE_DETECTOR_INPUT_SIZE / (float)longest;
    int width = (int)lroundf((float)frame->width * scale), height = (int)lroundf((float)frame->height * scale);
    if (width < 1) width = 1;
    if (height < 1) height = 1;
    vv_image small = {0};
    vv_status status = image_resize(&small, frame, width, height);
    if (status == VV_OK) status = face_detect(detector, &small, out, max, count);
    image_free(&small);
    if (status != VV_OK) return status;
    /* Back to frame pixels (per axis: the rounded size scales each a little differently). */
    float sx = (float)frame->width / (float)width, sy = (float)frame->height / (float)height;
    for (int i = 0; i < *count; i++) {
        face_box *b = &out[i];
        b->x0 *= sx; b->x1 *= sx; b->raw[0] *= sx; b->raw[2] *= sx;
        b->y0 *= sy; b->y1 *= sy; b->raw[1] *= sy; b->raw[3] *= sy;
        for (int k = 0; k < 6; k++) { b->keypoints[k][0] *= sx; b->keypoints[k][1] *= sy; }
    }
    return VV_OK;
}

void face_search_reset(face_search_schedule *s) { s->lost_frames = -1; }

face_search_kind face_search_next(face_search_schedule *s) {
    long n = s->lost_frames;
    if (n < 0) return FACE_SEARCH_FULL;
    if (n >= s->next_full_search) {
        long gap = s->next_full_search;
        s->next_full_search += gap < FULL_SEARCH_MAX_GAP ? gap : FULL_SEARCH_MAX_GAP;
        return FACE_SEARCH_FULL;
    }
    int every = n < QUICK_EVERY_FRAME_UNTIL ? 1 : n < QUICK_EVERY_2ND_UNTIL ? 2 : 4;
    return n % every == 0 ? FACE_SEARCH_QUICK : FACE_SEARCH_NONE;
}

void face_search_missed(face_search_schedule *s) {
    if (++s->lost_frames == 0) s->next_full_search = FULL_SEARCH_FIRST;
}
