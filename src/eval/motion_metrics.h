/* eval/motion_metrics: does an animated portrait follow its driver in time and in shape?
 * Lag, mouth following, blink depth, head-pose following and jitter, measured on two
 * sequences of 68 dlib-scheme landmarks: `a` the output's, `b` the driver's (or, in
 * self-reenactment, the real frames').  Every measure uses per-frame signals that exist
 * in self- and cross-reenactment alike (ratios, angles relative to each sequence's own
 * first frame), never raw positions, so a portrait's own face and pose do not count.
 *
 * Conventions: frame t of a is paired with frame t of b (both start at the same time;
 * the counts may differ by a few frames, only the common part is used); a frame counts
 * only when its validity flag is set and its points are finite.  A value that cannot be
 * measured (too few frames, the driver does not move that way, no blink) is NAN, as in
 * the eval protocol's columns (eval/protocol.h), never 0: a mean over clips skips it. */
#ifndef VV_EVAL_MOTION_METRICS_H
#define VV_EVAL_MOTION_METRICS_H

#include "base/base.h"

#define FOLLOW_MAX_FRAMES 200000 /* per sequence (as face/motion.h: over two hours at 25 fps) */
#define FOLLOW_MAX_SHIFT 50      /* largest lag searched, frames */
#define FOLLOW_MIN_PAIRS 8       /* fewest frame pairs a correlation or mean is taken over */
#define FOLLOW_LAG_DETREND 31    /* frames: about a second at 25-30 fps */
#define FOLLOW_BLINK_LIST 64     /* blinks listed one by one (follow_metrics.blink_list) */

/* The per-frame signals of follow_measure, in this order (follow_signal_name). */
typedef enum follow_signal {
    FOLLOW_MOUTH,     /* follow_signals' mouth_open */
    FOLLOW_EYE_LEFT,  /* eye aspect ratio of the subject's left eye (points 42-47) */
    FOLLOW_EYE_RIGHT, /* of the subject's right eye (36-41, on the image's left) */
    FOLLOW_YAW,       /* head_pose_estimate's angles, degrees, minus the sequence's first valid frame's */
    FOLLOW_PITCH,
    FOLLOW_ROLL,
    FOLLOW_BROW,      /* brow height: mean of points 17-26 above the mean of 36-47, perpendicular to
                         the eye line, / the outer-eye-corner distance |p36 - p45| */
    FOLLOW_SIGNAL_COUNT
} follow_signal;

const char *follow_signal_name(follow_signal signal); /* "mouth", "eye_left", ... */

