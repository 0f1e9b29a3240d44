/* train: meta-learning and few-shot fine-tuning of the fsth model (PAPER.md, docs/MODEL.md).
 *
 * One meta-learning step takes B episodes of K shots + 1 target frame:
 *   E on the shots -> e_hat (mean over K), psi = P e_hat, fake = G(y_t; psi);
 *   G side: L = w_pixel |fake - x_t| + w_identity L_id + w_perceptual L_perc + (-r_hat) + w_fm L_FM
 *           + w_mch |e_hat - W_i|, Adam on E and G;
 *   D side: hinge max(0, 1 - r) + max(0, 1 + r_hat) on (x_t, y_t) and the detached fake,
 *           plus L_MCH's pull on W_i, Adam on D.
 * Everything random (episodes) draws from the trainer's seeded state, which the training
 * state file saves with Adam's moments, so a resumed run repeats the uninterrupted one. */
#ifndef VV_TRAIN_TRAIN_H
#define VV_TRAIN_TRAIN_H

#include "models/models.h"
#include "train/dataset.h"
#include "train/parallel.h"

typedef struct fsth_train_params {
    int k;          /* shots per episode (8) */
    int batch;      /* episodes per step (1) */
    float lr_g;     /* E and G (5e-5) */
    float lr_d;     /* D (2e-4) */
    float beta1, beta2; /* 0, 0.999 */
    float w_pixel;  /* pixel L1 (the content-loss stand-in, 10) */
    float w_fm;     /* feature matching (10) */
    float w_mch;    /* embedding match (10) */
    float w_adv;    /* -r_hat (1) */
    /* Identity content term (the VGGFace stand-in): w_identity * mean |faceres(fake) -
     * faceres(real)| over the 1024 features, on 224x224 resizes of the S x S frames.  Off
     * when faceres is NULL or the weight 0 (the default; vivify train loads faceres). */
    float w_identity;
    /* Perceptual content term (the VGG19 stand-in, models/perceptual_loss.h): w_perceptual *
     * mean |phi_l(fake) - phi_l(real)| over five faceres layers, on the same resizes.  Off
     * when faceres is NULL or the weight 0 (the default). */
    float w_perceptual;
    /* Hybrid: the pixel term's gradient weighted by 1 + w_invented (1 - validity) (0: off,
     * the default), so training aims at where the warp invented pixels. */
    float w_invented;
    /* The pixel term's gradient also weighted up by w_regions on the target's eyes and
     * mouth (batch.regions, which the trainer allocates and the episode source fills only
     * when this is > 0; 0: off, the default): where the warp's errors matter most. */
    float w_regions;
    const struct tfjs_model *faceres;
    uint64_t seed;
    /* Data-parallel ranks (train/parallel.h; the default: one process).  batch is the
     * global batch: this rank trains on its slice of it, the gradients and the logged
     * losses are summed over the ranks, and every rank takes the same steps. */
    train_parallel parallel;
    /* How the episode source draws (dataset_episode_mode; the default CLIP), recorded in the
     * training state so that --resume draws as the run did; -1: unknown (a resumed run then
     * takes the state's, which fsth_trainer_episodes gives). */
    int episodes;
} fsth_train_params;

fsth_train_params fsth_train_default_params(void);

/* One step's data, filled by an episode source.  Images NCHW in [-1, 1]. */
typedef struct fsth_batch {
    int B, K, S, in_channels;
    float *shots;    /* [B*K, 6, S, S]: frame, landmark image */
    float *target;   /* [B, 6, S, S] */
    float *g_in;     /* [B, in_channels, S, S]: target landmark image (+ warped shot 0, validity) */
    int *videos;     /* [B] rows of D's W */
    /* Data-parallel ranks: these B rows are episodes [first, first + B) of a step's
     * `global` (0: B).  The source draws every one of the global episodes' random choices,
     * so the state advances as in one process, but reads and computes only its own. */
    int first, global;
    float *regions;  /* [B, S, S] or NULL: fsth_region_mask of each target (w_regions > 0) */
} fsth_batch;

/* out [S, S]: 1 inside ellipses around the eyes (points 36-41, 42-47) and the mouth
 * (48-59), enlarged so a shut eye or mouth keeps a region about as high as 0.6 of its
 * width, 0 elsewhere; points in the S x S crop's pixels. */
void fsth_region_mask(float *out, const float points[68][2], int S);

/* Fills every field of batch from the random state (and only from it). */
typedef vv_status (*fsth_episode_fn)(void *ctx, uint64_t *rng, fsth_batch *batch);

/* An episode source over a .vds dataset (frames resized to the model's side). */
typedef struct fsth_dataset_source {
    const dataset *ds;
    bool hybrid;
    /* hybrid with fsth_config.warp3d: the face mesh models; G's warp input is then the 3D
     * head of shot 0 moved to the target (models/hybrid_warp.h), at the dataset's own
     * resolution, or the 2D warp where the mesh does not hold the face (counted here) */
    const struct face_mesh *mesh;
    long warp3d_fallbacks;
    /* DATASET_EPISODE_CLIP (a clip uniformly: the default) or _PERSON (a person uniformly,
     * then one of their clips: docs/DATASET.md) */
    dataset_episode_mode episodes;
} fsth_dataset_source;
vv_status fsth_dataset_episode(void *ctx, uint64_t *rng, fsth_batch *batch);

typedef struct fsth_losses {
    float g_total, pixel, identity, perceptual, adv, fm, mch, d_total, r_real, r_fake;
} fsth_losses;

typedef struct fsth_trainer fsth_trainer;

