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

#ifdef __cplusplus
}
#endif
#endif /* VIVIFY_H */
