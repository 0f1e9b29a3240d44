/* cli/finetune_shots: the shots of `vivify finetune`: photos (one face each) and videos
 * (K frames spread over pose and expression, train/shots.h), cropped as the model's
 * training crops, each with its faceres identity embedding so that shots of different
 * people are caught before any training. */
#ifndef VV_CLI_FINETUNE_SHOTS_H
#define VV_CLI_FINETUNE_SHOTS_H

#include "base/base.h"
#include "eval/identity.h"

#include <vivify.h>

/* A face whose outer eye corners are closer than this (pixels) is not usable: its crop
 * would be upscaled several times. */
#define SHOTS_MIN_EYES_APART 12.0f
/* Frames of one video tracked at most (10 minutes at 30 frames/s). */
#define SHOTS_MAX_VIDEO_FRAMES 18000

typedef struct shot_set {
    int count, capacity, S;
    float *frames;                     /* [capacity, 3, S, S] in [-1, 1] */
    float (*points)[68][2];            /* crop pixels */
    float (*embedding)[IDENTITY_DIM];  /* NULL without an identity model */
    char (*name)[160];                 /* "me.jpg" or "me.mp4 frame 123", for messages */
} shot_set;

vv_status shot_set_init(shot_set *set, int capacity, int S, bool embed);
void shot_set_free(shot_set *set);

/* Whether a path is a photo (PNG/JPEG by content) rather than a video. */
bool shot_path_is_image(const char *path);
/* One photo: its most confident face (VV_ERR_NO_FACE naming it when none is usable). */
vv_status shot_set_add_image(shot_set *set, vv_faces *faces, const identity_model *identity, const char *path);
/* k frames of a video, tracked with the faces' detector and predictor: VV_ERR_NO_FACE
 * ("no usable face in PATH ...") when no frame has one; fewer than k when fewer frames
 * have one (*usable: how many had). */
vv_status shot_set_add_video(shot_set *set, vv_faces *faces, const identity_model *identity, const char *path,
                             int k, int *usable, bool progress);
/* The shot least like the others: the lowest median identity similarity (faceres CSIM)
 * to the other shots, and that median; *median 1 with fewer than two shots or no
 * embeddings.  One person's shots stay above, a set with another person's face in it
 * falls below a threshold the caller sets (docs/MODEL.md: measured). */
vv_status shot_set_least_typical(const shot_set *set, int *shot, float *median);

#endif
