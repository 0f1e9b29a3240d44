/* vivify: bring portraits to life.  The one public header.
 *
 * Conventions: every function that can fail returns a vv_status; VV_OK is 0.
 * On failure, vv_last_error() gives one human-readable line naming what and
 * where (thread-local, valid until the next failing call on that thread).
 * The library never prints and never exits. */
#ifndef VIVIFY_H
#define VIVIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VV_VERSION_STRING "0.1.0"

typedef enum vv_status {
    VV_OK = 0,
    VV_ERR_INVALID_ARGUMENT, /* bad option or argument value */
    VV_ERR_NO_MEMORY,
    VV_ERR_NOT_FOUND,        /* input file does not exist */
    VV_ERR_IO,               /* read failure */
    VV_ERR_WRITE,            /* cannot write the output (permissions, missing folder, disk) */
    VV_ERR_FORMAT,           /* not a recognised image / video / model format */
    VV_ERR_CORRUPT,          /* recognised but truncated or damaged */
    VV_ERR_TOO_LARGE,        /* dimensions or sizes over the caps */
    VV_ERR_NO_FACE,          /* no face found */
    VV_ERR_NO_VIDEO,         /* file holds no video stream or no frames */
    VV_ERR_MODEL,            /* a model file is missing or invalid */
    VV_ERR_UNSUPPORTED,      /* valid but not supported (codec, option combination) */
    VV_ERR_ABORTED,          /* stopped by the abort callback */
    VV_ERR_INTERNAL,
    VV_STATUS_COUNT
} vv_status;

/* Short fixed description of a status ("no face found"). */
const char *vv_status_string(vv_status status);
/* Detailed message of the last failure on this thread ("no face found in x.png"). */
const char *vv_last_error(void);

const char *vv_version(void);

/* Progress: called with done/total units; return non-zero to abort. */
typedef int (*vv_progress_fn)(void *user_data, long done, long total);

/* ---- Images: 8-bit, interleaved, rows packed (stride = width * channels). ---- */
typedef struct vv_image {
    int width, height;
    int channels; /* 1 (gray) or 3 (RGB) */
    uint8_t *data;
} vv_image;

/* Loads PNG or JPEG (content-sniffed) as RGB; EXIF orientation applied. */
vv_status vv_image_load(vv_image *out, const char *path);
/* Saves by extension: .png, .jpg/.jpeg.  Written to a temp file, then renamed. */
vv_status vv_image_save(const vv_image *image, const char *path);
void vv_image_free(vv_image *image);

/* ---- Faces: detection + 68 landmarks + head pose. ---- */
#define VV_LANDMARK_COUNT 68

typedef struct vv_face {
    float box[4];                       /* x0, y0, x1, y1 in dlib's box convention */
    float score;                        /* detector confidence 0..1 */
    float landmarks[VV_LANDMARK_COUNT][2];
    float yaw, pitch, roll;             /* degrees */
    float scale, tx, ty;                /* weak-perspective scale and translation */
} vv_face;

typedef struct vv_faces_params {
    const char *models_dir;       /* folder with blazeface.json/.bin; NULL: search defaults */
    const char *shape_predictor;  /* dlib .dat; NULL: /usr/share/dlib/... */
    float min_score;              /* detection threshold, default 0.75 */
    int threads;                  /* 0: all cores */
    int thorough;                 /* 1 (default): extra tile passes find small faces beside
                                     large ones (~10x the detector time); 0: one pass, for
                                     video frames with one main face */
} vv_faces_params;

typedef struct vv_faces vv_faces; /* opaque: detector + shape predictor */

vv_faces_params vv_faces_default_params(void);
vv_status vv_faces_new(vv_faces **out, const vv_faces_params *params);
void vv_faces_free(vv_faces *faces);
/* Detects faces (largest first) and their landmarks. *count <= max_faces. */
vv_status vv_faces_detect(vv_faces *faces, const vv_image *image,
                          vv_face *out, int max_faces, int *count);

/* ---- Animation: portraits driven by a video, a motion template or a built-in motion. ----
 *
 * Two forms, in the manner of whisper.cpp's whisper_full:
 *  - one call, vv_animate(): a driving video (tracked on a thread of its own while frames are
 *    rendered) or a motion, to an .mp4 / .gif / folder of PNGs, with progress and abort
 *    callbacks;
 *  - streaming, for live input and evaluation: push driver frames in order, pull output frames
 *    in the same order.  Output frame t shows driver frame t: the landmarks are smoothed with
 *    a centred (zero-phase) filter, so frame t can be pulled once `lookahead` later frames have
 *    been pushed (or the end was signalled).  lookahead 0 gives a causal filter (live use).
 * Both run the same per-frame pipeline: the driver's landmarks -> head pose and expression
 * relative to the driver's reference frame -> retargeted onto each source -> rendered. */