typedef struct follow_metrics {
    /* Lag: the shift s in [-max_shift, max_shift] maximising C(s), the weighted mean over
     * the signals of the Pearson correlation of a(t) with b(t - s) over the frame pairs
     * valid in both (positive s: the output is late).  Each signal first has its local
     * trend removed (the least-squares line over a centred window of FOLLOW_LAG_DETREND
     * frames): a slow drift (a head that tilts through a whole clip) would otherwise tilt
     * C(s) towards one end of the range; motion at speech and blink rates is kept.  A
     * signal's weight (computed after the detrending) is the fraction
     * of b's variance that is motion rather than frame-to-frame noise,
     * max(0, 1 - noise / variance), noise = (1.4826 MAD of b's second differences)^2 / 6
     * (white noise: variance of the second difference = 6 sigma^2; the median ignores
     * blinks and lip closures); signals whose weight is under 0.5 (they do not move) are
     * left out.  Raw variances cannot weight signals in different units (degrees and
     * ratios). */
    int lag_frames;
    float lag_subframe;      /* the peak of the parabola through C(s - 1), C(s), C(s + 1);
                                lag_frames when the peak is at the end of the range */
    float lag_confidence;    /* C(lag_frames): 1 for a perfect copy, ~0 when nothing follows.
                                Self-reenactment with the warp engine: 0.7-0.92; under ~0.5
                                (seen in cross-reenactment of a painting) the lag is a guess */
    float lag_margin;        /* C(lag_frames) - the highest C outside the peak's lobe (the
                                shifts over which C falls steadily away from the peak), or,
                                when that lobe spans the range, the higher of C at its ends:
                                how distinct the peak is (small: periodic motion, or none) */
    int signals_used;        /* signals that entered C(s); 0: the lag was not measured
                                (lag_frames 0, the other lag values NAN) */
    float signal_weight[FOLLOW_SIGNAL_COUNT]; /* each signal's weight (0: left out) */
    int frames;              /* frame pairs valid in both at shift 0 */
    /* Mouth-opening correlation at shift 0 (0 when a's mouth never moves; NAN when b's
     * does not: the weight rule above, on the signal as it is, gives 0). */
    float mouth_correlation;
    /* Blinks of the driver: b's eye openness e(t) (mean EAR of both eyes); open level
     * O = the median of the top half of its values; each run of frames with e < 0.6 O
     * (gaps of up to FOLLOW_BLINK_WINDOW frames over it or without a face bridged) is one
     * blink, at the run's minimum frame t_b.  For each, a's minimum eye openness over
     * frames t_b + lag_frames +- FOLLOW_BLINK_WINDOW (the lag removed so that a late blink
     * is not scored as a shallow one; blinks with no valid a frame there are skipped). */
    int blinks;                  /* blinks measured */
    float blink_closure_driver;  /* mean of b's min openness / b's open level (0 = shut) */
    float blink_closure_output;  /* mean of a's min openness / a's own open level */
    float blink_gap;             /* mean of (a's min EAR - b's min EAR), EAR units */
    /* The same blinks read by the face mesh's lids (follow_measure_lids, follow_measure_blinks;
     * follow_measure sets NAN and 0): dlib's points land on the fold or lash line of a painted shut lid and read
     * it about twice as open as the mesh does.  At each of b's blinks (found as above, on b's
     * EAR): b's minimum lid openness (follow_lid_openness) over t_b +- FOLLOW_BLINK_WINDOW /
     * b's lid open level, and a's over t_b + lag_frames +- FOLLOW_BLINK_WINDOW / a's lid open
     * level (open levels as above, each sequence its own); blinks where either has no
     * reading are skipped. */
    int lid_blinks;
    float lid_closure_driver, lid_closure_output;
    /* Of `blinks`, those the mesh alone found (follow_measure_blinks; 0 otherwise): b's lid
     * openness under FOLLOW_BLINK_THRESHOLD of its lid open level where b's EAR stayed over
     * it (dlib reads a shut eye on a turned head as open), past the guards of
     * follow_measure_blinks.  blinks - blinks_mesh_only are the blinks found as before. */
    int blinks_mesh_only;
    /* Each blink follow_measure_blinks found (the first FOLLOW_BLINK_LIST), in the order
     * found (dlib's, then the mesh's own), with both readers' closures (NAN: that reader has
     * no reading there); blink_listed counts them. */
    struct follow_blink {
        int frame;        /* t_b, frame of b */
        bool mesh_only;   /* found by the mesh's lids alone */
        float closure_driver, closure_output;         /* dlib: EAR minimum / open level */
        float lid_closure_driver, lid_closure_output; /* the mesh's */
    } blink_list[FOLLOW_BLINK_LIST];
    int blink_listed;
    /* Head pose following at shift 0 over the frames valid in both: Pearson correlation of
     * each angle's change (from each sequence's first valid frame), and a's 5-95
     * percentile range / b's.  NAN when b's 5-95 percentile range of that angle is under
     * FOLLOW_MIN_POSE_RANGE degrees or the angle is mostly frame-to-frame noise (the weight
     * rule above, on the angle as it is, gives 0): the driver does not turn that way. */
    float yaw_correlation, pitch_correlation, roll_correlation;
    float yaw_range_ratio, pitch_range_ratio, roll_range_ratio;
    /* Jitter: frame t is still when b's points move less than FOLLOW_STILL_MOTION eye
     * distances (mean over the 68 points of |b(t + 2) - b(t - 2)| / b's median |p36 - p45|:
     * four frames apart, so noise counts once and motion four times).  On still frames
     * (t - 1 and t valid in both too) jitter = mean over frames and points of
     * |p(t) - p(t - 1)| / the sequence's own median eye distance; jitter_ratio = a's / b's
     * (1: a copy; > 1: the output shakes more than the driver).  NAN with fewer than
     * FOLLOW_MIN_PAIRS still frames. */
    float jitter_ratio;
    float jitter_driver, jitter_output; /* the two jitters, eye distances per frame */
    int still_frames;
} follow_metrics;

#define FOLLOW_BLINK_THRESHOLD 0.6f /* of the open level */
#define FOLLOW_BLINK_EXIT 0.8f      /* of the open level: a blink lasts until the eye opens past this, */
#define FOLLOW_BLINK_REOPEN 5       /* or stays over the threshold for more frames than this (a squint) */
#define FOLLOW_BLINK_WINDOW 2       /* frames either side */
#define FOLLOW_MIN_POSE_RANGE 1.0f  /* degrees */
#define FOLLOW_STILL_MOTION 0.02f   /* eye distances over four frames */

/* a: a_count frames of 68 points with a_valid flags (NULL: all valid); likewise b.
 * max_shift in [0, FOLLOW_MAX_SHIFT] (clamped to it).  Counts in [0, FOLLOW_MAX_FRAMES];
 * empty or all-invalid input is measured as nothing (NAN values, 0 counts), not an error. */
