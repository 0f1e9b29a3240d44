/* face/facemesh: MediaPipe FaceMesh + Iris as MediaPipe's graphs run them.
 *
 * How the models are fed (mediapipe/modules/face_landmark/face_landmark_cpu.pbtxt,
 * iris_landmark/iris_landmark_cpu.pbtxt and the calculators they name):
 *  - FaceMesh: ImageToTensorCalculator cuts the rotated square ROI to 192x192, values in
 *    [0, 1], pixels outside the image replicate the border.  Outputs: output_mesh, 468
 *    (x, y, z) in crop pixels (TensorsToLandmarks: x / 192, y / 192, z / 192), projected
 *    back by LandmarkProjectionCalculator (rotate about the crop centre, scale by the ROI
 *    side; z scaled like x); output_faceflag, the face-presence probability: this TFJS
 *    graph already ends in a Sigmoid (MediaPipe's TFLite model gives the logit and applies
 *    the sigmoid in TensorsToFloatsCalculator), thresholded at 0.5.  output_contours (133
 *    2D points) duplicates mesh vertices and is not used.
 *  - ROIs (DetectionsToRects + RectTransformation): the box (of a detection, or of all
 *    landmarks), rotation = the angle of a keypoint pair (BlazeFace's eyes, or mesh 33 ->
 *    263), squared on the longer side, scaled 1.5.
 *  - Iris: per eye a ROI from its two corners (33 -> 133, and 362 -> 263): box of the two
 *    points, squared on its longer side, scaled 2.3, rotated along the corner line; cut
 *    to 64x64 in [0, 1], border replicated; the left eye (362 / 263) is mirrored
 *    horizontally (the model knows right eyes) and its outputs mirrored back (x -> 64 - x).
 *    Output: 71 eye-contour / brow points then 5 iris points (centre, then 4 on the rim),
 *    crop pixels.  MediaPipe's iris-tracking graph writes the 71 contour points over the
 *    mesh's eye region (UpdateFaceLandmarksCalculator's index table, below).
 *
 * Sampling: the crop maps tensor pixel u (centre u + 0.5 in crop units) to the image
 * point centre + R(angle) (((u + 0.5) / N - 0.5) size), the same map the landmarks are
 * projected back with, so a point's position does not shift with the ROI.  Where the
 * ROI is larger than the tensor (a big face) each tensor pixel averages k x k bilinear
 * samples (k = ceil(image px per tensor px), at most 4) so the crop does not alias;
 * MediaPipe samples once (bilinear), which makes the mesh flicker on large faces. */
#include "face/facemesh.h"
#include "face/detector.h"
#include "img/image.h"

#include "nn/tfjs.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MESH_N FACE_MESH_INPUT_SIZE
#define IRIS_N FACE_MESH_IRIS_INPUT_SIZE
#define MESH_VALUES (FACE_MESH_POINTS * 3)
#define EYE_CONTOUR_POINTS 71
#define IRIS_VALUES ((EYE_CONTOUR_POINTS + 5) * 3)
/* MediaPipe's ROI enlargements. */
#define FACE_ROI_SCALE 1.5f
#define EYE_ROI_SCALE 2.3f
/* A ROI side outside [MIN_ROI_SIDE, MAX_ROI_FACTOR x the image's longer side] is refused. */
#define MIN_ROI_SIDE 8.0f
#define MAX_ROI_FACTOR 8.0f
#define MAX_SUPERSAMPLE 4

struct face_mesh {
    tfjs_model *mesh;
    tfjs_model *iris;
};

/* ---------------------------------------------------------------- index tables */

const int face_mesh_lid_upper[2][FACE_MESH_LID_POINTS] = {
    {33, 246, 161, 160, 159, 158, 157, 173, 133},
    {263, 466, 388, 387, 386, 385, 384, 398, 362},
};
const int face_mesh_lid_lower[2][FACE_MESH_LID_POINTS] = {
    {33, 7, 163, 144, 145, 153, 154, 155, 133},
    {263, 249, 390, 373, 374, 380, 381, 382, 362},
};
const int face_mesh_lips_outer_upper[FACE_MESH_LIP_POINTS] = {61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291};
const int face_mesh_lips_outer_lower[FACE_MESH_LIP_POINTS] = {61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291};
const int face_mesh_lips_inner_upper[FACE_MESH_LIP_POINTS] = {78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308};
const int face_mesh_lips_inner_lower[FACE_MESH_LIP_POINTS] = {78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308};
const int face_mesh_face_oval[FACE_MESH_OVAL_POINTS] = {
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
};