typedef struct vv_animate_params {
    const char *engine;        /* "warp" (default: the 3D head: the face mesh with depth,
                                  turned, lids closed and rendered with a z-buffer; faces it
                                  cannot hold fall back to warp2d), "warp2d" (the 2D
                                  landmark-mesh warp), "fsth" or "hybrid" */
    const char *model;         /* fsth / hybrid model file; NULL: the shipped one */
    const char *models_dir;    /* pretrained helpers (BlazeFace, ...); NULL: search */
    int face_index;            /* animate the N-th face of each source (1 = the largest) */
    int crop_size;             /* working resolution of the face crop (default 512) */
    int crop_output;           /* non-zero: output the face crop only, not the whole portrait
                                  (engine warp: with the 2D warp) */
    int absolute;              /* non-zero: the driver's landmarks directly (aligned), not its
                                  changes since the reference; engine warp renders it with
                                  the 2D warp (the 3D head moves relative to a reference pose) */
    int reference_best;        /* non-zero: motion relative to the driver frame nearest each
                                  source's expression (needs the whole driver first); 0: the
                                  driver's first frame with a face (default) */
    float expression_scale;    /* 1: as the driver; 0: no expression change */
    float pose_scale;          /* 1: as the driver; 0: the head stays still */
    float eyes;                /* eye-openness retargeting gain (warp): 1 as the driver, 0 the
                                  portrait's own eyes */
    float lips;                /* lip-motion gain (warp): 1 as the driver */
    int background_move;       /* warp: non-zero moves the background with the head's outer
                                  rings; 0 (default) keeps it still (person matte) */
    float smoothing;           /* landmark smoothing strength: 0 off, 1 default */
    int lookahead;             /* frames of lookahead for the centred smoothing (default 3);
                                  0: causal, for live input */
    int threads;               /* 0: all cores */
} vv_animate_params;

vv_animate_params vv_animate_default_params(void);

typedef struct vv_animator vv_animator; /* opaque: the prepared sources and the engine */

/* Loads nothing itself: sources are images the caller loaded (names for messages; may be
 * NULL).  Finds each source's face (VV_ERR_NO_FACE naming it), loads the engine's model,
 * prepares the sources.  The output takes the first source's size (even sides). */
vv_status vv_animator_new(vv_animator **out, const vv_image *sources, const char *const *names,
                          int source_count, const vv_animate_params *params);
void vv_animator_free(vv_animator *animator);
void vv_animator_output_size(const vv_animator *animator, int *width, int *height);
/* The face found in source i (its landmarks drive the geometry). */
vv_status vv_animator_source_face(const vv_animator *animator, int index, vv_face *out);
/* Warnings from preparing the sources (a source the 3D head could not hold, animated with
 * the 2D warp instead): index 0.. until NULL. */
const char *vv_animator_warning(const vv_animator *animator, int index);

/* Streaming.  vv_animator_push: the next driver frame (RGB, any size; tracked inside) at
 * `time` seconds.  vv_animator_push_landmarks: a frame already tracked (landmarks in driver
 * pixels, NULL when it has no face); `frame` may be NULL (no mouth interior from the
 * driver).  vv_animator_push_end: no more frames.  vv_animator_pull: the next output frame
 * into *out (allocated or resized), *got = 0 when more input is needed first or every frame
 * was pulled.  info (optional) describes the pulled frame. */
typedef struct vv_frame_info {
    long index;                /* driver frame index */
    int face_found;            /* the driver had a face in this frame (else held / eased) */
    int source;                /* which source rendered it */
    float landmarks[VV_LANDMARK_COUNT][2]; /* the driver's smoothed landmarks (driver px) */
} vv_frame_info;

vv_status vv_animator_push(vv_animator *animator, const vv_image *frame, double time);
vv_status vv_animator_push_landmarks(vv_animator *animator, const float (*landmarks)[2],
                                     const vv_image *frame, double time);
vv_status vv_animator_push_end(vv_animator *animator);
vv_status vv_animator_pull(vv_animator *animator, vv_image *out, int *got, vv_frame_info *info);

/* Live controls, between pulls.  vv_animator_set_gains: expression_scale, pose_scale, eyes,
 * lips as in vv_animate_params, from the next frame pulled (a negative value keeps that gain).
 * vv_animator_recalibrate: the next pulled frame with a face becomes the neutral reference
 * (the driver's face then stands for the portrait's own expression and pose).
 * vv_animator_set_source: every frame with source `index` (0..count-1), or -1 (default) the
 * source nearest the driver's expression.  vv_animator_source_count: how many. */
