/* face/tracker: landmarks over a video.
 *
 * Frame 0 (and whenever the face is lost) runs the detector; later frames re-run the
 * shape predictor in a box derived from the previous frame's landmarks, which is both
 * faster than detecting and steadier than the detector's own box.  The track is checked
 * every frame for shape sanity (pose-fit residual, box size and position jumps) and every
 * redetect_every frames against the detector (a detection must overlap the track; two
 * misses in a row lose it).  The output is smoothed by One Euro filters per coordinate.
 *
 * Without a face, a full detection costs several model passes (the detector adds tile
 * passes whenever the whole-image pass finds nothing: 7 on a 500x756 frame, 35 at 1080p),
 * ~7x the tracked frame's cost or more, so a face-less stretch ran at a few frames/s.
 * Once a full search has failed, the tracker searches with one whole-image pass on a
 * downscaled copy, every frame at first and then every 2nd and 4th frame (a returning face
 * is at most 3 frames late), and repeats the full search with tiles (small faces) only
 * after 25, 50, 100 and then every 100 face-less frames. */
#include "face/tracker.h"
#include "face/landmark_box.h"
#include "face/pose.h"
#include "img/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- One Euro filter */

/* Casiez, Roussel and Vogel, "1 Euro Filter", CHI 2012: a first-order low-pass whose
 * cutoff rises with the (low-passed) speed, so slow motion is smoothed hard and fast
 * motion follows with little lag. */
void one_euro_init(one_euro *f, float min_cutoff, float beta) {
    memset(f, 0, sizeof *f);
    f->min_cutoff = min_cutoff;
    f->beta = beta;
    f->d_cutoff = 1.0f;
}

static float one_euro_alpha(float cutoff, float dt) {
    float tau = 1.0f / (2.0f * (float)M_PI * cutoff);
    return 1.0f / (1.0f + tau / dt);
}

float one_euro_filter(one_euro *f, float x, float dt) {
    if (!f->initialised || !(dt > 0)) {
        /* No time step (first sample, or a repeated / bad timestamp): pass through. */
        if (!f->initialised) f->dx_prev = 0;
        f->x_prev = x;
        f->raw_prev = x;
        f->initialised = true;
        return x;
    }
    /* Speed of the raw signal (as the authors' reference code does), so a steady ramp
     * gets exactly cutoff = min_cutoff + beta * speed. */
    float dx = (x - f->raw_prev) / dt;
    f->raw_prev = x;
    float a_d = one_euro_alpha(f->d_cutoff, dt);
    float edx = f->dx_prev + a_d * (dx - f->dx_prev);
    float cutoff = f->min_cutoff + f->beta * fabsf(edx);
    float a = one_euro_alpha(cutoff, dt);
    float out = f->x_prev + a * (x - f->x_prev);
    f->x_prev = out;
    f->dx_prev = edx;
    return out;
}

/* ---------------------------------------------------------------- tracker */

/* A track whose landmarks fit the rigid mean face worse than this (RMS, in eye-corner
 * distances) is not a face any more; dlib on real frames: mean 0.04, 99% under ~0.1. */
#define MAX_POSE_RESIDUAL 0.2f
/* Per-frame box changes beyond these are not head motion but a jump to something else. */
#define MAX_SIZE_RATIO 1.35f
#define MAX_CENTRE_SHIFT 0.5f   /* in box sizes */
/* Gray-level standard deviation over the box below which there is no face to track. */
#define MIN_BOX_CONTRAST 2.0f
/* Detection must overlap the tracked box this much (intersection over union). */
#define MIN_CHECK_IOU 0.3f
/* With motion checks (redetect_motion), one frame moving this far (face sizes: centre shift
 * plus size change) is checked at once: after a quick move (lp_d12 throwing his head back
 * laughing, motion-blurred) the predictor can settle on a wrong fixed point, points scattered
 * a little wider than the face, which the next frames keep. */
#define QUICK_MOVE 0.14f
#define DETECT_MAX 8
/* The prediction box is re-derived from the landmarks only when a side moves by more than
 * this fraction of the box size (the predictor absorbs smaller offsets). */
#define BOX_HYSTERESIS 0.02f

/* One Euro settings at smoothing 1, for coordinates in units of the face box size (so
 * behaviour does not depend on resolution): 1.5 Hz cutoff at rest, raised by 20 Hz per
 * box size per second of speed (a mouth opening at ~0.5 box/s passes with ~10 Hz).
 * Chosen on lp_d0.mp4 against dlib's per-frame landmarks: frame-to-frame motion roughly
 * halves (1.16 -> ~0.5 px) while the mean error vs dlib rises only from 0.0078 to ~0.009
 * eye distances; 0.25 Hz / 2.5 smoothed more but lagged speech (error 0.018). */