/* The mesh vertex each of the iris model's 71 eye-contour points replaces
 * (mediapipe/graphs/iris_tracking/calculators/update_face_landmarks_calculator.cc):
 * lower lid (9), upper lid without corners (7), then halos 2, 3 (lower 9 + upper 7 each),
 * halo 4 upper / brow inner contour (6), halo 5 lower (9) and upper / brow outer (8). */
static const short eye_contour_vertex[2][EYE_CONTOUR_POINTS] = {
    {33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
     130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
     226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
     35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245,
     156, 70, 63, 105, 66, 107, 55, 193},
    {263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
     359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
     446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
     265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465,
     383, 300, 293, 334, 296, 336, 285, 417},
};
/* Eye corners (ROI keypoints, start -> end) and lid centres (iris depth). */
static const int eye_corner[2][2] = {{33, 133}, {362, 263}};
static const int lid_centre[2][2] = {{159, 145}, {386, 374}};

/* ---------------------------------------------------------------- dlib's 68 points */

/* dlib point = (1 - w) * vertex a + w * vertex b. */
typedef struct { short a, b; float w; } mesh68_entry;

/* Derived from data by scripts/derive_mesh68.c (collect, fit): the mesh tracker (iris on)
 * over the 44 clips of ../shared/data/train not in data/holdout.txt, every 2nd frame with
 * one dlib face: 6212 frames.  Per point the vertex, or pair among its 24 best vertices
 * and weight (steps of 0.05), with the smallest mean distance to dlib 19.24's point,
 * normalised by dlib's outer-eye-corner distance (36-45); a blend only where it beats the
 * best single vertex by 2%.  The per-point NME below is on those fitting frames (mean:
 * jaw 0.0569, inner 0.0275).  Measured on the 6 held-out clips (scripts/derive_mesh68.c
 * eval, every tracked frame with one dlib face: 1787) the mean NME is jaw 0.0663, inner 0.0253
 * (per clip 0.044-0.068 / 0.019-0.031, and 0.168 / 0.056 on sty_style_nice_clip1, a
 * head turned ~45 degrees, where dlib's jaw follows the silhouette); on meshes run
 * without the iris model the inner points measure 0.0274.
 * The jaw is the weakest: dlib's jaw points follow the 2D silhouette, which slides over
 * the 3D surface as the head turns, while a mesh vertex stays put. */
