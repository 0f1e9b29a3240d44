/* animate: the portrait-animation pipeline behind vv_animator / vv_animate (include/vivify.h).
 *
 *   animator.c  sources (face, engine), the learned engines' model, one frame rendered from
 *               the driver's smoothed landmarks; the streaming push / pull API
 *   timeline.c  gap filling and zero-phase smoothing of the driver's landmarks
 *   tracking.c  the driver tracked on a thread of its own, a bounded window ahead
 *   run.c       vv_animate: a whole driver to a file (audio, --compare panels, abort) */
#ifndef VV_ANIMATE_ANIMATE_H
#define VV_ANIMATE_ANIMATE_H

#include "animate/timeline.h"
#include "base/base.h"
#include "face/motion.h"
#include "face/tracker.h"
#include "models/hybrid_warp.h"
#include "models/models.h"
#include "face/facemesh.h"
#include "face/matte.h"
#include "warp/head3d.h"
#include "warp/warp.h"

#define ANIMATE_MAX_SOURCES 16
#define ANIMATE_MAX_LOOKAHEAD 64
#define EYE_ASPECT_BINS 256
#define EYE_ASPECT_TOP 0.64f

typedef struct animate_source {
    char name[512];
    vv_image image;
    vv_face face;
    warp_engine *engine;    /* the 2D landmark-mesh warp (engine warp2d; hybrid's warp) */
    head3d *head;           /* the 3D head (engine warp), NULL where it fell back to 2D */
    face_mesh_result *head_mesh; /* the face mesh its 3D head is still to be built from
                                  * (animator_prepare), NULL once built or without one */
    motion_retarget retarget;
    bool retarget_ready;
    /* Output placement of a source whose size differs from the first one's: its frame is
     * mapped by this similarity (output px -> its px) so its face lands where the first
     * source's face is, at the same size, without stretching. */
    bool placed;
    float output_to_source[6];
} animate_source;

struct vv_animator {
    vv_animate_params params;
    vv_faces *faces;
    /* The 3D head's models (engine warp). */
    face_mesh *mesh_model;
    person_matte *matte_model;
    bool head3d;            /* engine warp: the 3D head where the face allows */
    char warnings[4][512];  /* e.g. a source that fell back to the 2D warp */
    double seconds_faces, seconds_mesh, seconds_matte; /* preparing the sources */
    vv_status prepare_status; /* animator_prepare's failure, given again to later calls */
    char prepare_error[512];
    int warning_count;
    int source_count;
    animate_source sources[ANIMATE_MAX_SOURCES];
    int out_width, out_height;
    /* Learned engines (fsth, hybrid). */
    fsth_model *model;
    bool learned, hybrid;
    /* A hybrid trained on the 3D head's warp (config.warp3d): the first source's triangle
     * areas at rest and this frame's validity in the crop (G's fourth input). */
    bool hybrid3d;
    hybrid_validity validity;
    float *validity_map;
    float crop_to_image[6], image_to_crop[6]; /* the network's crop: this frame's, around its face */
    vv_image net_crop, portrait;
    /* Per-frame state: which source is in use (nearest, with hysteresis); the reference. */
    int current;
    long switches;
    bool source_pinned;     /* vv_animator_set_source: every frame with source_pin */
    int source_pin;
    bool have_reference;
    float reference[68][2];
    bool reference_neutral; /* the reference is a built-in's or a still's neutral face, not a
                               tracked one (motion_params.mouth_from_closed off) */
    /* The driver's eye aspects since the reference (per eye, in EYE_ASPECT_BINS bins over
     * 0..EYE_ASPECT_TOP): their median is its typical eye (motion_eye_openness_typical). */
    uint32_t eye_aspects[2][EYE_ASPECT_BINS];
    uint32_t eye_aspect_count;
    /* Gaze (animate/gaze.h): this frame's and the reference frame's, when measured. */
    bool have_gaze, have_reference_gaze;
    float gaze[2][2], reference_gaze[2][2];
    /* The head's rotation by the face mesh (gaze_measure_turn): this frame's and the
     * reference frame's, when measured; the 3D head turns by their change. */
    bool have_turn, have_reference_turn;
    float turn[3][3], reference_turn[3][3];
    vv_image placed; /* a placed source's frame */
    /* Streaming (push / pull). */
    driver_timeline timeline;
    bool timeline_started;
    face_tracker *tracker;
    vv_image *frames;     /* copies of the pushed frames not yet pulled (index - frames_base) */
    vv_image spare_frame; /* the last pulled frame's buffer, for the next push of its size */
    long frames_base, frames_capacity;
    bool have_frames;     /* frames were pushed with images */
};

/* Sets the reference driver frame (smoothed landmarks): retargeting of every source is
 * relative to it from now on (or, with reference_best, chosen per source by the caller). */
