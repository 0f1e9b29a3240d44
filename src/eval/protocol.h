/* eval/protocol: pairwise frame metrics and the evaluation protocols of issue 4.
 *
 * Every result comes through the animate pipeline as `vivify animate` makes it (its "whole
 * track" mode, animate/animate.h): the driver clip tracked with animate's raw tracker, the
 * whole track smoothed by animate's centred timeline, motion relative to the driver's
 * reference frame, each frame rendered by an animator (the driver's own frame given for the
 * mouth interior).
 *
 * Self-reenactment (per clip): the first K frames (those with a face) are the sources, and
 * source j's reference is the smoothed driver frame j (it IS that frame); the driving
 * frames are drawn from the rest of the clip, starting after the largest K that fits the
 * clip (so every K is scored on the same frames); each result is compared with the real
 * frame.  Cross-reenactment: each portrait is driven by each clip (reference: the driver's
 * first face frame, as animate); the result is compared with the portrait (CSIM) and with
 * the driver (expression and pose).
 * Frame sampling: at most max_frames driving frames per clip, drawn without replacement
 * by a PRNG seeded with seed and the clip's name, then sorted: reproducible and
 * independent of the other clips.
 * Following (eval/motion_metrics.h): a contiguous stretch of follow_frames output frames
 * (self: from the first driving frame after the sources; cross: from the driver's first face
 * frame) is tracked with the same raw tracker (a fresh one per series) and compared with the
 * driver's raw track over the same frames: lag, mouth, blinks, head pose, jitter.  Frames
 * neither sampled nor in the stretch are not rendered (whole-track mode keeps no state
 * between frames but the source in use, which is advanced without rendering). */
#ifndef VV_EVAL_PROTOCOL_H
#define VV_EVAL_PROTOCOL_H

#include "base/base.h"
#include "eval/identity.h"
#include "eval/motion_metrics.h"

/* The metric columns.  Values are NAN where not measured (no face found, or the metric
 * does not apply to the protocol); PSNR is INFINITY for identical frames. */
typedef enum eval_metric {
    METRIC_SSIM,       /* full frame, skimage-exact (eval/metrics.h) */
    METRIC_PSNR,       /* dB */
    METRIC_L1,         /* mean |a - b| / 255 */
    METRIC_CSIM,       /* cosine similarity of faceres embeddings (eval/identity.h) */
    METRIC_NME,        /* landmark distance / reference's outer-eye-corner distance */
    METRIC_AKD,        /* mean landmark distance, pixels */
    METRIC_EXPRESSION, /* AED-like landmark expression distance (metrics_expression_distance) */
    METRIC_POSE,       /* APD-like head pose distance, degrees (geodesic angle) */
    METRIC_FACE,       /* 1 if a face was found in the result, else 0 */
    METRIC_COUNT
} eval_metric;

const char *eval_metric_name(eval_metric metric);        /* "SSIM", ... */
const char *eval_metric_description(eval_metric metric); /* one line */
bool eval_metric_higher_is_better(eval_metric metric);

typedef struct eval_track_cache eval_track_cache;

typedef struct eval_context {
    vv_faces *faces;
    identity_model *identity;
    int threads;             /* 0: all cores */
    char *models_dir;        /* a copy, or NULL: the defaults (the animators load from it too) */
    eval_track_cache *tracks; /* the clips' raw and smoothed tracks, tracked once per context */
} eval_context;

/* models_dir: NULL searches the defaults. */
vv_status eval_context_open(eval_context *ctx, const char *models_dir, int threads);
void eval_context_close(eval_context *ctx);

/* Every pairwise metric of frame b against reference a (b is resized to a's size when
 * they differ).  Face metrics use the most confident face of each and are NAN when either has
 * none; METRIC_FACE says whether b has one.  Expression distance: without neutrals. */
vv_status eval_compare_frames(eval_context *ctx, const vv_image *a, const vv_image *b,
                              double values[METRIC_COUNT]);
/* The same with the reference's face and identity embedding measured once and kept in
 * *reference (set image, zero the rest, before the first call): one image against every
 * frame of a video (vivify metrics PORTRAIT RESULT.mp4). */
typedef struct eval_reference {
    const vv_image *image;
    bool measured, found, embedded;
    float points[68][2];
    float embedding[IDENTITY_DIM];
} eval_reference;
vv_status eval_compare_reference(eval_context *ctx, eval_reference *reference, const vv_image *b,
                                 double values[METRIC_COUNT]);

/* ---- Protocols ----------------------------------------------------------------------- */

#define EVAL_MAX_SHOTS 8       /* distinct K values */
#define EVAL_MAX_SHOT_VALUE 64 /* largest K */
#define EVAL_MAX_ENGINES 8