vv_status vv_animator_set_gains(vv_animator *animator, float expression_scale, float pose_scale, float eyes, float lips);
vv_status vv_animator_recalibrate(vv_animator *animator);
vv_status vv_animator_set_source(vv_animator *animator, int index);
int vv_animator_source_count(const vv_animator *animator);

/* One call: a whole driver to a file. */
typedef struct vv_animate_job {
    const char *driving;       /* driving video; or */
    const char *motion;        /* a built-in motion name ("talk", ...) or a .json template */
    double duration;           /* built-in motions: seconds (0: 5) */
    long max_frames;           /* at most this many frames (0: all) */
    const char *output;        /* .mp4 (H.264 + the driver's audio), .gif, or a folder of PNGs;
                                  with a still image as the driver also .png / .jpg (the
                                  portrait with the image's expression and pose) */
    int compare;               /* write source | driver | result side by side */
    int no_audio;              /* do not copy the driver's audio */
    int keep_partial;          /* stopped by abort: finish the output with the frames made so
                                  far (VV_ERR_ABORTED is still returned) */
    /* Speech: a recording drives the mouth (not with `driving`). */
    const char *audio;         /* anything FFmpeg reads (a video file: its audio track), at most
                                  10 minutes: the output lasts as long as it (to the frame) and
                                  carries it (mp4); the mouth follows the speech; the rest of the
                                  motion comes from `motion` (a built-in or a template, looped
                                  to the length; NULL: "talk", whose head then rests in pauses
                                  and nods on strong onsets).  Errors: VV_ERR_NO_VIDEO (no audio
                                  stream), VV_ERR_INVALID_ARGUMENT (shorter than one frame),
                                  VV_ERR_TOO_LARGE (too long); a silent one is animated with the
                                  mouth closed and a warning through the log callback. */
    const char *lipsync;       /* how audio moves the mouth: "phonemes" (mouth shapes from the
                                  phones PocketSphinx recognises, the loudness as their gain;
                                  VV_ERR_UNSUPPORTED / VV_ERR_MODEL without it) or "energy" (the
                                  opening follows the speech-band loudness, centred, no lag); NULL:
                                  phonemes where the recogniser is available, else energy */
    double fps;                /* with audio: output frame rate (0: 25) */
} vv_animate_job;

typedef enum vv_animate_stage {
    VV_STAGE_TRACKING,         /* the driver tracked whole first (reference "best") */
    VV_STAGE_RENDERING         /* frames rendered and encoded (tracking overlaps it) */
} vv_animate_stage;

/* Progress, on the calling thread: frames done of total (total 0 or less: unknown); return
 * non-zero to stop (VV_ERR_ABORTED).  Abort, polled from any thread (the tracker's too): a
 * non-zero return stops.  Log, on the calling thread: one line of detail or warning. */
typedef int (*vv_animate_progress_fn)(void *user_data, vv_animate_stage stage, long done, long total);
typedef int (*vv_abort_fn)(void *user_data);
typedef void (*vv_log_fn)(void *user_data, const char *line);

typedef struct vv_animate_callbacks {
    vv_animate_progress_fn progress;
    vv_abort_fn abort;
    vv_log_fn log;             /* NULL: no detail */
    int verbose;               /* log per-frame detail too (which source each frame uses) */
    void *user_data;
} vv_animate_callbacks;

typedef struct vv_animate_report {
    long frames;               /* frames written */
    int width, height;         /* output frame size */
    double fps;
    char audio[1024];          /* audio copied from ("" = none) */
    long faceless_frames;      /* driver frames without a face (held, then eased to neutral) */
    long source_switches;      /* several sources: how often the nearest one changed */
    int reference_frame;       /* driver frame the motion is relative to (first source) */
    double seconds;            /* wall time in all */
    double seconds_tracking;   /* tracking (streaming: waiting for the tracker thread) */
    double seconds_decode, seconds_render;
    double seconds_encode;     /* handing frames to the writer: mp4 and GIF encode on its own
                                  thread, so this is the wait for a free frame slot */
    /* Preparing the sources: face detection and landmarks, the 3D head's face mesh
     * (vv_animator_new); its person matte and building the head (vv_animate, while the
     * driver is tracked; else the first frame or vv_animator_warning). */
    double seconds_faces, seconds_mesh, seconds_matte;
} vv_animate_report;

vv_status vv_animate(vv_animator *animator, const vv_animate_job *job,
                     const vv_animate_callbacks *callbacks, vv_animate_report *report);

#ifdef __cplusplus
}
#endif
#endif /* VIVIFY_H */