#ifndef SMOOTH_MIN_CUTOFF
#define SMOOTH_MIN_CUTOFF 1.5f
#define SMOOTH_BETA 20.0f
#endif

struct face_tracker {
    face_detector *detector;
    const shape_predictor *predictor;
    tracker_params params;
    bool tracking;
    float points[68][2];     /* the last raw (unsmoothed) landmarks */
    float box[4];            /* the box those landmarks give */
    float score;             /* detector score at the last confirming detection */
    long frames_since_check;
    float motion_since_check; /* face sizes moved since the last check (redetect_motion) */
    float last_box[4];        /* the last frame's landmarks' own box (no hysteresis) */
    int check_misses;
    double last_time;
    bool have_time;
    face_search_schedule search;  /* while no face is tracked */
    tracker_counts counts;
    one_euro filters[68][2];
    const vv_image *frame;   /* this update's RGB frame: the predictor reads dlib's gray from
                                it at its feature pixels (no whole-frame gray copy) */
};

tracker_params tracker_default_params(void) {
    tracker_params p;
    p.smoothing = 1.0f;
    p.min_score = 0.6f;
    p.redetect_every = 10;
    p.redetect_motion = 0;
    return p;
}

vv_status face_tracker_new(face_tracker **out, face_detector *detector,
                           const shape_predictor *predictor, const tracker_params *params) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_tracker_new: NULL output");
    *out = NULL;
    if (!detector || !predictor)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_tracker_new: NULL detector or predictor");
    if (shape_predictor_landmark_count(predictor) != 68)
        return vv_fail(VV_ERR_MODEL, "face_tracker_new: the shape predictor has %d landmarks, need 68",
                       shape_predictor_landmark_count(predictor));
    tracker_params p = params ? *params : tracker_default_params();
    if (!(p.smoothing >= 0) || p.smoothing > 100 || p.redetect_every < 0 || !(p.min_score >= 0) ||
        p.min_score > 1 || !(p.redetect_motion >= 0))
        return vv_fail(VV_ERR_INVALID_ARGUMENT,
                       "face_tracker_new: smoothing %g (0..100), min_score %g (0..1), redetect_every %d "
                       "(>= 0) out of range", p.smoothing, p.min_score, p.redetect_every);
    face_tracker *t = mem_calloc(1, sizeof *t);
    if (!t) return vv_fail(VV_ERR_NO_MEMORY, "face_tracker_new: out of memory");
    t->detector = detector;
    t->predictor = predictor;
    t->params = p;
    face_search_reset(&t->search);
    *out = t;
    return VV_OK;
}

void face_tracker_free(face_tracker *tracker) {
    if (!tracker) return;
    free(tracker);
}

static float box_iou(const float a[4], const float b[4]) {
    float ix = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), iy = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / (area_a + area_b - inter);
}

static void reset_filters(face_tracker *t) {
    float size = t->box[2] - t->box[0];
    if (!(size > 1)) size = 1;
    /* Scale to box units: cutoffs are per second, beta multiplies a speed in px/s. */
    float strength = t->params.smoothing > 0 ? t->params.smoothing : 1;
    float min_cutoff = SMOOTH_MIN_CUTOFF / strength, beta = SMOOTH_BETA / (strength * size);
    for (int i = 0; i < 68; i++)
        for (int k = 0; k < 2; k++) one_euro_init(&t->filters[i][k], min_cutoff, beta);
}

/* True when box b is within BOX_HYSTERESIS (of a's size) of box a on every side. */
static bool box_close(const float a[4], const float b[4]) {
    float size = a[2] - a[0];
    for (int k = 0; k < 4; k++)
        if (!(fabsf(a[k] - b[k]) <= BOX_HYSTERESIS * size)) return false;
    return true;
}

/* Predicts in the detector's box, then re-predicts in the box the landmarks imply until
 * that box settles (within the hysteresis), so tracking starts from its own fixed point
 * and the frames after a detection do not jump. */
static void predict_from_detection(face_tracker *t, const float box[4]) {
    memcpy(t->box, box, sizeof t->box);
    for (int iteration = 0; iteration < 4; iteration++) {
        float implied[4];
        shape_predict(t->predictor, t->frame, t->box, t->points);
        landmarks_box(t->points, implied);
        if (iteration > 0 && box_close(t->box, implied)) break;
        memcpy(t->box, implied, sizeof implied);
    }
    memcpy(t->last_box, t->box, sizeof t->box);
}