/* The trainer borrows the model (which it trains in place). */
vv_status fsth_trainer_new(fsth_trainer **out, fsth_model *m, const fsth_train_params *params);
void fsth_trainer_free(fsth_trainer *t);
vv_status fsth_train_step(fsth_trainer *t, fsth_episode_fn source, void *ctx, fsth_losses *losses);
long fsth_trainer_step(const fsth_trainer *t);
/* Seconds the last step spent in the ranks' all-reduce (0 in one process). */
double fsth_trainer_comm_seconds(const fsth_trainer *t);
/* Whether every rank holds the same parameters and Adam moments, bit for bit (true in one
 * process): a check at checkpoints that the all-reduce gave every rank the same sums. */
vv_status fsth_trainer_ranks_agree(const fsth_trainer *t, bool *same);
/* The last step's first episode: target frame, landmark image, generated frame [3,S,S]. */
void fsth_trainer_last_sample(const fsth_trainer *t, const float **target, const float **landmarks,
                              const float **fake);
/* Floating-point operations of one step (convolutions and projections; an estimate). */
double fsth_train_step_flops(const fsth_trainer *t);
/* Floating-point operations of one generator forward pass (one frame). */
double fsth_generator_flops(const fsth_generator *g);
/* Adam moments and steps, the random state, the step count and the episode mode (the
 * parameters are in the model file).  Atomic.  Loading a state whose episode mode differs
 * from params.episodes (when that is not -1) is VV_ERR_INVALID_ARGUMENT; a state from before
 * the mode was recorded counts as CLIP. */
vv_status fsth_trainer_save_state(const fsth_trainer *t, const char *path);
vv_status fsth_trainer_load_state(fsth_trainer *t, const char *path);
/* The episode mode the trainer draws with: params.episodes, or the loaded state's. */
int fsth_trainer_episodes(const fsth_trainer *t);
/* The options a state recorded besides the mode (k, batch, seed, the learning rates and the
 * loss weights w_identity, w_perceptual, w_adv, w_fm, w_invented, w_regions) into *p, the
 * rest of *p untouched, so that a resumed run can train as it did; *recorded false (and *p
 * untouched) for a state from before they were recorded. */
vv_status fsth_train_state_params(const char *path, fsth_train_params *p, bool *recorded);

/* ---- Few-shot fine-tuning (FT) ----
 * frames: K crops [K, 3, S, S] in [-1, 1], points: their landmarks in crop pixels (the
 * crops as fsth_crop_shot makes them; shot 0 is the hybrid engine's warp source).  psi' starts at P e_new and
 * w' at w_0 + e_new (e_new = mean E over the K frames); then `steps` steps train G (its
 * convolutions and psi') and D (its convolutions and w') on the K frames with pixel L1 +
 * adversarial + feature matching and the hinge loss.  Leaves the person in m. */
typedef struct fsth_finetune_params {
    int steps;       /* default: 40 epochs over the K frames */
    int batch;       /* frames per step (min(K, 4)) */
    float lr_g, lr_d; /* 5e-4 (G, psi'), 2e-4 (D, w') */
    float w_identity, w_perceptual;   /* as in fsth_train_params (0: off) */
    float w_adv, w_fm;                /* adversarial and feature-matching terms; both 0 (the
                                         default): D is neither run nor trained */
    /* Moved copies of the shots (a plain G; a hybrid trains on the shots as they are): each
     * sample is, with probability augment, the shot and its landmarks under a random
     * similarity about the crop's centre: scale log-uniform in [augment_min_scale,
     * augment_max_scale], rotation within +-augment_rotate degrees, shift within
     * +-augment_shift crop pixels at 128 px (scaled with the size).  The driver's motion
     * moves the face in the crop (a zoom, a step back) where the K shots, cropped around the
     * face, never show it there.  Off (0) by default: it costs sharpness on steady clips
     * (docs/MODEL.md, "Moved shots"); the ranges are the defaults' values. */
    float augment, augment_min_scale, augment_max_scale, augment_rotate, augment_shift;
    const struct tfjs_model *faceres;
    /* A warp3d hybrid: the face mesh models, so G trains on the 3D head's warp of shot 0
     * to each frame (models/hybrid_warp.h), as animate renders it; NULL or a face the mesh
     * does not hold: the 2D warp. */
    const struct face_mesh *mesh;
    uint64_t seed;
    vv_progress_fn progress;
    void *progress_data;
} fsth_finetune_params;

/* The faceres identity term's weight for fine-tuning (vivify finetune, eval's -ft
 * engines): meta-learning's 10.  30 scored the same mean CSIM on the held-out clips with
 * lower SSIM and more faceres-pleasing artefacts (docs/MODEL.md). */
#define FINETUNE_IDENTITY_WEIGHT 10.0f

fsth_finetune_params fsth_finetune_default_params(int k);
/* One moved copy of a shot: frame [3,S,S] resampled bilinearly (borders clamped) into out
 * under p' = c + scale R(angle) (p - c) + (shift_x, shift_y), c the crop's centre, and its
 * points moved alike into out_points. */
void fsth_finetune_augment(float *out, float out_points[68][2], const float *frame, const float points[68][2], int S,
                           float scale, float angle_degrees, float shift_x, float shift_y);
vv_status fsth_finetune(fsth_model *m, const float *frames, const float (*points)[68][2], int k,
                        const fsth_finetune_params *params, float *final_loss);
/* The same from K photos and their landmarks (image pixels), each cropped as
 * fsth_crop_shot crops it; images[0] is the hybrid engine's warp source. */
vv_status fsth_finetune_images(fsth_model *m, const vv_image *images, const float (*landmarks)[68][2], int k,
                               const fsth_finetune_params *params, float *final_loss);

#endif