static const mesh68_entry mesh68_table[68] = {
    {127, 234, 0.10f}, /*  0: NME 0.0607 */
    {93, 234, 0.65f}, /*  1: NME 0.0565 */
    {93, 132, 0.55f}, /*  2: NME 0.0575 */
    {58, 132, 0.35f}, /*  3: NME 0.0587 */
    {58, 172, 0.80f}, /*  4: NME 0.0561 */
    {136, 150, 0.25f}, /*  5: NME 0.0536 */
    {149, 150, 0.15f}, /*  6: NME 0.0556 */
    {148, 176, 0.45f}, /*  7: NME 0.0588 */
    {152, 152, 0.00f}, /*  8: NME 0.0528 */
    {377, 400, 0.40f}, /*  9: NME 0.0544 */
    {378, 379, 0.10f}, /* 10: NME 0.0501 */
    {365, 379, 0.25f}, /* 11: NME 0.0510 */
    {397, 435, 0.15f}, /* 12: NME 0.0557 */
    {435, 435, 0.00f}, /* 13: NME 0.0593 */
    {323, 401, 0.65f}, /* 14: NME 0.0591 */
    {366, 454, 0.60f}, /* 15: NME 0.0618 */
    {356, 356, 0.00f}, /* 16: NME 0.0654 */
    {71, 156, 0.65f}, /* 17: NME 0.0425 */
    {63, 71, 0.15f}, /* 18: NME 0.0389 */
    {69, 224, 0.55f}, /* 19: NME 0.0385 */
    {65, 108, 0.25f}, /* 20: NME 0.0384 */
    {9, 65, 0.45f}, /* 21: NME 0.0379 */
    {8, 336, 0.70f}, /* 22: NME 0.0342 */
    {295, 337, 0.25f}, /* 23: NME 0.0351 */
    {299, 444, 0.55f}, /* 24: NME 0.0339 */
    {276, 333, 0.35f}, /* 25: NME 0.0365 */
    {301, 383, 0.65f}, /* 26: NME 0.0466 */
    {6, 168, 0.65f}, /* 27: NME 0.0247 */
    {245, 419, 0.70f}, /* 28: NME 0.0223 */
    {174, 281, 0.65f}, /* 29: NME 0.0267 */
    {241, 281, 0.50f}, /* 30: NME 0.0324 */
    {60, 98, 0.55f}, /* 31: NME 0.0222 */
    {60, 164, 0.30f}, /* 32: NME 0.0222 */
    {2, 164, 0.30f}, /* 33: NME 0.0250 */
    {164, 305, 0.60f}, /* 34: NME 0.0240 */
    {326, 460, 0.90f}, /* 35: NME 0.0260 */
    {31, 33, 0.85f}, /* 36: NME 0.0192 */
    {33, 159, 0.70f}, /* 37: NME 0.0173 */
    {26, 158, 0.85f}, /* 38: NME 0.0165 */
    {22, 133, 0.85f}, /* 39: NME 0.0170 */
    {112, 144, 0.55f}, /* 40: NME 0.0163 */
    {7, 23, 0.45f}, /* 41: NME 0.0174 */
    {341, 384, 0.20f}, /* 42: NME 0.0181 */
    {256, 385, 0.85f}, /* 43: NME 0.0171 */
    {263, 386, 0.70f}, /* 44: NME 0.0178 */
    {261, 466, 0.75f}, /* 45: NME 0.0200 */
    {253, 263, 0.45f}, /* 46: NME 0.0199 */
    {256, 390, 0.35f}, /* 47: NME 0.0189 */
    {43, 61, 0.85f}, /* 48: NME 0.0270 */
    {39, 191, 0.45f}, /* 49: NME 0.0245 */
    {82, 167, 0.40f}, /* 50: NME 0.0270 */
    {81, 267, 0.60f}, /* 51: NME 0.0265 */
    {267, 312, 0.20f}, /* 52: NME 0.0276 */
    {269, 304, 0.60f}, /* 53: NME 0.0256 */
    {273, 291, 0.85f}, /* 54: NME 0.0262 */
    {273, 405, 0.80f}, /* 55: NME 0.0319 */
    {314, 314, 0.00f}, /* 56: NME 0.0357 */
    {17, 17, 0.00f}, /* 57: NME 0.0349 */
    {84, 200, 0.05f}, /* 58: NME 0.0346 */
    {43, 181, 0.80f}, /* 59: NME 0.0316 */
    {146, 183, 0.55f}, /* 60: NME 0.0264 */
    {42, 82, 0.90f}, /* 61: NME 0.0247 */
    {13, 16, 0.05f}, /* 62: NME 0.0254 */
    {13, 272, 0.45f}, /* 63: NME 0.0265 */
    {375, 407, 0.50f}, /* 64: NME 0.0258 */
    {14, 320, 0.40f}, /* 65: NME 0.0337 */
    {13, 15, 0.80f}, /* 66: NME 0.0328 */
    {14, 90, 0.40f}, /* 67: NME 0.0328 */
};

void face_mesh_to_landmarks68(const float mesh[][3], float out[68][2]) {
    for (int i = 0; i < 68; i++) {
        const mesh68_entry *e = &mesh68_table[i];
        float w = e->w;
        out[i][0] = (1 - w) * mesh[e->a][0] + w * mesh[e->b][0];
        out[i][1] = (1 - w) * mesh[e->a][1] + w * mesh[e->b][1];
    }
}

