/* face/detector: BlazeFace (TFJS graph model run by nn/) with anchor decoding,
 * weighted NMS, an image pyramid / tiles for small faces in large images, and boxes
 * calibrated to the convention dlib's shape predictor expects. */
#ifndef VV_FACE_DETECTOR_H
#define VV_FACE_DETECTOR_H

#include "base/base.h"

typedef struct face_box {
    float x0, y0, x1, y1;      /* calibrated to dlib's HOG-detector box convention */
    float score;               /* 0..1 */
    float keypoints[6][2];     /* BlazeFace's 6 keypoints (eyes, nose, mouth, ears) in pixels */
    float raw[4];              /* BlazeFace's own box before calibration */
} face_box;

typedef struct face_detector face_detector;

/* model_path: blazeface .json (weights beside it); NULL finds "blazeface.json" via
 * models_find(). */
vv_status face_detector_load(face_detector **out, const char *model_path);
void face_detector_free(face_detector *detector);
void face_detector_set_threshold(face_detector *detector, float min_score);
/* Faces sorted largest first; *count <= max. Finding none is VV_OK with *count 0. */
vv_status face_detect(face_detector *detector, const vv_image *image, face_box *out,
                      int max, int *count);
/* thorough: also run the half-size tile passes whenever the image is large enough for
 * them (>= 384 px), even when the full pass found a face, so small faces beside a large
 * one are found.  For still images; video tracking uses the fast face_detect. */
vv_status face_detect_thorough(face_detector *detector, const vv_image *image, face_box *out,
                               int max, int *count, bool thorough);

/* One whole-image pass (no tiles) on a copy whose longer side is the model's input side,
 * boxes and keypoints mapped back to frame pixels: the cheap search trackers run while
 * they have no face. */
vv_status face_detect_downscaled(face_detector *detector, const vv_image *frame, face_box *out, int max,
                                 int *count);

/* The back-off schedule of searches a tracker runs while it has no face: after a full
 * search fails, a quick pass every frame for the first 8 face-less frames, every 2nd until
 * 24, every 4th after; full searches (with tiles, for small faces) again at 25, 50, 100
 * and then every 100 face-less frames.  A face that returns is found at most 3 frames
 * late, at a fraction of searching every frame in full. */
typedef enum { FACE_SEARCH_NONE, FACE_SEARCH_QUICK, FACE_SEARCH_FULL } face_search_kind;
typedef struct face_search_schedule {
    long lost_frames;       /* face-less frames since the last failed full search; -1: none */
    long next_full_search;  /* the lost_frames value of the next full search */
} face_search_schedule;
/* A full search next (at the start, or just after the face was lost). */
void face_search_reset(face_search_schedule *s);
/* Which search this frame gets. */
face_search_kind face_search_next(face_search_schedule *s);
/* This frame's search (or none) found no face. */
void face_search_missed(face_search_schedule *s);

/* ---- The pieces face_detect is made of, exposed for tests and calibration. ---- */

#define FACE_DETECTOR_INPUT_SIZE 256   /* the model's square input side in pixels */
#define FACE_DETECTOR_ANCHOR_COUNT 896 /* 16x16 cells x 2 anchors + 8x8 cells x 6 anchors */
#define FACE_DETECTOR_REGRESSORS 16    /* per anchor: box cx, cy, w, h + 6 keypoints (x, y) */

/* BlazeFace's keypoint order (the subject's right eye is on the image's left). */
enum { FACE_KEYPOINT_RIGHT_EYE, FACE_KEYPOINT_LEFT_EYE, FACE_KEYPOINT_NOSE,
       FACE_KEYPOINT_MOUTH, FACE_KEYPOINT_RIGHT_EAR, FACE_KEYPOINT_LEFT_EAR };

/* The SSD anchor centres (x, y) in [0, 1] input coordinates, in the model's output order
 * (stride 16 cells, then stride 32 cells; row-major; anchors of a cell adjacent). */
void face_detector_anchors(float anchors[FACE_DETECTOR_ANCHOR_COUNT][2]);

/* Decodes one pass of raw outputs: scores[FACE_DETECTOR_ANCHOR_COUNT] (logits) and
 * regressors[FACE_DETECTOR_ANCHOR_COUNT * FACE_DETECTOR_REGRESSORS], both in anchor order.
 * Writes the boxes scoring >= min_score (sigmoid of the logit clipped to +-100) in input
 * pixel coordinates to out (raw[] and x0..y1 both hold BlazeFace's box); returns how many
 * (at most max; the best-scoring are kept). */
int face_detector_decode(const float *scores, const float *regressors, float min_score,
                         face_box *out, int max);

/* MediaPipe's WEIGHTED non-maximum suppression on raw[] boxes: the best remaining box
 * absorbs every box overlapping it with IoU > iou_threshold, its box and keypoints
 * becoming their score-weighted average (score: the best's).  In place; returns count,
 * sorted by score, best first. */
int face_boxes_weighted_nms(face_box *boxes, int count, float iou_threshold);

/* Intersection over union of two (x0, y0, x1, y1) boxes; 0 when either is empty. */
float face_box_iou(const float a[4], const float b[4]);

/* Sets x0..y1 from raw[] and keypoints with the fitted mapping to dlib's box. */
void face_box_calibrate(face_box *box);

#endif