typedef enum eval_protocol_kind { PROTOCOL_SELF, PROTOCOL_CROSS } eval_protocol_kind;

/* One (clip, engine, K) combination. */
typedef struct eval_series {
    char clip[256];      /* self: the clip's file name; cross: "portrait <- driver" */
    char engine[32];
    int shots;
    bool available;      /* false: engine not implemented or the clip cannot be used */
    char note[256];      /* why not available, or remarks ("3 driver frames without a face") */
    int frame_count;
    int *frames;                    /* driving frame indices, ascending */
    double (*values)[METRIC_COUNT]; /* per frame */
    char grid[512];      /* sample grid PNG relative to the report folder, or "" */
    /* Following (follow_frames 0: not measured): output frames [follow_start, follow_start +
     * follow_frames) of the clip were rendered and tracked; follow_output_faces of them had
     * a face.  follow_output / follow_driver: the output's raw tracked landmarks and the
     * driver's over those frames (valid flags beside them), for plots. */
    int follow_start, follow_frames, follow_output_faces;
    follow_metrics follow;
    float (*follow_output)[68][2], (*follow_driver)[68][2];
    uint8_t *follow_output_valid, *follow_driver_valid;
    /* The head's rotation by the face mesh (gaze_measure_turn) over the same frames, where
     * *_has: the driver's from its track (the frames animate measured), the output's
     * measured on those frames (follow_measure's pose signals). */
    float (*follow_output_turn)[3][3], (*follow_driver_turn)[3][3];
    uint8_t *follow_output_has_turn, *follow_driver_has_turn;
    /* For FD-faceres (self-reenactment only; cross leaves them empty): faceres embeddings
     * (IDENTITY_DIM floats each) of the results in which a face was found, and of the
     * real frames of every rendered driving frame. */
    float *result_features, *real_features;
    int result_feature_count, real_feature_count;
} eval_series;

void eval_series_free(eval_series *series);

#define EVAL_MAX_DELAY 25        /* largest delay_frames */
#define EVAL_FOLLOW_MAX_SHIFT 25 /* largest lag searched (frames; at most a quarter of the stretch) */

typedef struct eval_options {
    const char *engines[EVAL_MAX_ENGINES]; /* animate's engines by name ("warp", "warp2d",
                                              "fsth", "hybrid", any it adds), "freeze" (the
                                              nearest source held still), and the learned
                                              ones with "-ft" (fine-tuned on the shots) */
    int engine_count;
    const char *model;      /* for the learned engines: one path, or fsth and hybrid models
                               separated by commas; unused by warp */
    int finetune_steps;     /* the -ft engines' steps; 0: fsth_finetune's default */
    int shots[EVAL_MAX_SHOTS];
    int shot_count;
    int max_frames;         /* driving frames per clip, default 16 */
    uint64_t seed;
    int crop_size;          /* warp working resolution, default 512 */
    const char *output_dir; /* sample grids go to output_dir/samples/; NULL: none */
    int grid_rows;          /* frames shown per sample grid, default 4 */
    int follow_frames;      /* the following stretch, default 250; 0: not measured */
    int delay_frames;       /* testing: output frame t is rendered from driver frame t - delay
                               (a deliberately late engine; 0..EVAL_MAX_DELAY, default 0) */
    const char *frames_dir; /* every frame rendered saved there as PNG (self_CLIP_ENGINE_KK_FRAME.png,
                               cross_PORTRAIT_from_CLIP_ENGINE_FRAME.png: frame = the driver's
                               index, 5 digits), to check against vivify animate; NULL: none */
    vv_progress_fn progress;  /* done/total frames of the current clip */
    void *progress_user;
} eval_options;

eval_options eval_default_options(void);
/* Whether eval can run the engine: "freeze", fsth / hybrid and their -ft variants, or an
 * engine the animator has (animate_engine_known, so new engines need no change here). */
bool eval_engine_known(const char *name);
/* Available without a model: every engine but the learned ones. */
bool eval_engine_available(const char *name);
/* fsth, hybrid and their -ft variants: available with --model. */
bool eval_engine_learned(const char *name);

/* Appends engine_count x shot_count series for one clip to *series (grown as needed). */
vv_status eval_self_reenactment(eval_context *ctx, const eval_options *options, const char *clip_path,
                                eval_series **series, int *count);
/* Appends engine_count series (K = 1) for one portrait driven by one clip. */
vv_status eval_cross_reenactment(eval_context *ctx, const eval_options *options, const char *portrait_path,
                                 const char *driver_path, eval_series **series, int *count);

/* Seeded sample of min(want, hi - lo) distinct indices from [lo, hi), ascending; returns
 * how many were written to out (capacity want). */
int eval_sample_frames(uint64_t seed, const char *name, int lo, int hi, int want, int *out);

#endif
