/* face/shape_predictor: dlib's ensemble-of-regression-trees 68-point predictor, read
 * straight from dlib's serialised .dat (shape_predictor_68_face_landmarks.dat). */
#ifndef VV_FACE_SHAPE_PREDICTOR_H
#define VV_FACE_SHAPE_PREDICTOR_H

#include "base/base.h"

#define SHAPE_PREDICTOR_DEFAULT_PATH "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

typedef struct shape_predictor shape_predictor;

/* path NULL: SHAPE_PREDICTOR_DEFAULT_PATH. Hostile-input checked.  Keeps the parsed model
 * in a cache file and maps that on later loads of the same file (shape_predictor.c says
 * where: VIVIFY_CACHE=DIR, default $XDG_CACHE_HOME/vivify or ~/.cache/vivify;
 * VIVIFY_CACHE=off for none); a cache that fails any check is ignored and replaced. */
vv_status shape_predictor_load(shape_predictor **out, const char *path);
vv_status shape_predictor_load_memory(shape_predictor **out, const uint8_t *data, size_t size,
                                      const char *name);
/* The cache file's bytes (as shape_predictor_load writes them), copied: for tests and
 * fuzzing.  VV_ERR_CORRUPT on any failed check. */
vv_status shape_predictor_load_cache_memory(shape_predictor **out, const uint8_t *data, size_t size);
void shape_predictor_free(shape_predictor *predictor);
/* Whether the predictor reads its leaves from a mapped cache file (for tests). */
bool shape_predictor_mapped(const shape_predictor *predictor);
int shape_predictor_landmark_count(const shape_predictor *predictor);
/* Runs the cascade on `gray` (1 channel; 3-channel RGB also works and reads dlib's
 * intensity (r + g + b) / 3) inside box (x0, y0, x1, y1, dlib convention: rectangle
 * corners inclusive as dlib stores them, so dlib's width is x1 - x0 + 1).
 * points: landmark_count (x, y), sub-pixel; dlib returns them rounded, floor(v + 0.5),
 * and rounding ours that way reproduces dlib's exactly.  Thread-safe, allocates nothing. */
void shape_predict(const shape_predictor *predictor, const vv_image *gray, const float box[4],
                   float (*points)[2]);
/* Starting from the mean shape placed in box: the predictor's mean shape in
 * box-normalised [0,1] coordinates (for trackers and pose). */
const float (*shape_predictor_mean_shape(const shape_predictor *predictor))[2];

#endif
