/* face/motion: driver motion as a landmark track (from a video, a JSON template or a
 * procedural built-in), gap filling, and retargeting onto a source face: the driver's
 * landmarks split into head pose (face/pose.h) and expression, transferred relative to a
 * reference driver frame (default) or absolutely (the driver's shape, aligned). */
#ifndef VV_FACE_MOTION_H
#define VV_FACE_MOTION_H

#include "base/base.h"

#define MOTION_MAX_FRAMES 200000  /* over two hours at 25 fps */
#define MOTION_MAX_JSON_BYTES (256u << 20)

typedef struct motion_track {
    int frame_count;
    double fps;
    int width, height;       /* the driver's frame size (procedural: the virtual frame) */
    float (*points)[68][2];  /* per frame, driver pixels */
    uint8_t *found;          /* per frame: 1 if a face was found (others are filled in) */
    char *audio;             /* audio source path or NULL */
    float (*gaze)[2][2];     /* optional, per frame: each eye's iris offset (animate/gaze.h) */
    uint8_t *has_gaze;       /* optional, per frame: the irises were measured */
    float (*lids)[2][2];     /* optional, with gaze: each eye's lid gaps by the Iris model
                                (motion_lid_gaps; NAN: none) where has_gaze */
    float (*turn)[3][3];     /* optional, with gaze: the head's rotation by the face mesh
                                (animate/gaze.h gaze_measure_turn) where has_turn */
    uint8_t *has_turn;
} motion_track;

vv_status motion_track_alloc(motion_track *track, int frame_count);
void motion_track_free(motion_track *track);

/* Built-in procedural motions: "talk", "blink", "nod", "smile", "surprise". */
bool motion_builtin_exists(const char *name);
const char *motion_builtin_names(void); /* "talk|blink|nod|smile|surprise" */
/* Deterministic: the same name, duration and fps give the same track.  Frame 0 is the
 * neutral face (the reference). */
vv_status motion_builtin(motion_track *out, const char *name, double duration, double fps);
/* A built-in motion for speech: `frames` frames whose mouth opens by `mouth` (0..1 per
 * frame, e.g. video/audio_envelope's openness), as wide as `width` (-1 rounded .. 0
 * rest .. +1 spread per frame, the phoneme lip-sync's; NULL: rest), with the lower lip
 * tucked under the upper teeth by `tuck` (0..1 per frame: f/v; NULL: none).  "talk" reacts to the voice: its head motion
 * is scaled down where the mouth has been still for a while (0.3 of it in a long pause), and
 * each strong onset (onset >= 0.45; NULL: none) brings a small nod with raised brows.  The
 * other motions keep theirs, with this mouth.  Speech may open the mouth at frame 0, so
 * the reference is motion_builtin_neutral's, not frame 0. */
vv_status motion_builtin_speech(motion_track *out, const char *name, const float *mouth, const float *width,
                                const float *tuck, const float *onset, int frames, double fps);
/* The built-in motions' neutral, frontal face (their virtual 512x512 frame). */
void motion_builtin_neutral(float out[68][2]);
/* A track's mouth (lips and lower jaw) replaced by `mouth` (0..1 per frame, frame_count
 * values), `width` (-1..1 per frame, or NULL) and `tuck` (0..1 per frame, or NULL): each
 * frame's head pose kept, the reference frame's own mouth under an opening, width and tuck
 * of the built-in motions' shape.  Frames without a face are left alone. */
void motion_track_set_mouth(motion_track *track, int reference, const float *mouth, const float *width, const float *tuck);

/* The inner-lip gap (the mean of 61-67, 62-66, 63-65) over the mouth's width (48-54). */
float motion_mouth_gap(const float points[68][2]);
/* A portrait whose mouth is open at rest (gap over MOTION_REST_GAP_OPEN) under speech: the
 * reference (a built-in's neutral face or a template's first, whose mouth is the closed
 * viseme) with its lips parted as far as the portrait's, in `out`, so a closure or a pause in
 * the driver closes the portrait's mouth (to a gap of MOTION_CLOSED_GAP) and an opening opens
 * it further than at rest only past that.  False (out = reference) for a mouth closed at rest. */
#define MOTION_REST_GAP_OPEN 0.05f
#define MOTION_CLOSED_GAP 0.01f
bool motion_speech_reference(const float reference[68][2], const float source[68][2], float out[68][2]);

/* Templates: {"format": "vivify-motion", "version": 1, "fps", "width", "height",
 * "audio": path|null, "frames": [[[x, y] x 68] | null, ...]}.  Saved atomically; loading
 * treats the file as hostile (sizes capped, every value checked).  The audio path is saved
 * relative to the template's folder (so a template moved with its video keeps its audio);
 * loading resolves a relative one against that folder into track->audio, and takes an
 * absolute one as it is.  Whether the file is there is the caller's to check. */
vv_status motion_save(const motion_track *track, const char *path);
vv_status motion_load(motion_track *track, const char *path);

/* Index of the first frame with a face, or -1. */
int motion_first_found(const motion_track *track);
/* Frames without a face: before the first face, the reference frame; after one, the last
 * face held briefly, then easing back to the reference (neutral).  VV_ERR_NO_FACE if no
 * frame has a face. */
vv_status motion_fill_gaps(motion_track *track, int reference);
/* motion_fill_gaps' rule for one frame without a face, `frames_since` frames after the
 * last one with a face (`last`): held for 0.2 s, then easing back to `neutral`.  Causal,
 * so a streaming caller gets the same points as motion_fill_gaps on the whole track. */
void motion_gap_points(const float last[68][2], int frames_since, double fps, const float neutral[68][2],
                       float out[68][2]);
/* The frame (with a face) whose similarity-normalised landmarks are closest to source's. */
int motion_reference_best(const motion_track *track, const float source[68][2]);