/* ---------------------------------------------------------------- ROIs */

/* RectTransformationCalculator with square_long: side = the box's longer side x scale. */
static void roi_set(face_mesh_roi *roi, float x0, float y0, float x1, float y1, float angle,
                    float scale) {
    float w = fabsf(x1 - x0), h = fabsf(y1 - y0);
    roi->cx = 0.5f * (x0 + x1);
    roi->cy = 0.5f * (y0 + y1);
    roi->size = (w > h ? w : h) * scale;
    roi->angle = angle;
}

void face_mesh_roi_from_box(const float box[4], face_mesh_roi *roi) {
    roi_set(roi, box[0], box[1], box[2], box[3], 0.0f, FACE_ROI_SCALE);
}

void face_mesh_roi_from_detection(const face_box *box, face_mesh_roi *roi) {
    const float *r = box->keypoints[FACE_KEYPOINT_RIGHT_EYE], *l = box->keypoints[FACE_KEYPOINT_LEFT_EYE];
    roi_set(roi, box->raw[0], box->raw[1], box->raw[2], box->raw[3], atan2f(l[1] - r[1], l[0] - r[0]),
            FACE_ROI_SCALE);
}

void face_mesh_roi_from_mesh(const float points[][3], face_mesh_roi *roi) {
    float x0 = points[0][0], x1 = x0, y0 = points[0][1], y1 = y0;
    for (int i = 1; i < FACE_MESH_POINTS; i++) {
        x0 = fminf(x0, points[i][0]), x1 = fmaxf(x1, points[i][0]);
        y0 = fminf(y0, points[i][1]), y1 = fmaxf(y1, points[i][1]);
    }
    const float *r = points[33], *l = points[263];
    roi_set(roi, x0, y0, x1, y1, atan2f(l[1] - r[1], l[0] - r[0]), FACE_ROI_SCALE);
}

/* The 68 points span brows to chin; the mesh's box reaches the hairline.  The mesh ROI
 * in the frame of the 68 points' box (centre, longer side), medians over frames of the
 * training clips (scripts/derive_mesh68.c fit): centre offset along the eye line and
 * across it (down positive), and size, in units of the 68-point box's longer side. */
#define ROI68_DX 0.0006f
#define ROI68_DY (-0.1066f)
#define ROI68_SIZE 1.7468f

void face_mesh_roi_from_landmarks68(const float points[68][2], face_mesh_roi *roi) {
    float x0 = points[0][0], x1 = x0, y0 = points[0][1], y1 = y0;
    for (int i = 1; i < 68; i++) {
        x0 = fminf(x0, points[i][0]), x1 = fmaxf(x1, points[i][0]);
        y0 = fminf(y0, points[i][1]), y1 = fmaxf(y1, points[i][1]);
    }
    float angle = atan2f(points[45][1] - points[36][1], points[45][0] - points[36][0]);
    float side = fmaxf(x1 - x0, y1 - y0);
    float c = cosf(angle), s = sinf(angle);
    float dx = ROI68_DX * side, dy = ROI68_DY * side;
    roi->cx = 0.5f * (x0 + x1) + c * dx - s * dy;
    roi->cy = 0.5f * (y0 + y1) + s * dx + c * dy;
    roi->size = ROI68_SIZE * side;
    roi->angle = angle;
}

/* ---------------------------------------------------------------- loading */

static vv_status load_graph(tfjs_model **out, const char *models_dir, const char *name,
                            int side) {
    char path[4096];
    if (models_dir) {
        if (snprintf(path, sizeof path, "%s/%s", models_dir, name) >= (int)sizeof path)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "models folder path too long");
    } else {
        vv_status s = models_find(name, path, sizeof path);
        if (s != VV_OK) return s;
    }
    vv_status s = tfjs_model_load(out, path);
    if (s != VV_OK) return s;
    int shape[TENSOR_MAX_DIMS];
    if (tfjs_model_input_shape(*out, shape) != 4 || shape[1] != side || shape[2] != side ||
        shape[3] != 3) {
        tfjs_model_free(*out);
        *out = NULL;
        return vv_fail(VV_ERR_MODEL, "%s is not a %dx%d RGB model (input shape)", path, side, side);
    }
    return VV_OK;
}

