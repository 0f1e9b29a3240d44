/* face/faces: internals of the public vv_faces pipeline shared with the CLI. */
#ifndef VV_FACE_FACES_H
#define VV_FACE_FACES_H

#include "face/detector.h"
#include "face/shape_predictor.h"

face_detector *faces_detector(vv_faces *faces);
shape_predictor *faces_predictor(vv_faces *faces);
/* Fills a vv_face from a box, score and points, estimating the head pose. */
void faces_fill(vv_face *out, const float box[4], float score, const float points[68][2]);

/* A still's faces for animating its most confident, largest face: one detector pass over
 * the whole image, and the thorough search (tile passes: ten passes on a 1024-pixel
 * portrait) only when that pass finds no face scoring FACES_CONFIDENT_SCORE.  On the 12
 * portraits of ../shared/data the one pass finds the same face, with landmarks as close
 * to dlib's (mean NME 0.0109 against 0.0108) at a tenth of the time; small faces beside
 * a confident one may be missed, so --face N > 1 uses vv_faces_detect. */
#define FACES_CONFIDENT_SCORE 0.8f
vv_status faces_detect_quick(vv_faces *faces, const vv_image *image, vv_face *out, int max_faces,
                             int *count);

/* Paintings of whole figures gave the detector large, barely-confident "faces" in folds
 * and hands (0.61 beside the real face's 0.94 on two of ../shared/data/portraits, before
 * vv_faces_params.min_score rose to 0.75): a face scoring more than FACES_SCORE_MARGIN below
 * the best one is kept only when the face mesh holds it as a human face (score at least
 * FACE_MESH_MIN_PRESENCE), by animate, by landmarks and by the server's face list alike, so
 * that face N is the same face in all three.  Real faces of a group photo score that low
 * beside a close-up one (dlib's bald_guys.jpg: 3 of 24 at 0.79-0.80 beside 0.97; mesh 1.00). */
#define FACES_SCORE_MARGIN 0.15f
struct face_mesh;
/* numbers[i]: face i's number among those kept (1 the first, as animate's --face counts), 0
 * for one left out; *kept: how many are kept.  `mesh` NULL (its model absent): the barely
 * confident are all left out.  Fails only on the mesh's own failures (out of memory). */
vv_status faces_number_kept(const vv_face *faces, int count, const struct face_mesh *mesh, const vv_image *image,
                            int *numbers, int *kept);
/* The same, moving the kept faces, in order, to the front of `faces`. */
vv_status faces_keep_confident(vv_face *faces, int count, const struct face_mesh *mesh, const vv_image *image,
                               int *kept);

#endif