/* Optional per-frame head rotations for the pose signals (yaw, pitch, roll: the change
 * since the first frame that has one) in place of the 68 points' pose (face/pose.h):
 * rotation[t] where has[t] (and the frame is valid); a frame between two that have one
 * takes their mean angles, others none.  The face mesh's (animate/gaze.h
 * gaze_measure_turn), which drives the 3D head: dlib's points read a head turned past 40
 * degrees as anything (sty_style_nice_clip1 frames 36-64: +6 to -18 degrees of yaw where
 * the mesh reads -30 to -39) and an open mouth as a look up. */
typedef struct follow_turns {
    const float (*rotation)[3][3];
    const uint8_t *has;
} follow_turns;

vv_status follow_measure(const float (*a)[68][2], const uint8_t *a_valid, int a_count,
                         const float (*b)[68][2], const uint8_t *b_valid, int b_count,
                         int max_shift, const follow_turns *a_turns, const follow_turns *b_turns, follow_metrics *out);
/* The pose signals follow_measure takes from rotations: angles[0..2][t] = yaw, pitch, roll
 * (degrees) of frame t's change since the first frame that has one (valid NULL: all). */
void follow_turn_angles(const follow_turns *turns, const uint8_t *valid, int count, double *angles[3]);

/* The per-frame expression signals, exposed for plots and tests (NAN for degenerate
 * points): mouth_open = mean of |p61 - p67|, |p62 - p66|, |p63 - p65| (inner lips) / the
 * mouth width |p48 - p54|; eye openness = the eye aspect ratio (|p2 - p6| + |p3 - p5|) /
 * (2 |p1 - p4|) of each eye (Soukupova and Cech 2016: left 42-47, right 36-41). */
void follow_signals(const float points[68][2], float *mouth_open, float *eye_open_left, float *eye_open_right);
/* All FOLLOW_SIGNAL_COUNT signals of one frame (pose angles absolute, not relative). */
void follow_signals_all(const float points[68][2], float out[FOLLOW_SIGNAL_COUNT]);

/* The lid gap of one eye of a face mesh (face/facemesh.h, at least the first 468 points;
 * eye FACE_MESH_EYE_RIGHT or _LEFT): the mean distance between the upper and the lower lid
 * contour's 7 inner points (face_mesh_lid_upper / _lower, paired in order) over the eye's
 * width (its corners' distance); NAN when degenerate.  follow_lid_openness: the mean of
 * both eyes. */
float follow_lid_gap(const float mesh[][3], int eye);
float follow_lid_openness(const float mesh[][3]);
/* The same in 3D (x, y and the mesh's z, pixels on x's scale): turning the head narrows an
 * eye's width on the image but not in 3D, so a shut eye on a head turned 45 degrees reads
 * 1.4 times as open in 2D.  For finding blinks (follow_measure_blinks' b_find). */
float follow_lid_gap_3d(const float mesh[][3], int eye);
float follow_lid_openness_3d(const float mesh[][3]);

/* Fills m's lid_* fields (m from follow_measure on the same b; its lag_frames is used): b's
 * 68 points and validity (b_valid NULL: all valid) find the blinks, b_lids and a_lids are
 * per-frame lid openness (NAN: no reading) of b (b_count frames) and a (a_count).  The lid
 * open levels are taken over frames 0, open_step, 2 open_step, ... only (>= 1; 1: all): a
 * caller that reads the lids on such a grid and near the blinks passes its step, so that
 * the extra readings near the blinks do not lower the open levels.  Counts in
 * [0, FOLLOW_MAX_FRAMES]; empty input is measured as nothing. */
vv_status follow_measure_lids(const float (*b)[68][2], const uint8_t *b_valid, int b_count, const float *b_lids,
                              const float *a_lids, int a_count, int open_step, follow_metrics *m);