vv_status face_mesh_new(face_mesh **out, const char *models_dir) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_new: out is NULL");
    *out = NULL;
    face_mesh *fm = calloc(1, sizeof *fm);
    if (!fm) return vv_fail(VV_ERR_NO_MEMORY, "out of memory loading the face mesh");
    vv_status s = load_graph(&fm->mesh, models_dir, "facemesh.json", MESH_N);
    if (s == VV_OK) s = load_graph(&fm->iris, models_dir, "iris.json", IRIS_N);
    if (s != VV_OK) {
        face_mesh_free(fm);
        return s;
    }
    *out = fm;
    return VV_OK;
}

void face_mesh_free(face_mesh *fm) {
    if (!fm) return;
    tfjs_model_free(fm->mesh);
    tfjs_model_free(fm->iris);
    free(fm);
}

/* ---------------------------------------------------------------- graphs */

static vv_status run_graph(const tfjs_model *model, const float *input, int n, int side,
                           const char *const *names, int count, tensor *outputs) {
    int shape[4] = {n, side, side, 3};
    tensor in = tensor_view((float *)input, 4, shape);
    return tfjs_model_run_outputs(model, &in, names, count, outputs);
}

vv_status face_mesh_run_graph(const face_mesh *fm, const float *input, int n, float *mesh,
                              float *flag) {
    if (!fm || !input || n < 1) return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_run_graph: bad argument");
    static const char *const names[2] = {"Identity_2", "Identity_1"}; /* output_mesh, output_faceflag */
    tensor outs[2];
    vv_status s = run_graph(fm->mesh, input, n, MESH_N, names, 2, outs);
    if (s != VV_OK) return s;
    if (outs[0].size != (size_t)n * MESH_VALUES || outs[1].size != (size_t)n) {
        s = vv_fail(VV_ERR_MODEL, "facemesh outputs %zu and %zu values, expected %d and %d",
                    outs[0].size, outs[1].size, n * MESH_VALUES, n);
    } else {
        if (mesh) memcpy(mesh, outs[0].data, outs[0].size * sizeof(float));
        if (flag) memcpy(flag, outs[1].data, outs[1].size * sizeof(float));
    }
    tensor_free(&outs[0]);
    tensor_free(&outs[1]);
    return s;
}