/* Detects; fills *count boxes (largest first). */
static vv_status run_detector(face_tracker *t, const vv_image *frame, face_box *boxes, int *count) {
    face_detector_set_threshold(t->detector, t->params.min_score);
    t->counts.full_searches++;
    return face_detect(t->detector, frame, boxes, DETECT_MAX, count);
}

/* The cheap search while no face is tracked (detector.h). */
static vv_status run_quick_detector(face_tracker *t, const vv_image *frame, face_box *boxes,
                                    int *count) {
    face_detector_set_threshold(t->detector, t->params.min_score);
    t->counts.quick_searches++;
    return face_detect_downscaled(t->detector, frame, boxes, DETECT_MAX, count);
}

/* Standard deviation of dlib's gray (the truncated mean of R, G, B) on a 12 x 12 grid
 * over the box: a face has texture; a fade to black or a covered lens does not (the
 * predictor still returns a face-shaped answer there, so the shape tests alone cannot
 * tell). */
static float box_contrast(const vv_image *rgb, const float box[4]) {
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int j = 0; j < 12; j++)
        for (int i = 0; i < 12; i++) {
            int x = (int)(box[0] + (box[2] - box[0]) * (i + 0.5f) / 12);
            int y = (int)(box[1] + (box[3] - box[1]) * (j + 0.5f) / 12);
            if (x < 0 || y < 0 || x >= rgb->width || y >= rgb->height) continue;
            const uint8_t *p = rgb->data + ((size_t)y * rgb->width + x) * 3;
            double v = (double)(((unsigned)p[0] + p[1] + p[2]) / 3);
            sum += v;
            sum2 += v * v;
            n++;
        }
    if (n < 16) return 0;
    double mean = sum / n, var = sum2 / n - mean * mean;
    return (float)sqrt(var > 0 ? var : 0);
}

/* The new landmarks (implying box) still look like the face tracked in previous. */
static bool track_is_sane(const face_tracker *t, const float box[4], const float previous[4],
                          const vv_image *frame) {
    if (box_contrast(frame, box) < MIN_BOX_CONTRAST) return false;
    head_pose pose = head_pose_estimate(t->points);
    if (!(head_pose_residual(&pose, t->points) <= MAX_POSE_RESIDUAL)) return false;
    float size = box[2] - box[0], previous_size = previous[2] - previous[0];
    if (!(size > 8) || size > MAX_SIZE_RATIO * previous_size || size * MAX_SIZE_RATIO < previous_size)
        return false;
    float dx = (box[0] + box[2] - previous[0] - previous[2]) / 2;
    float dy = (box[1] + box[3] - previous[1] - previous[3]) / 2;
    if (sqrtf(dx * dx + dy * dy) > MAX_CENTRE_SHIFT * previous_size) return false;
    /* The face centre must stay inside the frame. */
    float cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
    return cx >= 0 && cy >= 0 && cx < frame->width && cy < frame->height;
}

