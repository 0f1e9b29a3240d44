/* face/faces: the public vv_faces API: detector + 68-point predictor + head pose. */
#include "face/faces.h"
#include "face/facemesh.h"
#include "face/pose.h"
#include "face/shape_predictor.h"
#include "img/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vv_faces {
    face_detector *detector;
    shape_predictor *predictor;
    bool thorough;
};

vv_faces_params vv_faces_default_params(void) {
    vv_faces_params p = {0};
    /* Real faces in photos and paintings score >= 0.78 (dlib's 43 example faces, the 12
     * portraits); false positives (a dress fold, a dog) 0.6-0.67. */
    p.min_score = 0.75f;
    p.thorough = 1;
    return p;
}

vv_status vv_faces_new(vv_faces **out, const vv_faces_params *params) {
    *out = NULL;
    vv_faces_params defaults = vv_faces_default_params();
    if (!params) params = &defaults;
    vv_faces *faces = calloc(1, sizeof *faces);
    if (!faces) return vv_fail(VV_ERR_NO_MEMORY, "out of memory creating the face pipeline");
    char model_path[4096];
    const char *detector_path = NULL;
    if (params->models_dir) {
        snprintf(model_path, sizeof model_path, "%s/blazeface.json", params->models_dir);
        detector_path = model_path;
    }
    vv_status s = face_detector_load(&faces->detector, detector_path);
    if (s == VV_OK) s = shape_predictor_load(&faces->predictor, params->shape_predictor);
    if (s != VV_OK) {
        vv_faces_free(faces);
        return s;
    }
    if (params->min_score > 0) face_detector_set_threshold(faces->detector, params->min_score);
    faces->thorough = params->thorough != 0;
    *out = faces;
    return VV_OK;
}

void vv_faces_free(vv_faces *faces) {
    if (!faces) return;
    face_detector_free(faces->detector);
    shape_predictor_free(faces->predictor);
    free(faces);
}

/* Internal accessors for the CLI and tracker users. */
face_detector *faces_detector(vv_faces *faces) { return faces->detector; }
shape_predictor *faces_predictor(vv_faces *faces) { return faces->predictor; }

void faces_fill(vv_face *out, const float box[4], float score, const float points[68][2]) {
    memset(out, 0, sizeof *out);
    memcpy(out->box, box, sizeof out->box);
    out->score = score;
    memcpy(out->landmarks, points, sizeof out->landmarks);
    head_pose pose = head_pose_estimate(points);
    out->yaw = pose.yaw;
    out->pitch = pose.pitch;
    out->roll = pose.roll;
    out->scale = pose.scale;
    out->tx = pose.tx;
    out->ty = pose.ty;
}

/* Detection, then the 68 points and pose of every face found.  quick: one pass first,
 * the thorough search only when it finds no face scoring FACES_CONFIDENT_SCORE. */
static vv_status faces_detect_with(vv_faces *faces, const vv_image *image, vv_face *out, int max_faces,
                                   int *count, bool quick, const char *caller) {
    *count = 0;
    if (!faces || !image || !image->data || max_faces < 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: invalid arguments", caller);
    if (max_faces == 0) return VV_OK;
    face_box boxes[64];
    int found = 0;
    int limit = max_faces < 64 ? max_faces : 64;
    vv_status s = face_detect_thorough(faces->detector, image, boxes, limit, &found, quick ? false : faces->thorough);
    if (s != VV_OK) return s;
    if (quick && faces->thorough) {
        bool confident = false;
        for (int i = 0; i < found; i++) confident |= boxes[i].score >= FACES_CONFIDENT_SCORE;
        if (!confident) s = face_detect_thorough(faces->detector, image, boxes, limit, &found, true);
        if (s != VV_OK) return s;
    }
    vv_image gray = {0};
    if (image->channels == 1) gray = *image;
    else if ((s = image_to_gray(&gray, image)) != VV_OK) return s;
    for (int i = 0; i < found; i++) {
        float box[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
        float points[68][2];
        shape_predict(faces->predictor, &gray, box, points);
        faces_fill(&out[i], box, boxes[i].score, (const float(*)[2])points);
    }
    if (gray.data != image->data) image_free(&gray);
    *count = found;
    return VV_OK;
}

vv_status vv_faces_detect(vv_faces *faces, const vv_image *image, vv_face *out, int max_faces,
                          int *count) {
    return faces_detect_with(faces, image, out, max_faces, count, false, "vv_faces_detect");
}

vv_status faces_detect_quick(vv_faces *faces, const vv_image *image, vv_face *out, int max_faces,
                             int *count) {
    return faces_detect_with(faces, image, out, max_faces, count, true, "faces_detect_quick");
}

vv_status faces_number_kept(const vv_face *faces, int count, const face_mesh *mesh, const vv_image *image,
                            int *numbers, int *kept) {
    *kept = 0;
    float best = 0;
    for (int i = 0; i < count; i++) best = faces[i].score > best ? faces[i].score : best;
    face_mesh_result *result = NULL;
    vv_status s = VV_OK;
    for (int i = 0; i < count; i++) {
        bool keep = faces[i].score >= best - FACES_SCORE_MARGIN;
        if (!keep && mesh && s == VV_OK) {
            if (!result && !(result = malloc(sizeof *result))) s = vv_fail(VV_ERR_NO_MEMORY, "faces: out of memory");
            vv_status m = s == VV_OK ? face_mesh_fit(mesh, image, (const float(*)[2])faces[i].landmarks, false, result) : s;
            if (m == VV_OK) keep = result->score >= FACE_MESH_MIN_PRESENCE;
            else if (m != VV_ERR_INVALID_ARGUMENT) s = m; /* too small or off the image for the mesh: left out */
        }
        numbers[i] = keep ? ++*kept : 0;
    }
    free(result);
    return s;
}

vv_status faces_keep_confident(vv_face *faces, int count, const face_mesh *mesh, const vv_image *image, int *kept) {
    int *numbers = malloc((count > 0 ? count : 1) * sizeof *numbers);
    if (!numbers) return vv_fail(VV_ERR_NO_MEMORY, "faces: out of memory");
    vv_status s = faces_number_kept(faces, count, mesh, image, numbers, kept);
    for (int i = 0, k = 0; s == VV_OK && i < count; i++)
        if (numbers[i]) faces[k++] = faces[i];
    free(numbers);
    return s;
}