vv_status face_mesh_run_iris_graph(const face_mesh *fm, const float *input, int n, float *out) {
    if (!fm || !input || !out || n < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_run_iris_graph: bad argument");
    tensor t;
    vv_status s = run_graph(fm->iris, input, n, IRIS_N, NULL, 1, &t);
    if (s != VV_OK) return s;
    if (t.size != (size_t)n * IRIS_VALUES)
        s = vv_fail(VV_ERR_MODEL, "iris outputs %zu values, expected %d", t.size, n * IRIS_VALUES);
    else memcpy(out, t.data, t.size * sizeof(float));
    tensor_free(&t);
    return s;
}

/* ---------------------------------------------------------------- crops */

/* Crop coordinates (u, v in [0, n], crop pixels) -> image, mirrored when flip. */
typedef struct crop_map {
    float cx, cy, scale, c, s, half;
    bool flip;
} crop_map;

static crop_map crop_map_make(const face_mesh_roi *roi, int n, bool flip) {
    crop_map m = {roi->cx, roi->cy, roi->size / (float)n, cosf(roi->angle), sinf(roi->angle),
                  0.5f * (float)n, flip};
    return m;
}

static void crop_to_image(const crop_map *m, float u, float v, float *x, float *y) {
    float ox = (u - m->half) * m->scale, oy = (v - m->half) * m->scale;
    if (m->flip) ox = -ox;
    *x = m->cx + m->c * ox - m->s * oy;
    *y = m->cy + m->s * ox + m->c * oy;
}

typedef struct crop_job {
    const vv_image *image;
    crop_map map;
    int n, k;
    float *dst;
} crop_job;

#define CROP_ROWS_PER_TASK 16

static void crop_rows(void *ctx, int task) {
    const crop_job *job = ctx;
    int n = job->n, k = job->k;
    float norm = 1.0f / (255.0f * (float)(k * k));
    int v_end = (task + 1) * CROP_ROWS_PER_TASK < n ? (task + 1) * CROP_ROWS_PER_TASK : n;
    for (int v = task * CROP_ROWS_PER_TASK; v < v_end; v++)
        for (int u = 0; u < n; u++) {
            float sum[3] = {0, 0, 0};
            for (int j = 0; j < k; j++)
                for (int i = 0; i < k; i++) {
                    float x, y, rgb[3];
                    crop_to_image(&job->map, (float)u + ((float)i + 0.5f) / (float)k,
                                  (float)v + ((float)j + 0.5f) / (float)k, &x, &y);
                    image_sample_rgb(job->image, x, y, rgb); /* clamp-to-edge: MediaPipe's BORDER_REPLICATE */
                    sum[0] += rgb[0], sum[1] += rgb[1], sum[2] += rgb[2];
                }
            float *d = job->dst + ((size_t)v * n + u) * 3;
            d[0] = sum[0] * norm, d[1] = sum[1] * norm, d[2] = sum[2] * norm;
        }
}

/* Writes the n x n x 3 crop of roi, values in [0, 1]. */
static void crop_roi(const vv_image *im, const face_mesh_roi *roi, int n, bool flip, float *dst) {
    crop_job job = {im, crop_map_make(roi, n, flip), n, 1, dst};
    job.k = (int)ceilf(job.map.scale - 0.01f);
    if (job.k < 1) job.k = 1;
    if (job.k > MAX_SUPERSAMPLE) job.k = MAX_SUPERSAMPLE;
    parallel_for((n + CROP_ROWS_PER_TASK - 1) / CROP_ROWS_PER_TASK, 0, crop_rows, &job);
}

/* ---------------------------------------------------------------- running */

typedef enum { ROI_OK, ROI_NOT_FINITE, ROI_BAD_SIZE, ROI_OFF_IMAGE } roi_fault;

static roi_fault roi_check(const vv_image *im, const face_mesh_roi *roi) {
    if (!isfinite(roi->cx) || !isfinite(roi->cy) || !isfinite(roi->size) || !isfinite(roi->angle))
        return ROI_NOT_FINITE;
    float longest = (float)(im->width > im->height ? im->width : im->height);
    if (!(roi->size >= MIN_ROI_SIDE) || roi->size > MAX_ROI_FACTOR * longest) return ROI_BAD_SIZE;
    /* The crop square must reach the image: its centre within half a diagonal of it. */
    float dx = fmaxf(0.0f, fmaxf(-0.5f - roi->cx, roi->cx - ((float)im->width - 0.5f)));
    float dy = fmaxf(0.0f, fmaxf(-0.5f - roi->cy, roi->cy - ((float)im->height - 0.5f)));
    return hypotf(dx, dy) >= 0.7071f * roi->size ? ROI_OFF_IMAGE : ROI_OK;
}

static vv_status roi_status(const vv_image *im, const face_mesh_roi *roi) {
    switch (roi_check(im, roi)) {
    case ROI_OK: return VV_OK;
    case ROI_NOT_FINITE:
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face mesh: ROI (%g, %g, %g, %g) is not finite", roi->cx,
                       roi->cy, roi->size, roi->angle);
    case ROI_BAD_SIZE: {
        int longest = im->width > im->height ? im->width : im->height;
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face mesh: ROI side %g px is outside [%g, %g] for a %dx%d image",
                       roi->size, MIN_ROI_SIDE, MAX_ROI_FACTOR * (float)longest, im->width, im->height);
    }
    case ROI_OFF_IMAGE: break;
    }
    return vv_fail(VV_ERR_INVALID_ARGUMENT, "face mesh: ROI centred at (%g, %g), side %g, misses the %dx%d image",
                   roi->cx, roi->cy, roi->size, im->width, im->height);
}