vv_status face_tracker_update(face_tracker *tracker, const vv_image *frame, double time,
                              bool *found, float box[4], float score[1], float points[68][2]) {
    if (found) *found = false;
    if (!tracker || !frame || !found || !box || !score || !points)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_tracker_update: NULL argument");
    if (!frame->data || frame->width <= 0 || frame->height <= 0 || frame->channels != 3)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "face_tracker_update: need an RGB frame, got %dx%dx%d",
                       frame->width, frame->height, frame->channels);
    face_tracker *t = tracker;
    t->frame = frame;
    vv_status status = VV_OK;

    face_box boxes[DETECT_MAX];
    int count = 0;
    bool detected_now = false, reset = false;

    if (t->tracking) {
        float previous_box[4];
        memcpy(previous_box, t->box, sizeof previous_box);
        float used[4], new_box[4];
        memcpy(used, previous_box, sizeof used);
        shape_predict(t->predictor, frame, used, t->points);
        landmarks_box(t->points, new_box);
        /* A face that moved beyond the hysteresis: predicted again in the box its points
         * imply, until that settles (at most twice more), as predict_from_detection starts; so
         * a quick move is followed at once and the same frame again gives the same points. */
        for (int again = 0; again < 2 && !box_close(used, new_box); again++) {
            memcpy(used, new_box, sizeof used);
            shape_predict(t->predictor, frame, used, t->points);
            landmarks_box(t->points, new_box);
        }
        /* Keep the box while the face stays within BOX_HYSTERESIS of it: the cascade's
         * output shifts a little with every sub-pixel box change, so re-deriving the box
         * each frame makes a still face wander; a fixed box makes it exactly still. */
        memcpy(t->box, box_close(used, new_box) ? used : new_box, sizeof t->box);
        if (t->params.redetect_motion > 0) { /* the landmarks' own box, frame to frame */
            const float *last = t->last_box;
            float size = last[2] - last[0];
            float dx = (new_box[0] + new_box[2] - last[0] - last[2]) / 2;
            float dy = (new_box[1] + new_box[3] - last[1] - last[3]) / 2;
            float step = size > 0 ? (sqrtf(dx * dx + dy * dy) + fabsf(new_box[2] - new_box[0] - size)) / size : 0;
            t->motion_since_check += step >= QUICK_MOVE ? t->params.redetect_motion : step;
        }
        memcpy(t->last_box, new_box, sizeof new_box);
        if (!track_is_sane(t, new_box, previous_box, frame)) {
            t->tracking = false;
        } else if (t->check_misses > 0 ||
                   (t->params.redetect_every > 0 && ++t->frames_since_check >= t->params.redetect_every) ||
                   (t->params.redetect_motion > 0 && t->motion_since_check >= t->params.redetect_motion)) {
            t->frames_since_check = 0;
            t->motion_since_check = 0;
            status = run_detector(t, frame, boxes, &count);
            if (status != VV_OK) return status;
            detected_now = true;
            int match = -1;
            float best = MIN_CHECK_IOU;
            for (int i = 0; i < count; i++) {
                float b[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
                float iou = box_iou(b, t->box);
                if (iou >= best) { best = iou; match = i; }
            }
            if (match >= 0) {
                t->check_misses = 0;
                t->score = boxes[match].score;
                /* Same face: the track re-starts from the detection's box unless that settles
                 * where the track is (within the hysteresis: no jump for a right track).  Both
                 * are fixed points of predicting in the box the points imply, but one run from
                 * the detector's box is where the predictor is at its best; a track that drifted
                 * (grown, shifted, points scattered over a box wider than the face) can still
                 * overlap the detection well.  All 50 training clips tracked as animate tracks,
                 * against dlib's per-frame points: lp_d12 0.030 -> 0.017 eye distances (its
                 * worst frame 0.64 -> 0.09), all clips 0.0125 -> 0.0122, jitter on still
                 * frames unchanged. */
                float b[4] = {boxes[match].x0, boxes[match].y0, boxes[match].x1, boxes[match].y1};
                float kept[68][2], box_now[4], last_now[4];
                memcpy(kept, t->points, sizeof kept);
                memcpy(box_now, t->box, sizeof box_now);
                memcpy(last_now, t->last_box, sizeof last_now);
                predict_from_detection(t, b);
                if (box_close(box_now, t->box)) { /* the track stays */
                    memcpy(t->points, kept, sizeof kept);
                    memcpy(t->box, box_now, sizeof box_now);
                    memcpy(t->last_box, last_now, sizeof last_now);
                }
            } else if (count > 0 || ++t->check_misses >= 2) {
                /* Another face and not ours, or the detector missed twice: start over
                 * from this frame's detections. */
                t->tracking = false;
                t->check_misses = 0;
            }
        }
    }
    if (!t->tracking) {
        if (detected_now) {
            face_search_reset(&t->search);  /* this frame's check was the full search */
        } else {
            face_search_kind search = face_search_next(&t->search);
            if (search == FACE_SEARCH_FULL) status = run_detector(t, frame, boxes, &count);
            else if (search == FACE_SEARCH_QUICK) status = run_quick_detector(t, frame, boxes, &count);
            if (status != VV_OK) return status;
        }
        if (count == 0) {
            face_search_missed(&t->search);
            t->have_time = false;
            return VV_OK;
        }
        face_search_reset(&t->search);
        float b[4] = {boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1};
        predict_from_detection(t, b);
        t->score = boxes[0].score;
        t->tracking = true;
        t->frames_since_check = 0;
        t->motion_since_check = 0;
        t->check_misses = 0;
        reset = true;
    }

    if (reset) reset_filters(t);
    double dt = t->have_time ? time - t->last_time : 0;
    if (!(dt > 0 && dt < 10)) dt = t->have_time ? 1.0 / 25 : 0;
    t->last_time = time;
    t->have_time = true;
    for (int i = 0; i < 68; i++)
        for (int k = 0; k < 2; k++)
            points[i][k] = t->params.smoothing > 0
                               ? one_euro_filter(&t->filters[i][k], t->points[i][k], (float)dt)
                               : t->points[i][k];
    landmarks_box(points, box);
    score[0] = t->score;
    *found = true;
    return VV_OK;
}

tracker_counts face_tracker_counts(const face_tracker *tracker) {
    tracker_counts none = {0, 0};
    return tracker ? tracker->counts : none;
}
