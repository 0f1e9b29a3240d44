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

#endif
