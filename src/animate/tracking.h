/* animate/tracking: a driver video tracked on a thread of its own while the caller renders
 * the frames already tracked (or, tracking_collect, the whole driver first: vv_animate's
 * whole-track mode, `vivify motion extract`, eval's clips).  The thread publishes each frame's raw landmarks under a
 * lock; memory stays bounded however long the driver: only frames not yet taken are kept,
 * and once a face has been seen the thread waits while it is TRACKING_WINDOW frames ahead
 * (a 30-minute driver peaks at the RSS of a 2-minute one; bench/long_driver.sh). */
#ifndef VV_ANIMATE_TRACKING_H
#define VV_ANIMATE_TRACKING_H

#include "base/base.h"
#include "face/facemesh.h"
#include "face/motion.h"

#include <pthread.h>

#define TRACKING_WINDOW 256

typedef struct tracking_thread {
    vv_faces *faces;
    const face_mesh *mesh;    /* for the irises (gaze); NULL: none */
    const char *path;
    long max_frames;
    vv_abort_fn abort_fn;     /* polled by the thread; may be NULL */
    void *abort_data;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    /* Guarded by lock: frames [base, count) are in points / found (index f - base); the
     * caller has taken every frame before `consumed`. */
    float (*points)[68][2];
    float (*gaze)[2][2];
    float (*lids)[2][2];      /* with gaze: the Iris model's lid gaps (motion_lid_gaps) */
    float (*turn)[3][3];      /* the head's rotation by the face mesh (gaze_measure_turn), where has_turn */
    uint8_t *found, *has_gaze, *has_turn;
    double *times;
    long base, count, consumed, capacity;
    long first_found;         /* -1 until a face is seen */
    /* keep_frames > 0: the decoded frames too, frame f in slot f % keep_frames until the
     * caller takes it (tracking_frame), so that it need not decode the driver again; once
     * a face has been published the thread waits for a slot, before that (the caller
     * renders nothing until the first face) it overwrites the oldest (the caller decodes
     * those itself).  frame_in[k]: the frame in slot k (-1). */
    int keep_frames;
    vv_image *frames;
    long *frame_in;
    long frames_taken;        /* the caller has taken or passed every frame before this */
    bool finished, stop;
    vv_status status;
    char error[512];
} tracking_thread;

/* Whether frame `index` (0-based) of a driver has its gaze measured, given the last frame
 * before it with a face (-1: none): every second frame, and the first of each run of
 * frames with a face.  The Iris model is the tracker's costliest step (about as much as
 * the landmarks and the decoding together), and gaze is smoothed over the frames around
 * (timeline_take_gaze: a Gaussian of sigma one frame over those that have one), so the
 * frames between take it from their neighbours.  The tracker thread and the streaming
 * vv_animator_push measure the same frames. */
static inline bool tracking_gaze_frame(long index, long last_face_index) {
    return index % 2 == 0 || last_face_index != index - 1;
}

/* Starts tracking `path` (at most max_frames, 0 = all; keep_frames: slots for the decoded
 * frames, 0 for none) with raw (unsmoothed) landmarks, and
 * with `mesh` the irises' gaze (animate/gaze.h) of the frames with a face that
 * tracking_gaze_frame picks, and from the same Iris model run each eye's lid gaps
 * (motion_lid_gaps of its lid contour): dlib's lids read a shut eye on a turned head as
 * open (sty_style_nice_clip1 frames 36-60: 0.7 of the open gap, the Iris model's 0.3);
 * the timeline closes the landmarks' lids to them (timeline_push_lids).  On the same
 * frames the face mesh gives the head's rotation (gaze_measure_turn), which the 3D head
 * turns by in place of the 68 points' pose (motion_retarget_decompose). */
vv_status tracking_start(tracking_thread *tt, vv_faces *faces, const face_mesh *mesh, const char *path, long max_frames,
                         int keep_frames, vv_abort_fn abort_fn, void *abort_data);
/* Frame f (the one after the last taken): its points, whether a face was found, its gaze
 * and lid gaps (both with has_gaze; lids may be NULL), the head's rotation by the face mesh
 * (with has_turn; turn may be NULL), its time; *got false at the end of the driver.  Fails
 * if the thread did. */
vv_status tracking_take(tracking_thread *tt, long f, float points[68][2], bool *found, float gaze[2][2], float lids[2][2],
                        bool *has_gaze, float turn[3][3], bool *has_turn, double *time, bool *got);
/* With keep_frames: frame f (the one after the last taken, after its points were taken)
 * into *frame (its buffer exchanged with the slot's) and *got true; *got false when the
 * thread no longer holds it (overwritten before the first face: decode it yourself).
 * Frames before f are given up.  keep_frames must exceed the frames the caller takes
 * points ahead of the frame it takes (the timeline's lookahead + 1). */
void tracking_frame(tracking_thread *tt, long f, vv_image *frame, bool *got);
/* Stops the thread (if running) and frees everything. */
void tracking_stop(tracking_thread *tt);

/* A driver video's facts into `track` (fps, size, the audio path when it has audio; no
 * frames) and *frames, the frames to expect (the container's count, capped by max_frames;
 * 0: unknown). */
vv_status tracking_probe(const char *path, long max_frames, motion_track *track, long *frames);

/* A whole driver tracked into `track` as the animate pipeline tracks it (the thread above,
 * raw landmarks: callers smooth with animate_smooth_track): tracking_probe's facts, then
 * per frame its points (zero without a face), found, and with `mesh` its gaze and lid gaps
 * (on the frames tracking_gaze_frame picks).  At most
 * max_frames (0: all; more than MOTION_MAX_FRAMES fails).  progress (optional) after each
 * frame, with tracking_probe's count as total; non-zero stops with VV_ERR_ABORTED, as does
 * abort_fn, polled by the thread.  A driver without any face is no error here. */
vv_status tracking_collect(vv_faces *faces, const face_mesh *mesh, const char *path, long max_frames,
                           vv_progress_fn progress, void *progress_data, vv_abort_fn abort_fn, void *abort_data,
                           motion_track *track);

#endif
