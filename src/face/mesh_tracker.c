/* face/mesh_tracker: detection when needed, the mesh's own ROI otherwise (MediaPipe's
 * face_landmark_front: the ROI for frame t + 1 is face_mesh_roi_from_mesh of frame t,
 * and the detector runs again only once the face score drops below min_presence). */
#include "face/mesh_tracker.h"

#include <stdlib.h>
#include <string.h>

#define DETECT_MAX 8

struct mesh_tracker {
    const face_mesh *mesh;
    face_detector *detector;
    mesh_tracker_params params;
    bool tracking;
    face_mesh_roi roi;       /* for the next frame, from this frame's mesh */
    face_search_schedule search;  /* while no face is tracked */
    mesh_tracker_counts counts;
};

mesh_tracker_params mesh_tracker_default_params(void) {
    mesh_tracker_params p;
    p.min_presence = FACE_MESH_MIN_PRESENCE;
    p.min_detection = 0.6f;
    p.iris = true;
    return p;
}

vv_status mesh_tracker_new(mesh_tracker **out, const face_mesh *mesh, face_detector *detector,
                           const mesh_tracker_params *params) {
    if (!out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "mesh_tracker_new: out is NULL");
    *out = NULL;
    if (!mesh || !detector) return vv_fail(VV_ERR_INVALID_ARGUMENT, "mesh_tracker_new: NULL mesh or detector");
    mesh_tracker_params p = params ? *params : mesh_tracker_default_params();
    if (!(p.min_presence >= 0 && p.min_presence <= 1) || !(p.min_detection > 0 && p.min_detection <= 1))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "mesh tracker: thresholds %g, %g must lie in [0, 1]",
                       p.min_presence, p.min_detection);
    mesh_tracker *t = calloc(1, sizeof *t);
    if (!t) return vv_fail(VV_ERR_NO_MEMORY, "out of memory for the mesh tracker");
    t->mesh = mesh;
    t->detector = detector;
    t->params = p;
    face_search_reset(&t->search);
    *out = t;
    return VV_OK;
}

void mesh_tracker_free(mesh_tracker *tracker) {
    if (!tracker) return;
    free(tracker);
}

void mesh_tracker_reset(mesh_tracker *tracker) {
    if (!tracker) return;
    tracker->tracking = false;
    face_search_reset(&tracker->search);
}

mesh_tracker_counts mesh_tracker_get_counts(const mesh_tracker *tracker) {
    mesh_tracker_counts none = {0, 0, 0};
    return tracker ? tracker->counts : none;
}

/* Meshes roi (the irises too with `iris`); on a face, the track continues from it. */
static vv_status mesh_at(mesh_tracker *t, const vv_image *frame, const face_mesh_roi *roi, bool iris,
                         face_mesh_result *result, bool *found) {
    t->counts.mesh_runs++;
    vv_status s = face_mesh_run(t->mesh, frame, roi, iris, result);
    /* A ROI that has drifted off the image is a lost track, not an error. */
    if (s == VV_ERR_INVALID_ARGUMENT) {
        memset(result, 0, sizeof *result);
        s = VV_OK;
    }
    *found = s == VV_OK && result->score >= t->params.min_presence;
    if (*found) face_mesh_roi_from_mesh((const float(*)[3])result->points, &t->roi);
    return s;
}

vv_status mesh_tracker_update(mesh_tracker *tracker, const vv_image *frame, bool *found,
                              face_mesh_result *result) {
    if (found) *found = false;
    if (!tracker || !frame || !found || !result)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "mesh_tracker_update: NULL argument");
    if (!frame->data || frame->width < 1 || frame->height < 1 || (frame->channels != 1 && frame->channels != 3))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "mesh_tracker_update: invalid %dx%dx%d frame",
                       frame->width, frame->height, frame->channels);
    mesh_tracker *t = tracker;
    memset(result, 0, sizeof *result);
    float best_score = 0;
    if (t->tracking) {
        face_mesh_roi roi = t->roi;
        vv_status s = mesh_at(t, frame, &roi, t->params.iris, result, found);
        if (s != VV_OK) return s;
        if (*found) return VV_OK;
        best_score = result->score;
        t->tracking = false;
        face_search_reset(&t->search); /* lost just now: a full search at once */
    }

    face_search_kind search = face_search_next(&t->search);
    face_box boxes[DETECT_MAX];
    int count = 0;
    vv_status s = VV_OK;
    face_detector_set_threshold(t->detector, t->params.min_detection);
    if (search == FACE_SEARCH_FULL) {
        t->counts.full_searches++;
        s = face_detect(t->detector, frame, boxes, DETECT_MAX, &count);
    } else if (search == FACE_SEARCH_QUICK) {
        t->counts.quick_searches++;
        s = face_detect_downscaled(t->detector, frame, boxes, DETECT_MAX, &count);
    }
    if (s != VV_OK) return s;
    /* The largest face first; try the others if its mesh says it is no face. */
    for (int i = 0; i < count; i++) {
        face_mesh_roi roi;
        face_mesh_roi_from_detection(&boxes[i], &roi);
        /* The detection's ROI only places the mesh's own: no irises yet (they would be
         * measured again, in the pass that is kept). */
        s = mesh_at(t, frame, &roi, false, result, found);
        if (s != VV_OK) return s;
        if (*found) {
            roi = t->roi;
            s = mesh_at(t, frame, &roi, t->params.iris, result, found);
            if (s != VV_OK) return s;
        }
        if (*found) {
            t->tracking = true;
            face_search_reset(&t->search);
            return VV_OK;
        }
        if (result->score > best_score) best_score = result->score;
    }
    face_search_missed(&t->search);
    memset(result, 0, sizeof *result);
    result->score = best_score;
    return VV_OK;
}
