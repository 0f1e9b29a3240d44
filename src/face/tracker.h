/* face/tracker: landmarks over a video.  Detect on the first frame and whenever the face
 * is lost (then, while none is found, more cheaply and less often); otherwise re-run the shape predictor in a box from the previous frame's
 * landmarks; One Euro smoothing with a strength option. */
#ifndef VV_FACE_TRACKER_H
#define VV_FACE_TRACKER_H

#include "base/base.h"
#include "face/detector.h"
#include "face/shape_predictor.h"

/* One Euro filter (Casiry et al. 2012) for one scalar. */
typedef struct one_euro {
    float min_cutoff, beta, d_cutoff;
    float x_prev, dx_prev;   /* last output and last smoothed speed */
    float raw_prev;          /* last input: the speed is measured on the raw signal */
    bool initialised;
} one_euro;
void one_euro_init(one_euro *f, float min_cutoff, float beta);
float one_euro_filter(one_euro *f, float x, float dt);


typedef struct face_tracker face_tracker;

typedef struct tracker_params {
    float smoothing;      /* 0 = off; 1 = default strength; larger = smoother */
    float min_score;      /* detection threshold */
    int redetect_every;   /* check the track with the detector every N frames (0 = only
                             on loss); defaults: smoothing 1, min_score 0.6, every 10 */
    float redetect_motion; /* also check once the face has moved this far since the last
                              check (centre shift plus size change, in face sizes; 0 = off,
                              the default): fast motion is where a track drifts */
} tracker_params;

tracker_params tracker_default_params(void);
/* Borrows detector and predictor (not freed by the tracker). */
vv_status face_tracker_new(face_tracker **out, face_detector *detector,
                           const shape_predictor *predictor, const tracker_params *params);
void face_tracker_free(face_tracker *tracker);
/* Processes the next frame (any size, RGB). *found false when no face this frame.
 * box and points refer to the tracked face (the largest at (re)detection). */
vv_status face_tracker_update(face_tracker *tracker, const vv_image *frame, double time,
                              bool *found, float box[4], float score[1], float points[68][2]);

/* Detector use so far: full searches (face_detect, with tile passes when the whole image
 * shows no face) and quick ones (one whole-image pass, only while no face is tracked). */
typedef struct tracker_counts {
    long full_searches, quick_searches;
} tracker_counts;
tracker_counts face_tracker_counts(const face_tracker *tracker);

#endif