/* The eye ROI from its two corners (IrisLandmarkLandmarksToRoi). */
static void eye_roi(const float points[][3], int eye, face_mesh_roi *roi) {
    const float *a = points[eye_corner[eye][0]], *b = points[eye_corner[eye][1]];
    roi_set(roi, a[0], a[1], b[0], b[1], atan2f(b[1] - a[1], b[0] - a[0]), EYE_ROI_SCALE);
}

/* Without the iris model: every iris point at the eye's lid-contour centroid. */
static void iris_from_lids(face_mesh_result *out) {
    for (int eye = 0; eye < 2; eye++) {
        float c[3] = {0, 0, 0};
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++)
            for (int d = 0; d < 3; d++)
                c[d] += out->points[face_mesh_lid_upper[eye][i]][d] + out->points[face_mesh_lid_lower[eye][i]][d];
        int first = eye == FACE_MESH_EYE_RIGHT ? FACE_MESH_IRIS_RIGHT : FACE_MESH_IRIS_LEFT;
        for (int k = 0; k < 5; k++)
            for (int d = 0; d < 3; d++) out->points[first + k][d] = c[d] / (2 * FACE_MESH_LID_POINTS);
    }
}

/* The Iris model on both eyes' crops (the left one mirrored, as the model wants a right eye). */
static vv_status iris_run_crops(const face_mesh *fm, const vv_image *image, const face_mesh_roi rois[2],
                                float raw[2 * IRIS_VALUES]) {
    size_t one = (size_t)IRIS_N * IRIS_N * 3;
    float *input = mem_alloc(2 * one, sizeof(float));
    if (!input) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the eye crops");
    for (int eye = 0; eye < 2; eye++) crop_roi(image, &rois[eye], IRIS_N, eye == FACE_MESH_EYE_LEFT, input + eye * one);
    vv_status s = face_mesh_run_iris_graph(fm, input, 2, raw);
    free(input);
    return s;
}

static vv_status run_iris(const face_mesh *fm, const vv_image *image, face_mesh_result *out) {
    for (int eye = 0; eye < 2; eye++) {
        eye_roi((const float(*)[3])out->points, eye, &out->eye_roi[eye]);
        /* A collapsed mesh (no face) gives no usable eye crop: keep the lid centroids. */
        if (roi_check(image, &out->eye_roi[eye]) != ROI_OK) {
            memset(out->eye_roi, 0, sizeof out->eye_roi);
            return VV_OK;
        }
    }
    float raw[2 * IRIS_VALUES];
    vv_status s = iris_run_crops(fm, image, out->eye_roi, raw);
    if (s != VV_OK) return s;
    for (int eye = 0; eye < 2; eye++) {
        crop_map m = crop_map_make(&out->eye_roi[eye], IRIS_N, eye == FACE_MESH_EYE_LEFT);
        const float *r = raw + eye * IRIS_VALUES;
        /* Depth: the iris model's z is relative to its own crop, so the mesh's stays. */
        for (int i = 0; i < EYE_CONTOUR_POINTS; i++) {
            float *p = out->points[eye_contour_vertex[eye][i]];
            crop_to_image(&m, r[3 * i], r[3 * i + 1], &p[0], &p[1]);
        }
        float z = 0.5f * (out->points[lid_centre[eye][0]][2] + out->points[lid_centre[eye][1]][2]);
        int first = eye == FACE_MESH_EYE_RIGHT ? FACE_MESH_IRIS_RIGHT : FACE_MESH_IRIS_LEFT;
        for (int k = 0; k < 5; k++) {
            const float *q = r + 3 * (EYE_CONTOUR_POINTS + k);
            float *p = out->points[first + k];
            crop_to_image(&m, q[0], q[1], &p[0], &p[1]);
            p[2] = z;
        }
    }
    out->iris = true;
    return VV_OK;
}

vv_status face_mesh_irises(const face_mesh *fm, const vv_image *image, const float corners[2][2][2], float iris[2][5][2]) {
    return face_mesh_eyes(fm, image, corners, iris, NULL);
}

