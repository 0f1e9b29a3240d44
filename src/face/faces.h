/* face/faces: internals of the public vv_faces pipeline shared with the CLI. */
#ifndef VV_FACE_FACES_H
#define VV_FACE_FACES_H

#include "face/detector.h"
#include "face/shape_predictor.h"

face_detector *faces_detector(vv_faces *faces);
shape_predictor *faces_predictor(vv_faces *faces);
/* Fills a vv_face from a box, score and points, estimating the head pose. */
void faces_fill(vv_face *out, const float box[4], float score, const float points[68][2]);

#endif