/* The driver's blinks by either reader, and every blink field of m (m from follow_measure
 * on the same a and b; its lag_frames is used).  A blink is
 *   - a run of b's EAR under FOLLOW_BLINK_THRESHOLD of its open level (follow_measure's), or
 *   - a stretch of a run of b's mesh lid openness b_find (NULL: b_lids) under
 *     FOLLOW_BLINK_THRESHOLD of its open level, the stretch's frames all over
 *     FOLLOW_BLINK_WINDOW frames from every EAR blink's run (so a long closure of which
 *     dlib saw only the start counts once for dlib and once for the rest), passing three
 *     guards against looks down, squints and one-frame glitches, which lower the mesh's
 *     lids too: at least FOLLOW_MESH_BLINK_FRAMES of its frames under the threshold; its
 *     minimum under FOLLOW_MESH_BLINK_DEPTH of the open level; and dlib sees the lids move,
 *     b's minimum EAR over the stretch +- FOLLOW_BLINK_WINDOW under FOLLOW_MESH_BLINK_EAR of
 *     the EAR's open level (dlib reads a shut eye on a head turned 45 degrees about 0.6-0.7
 *     of open: not a blink, but not still either).
 * Each blink, at its minimum frame t_b (of the EAR, or of b_find), is read by both readers
 * as follow_measure and follow_measure_lids read theirs: dlib's (blinks, blink_closure_*,
 * blink_gap: b's minimum EAR over t_b +- FOLLOW_BLINK_WINDOW, a's over
 * t_b + lag +- FOLLOW_BLINK_WINDOW) and the mesh's b_lids / a_lids (lid_blinks,
 * lid_closure_*); a blink without a reading of one reader is skipped for that reader.  Lid
 * open levels over every open_step-th frame, as follow_measure_lids.  a_lids, b_lids, b_find:
 * per frame, NAN where not read (the mesh finds blinks only where b's lids were read).  With
 * no mesh blink the values are follow_measure's and follow_measure_lids'.  Counts in
 * [0, FOLLOW_MAX_FRAMES]. */
vv_status follow_measure_blinks(const float (*a)[68][2], const uint8_t *a_valid, const float *a_lids, int a_count,
                                const float (*b)[68][2], const uint8_t *b_valid, const float *b_lids,
                                const float *b_find, int b_count, int open_step, follow_metrics *m);
/* Tuned on 12 clips not in data/holdout.txt (docs/QUALITY.md): with these, the 3D lids
 * (follow_lid_openness_3d) find no blink there that dlib does not; the nearest left out are a
 * squint while crying at 0.47 (sty_style_sadgirl_clip1 74) and half-shut lids at 0.55
 * (sty_src_Obama_clip1 168). */
#define FOLLOW_MESH_BLINK_DEPTH 0.45f /* of the lid open level */
#define FOLLOW_MESH_BLINK_EAR 0.85f   /* of the EAR open level */
#define FOLLOW_MESH_BLINK_FRAMES 2

/* The blinks follow_measure_blinks finds in b with b_find (dlib's first, then the mesh's
 * own; not sorted): writes up to capacity of their frames to frames (may be NULL) and returns
 * how many there are (0 on bad input or out of memory).  For reading the output's lids only
 * where they count. */
int follow_blink_frames_both(const float (*b)[68][2], const uint8_t *b_valid, const float *b_find, int count,
                             int open_step, int *frames, int capacity);
/* The blinks follow_measure finds in b (their minimum frames, ascending): writes up to
 * capacity of them to frames (may be NULL) and returns how many there are (0 on bad input
 * or out of memory).  For measuring the lids only where they count. */
int follow_blink_frames(const float (*b)[68][2], const uint8_t *b_valid, int count, int *frames, int capacity);

/* ---- Landmark sequences from files (hostile input: sizes capped, values checked) ---- */

typedef struct landmark_sequence {
    int count;              /* frames */
    float (*points)[68][2]; /* count; zeros where not valid */
    uint8_t *valid;         /* count; 1: a face was found */
    double fps;             /* 0 when unknown */
    int width, height;      /* 0 when unknown */
} landmark_sequence;

#define LANDMARK_JSON_MAX_BYTES (64u << 20)
#define LANDMARK_MAX_FACES 64 /* per frame */

/* `vivify landmarks VIDEO -o X.json` output: {"width", "height", "fps", "frames":
 * [{"faces": [{"landmarks": [[x, y] x 68], ...}]}]}; an image is one frame.  Each frame's
 * largest face (bounding box of its landmarks) is taken; a frame without faces is not
 * valid.  Statuses: VV_ERR_NOT_FOUND / VV_ERR_IO, VV_ERR_FORMAT (not JSON or no "frames"),
 * VV_ERR_CORRUPT (wrong types, not 68 finite points within +-1e6), VV_ERR_TOO_LARGE
 * (over LANDMARK_JSON_MAX_BYTES or FOLLOW_MAX_FRAMES frames). */
vv_status landmark_sequence_load(landmark_sequence *seq, const char *path);
/* ../shared/data/reference/CLIP.jsonl: one JSON object per line and frame, {"file", "width",
 * "height", "faces": [{"box", "score", "landmarks"}]}; blank lines are skipped; lines
 * over 1 MiB are corrupt.  Largest face per frame, as above. */
vv_status landmark_sequence_load_jsonl(landmark_sequence *seq, const char *path);
/* The same from memory (size bytes, need not be NUL-terminated); name is used in
 * messages. */
vv_status landmark_sequence_parse(landmark_sequence *seq, const char *data, size_t size, const char *name);
vv_status landmark_sequence_parse_jsonl(landmark_sequence *seq, const char *data, size_t size, const char *name);
void landmark_sequence_free(landmark_sequence *seq);

#endif