vv_status face_mesh_eyes(const face_mesh *fm, const vv_image *image, const float corners[2][2][2], float iris[2][5][2],
                         float lids[2][FACE_MESH_EYE_LID_CONTOUR][2]) {
    if (!fm || !image || !image->data || !corners || !iris)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_irises: NULL argument");
    face_mesh_roi rois[2];
    for (int eye = 0; eye < 2; eye++) {
        const float *a = corners[eye][0], *b = corners[eye][1];
        if (!isfinite(a[0]) || !isfinite(a[1]) || !isfinite(b[0]) || !isfinite(b[1]))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_irises: eye corner not finite");
        roi_set(&rois[eye], a[0], a[1], b[0], b[1], atan2f(b[1] - a[1], b[0] - a[0]), EYE_ROI_SCALE);
        vv_status s = roi_status(image, &rois[eye]);
        if (s != VV_OK) return s;
    }
    float raw[2 * IRIS_VALUES];
    vv_status s = iris_run_crops(fm, image, rois, raw);
    if (s != VV_OK) return s;
    for (int eye = 0; eye < 2; eye++) {
        crop_map m = crop_map_make(&rois[eye], IRIS_N, eye == FACE_MESH_EYE_LEFT);
        for (int k = 0; k < 5; k++) {
            const float *q = raw + eye * IRIS_VALUES + 3 * (EYE_CONTOUR_POINTS + k);
            crop_to_image(&m, q[0], q[1], &iris[eye][k][0], &iris[eye][k][1]);
        }
        if (lids)
            for (int i = 0; i < FACE_MESH_EYE_LID_CONTOUR; i++) {
                const float *q = raw + eye * IRIS_VALUES + 3 * i;
                crop_to_image(&m, q[0], q[1], &lids[eye][i][0], &lids[eye][i][1]);
            }
    }
    return VV_OK;
}

vv_status face_mesh_run(const face_mesh *fm, const vv_image *image, const face_mesh_roi *roi,
                        bool iris, face_mesh_result *out) {
    if (!fm || !image || !roi || !out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_run: NULL argument");
    memset(out, 0, sizeof *out);
    if (!image->data || image->width < 1 || image->height < 1 || (image->channels != 1 && image->channels != 3))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_mesh_run: invalid %dx%dx%d image", image->width,
                       image->height, image->channels);
    vv_status s = roi_status(image, roi);
    if (s != VV_OK) return s;
    out->roi = *roi;

    float *input = mem_alloc((size_t)MESH_N * MESH_N * 3, sizeof(float));
    if (!input) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the face crop");
    crop_roi(image, roi, MESH_N, false, input);
    float raw[MESH_VALUES], flag = 0;
    s = face_mesh_run_graph(fm, input, 1, raw, &flag);
    free(input);
    if (s != VV_OK) return s;

    crop_map m = crop_map_make(roi, MESH_N, false);
    for (int i = 0; i < FACE_MESH_POINTS; i++) {
        float *p = out->points[i];
        crop_to_image(&m, raw[3 * i], raw[3 * i + 1], &p[0], &p[1]);
        p[2] = raw[3 * i + 2] * m.scale;
    }
    out->score = isfinite(flag) ? fminf(fmaxf(flag, 0.0f), 1.0f) : 0.0f;
    iris_from_lids(out);
    if (iris) s = run_iris(fm, image, out);
    return s;
}

vv_status face_mesh_fit(const face_mesh *fm, const vv_image *image, const float points[68][2], bool iris,
                        face_mesh_result *out) {
    face_mesh_roi roi;
    face_mesh_roi_from_landmarks68(points, &roi);
    vv_status s = face_mesh_run(fm, image, &roi, iris, out);
    if (s != VV_OK) return s;
    face_mesh_roi_from_mesh((const float(*)[3])out->points, &roi);
    return face_mesh_run(fm, image, &roi, iris, out);
}

vv_status face_mesh_fail_not_a_face(const char *name, const float box[4], float score) {
    return vv_fail(VV_ERR_NO_FACE,
                   "no face found in %s: what the detector took for one at (%.0f, %.0f)-(%.0f, %.0f) is no human face by "
                   "the face mesh (score %.2f)",
                   name, box[0], box[1], box[2], box[3], score);
}
