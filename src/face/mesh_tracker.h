/* face/mesh_tracker: the dense face mesh over video frames, as MediaPipe's face_landmark_front
 * graph tracks: BlazeFace on the first frame and whenever the mesh's face score drops
 * below a threshold; otherwise the ROI comes from the previous frame's mesh (no detector
 * per frame).  Raw points: no temporal smoothing (callers smooth, zero-phase). */
#ifndef VV_FACE_MESH_TRACKER_H
#define VV_FACE_MESH_TRACKER_H

#include "face/detector.h"
#include "face/facemesh.h"

typedef struct mesh_tracker_params {
    float min_presence;  /* the track is lost below this face score; default 0.5
                            (FACE_MESH_MIN_PRESENCE, MediaPipe's min_tracking_confidence) */
    float min_detection; /* detector threshold; default 0.6 */
    bool iris;           /* run the iris model too; default true */
} mesh_tracker_params;

mesh_tracker_params mesh_tracker_default_params(void);

typedef struct mesh_tracker mesh_tracker;

/* Borrows mesh and detector (not freed by the tracker; the detector's threshold is set on
 * every search).  params NULL: defaults. */
vv_status mesh_tracker_new(mesh_tracker **out, const face_mesh *mesh, face_detector *detector,
                           const mesh_tracker_params *params);
void mesh_tracker_free(mesh_tracker *tracker);

/* Processes the next frame (RGB or gray; its size may change between frames).
 * *found: a face scoring >= min_presence; then *result holds it (else result->score is
 * the best seen this frame, or 0 when nothing was tried).  A face that the detector
 * finds is meshed twice on that frame (the detection's ROI, then the mesh's own), so
 * the first frame is as accurate as tracked ones. */
vv_status mesh_tracker_update(mesh_tracker *tracker, const vv_image *frame, bool *found,
                              face_mesh_result *result);

/* Forgets the track: the next frame runs the detector. */
void mesh_tracker_reset(mesh_tracker *tracker);

/* Detector runs so far: quick ones (one pass over a copy downscaled to the detector's
 * input) and full ones (face_detect: tile passes when the whole image shows no face).
 * While no face is tracked a quick search runs every frame for 8 frames, then every
 * 2nd until 24, then every 4th; full searches at the first loss and after 25, 50, 100,
 * then every 100 face-less frames (face/tracker.c's schedule). */
typedef struct mesh_tracker_counts {
    long quick_searches, full_searches, mesh_runs;
} mesh_tracker_counts;
mesh_tracker_counts mesh_tracker_get_counts(const mesh_tracker *tracker);

#endif
