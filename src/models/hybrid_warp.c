/* models/hybrid_warp: the 3D head warp and its validity map, as the hybrid generator's
 * input (see hybrid_warp.h). */
#include "models/hybrid_warp.h"
#include "models/models.h"

#include "face/motion.h"
#include "img/image.h"
#include "warp/raster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float triangle_area(const float (*p)[3], const int t[3]) {
    const float *a = p[t[0]], *b = p[t[1]], *c = p[t[2]];
    return 0.5f * ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]));
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static head3d_frame rest_frame(void) {
    head3d_frame f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < 3; i++) f.rigid.rotation[i][i] = 1;
    f.rigid.scale = 1;
    f.eye_openness[0] = f.eye_openness[1] = 1;
    return f;
}

vv_status hybrid_validity_init(hybrid_validity *v, head3d *h) {
    memset(v, 0, sizeof *v);
    head3d_frame f = rest_frame();
    vv_status s = head3d_render(h, &f, &v->scratch);
    if (s != VV_OK) return s;
    const float (*posed)[3];
    const int (*triangles)[3];
    const uint8_t *layers;
    int vertices;
    head3d_mesh(h, &posed, &vertices, &triangles, &layers, &v->triangle_count);
    v->vertex_count = vertices;
    v->rest_area = malloc((size_t)v->triangle_count * sizeof *v->rest_area);
    v->tags = malloc((size_t)v->triangle_count);
    v->changes = malloc((size_t)v->triangle_count * sizeof *v->changes);
    v->crop = malloc((size_t)vertices * sizeof *v->crop);
    v->texcoord = calloc((size_t)vertices, sizeof *v->texcoord); /* the colour drawn is not read */
    if (!v->rest_area || !v->tags || !v->changes || !v->crop || !v->texcoord) {
        hybrid_validity_free(v);
        return vv_fail(VV_ERR_NO_MEMORY, "hybrid validity: no memory");
    }
    for (int t = 0; t < v->triangle_count; t++) v->rest_area[t] = triangle_area(posed, triangles[t]);
    image_free(&v->scratch);
    return VV_OK;
}

void hybrid_validity_free(hybrid_validity *v) {
    free(v->rest_area);
    free(v->depth);
    free(v->tags);
    free(v->changes);
    free(v->crop);
    free(v->texcoord);
    free(v->layer);
    image_free(&v->scratch);
    memset(v, 0, sizeof *v);
}

vv_status hybrid_validity_draw(hybrid_validity *v, const head3d *h, const float image_to_crop[6], int size,
                               float *out) {
    const float (*posed)[3];
    const int (*triangles)[3];
    const uint8_t *layers;
    int vertices, count;
    head3d_mesh(h, &posed, &vertices, &triangles, &layers, &count);
    if (count != v->triangle_count || vertices != v->vertex_count)
        return vv_fail(VV_ERR_INTERNAL, "hybrid validity: %d triangles, %d at rest", count, v->triangle_count);
    size_t plane = (size_t)size * size;
    if (v->scratch.width != size || v->scratch.height != size) { /* the crop's buffers, once per size */
        image_free(&v->scratch);
        free(v->depth);
        free(v->layer);
        v->depth = malloc(plane * sizeof *v->depth);
        v->layer = malloc(plane);
        vv_status s = v->depth && v->layer ? image_create(&v->scratch, size, size, 3)
                                           : vv_fail(VV_ERR_NO_MEMORY, "hybrid validity: no memory");
        if (s != VV_OK) return s;
    }
    float (*crop)[3] = v->crop;
    uint8_t *layer = v->layer;
    float scale = sqrtf(fabsf(image_to_crop[0] * image_to_crop[4] - image_to_crop[1] * image_to_crop[3]));
    for (int i = 0; i < vertices; i++) {
        float x = posed[i][0], y = posed[i][1];
        crop[i][0] = image_to_crop[0] * x + image_to_crop[1] * y + image_to_crop[2];
        crop[i][1] = image_to_crop[3] * x + image_to_crop[4] * y + image_to_crop[5];
        crop[i][2] = posed[i][2] * scale;
    }
    /* The head's own magnification (it came nearer, or the pose estimate scaled it):
     * the median area change of the visible face, which a mouth or a turn leaves
     * alone; stretch is measured against it, since zoom invents no pixels. */
    float *changes = v->changes, zoom = 1.0f;
    int n = 0;
    for (int t = 0; t < count; t++) {
        float now = triangle_area(posed, triangles[t]), rest = v->rest_area[t];
        if (layers[t] == HEAD3D_LAYER_SKIN && rest > 0 && now > 0) changes[n++] = now / rest;
    }
    if (n > 0) {
        qsort(changes, (size_t)n, sizeof *changes, compare_float);
        zoom = changes[n / 2];
    }
    /* Each triangle's validity as its tag: the raster's layer map gives the winner's. */
    for (int t = 0; t < count; t++) {
        float now = triangle_area(posed, triangles[t]), rest = v->rest_area[t] * zoom;
        float ratio = rest <= 0 ? 0.0f : now <= rest ? 1.0f : rest / now;
        /* a little stretch (up to 1.1x, every ring of a turning head has some) moves
         * real pixels; at 2x and beyond half of what shows was never there */
        float valid = fminf(fmaxf((ratio - 0.5f) / (1.0f / 1.1f - 0.5f), 0.0f), 1.0f);
        v->tags[t] = (uint8_t)(1 + lroundf(254.0f * valid)); /* 0: no triangle */
    }
    for (size_t i = 0; i < plane; i++) v->depth[i] = -INFINITY;
    memset(layer, 0, plane);
    raster_mesh mesh = {.position = (const float(*)[3])crop, .texcoord = (const float(*)[2])v->texcoord,
                        .triangles = triangles, .vertex_count = vertices, .triangle_count = count,
                        .triangle_layer = v->tags};
    raster_target target = {.color = &v->scratch, .depth = v->depth, .layer = layer};
    raster_params params = {.cull_back_faces = true, .threads = 1};
    vv_status s = raster_draw(&target, &v->scratch, &mesh, &params);
    if (s == VV_OK)
        for (size_t i = 0; i < plane; i++) out[i] = layer[i] ? (float)(layer[i] - 1) / 254.0f : 1.0f;
    return s;
}