typedef struct motion_params {
    bool absolute;           /* the driver's landmarks directly, aligned to the source */
    float expression_scale;  /* 1: as the driver; 0: no expression change */
    float pose_scale;        /* 1: as the driver; 0: the head stays still */
    bool mouth_from_closed;  /* the reference is a tracked face (a video's frame), its lips' gap
                                counted from closed (motion.c mouth_from_closed); false (the
                                default): a built-in's or a still's neutral face, whose lips (the
                                mean face's, 0.13 of the mouth's width apart) are its closed */
} motion_params;

motion_params motion_default_params(void);

typedef struct motion_retarget {
    motion_params params;
    float source[68][2], reference[68][2];
    float source_pose_rotation[3][3];
    float source_scale, source_tx, source_ty, source_roll;
    float reference_pose_rotation[3][3];
    float reference_scale, reference_tx, reference_ty, reference_roll;
    float reference_expression[68][2];   /* normalised residual of the reference */
    float align[4];                      /* absolute mode: reference -> source similarity */
    float mouth_ahead;                   /* source pixels: how much further apart the source's lips
                                            are than the reference's, less a margin (motion.c mouth_hold) */
    float mouth_closed;                  /* source pixels: the inner lips' gap when closed */
    float mouth_behind;                  /* source pixels: how much further apart the reference's lips
                                            are than the source's, less the same margin */
    float reference_gap;                 /* source pixels: the reference's inner lips' gap */
} motion_retarget;

void motion_retarget_init(motion_retarget *r, const float source[68][2], const float reference[68][2],
                          const motion_params *params);
/* Target landmarks for the source (source pixels) from a driver frame. */
void motion_retarget_frame(const motion_retarget *r, const float driver[68][2], float out[68][2]);

/* The same retargeting split for a 3D renderer: the head's rigid motion, which maps a
 * point X of the source (image x, y and a depth z towards the camera, pixels) to
 *     origin + translation + scale * rotation * (X - origin)   (origin at depth `pivot`),
 * and the expression as a displacement of each of the 68 points in source pixels at the
 * source's own pose (apply it before the rigid motion); target (optional): what
 * motion_retarget_frame gives for the same frame, from the same pose estimate.  Relative
 * mode only (absolute mode has no reference pose to move from; the animator renders it with
 * the 2D warp). */
typedef struct motion_rigid {
    float rotation[3][3];   /* camera frame: the driver's rotation since the reference */
    float scale;            /* face size ratio since the reference */
    float translation[2];   /* source pixels */
    float origin[2];        /* the source head's pivot in the image (its pose origin) */
} motion_rigid;
/* turn (optional): the driver's head rotation since the reference measured otherwise (the
 * face mesh's: animate/gaze.h gaze_measure_turn), in place of the 68 points' (whose pitch an
 * open mouth or raised brows move, and whose turns fall short); the translation, the scale
 * and the expression stay the 68 points' pose's.  NULL: the 68 points' pose alone. */
void motion_retarget_decompose(const motion_retarget *r, const float driver[68][2], const float (*turn)[3],
                               motion_rigid *rigid, float displacement[68][2], float target[68][2]);

/* Similarity-normalised distance between two landmark sets (0 = the same shape up to
 * position, scale and rotation; scale: the first set's size).  Picks the source nearest
 * a driver frame (animate with several sources, eval's K shots). */
double motion_shape_distance(const float a[68][2], const float b[68][2]);

/* Eye openness (the eye aspect ratio) of the eye whose six dlib points start at `first` (36:
 * the subject's right, 42: the left): the lids' two distances over twice the eye's width;
 * NAN for a degenerate eye (corners together).  Retargets blinks (animate) and measures
 * them (eval's motion following). */
float motion_eye_aspect(const float points[68][2], int first);

/* Each eye's openness relative to the reference frame's, retargeted for the 3D head's lids
 * (head3d_frame.eye_openness; subject's right, left): as the ratio of eye aspects down to a
 * knee, then falling to shut (0) well before dlib's points meet, since they never do in a
 * blink.  1 where the reference's eye is (nearly) shut or the driver's degenerate. */
void motion_eye_openness(const float driver[68][2], const float reference[68][2], float out[2]);
/* The same, with EYE_SHUT_RATIO and the knee scaled by typical[e] over the reference's eye
 * aspect (at most 1, at least 0.6): typical, the driver's usual eye aspect per eye (e.g.
 * the median so far), so that a reference frame wider-eyed than the driver usually is does
 * not make every look down read as shut.  typical NULL or <= 0: motion_eye_openness. */
/* An eye's lid gaps, pixels, at 1/3 and 2/3 of the way from its outer corner to its inner
 * one (where dlib's lid pairs 37-41 / 38-40, 44-46 / 43-47 sit), from a lid contour of
 * MOTION_LID_CONTOUR points: the lower lid outer to inner corner (0..8), then the upper lid
 * between them, outer to inner (9..15), as the Iris model gives it (face_mesh_eyes).  0 where
 * the lids cross; NAN for a degenerate contour. */
#define MOTION_LID_CONTOUR 16
void motion_lid_gaps(const float contour[MOTION_LID_CONTOUR][2], float gaps[2]);

/* from_typical (NULL: none): per eye, the share (0..1) of a squinting reference's eye (one
 * narrower than typical[e]) replaced by the typical eye as the measure of open: a driver whose
 * first frame squints (laughing, grimacing) read every ordinary eye as wide open on a
 * portrait that does not squint (animator.c: the share from the portrait's own eye). */
void motion_eye_openness_typical(const float driver[68][2], const float reference[68][2], const float typical[2],
                                 const float from_typical[2], float out[2]);

#endif
