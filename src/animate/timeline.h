/* animate/timeline: the driver's landmarks in time.  Raw tracked frames go in (a face or
 * none), smoothed frames come out in the same order: frames without a face are held, then
 * eased back to the neutral (first) face as motion_gap_points does; every frame is smoothed
 * with a centred (zero-phase) filter over `lookahead` frames on each side, so output frame t
 * matches driver frame t instead of trailing it as a causal filter does.  With lookahead 0
 * (live) the filter is predictive instead: a constant-velocity fit over the past frames. */
#ifndef VV_ANIMATE_TIMELINE_H
#define VV_ANIMATE_TIMELINE_H

#include "base/base.h"

/* Smooths frame `centre` of `count` consecutive frames of 68 landmarks: a local linear fit
 * per coordinate with Gaussian weights in time whose width shrinks with the point's own
 * motion around that frame (still points: about `strength` x 1.5 frames; a blink or a lip
 * closure: almost none), so jitter goes while blinks and closures keep their depth.  With
 * the frames on both sides the fit is symmetric, hence no lag.  strength 0 copies. */
void landmark_smooth_frame(const float (*window)[68][2], int count, int centre, float strength, float out[68][2]);

/* Live (no frame after `count - 1`): a local linear fit over the past frames with Gaussian
 * weights whose width shrinks with the point's motion over the last two frames, evaluated
 * at the last frame (a constant-velocity prediction: a steady motion is not late; still
 * points get about 3 frames' width, a blink or a lip closure almost none).  strength 0
 * copies the last frame. */
void landmark_predict_frame(const float (*window)[68][2], int count, float strength, float out[68][2]);

typedef struct timeline_entry {
    float points[68][2]; /* gap-filled (before the first face: unset) */
    float gaze[2][2];    /* each eye's iris offset (animate/gaze.h), when has_gaze */
    float lids[2][2];    /* the Iris model's lid gaps (motion_lid_gaps), when has_lids */
    float turn[3][3];    /* the head's rotation by the face mesh (gaze_measure_turn), when has_turn */
    double time;
    bool found, has_gaze, has_lids, has_turn;
} timeline_entry;

typedef struct driver_timeline {
    int lookahead;
    float strength;
    double fps;
    long pushed, taken;      /* frames in, frames out */
    bool ended;
    long first_found;        /* -1 until a face arrives */
    float neutral[68][2];    /* the first face's raw points (gap filling eases to them) */
    float last_face[68][2];  /* the last raw points with a face */
    long last_face_index;
    /* The Iris model's lid gaps in dlib's units: per eye and lid pair, dlib's gap over the
     * Iris model's on the first frame that has both (so that frame keeps dlib's lids). */
    float lid_scale[2][2];
    float lid_reference[2][2]; /* the Iris model's gaps on that frame */
    bool lid_scaled;
    /* Frames [base, pushed) are kept (index - base); the lookahead behind `taken` too. */
    timeline_entry *entries;
    long base, capacity;
} driver_timeline;

void timeline_init(driver_timeline *tl, int lookahead, float strength, double fps);
void timeline_free(driver_timeline *tl);
/* The next frame: its raw landmarks, or NULL when it has no face. */
vv_status timeline_push(driver_timeline *tl, const float (*points)[2], double time);
void timeline_end(driver_timeline *tl);
/* The next output frame is known: before the first face at once, later once `lookahead`
 * frames after it are in (or the end). */
bool timeline_ready(const driver_timeline *tl);
/* Takes the next output frame: *has_face false before the first face (render the source
 * as it is); found: the driver had a face in this very frame. */
void timeline_take(driver_timeline *tl, float points[68][2], bool *has_face, bool *found, long *index);
/* Gaze for the frame just pushed (the irises' offsets, animate/gaze.h). */
void timeline_push_gaze(driver_timeline *tl, const float gaze[2][2]);
/* The Iris model's lid gaps for the frame just pushed (with a face): each eye's two gaps
 * (motion_lid_gaps: at 1/3 and 2/3 of the way from the outer corner).  Taken frames have
 * each of dlib's lid pairs (37-41, 38-40; 44-46, 43-47) closed about its midpoint to the
 * Iris model's gap (in dlib's units, lid_scale) where that is the smaller and the Iris
 * model's is under 0.75 of its gap on the first frame (blended in down to 0.5): dlib's lids
 * read an eye shut on a turned head, or behind glasses, as open (sty_style_nice_clip1
 * frames 36-60, lp_d9 12-15; at 0.7 of the open gap where the Iris model reads 0.3) and a
 * blink's lids as short of shut.  A frame without them (the Iris model runs on every
 * second frame, tracking_gaze_frame) takes the wider of its neighbours' (live: the one
 * before). */
void timeline_push_lids(driver_timeline *tl, const float lids[2][2]);
/* The gaze of the frame just taken, smoothed over the same window; false when none of the
 * window's frames has one. */
bool timeline_take_gaze(const driver_timeline *tl, float gaze[2][2]);
/* The head's rotation by the face mesh for the frame just pushed (gaze_measure_turn). */
void timeline_push_turn(driver_timeline *tl, const float turn[3][3]);
/* The head's rotation for the frame just taken: a Gaussian mean (sigma 1.5 frames x the
 * smoothing strength, at least 0.5; centred) of the window's measured ones, made a rotation again; live
 * (lookahead 0) the latest of this frame and the two before.  false when none of them has one. */
bool timeline_take_turn(const driver_timeline *tl, float turn[3][3]);
/* All frames taken after the end. */
bool timeline_done(const driver_timeline *tl);

#endif