vv_status hybrid_warp3d_inputs(const face_mesh *fm, const vv_image *source, const float source_points[68][2],
                               const float target[68][2], const vv_image *target_frame, int size, float *warped,
                               float *validity) {
    face_mesh_result *mesh = malloc(sizeof *mesh);
    if (!mesh) return vv_fail(VV_ERR_NO_MEMORY, "hybrid warp: no memory");
    vv_status s = face_mesh_fit(fm, source, source_points, true, mesh); /* as the animator fits it */
    if (s == VV_OK && mesh->score < FACE_MESH_MIN_PRESENCE)
        s = vv_fail(VV_ERR_NO_FACE, "hybrid warp: the face mesh does not hold the face (score %.2f)", mesh->score);
    head3d_params hp = head3d_default_params();
    hp.background_still = false;
    hp.threads = 1;
    head3d *h = NULL;
    if (s == VV_OK) s = head3d_new(&h, source, source_points, (const float(*)[3])mesh->points, NULL, &hp);
    free(mesh);
    hybrid_validity v = {0};
    if (s == VV_OK) s = hybrid_validity_init(&v, h);
    /* The source is its own reference: the target's change from it, split as animate
     * splits a driver's. */
    motion_retarget r;
    motion_params mp = motion_default_params();
    motion_retarget_init(&r, source_points, source_points, &mp);
    head3d_frame f = rest_frame();
    motion_retarget_decompose(&r, target, NULL, &f.rigid, f.expression, f.target68);
    f.has_target = true;
    motion_eye_openness(target, source_points, f.eye_openness);
    f.driver_frame = target_frame; /* the mouth interior, as a driving video gives it */
    f.driver_points = target_frame ? target : NULL;
    vv_image out = {0};
    if (s == VV_OK) s = head3d_render(h, &f, &out);
    if (s == VV_OK && (out.width != size || out.height != size)) s = image_resize(&out, &out, size, size);
    if (s == VV_OK) fsth_image_to_tensor(warped, &out);
    if (s == VV_OK) {
        float to_crop[6] = {(float)size / (float)source->width, 0, 0, 0, (float)size / (float)source->height, 0};
        /* pixel centres: x' = (x + 0.5) * k - 0.5 */
        to_crop[2] = 0.5f * to_crop[0] - 0.5f, to_crop[5] = 0.5f * to_crop[4] - 0.5f;
        s = hybrid_validity_draw(&v, h, to_crop, size, validity);
    }
    image_free(&out);
    hybrid_validity_free(&v);
    head3d_free(h);
    return s;
}

vv_status hybrid_warp3d_crops(const face_mesh *fm, const float *source, const float source_points[68][2],
                              const float *target, const float target_points[68][2], int size, float *warped,
                              float *validity) {
    /* The 3D head needs about 40 px between the eyes: small crops are upsampled first. */
    int up = size >= 256 ? 1 : (256 + size - 1) / size, side = size * up;
    vv_image images[2] = {{0}, {0}};
    float points[2][68][2];
    const float *tensors[2] = {source, target};
    const float (*given[2])[2] = {source_points, target_points};
    vv_status s = VV_OK;
    for (int k = 0; k < 2 && s == VV_OK; k++) {
        vv_image crop = {0};
        s = image_create(&crop, size, size, 3);
        if (s == VV_OK) fsth_tensor_to_image(&crop, tensors[k], size);
        if (s == VV_OK) s = image_resize(&images[k], &crop, side, side);
        image_free(&crop);
        for (int i = 0; i < 68; i++)
            for (int c = 0; c < 2; c++) points[k][i][c] = (given[k][i][c] + 0.5f) * (float)up - 0.5f;
    }
    if (s == VV_OK)
        s = hybrid_warp3d_inputs(fm, &images[0], (const float(*)[2])points[0], (const float(*)[2])points[1], &images[1],
                                 size, warped, validity);
    image_free(&images[0]);
    image_free(&images[1]);
    return s;
}