void animator_set_reference(vv_animator *a, const float reference[68][2]);
void animator_set_source_reference(vv_animator *a, int source, const float reference[68][2]);

/* The driver's gaze for the next animator_render (NULL: none this frame), and the gaze of
 * the reference frame (set with or after the reference). */
void animator_set_gaze(vv_animator *a, const float (*gaze)[2]);
void animator_set_reference_gaze(vv_animator *a, const float (*gaze)[2]);
/* The same for the head's rotation by the face mesh (NULL: none; that frame turns by the 68
 * points' pose). */
void animator_set_turn(vv_animator *a, const float (*turn)[3]);
void animator_set_reference_turn(vv_animator *a, const float (*turn)[3]);
/* Whether rendering reads the driver's gaze and head rotation (a source with the 3D head):
 * only then need the face mesh and the Iris model run on the driver's frames. */
bool animator_reads_gaze(const vv_animator *a);
/* The same before animator_prepare: true also for a source whose 3D head is still to be
 * built (it may yet fall back to 2D). */
bool animator_may_read_gaze(const vv_animator *a);
/* Builds the 3D heads vv_animator_new left to do (the person matte, the head and its
 * background plate: most of the start-up), so that vv_animate can track the driver on its
 * thread meanwhile; a no-op once done.  Rendering, vv_animator_warning and
 * animator_reads_gaze call it first.  Its failure is kept and given again to later calls. */
vv_status animator_prepare(vv_animator *a);

/* Renders the frame for the driver's smoothed landmarks (driver pixels; has_face false:
 * the portrait as it is).  driver_frame (optional): the driver's image, for the mouth
 * interior; found: the driver had a face in this very frame (else its mouth is not used).
 * *source_used: the source rendered.  out: allocated or resized to the output size. */
vv_status animator_render(vv_animator *a, const float points[68][2], bool has_face, const vv_image *driver_frame,
                          bool found, vv_image *out, int *source_used);

/* Forgets the driver: reference, streaming state, source in use (a new driver starts). */
void animator_reset(vv_animator *a);

/* Starts the streaming timeline (once; later calls do nothing) for a driver at fps. */
vv_status animator_stream_begin(vv_animator *a, double fps);

/* The source nearest the driver's expression (motion_shape_distance), keeping `current`
 * unless another is nearer by the hysteresis (ANIMATE_SOURCE_HYSTERESIS): the rule that picks
 * each frame's source among several (eval applies it to frames it does not render). */
#define ANIMATE_SOURCE_HYSTERESIS 0.9
int animate_nearest_source(const float points[68][2], const float (*sources)[68][2], int count, int current);

/* Takes the next frame from the streaming timeline (animate/timeline.h) with its gaze; the
 * first frame with a face becomes the reference. */
void animator_take(vv_animator *a, float points[68][2], bool *has_face, bool *found, long *index);

/* Whether `name` is an engine the animator has (warp, warp2d, fsth, hybrid): the one list
 * its parameter check, the CLI and eval go by. */
bool animate_engine_known(const char *name);

/* The tracker parameters the driver is tracked with (raw landmarks: the timeline smooths). */
tracker_params animator_tracker_params(void);

/* A whole driver track smoothed as the streaming path smooths it (the same window, so the
 * same points): what vv_animate renders when the whole track is known first, and what eval
 * renders. */
typedef struct smoothed_track {
    long count;
    float (*points)[68][2];  /* driver pixels */
    float (*gaze)[2][2];     /* smoothed gaze (NULL when the track has none) */
    uint8_t *has_gaze;
    float (*turn)[3][3];     /* smoothed head rotation by the face mesh (NULL when the track has none) */
    uint8_t *has_turn;
    uint8_t *has_face;       /* from the first face on (before it: render the portrait as is) */
    uint8_t *found;          /* a face in this very frame (else held / eased) */
} smoothed_track;
vv_status animate_smooth_track(const motion_track *track, const vv_animate_params *params, smoothed_track *out);
void smoothed_track_free(smoothed_track *track);

/* vv_animator_new with a model already loaded (and perhaps fine-tuned, as eval's -ft
 * engines do): the animator takes it over (freed with it, also on failure).  NULL: loaded
 * as params says. */
vv_status animator_create(vv_animator **out, const vv_image *sources, const char *const *names, int source_count,
                          const vv_animate_params *params, fsth_model *model);

/* Whether a driving input is a still image (PNG or JPEG by its first bytes): vv_animate
 * then transfers its expression and pose against a neutral face, and may write a .png /
 * .jpg output (one frame) as well as a short video. */
bool animate_driver_is_still(const char *driving);

/* The shipped model for an engine ("hybrid128.safetensors"): models/ in the working folder,
 * beside or above the binary, /usr/share/vivify/models.  false when none is found. */
bool animate_shipped_model_find(const char *name, char *out, size_t out_size);

#endif
