/* models/fsth_model: the whole few-shot model (E, G, D and an optional person), its
 * safetensors file, and the inference API: fsth_prepare (feed-forward few-shot) and
 * fsth_render (one frame for target landmarks). */
#include "models/models.h"

#include "face/landmark_box.h"
#include "img/image.h"
#include "nn/safetensors.h"
#include "warp/mesh.h"
#include "warp/warp.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Config ---- */

fsth_config fsth_config_default(int size) {
    fsth_config c = {.size = size, .width = 16, .bottleneck_blocks = 4, .attention = false,
                     .hybrid = false, .videos = 1};
    return c;
}

vv_status fsth_config_check(const fsth_config *c) {
    int log = fsth_log2(c->size);
    if (log < 5 || log > 8)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: size %d is not 32, 64, 128 or 256", c->size);
    if (c->width < 1 || c->width > 64)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: width %d outside 1..64", c->width);
    if (c->bottleneck_blocks < 0 || c->bottleneck_blocks > 6)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: %d bottleneck blocks outside 0..6", c->bottleneck_blocks);
    if (c->warp3d && !c->hybrid)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: warp3d is for a hybrid model");
    if (c->residual && !c->hybrid)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: residual is for a hybrid model");
    if (c->flow && !c->residual)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: flow is for a residual hybrid model");
    if (c->flow && !(c->flow_pixels > 0.0f && c->flow_pixels <= 64.0f))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: flow_pixels %g outside (0, 64]", (double)c->flow_pixels);
    if (c->videos < 1 || c->videos > 100000)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth config: %d videos outside 1..100000", c->videos);
    return VV_OK;
}

int fsth_embedding_dim(const fsth_config *c) { return 8 * c->width; }
int fsth_generator_in_channels(const fsth_config *c) { return c->hybrid ? 7 : 3; }
int fsth_generator_out_channels(const fsth_config *c) { return c->flow ? 6 : c->hybrid ? 4 : 3; }

vv_status fsth_config_to_json(const fsth_config *c, char *out, size_t out_size) {
    char flow[64] = "";
    if (c->flow) snprintf(flow, sizeof flow, ",\"flow\":true,\"flow_pixels\":%.9g", (double)c->flow_pixels);
    int n = snprintf(out, out_size,
                     "{\"size\":%d,\"width\":%d,\"bottleneck_blocks\":%d,\"attention\":%s,"
                     "\"hybrid\":%s,\"videos\":%d%s%s%s}",
                     c->size, c->width, c->bottleneck_blocks, c->attention ? "true" : "false",
                     c->hybrid ? "true" : "false", c->videos, c->warp3d ? ",\"warp3d\":true" : "",
                     c->residual ? ",\"residual\":true" : "", flow);
    if (n < 0 || (size_t)n >= out_size) return vv_fail(VV_ERR_INTERNAL, "fsth config JSON over %zu bytes", out_size);
    return VV_OK;
}

static bool json_int(const cJSON *root, const char *key, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
        fabs(item->valuedouble) > 1e9)
        return false;
    *out = (int)item->valuedouble;
    return true;
}

static bool json_float(const cJSON *root, const char *key, float *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || fabs(item->valuedouble) > 1e6) return false;
    *out = (float)item->valuedouble;
    return true;
}

static bool json_bool(const cJSON *root, const char *key, bool *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsBool(item)) return false;
    *out = cJSON_IsTrue(item);
    return true;
}

vv_status fsth_config_from_json(fsth_config *c, const char *json) {
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vv_fail(VV_ERR_MODEL, "fsth config: metadata 'config' is not a JSON object");
    }
    memset(c, 0, sizeof *c);
    const char *missing = NULL;
    if (!json_int(root, "size", &c->size)) missing = "size";
    else if (!json_int(root, "width", &c->width)) missing = "width";
    else if (!json_int(root, "bottleneck_blocks", &c->bottleneck_blocks)) missing = "bottleneck_blocks";
    else if (!json_bool(root, "attention", &c->attention)) missing = "attention";
    else if (!json_bool(root, "hybrid", &c->hybrid)) missing = "hybrid";
    else if (!json_int(root, "videos", &c->videos)) missing = "videos";
    /* warp3d came later: absent in older files, which are 2D-warp hybrids */
    else if (cJSON_GetObjectItemCaseSensitive(root, "warp3d") && !json_bool(root, "warp3d", &c->warp3d)) missing = "warp3d";
    /* residual too: older hybrids blend */
    else if (cJSON_GetObjectItemCaseSensitive(root, "residual") && !json_bool(root, "residual", &c->residual)) missing = "residual";
    /* flow later still */
    else if (cJSON_GetObjectItemCaseSensitive(root, "flow") && !json_bool(root, "flow", &c->flow)) missing = "flow";
    else if (c->flow && !json_float(root, "flow_pixels", &c->flow_pixels)) missing = "flow_pixels";
    cJSON_Delete(root);
    if (missing) return vv_fail(VV_ERR_MODEL, "fsth config: '%s' missing or not valid", missing);
    if (fsth_config_check(c) == VV_OK) return VV_OK;
    char message[256]; /* vv_fail formats into the buffer vv_last_error reads */
    snprintf(message, sizeof message, "%s", vv_last_error());
    return vv_fail(VV_ERR_MODEL, "%s", message);
}

/* ---- Model ---- */

static vv_status model_alloc_person(fsth_model *m) {
    size_t S = (size_t)m->config.size;
    size_t floats = (size_t)m->G.psi_dim + fsth_embedding_dim(&m->config) + 3 * S * S +
                    (size_t)fsth_generator_in_channels(&m->config) * S * S + 64;
    float *p = mem_calloc(floats, sizeof(float));
    if (!p) return vv_fail(VV_ERR_NO_MEMORY, "fsth model: no memory for the person");
    m->person_psi = p;
    m->person_w = p + m->G.psi_dim;
    m->source_image = m->person_w + fsth_embedding_dim(&m->config);
    m->scratch = m->source_image + 3 * S * S;
    return VV_OK;
}

vv_status fsth_model_new(fsth_model **out, const fsth_config *c, uint64_t seed) {
    *out = NULL;
    fsth_model *m = mem_calloc(1, sizeof *m);
    if (!m) return vv_fail(VV_ERR_NO_MEMORY, "fsth model: no memory");
    m->config = *c;
    vv_status status = fsth_embedder_new(&m->E, c, seed);
    if (status == VV_OK) status = fsth_generator_new(&m->G, c, seed);
    if (status == VV_OK) status = fsth_discriminator_new(&m->D, c, seed);
    if (status == VV_OK) status = model_alloc_person(m);
    if (status == VV_OK) status = fsth_embedder_prepare(&m->E, false);
    if (status == VV_OK) status = fsth_generator_prepare(&m->G, false);
    if (status == VV_OK) status = fsth_discriminator_prepare(&m->D, false);
    if (status != VV_OK) {
        fsth_model_free(m);
        return status;
    }
    *out = m;
    return VV_OK;
}

void fsth_model_free(fsth_model *m) {
    if (!m) return;
    fsth_embedder_free(&m->E);
    fsth_generator_free(&m->G);
    fsth_discriminator_free(&m->D);
    free(m->person_psi);
    free(m);
}

vv_status fsth_model_flow_from(fsth_model **out, const fsth_model *from, float pixels) {
    *out = NULL;
    if (!from->config.hybrid || from->config.flow)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_model_flow_from: needs a hybrid model without flow");
    fsth_config c = from->config;
    c.residual = c.flow = true, c.flow_pixels = pixels;
    fsth_model *m = NULL;
    vv_status status = fsth_model_new(&m, &c, 0);
    if (status != VV_OK) return status;
    /* E and D are declared alike: their regions copy whole; G by tensor, the head by rows. */
    memcpy(m->E.ps.data, from->E.ps.data, from->E.ps.total * sizeof(float));
    memcpy(m->D.ps.data, from->D.ps.data, from->D.ps.total * sizeof(float));
    const param_store *src = &from->G.ps;
    param_store *dst = &m->G.ps;
    for (int i = 0; i < dst->count; i++) {
        const param_entry *e = &dst->entries[i];
        int j = param_store_find(src, e->name);
        if (j < 0) {
            status = vv_fail(VV_ERR_INTERNAL, "fsth_model_flow_from: G tensor %s missing", e->name);
            break;
        }
        /* the head's weight, bias and u have 6 rows here, 4 there: the first 4 copy */
        size_t n = src->entries[j].size < e->size ? src->entries[j].size : e->size;
        memcpy(param_data(dst, i), param_data(src, j), n * sizeof(float));
    }
    if (status == VV_OK) {
        if (!from->config.residual) fsth_generator_residual_start(&m->G);
        fsth_generator_flow_start(&m->G);
        status = fsth_generator_prepare(&m->G, false);
    }
    if (status != VV_OK) {
        fsth_model_free(m);
        return status;
    }
    *out = m;
    return VV_OK;
}

#define PERSON_TENSORS 4

vv_status fsth_model_save(const fsth_model *m, const char *path, bool fp16) {
    const param_store *stores[3] = {&m->E.ps, &m->G.ps, &m->D.ps};
    int count = PERSON_TENSORS;
    for (int s = 0; s < 3; s++) count += stores[s]->count;
    safetensors_entry *entries = mem_calloc((size_t)count, sizeof *entries);
    int64_t *shapes = mem_calloc((size_t)count * 4, sizeof *shapes);
    if (!entries || !shapes) {
        free(entries);
        free(shapes);
        return vv_fail(VV_ERR_NO_MEMORY, "fsth_model_save: no memory");
    }
    safetensors_dtype dtype = fp16 ? SAFETENSORS_F16 : SAFETENSORS_F32;
    int k = 0;
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < stores[s]->count; i++, k++) {
            const param_entry *e = &stores[s]->entries[i];
            for (int d = 0; d < e->ndim; d++) shapes[k * 4 + d] = e->shape[d];
            entries[k] = (safetensors_entry){e->name, dtype, e->ndim, shapes + k * 4,
                                             stores[s]->data + e->offset};
        }
    if (m->has_person) {
        int S = m->config.size;
        shapes[k * 4] = m->G.psi_dim;
        entries[k] = (safetensors_entry){"person.psi", SAFETENSORS_F32, 1, shapes + k * 4, m->person_psi};
        k++;
        shapes[k * 4] = fsth_embedding_dim(&m->config);
        entries[k] = (safetensors_entry){"person.w", SAFETENSORS_F32, 1, shapes + k * 4, m->person_w};
        k++;
        shapes[k * 4] = 3, shapes[k * 4 + 1] = S, shapes[k * 4 + 2] = S;
        entries[k] = (safetensors_entry){"person.source", dtype, 3, shapes + k * 4, m->source_image};
        k++;
        shapes[k * 4] = 68, shapes[k * 4 + 1] = 2;
        entries[k] = (safetensors_entry){"person.source_landmarks", SAFETENSORS_F32, 2, shapes + k * 4,
                                         &m->source_landmarks[0][0]};
        k++;
    }
    char config[512];
    vv_status status = fsth_config_to_json(&m->config, config, sizeof config);
    const char *keys[2] = {"format", "config"}, *values[2] = {FSTH_FORMAT, config};
    if (status == VV_OK) status = safetensors_write(path, entries, k, keys, values, 2);
    free(entries);
    free(shapes);
    return status;
}

static vv_status read_tensor(const safetensors_file *f, const char *path, const char *name,
                             int ndim, const int64_t *shape, float *out, size_t count) {
    const safetensors_tensor *t = safetensors_find(f, name);
    bool same = t && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) return vv_fail(VV_ERR_MODEL, "%s: tensor '%s' missing or of another shape", path, name);
    return safetensors_read_f32(f, name, out, count);
}

vv_status fsth_model_load(fsth_model **out, const char *path) {
    *out = NULL;
    safetensors_file f;
    vv_status status = safetensors_open(&f, path, (size_t)2 << 30);
    if (status != VV_OK) return status;
    const char *format = safetensors_metadata(&f, "format");
    const char *config_json = safetensors_metadata(&f, "config");
    fsth_config c;
    if (!format || strcmp(format, FSTH_FORMAT) != 0)
        status = vv_fail(VV_ERR_MODEL, "%s: not a vivify fsth model (metadata 'format' is %s, expected %s)",
                         path, format ? format : "missing", FSTH_FORMAT);
    else if (!config_json)
        status = vv_fail(VV_ERR_MODEL, "%s: metadata 'config' missing", path);
    else if ((status = fsth_config_from_json(&c, config_json)) != VV_OK) {
        char message[256];
        snprintf(message, sizeof message, "%s", vv_last_error());
        status = vv_fail(VV_ERR_MODEL, "%s: %s", path, message);
    }
    /* Before allocating networks the config asks for: the file must hold the tensors whose
     * shapes follow from it (their bytes are inside the file, so a forged config cannot make
     * us allocate far beyond what the file holds). */
    if (status == VV_OK) {
        int64_t head[4] = {fsth_generator_out_channels(&c), c.width, 3, 3}, table[2] = {c.videos, 8 * c.width};
        const safetensors_tensor *h = safetensors_find(&f, "G.head.weight"), *w = safetensors_find(&f, "D.W");
        bool ok = h && w && h->ndim == 4 && w->ndim == 2;
        for (int d = 0; ok && d < 4; d++) ok = h->shape[d] == head[d];
        for (int d = 0; ok && d < 2; d++) ok = w->shape[d] == table[d];
        if (!ok)
            status = vv_fail(VV_ERR_MODEL, "%s: tensors 'G.head.weight' / 'D.W' missing or not of the shapes its config (width %d, %d videos) implies",
                             path, c.width, c.videos);
    }
    fsth_model *m = NULL;
    if (status == VV_OK) status = fsth_model_new(&m, &c, 0);
    if (status != VV_OK) {
        safetensors_close(&f);
        return status;
    }
    param_store *stores[3] = {&m->E.ps, &m->G.ps, &m->D.ps};
    int expected = 0;
    for (int s = 0; s < 3 && status == VV_OK; s++) {
        expected += stores[s]->count;
        for (int i = 0; i < stores[s]->count && status == VV_OK; i++) {
            const param_entry *e = &stores[s]->entries[i];
            int64_t shape[PARAM_MAX_DIMS];
            for (int d = 0; d < e->ndim; d++) shape[d] = e->shape[d];
            status = read_tensor(&f, path, e->name, e->ndim, shape, stores[s]->data + e->offset, e->size);
        }
    }
    if (status == VV_OK && safetensors_find(&f, "person.psi")) {
        int S = c.size;
        int64_t psi_shape[1] = {m->G.psi_dim}, w_shape[1] = {fsth_embedding_dim(&c)};
        int64_t src_shape[3] = {3, S, S}, lm_shape[2] = {68, 2};
        status = read_tensor(&f, path, "person.psi", 1, psi_shape, m->person_psi, (size_t)m->G.psi_dim);
        if (status == VV_OK) status = read_tensor(&f, path, "person.w", 1, w_shape, m->person_w, (size_t)w_shape[0]);
        if (status == VV_OK) status = read_tensor(&f, path, "person.source", 3, src_shape, m->source_image, (size_t)3 * S * S);
        if (status == VV_OK) status = read_tensor(&f, path, "person.source_landmarks", 2, lm_shape, &m->source_landmarks[0][0], 136);
        expected += PERSON_TENSORS;
        m->has_person = status == VV_OK;
    }
    if (status == VV_OK && f.count != expected)
        status = vv_fail(VV_ERR_MODEL, "%s: %d tensors, the model has %d (another network?)", path, f.count, expected);
    for (int s = 0; s < 3 && status == VV_OK; s++)
        for (size_t i = 0; i < stores[s]->total; i++)
            if (!isfinite(stores[s]->data[i])) {
                status = vv_fail(VV_ERR_MODEL, "%s: non-finite parameter values", path);
                break;
            }
    if (status == VV_OK) status = fsth_embedder_prepare(&m->E, false);
    if (status == VV_OK) status = fsth_generator_prepare(&m->G, false);
    if (status == VV_OK) status = fsth_discriminator_prepare(&m->D, false);
    safetensors_close(&f);
    if (status != VV_OK) {
        fsth_model_free(m);
        return status;
    }
    *out = m;
    return VV_OK;
}

/* ---- Tensors <-> images ---- */

void fsth_image_to_tensor(float *out, const vv_image *image) {
    size_t plane = (size_t)image->width * image->height;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            int ch = image->channels >= 3 ? c : 0;
            out[c * plane + i] = image->data[i * image->channels + ch] * (2.0f / 255.0f) - 1.0f;
        }
}

void fsth_tensor_to_image(vv_image *out, const float *in, int size) {
    size_t plane = (size_t)size * size;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float v = (in[c * plane + i] + 1.0f) * 127.5f + 0.5f;
            out->data[i * 3 + c] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
        }
}

vv_status fsth_landmark_tensor(float *out, const float points[68][2], int size) {
    vv_image img;
    vv_status status = image_create(&img, size, size, 3);
    if (status != VV_OK) return status;
    landmarks_rasterize(&img, points, size >= 128 ? size / 128 : 1);
    fsth_image_to_tensor(out, &img);
    image_free(&img);
    return VV_OK;
}

vv_status fsth_warp_inputs(float *warped, float *validity, const float *source,
                           const float src_points[68][2], const float dst_points[68][2],
                           int size) {
    vv_image in = {0}, out = {0};
    vv_status status = image_create(&in, size, size, 3);
    if (status == VV_OK) status = image_create(&out, size, size, 3);
    if (status != VV_OK) {
        image_free(&in);
        return status;
    }
    fsth_tensor_to_image(&in, source, size);
    float src_mesh[MESH_POINT_COUNT][2], dst_mesh[MESH_POINT_COUNT][2];
    mesh_source_points(src_points, size, src_mesh);
    mesh_motion motion = {true, true};
    mesh_target_points(src_mesh, dst_points, &motion, dst_mesh);
    warp_piecewise_affine(&out, &in, (const float (*)[2])src_mesh, (const float (*)[2])dst_mesh,
                          mesh_triangles(), mesh_triangle_count(), NULL, 1);
    /* As the warp engine does: an inner mouth opened wider than the source's has no pixels
     * to move, so it is synthesised there (cavity and teeth); those pixels are the ones the
     * validity map marks 0. */
    size_t plane = (size_t)size * size;
    uint8_t *drawn = mem_calloc(plane, 1);
    if (!drawn) status = vv_fail(VV_ERR_NO_MEMORY, "hybrid warp: no memory");
    if (status == VV_OK) {
        warp_mouth_fill(&out, drawn, &in, src_points, dst_points, NULL, NULL);
        fsth_image_to_tensor(warped, &out);
        for (size_t i = 0; i < plane; i++) validity[i] = drawn[i] ? 0.0f : 1.0f;
    }
    free(drawn);
    image_free(&in);
    image_free(&out);
    return status;
}

/* ---- Inference ---- */

void fsth_crop_transform(const float landmarks[68][2], int size, float crop_to_image[6]) {
    /* The dataset's rule (src/train/dataset_build.c): the face box these landmarks imply,
     * its centre moved up 0.1 side, enlarged 1.8x. */
    float box[4];
    landmarks_box(landmarks, box);
    float box_side = fmaxf(fmaxf(box[2] - box[0], box[3] - box[1]), 1.0f);
    float side = 1.8f * box_side, scale = side / (float)size;
    float cx = 0.5f * (box[0] + box[2]), cy = 0.5f * (box[1] + box[3]) - 0.1f * box_side;
    /* crop pixel centre (i + 0.5) * scale from the crop's corner */
    crop_to_image[0] = scale, crop_to_image[1] = 0.0f;
    crop_to_image[2] = cx - 0.5f * side + 0.5f * scale - 0.5f;
    crop_to_image[3] = 0.0f, crop_to_image[4] = scale;
    crop_to_image[5] = cy - 0.5f * side + 0.5f * scale - 0.5f;
}

void fsth_relative_target(const float source_crop[68][2], const float driver_first[68][2],
                          const float driver[68][2], int size, float out[68][2]) {
    float to_image[6];
    fsth_crop_transform(driver_first, size, to_image);
    float per_pixel = 1.0f / to_image[0]; /* crop pixels per driver pixel (scale only) */
    for (int i = 0; i < 68; i++)
        for (int c = 0; c < 2; c++)
            out[i][c] = source_crop[i][c] + (driver[i][c] - driver_first[i][c]) * per_pixel;
}

/* Crop pixels whose source point lies outside image take the nearest edge pixel's colour
 * (clamped bilinear) instead of image_warp_affine's black.  The dataset's crops never leave
 * their frame (dataset_build shrinks and moves them inside), so G never saw black borders;
 * fine-tuned on shots with them (a face filling the frame) it drew dark blots into the
 * face.  Edges, not the dataset's shrunk crop: that one puts a larger face in the crop than
 * the 1.8x rule G mostly saw, and measured worse (docs/MODEL.md, "Face-aligned crop"). */
static void crop_fill_edges(vv_image *crop, const vv_image *image, const float to_image[6]) {
    float w = (float)image->width - 0.5f, h = (float)image->height - 0.5f;
    for (int y = 0; y < crop->height; y++)
        for (int x = 0; x < crop->width; x++) {
            float sx = to_image[0] * x + to_image[1] * y + to_image[2];
            float sy = to_image[3] * x + to_image[4] * y + to_image[5];
            if (sx >= -0.5f && sy >= -0.5f && sx < w && sy < h) continue;
            float rgb[3];
            image_sample_rgb(image, sx, sy, rgb);
            uint8_t *px = crop->data + ((size_t)y * crop->width + x) * 3;
            for (int c = 0; c < 3; c++) px[c] = (uint8_t)lrintf(fminf(fmaxf(rgb[c], 0.0f), 255.0f));
        }
}

vv_status fsth_crop_shot(float *frame, float points[68][2], const vv_image *image,
                         const float landmarks[68][2], int size) {
    if (!image->data || image->channels != 3)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_crop_shot: not an RGB image");
    vv_image crop;
    vv_status status = image_create(&crop, size, size, 3);
    if (status != VV_OK) return status;
    float to_image[6], to_crop[6];
    fsth_crop_transform(landmarks, size, to_image);
    affine_invert(to_image, to_crop);
    image_warp_affine(&crop, image, to_image, NULL);
    crop_fill_edges(&crop, image, to_image);
    for (int i = 0; i < 68; i++) {
        float x = landmarks[i][0], y = landmarks[i][1];
        points[i][0] = to_crop[0] * x + to_crop[1] * y + to_crop[2];
        points[i][1] = to_crop[3] * x + to_crop[4] * y + to_crop[5];
    }
    fsth_image_to_tensor(frame, &crop);
    image_free(&crop);
    return VV_OK;
}

vv_status fsth_prepare(fsth_model *m, const vv_image *images, const float (*landmarks)[68][2],
                       int count) {
    if (count < 1 || count > 256)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_prepare: %d shots (1..256)", count);
    int S = m->config.size, emb = fsth_embedding_dim(&m->config);
    size_t plane = (size_t)S * S;
    float *xy = mem_alloc(6 * plane + emb, sizeof(float));
    double *sum = mem_calloc((size_t)emb, sizeof(double));
    vv_status status = (xy && sum) ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "fsth_prepare: no memory");
    float *e = xy ? xy + 6 * plane : NULL;
    for (int k = 0; k < count && status == VV_OK; k++) {
        float points[68][2];
        status = fsth_crop_shot(xy, points, &images[k], landmarks[k], S);
        if (status != VV_OK) break;
        status = fsth_landmark_tensor(xy + 3 * plane, (const float (*)[2])points, S);
        if (status == VV_OK) status = fsth_embedder_forward(&m->E, e, xy, 1);
        for (int j = 0; j < emb && status == VV_OK; j++) sum[j] += e[j];
        if (k == 0 && status == VV_OK) { /* the hybrid engine warps the first shot */
            memcpy(m->source_image, xy, 3 * plane * sizeof(float));
            memcpy(m->source_landmarks, points, sizeof points);
            fsth_crop_transform(landmarks[0], S, m->source_crop_to_image);
        }
    }
    if (status == VV_OK) {
        for (int j = 0; j < emb; j++) e[j] = (float)(sum[j] / count);
        fsth_generator_project(&m->G, m->person_psi, e, 1);
        const float *w0 = param_data(&m->D.ps, m->D.w0);
        for (int j = 0; j < emb; j++) m->person_w[j] = w0[j] + e[j];
        m->has_person = true;
    }
    free(xy);
    free(sum);
    return status;
}

static vv_status render_layers(fsth_model *m, const float target[68][2], const vv_image *warped,
                               const float *validity, vv_image *painted, uint8_t *weight);
static vv_status render_forward(fsth_model *m, const float target[68][2], const vv_image *warped,
                                const float *validity, float *rgb);
static vv_status render_image(const fsth_model *m, vv_image *out, int S);

/* Blends the crop's painting (hybrid, by its weight) or the whole crop (fsth) into frame. */
static void render_paste(fsth_model *m, const float crop_to_image[6], const vv_image *crop, const uint8_t *weight,
                         vv_image *frame) {
    /* The crop's outer eighth fades into the frame, so its square edge never shows. */
    warp_paste_back(frame, crop, weight, crop_to_image, (float)m->config.size / 8.0f, 0);
}

/* Bilinear sample of a [S, S] plane at (u, v), clamped to the plane. */
static float plane_sample(const float *d, int S, float u, float v) {
    float uc = fminf(fmaxf(u, 0.0f), (float)S - 1.0f), vc = fminf(fmaxf(v, 0.0f), (float)S - 1.0f);
    int i0 = (int)uc, j0 = (int)vc, i1 = i0 + 1 < S ? i0 + 1 : i0, j1 = j0 + 1 < S ? j0 + 1 : j0;
    float a = uc - (float)i0, b = vc - (float)j0;
    return (1.0f - b) * ((1.0f - a) * d[j0 * S + i0] + a * d[j0 * S + i1]) + b * ((1.0f - a) * d[j1 * S + i0] + a * d[j1 * S + i1]);
}

/* A residual hybrid's correction (G's tanh output, crop-sized, tensor units) added to the
 * full-resolution frame, sampled bilinearly, fading out over the crop's outer eighth as
 * render_paste does; the warp keeps its resolution under the correction.  A flow hybrid's
 * displacement (flow [2, S, S], crop pixels; NULL: none) first moves the frame's own
 * pixels: pixel p takes the frame at p + A f (A: the crop's scale and rotation into the
 * frame, f the displacement sampled at p's crop position and faded likewise), bilinearly,
 * from source, an unmodified copy of frame. */
static void paste_correction(const fsth_model *m, const float image_to_crop[6], const float crop_to_image[6],
                             const float *delta, const float *flow, const vv_image *source, vv_image *frame) {
    int S = m->config.size;
    size_t plane = (size_t)S * S;
    float feather = (float)S / 8.0f, lo[2] = {1e30f, 1e30f}, hi[2] = {-1e30f, -1e30f};
    for (int k = 0; k < 4; k++) { /* the crop's corners in the frame */
        float u = (k & 1) ? (float)S - 0.5f : -0.5f, v = (k & 2) ? (float)S - 0.5f : -0.5f;
        float x = crop_to_image[0] * u + crop_to_image[1] * v + crop_to_image[2];
        float y = crop_to_image[3] * u + crop_to_image[4] * v + crop_to_image[5];
        lo[0] = fminf(lo[0], x), hi[0] = fmaxf(hi[0], x), lo[1] = fminf(lo[1], y), hi[1] = fmaxf(hi[1], y);
    }
    int x0 = (int)fmaxf(floorf(lo[0]), 0.0f), x1 = (int)fminf(ceilf(hi[0]), (float)frame->width - 1.0f);
    int y0 = (int)fmaxf(floorf(lo[1]), 0.0f), y1 = (int)fminf(ceilf(hi[1]), (float)frame->height - 1.0f);
    int W = frame->width, H = frame->height;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float u = image_to_crop[0] * x + image_to_crop[1] * y + image_to_crop[2];
            float v = image_to_crop[3] * x + image_to_crop[4] * y + image_to_crop[5];
            float edge = fminf(fminf(u + 0.5f, v + 0.5f), fminf((float)S - 0.5f - u, (float)S - 0.5f - v));
            if (edge <= 0.0f) continue;
            float f = edge < feather ? edge / feather : 1.0f;
            uint8_t *px = frame->data + ((size_t)y * W + x) * 3;
            float base[3] = {px[0], px[1], px[2]};
            if (flow) {
                float fu = plane_sample(flow, S, u, v) * f, fv = plane_sample(flow + plane, S, u, v) * f;
                float sx = (float)x + crop_to_image[0] * fu + crop_to_image[1] * fv;
                float sy = (float)y + crop_to_image[3] * fu + crop_to_image[4] * fv;
                sx = fminf(fmaxf(sx, 0.0f), (float)W - 1.0f), sy = fminf(fmaxf(sy, 0.0f), (float)H - 1.0f);
                int i0 = (int)sx, j0 = (int)sy, i1 = i0 + 1 < W ? i0 + 1 : i0, j1 = j0 + 1 < H ? j0 + 1 : j0;
                float a = sx - (float)i0, b = sy - (float)j0;
                const uint8_t *r0 = source->data + (size_t)j0 * W * 3, *r1 = source->data + (size_t)j1 * W * 3;
                for (int c = 0; c < 3; c++)
                    base[c] = (1.0f - b) * ((1.0f - a) * r0[i0 * 3 + c] + a * r0[i1 * 3 + c]) +
                              b * ((1.0f - a) * r1[i0 * 3 + c] + a * r1[i1 * 3 + c]);
            }
            for (int c = 0; c < 3; c++) {
                float out = base[c] + plane_sample(delta + c * plane, S, u, v) * 127.5f * f + 0.5f;
                px[c] = (uint8_t)(out < 0.0f ? 0.0f : out > 255.0f ? 255.0f : out);
            }
        }
}

/* A residual hybrid: G on the warp input (warped + validity, or the 2D warp when NULL), its
 * correction added to frame; crop gets the crop-sized composite. */
static vv_status render_residual(fsth_model *m, const float image_to_crop[6], const float crop_to_image[6],
                                 const float target[68][2], const vv_image *warped, const float *validity,
                                 vv_image *crop, vv_image *frame) {
    int S = m->config.size;
    if (frame->channels != 3) return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_render_frame: not an RGB frame");
    vv_status status = render_image(m, crop, S);
    float *rgb = status == VV_OK ? mem_alloc(3 * (size_t)S * S, sizeof(float)) : NULL;
    if (status == VV_OK && !rgb) status = vv_fail(VV_ERR_NO_MEMORY, "fsth_render: no memory");
    if (status == VV_OK) status = render_forward(m, target, warped, validity, rgb);
    vv_image source = {0}; /* a flow hybrid moves the frame's pixels: read them from a copy */
    if (status == VV_OK && m->config.flow) status = image_copy(&source, frame);
    if (status == VV_OK) {
        fsth_tensor_to_image(crop, rgb, S);
        paste_correction(m, image_to_crop, crop_to_image, m->G.rgb, m->config.flow ? m->G.flow : NULL, &source, frame);
    }
    image_free(&source);
    free(rgb);
    return status;
}

vv_status fsth_render_frame(fsth_model *m, const float image_to_crop[6], const float crop_to_image[6],
                            const float target[68][2], vv_image *crop, vv_image *frame) {
    float crop_target[68][2];
    affine_apply_points(image_to_crop, target, crop_target, 68);
    int S = m->config.size;
    uint8_t *weight = NULL;
    vv_status status;
    if (m->config.residual)
        return render_residual(m, image_to_crop, crop_to_image, (const float (*)[2])crop_target, NULL, NULL, crop, frame);
    if (m->config.hybrid) {
        weight = mem_alloc((size_t)S * S, 1);
        if (!weight) return vv_fail(VV_ERR_NO_MEMORY, "fsth_render: no memory");
        status = render_layers(m, (const float (*)[2])crop_target, NULL, NULL, crop, weight);
    } else {
        status = fsth_render(m, (const float (*)[2])crop_target, crop);
    }
    if (status == VV_OK) render_paste(m, crop_to_image, crop, weight, frame);
    free(weight);
    return status;
}

vv_status fsth_render_frame_warped(fsth_model *m, const float image_to_crop[6], const float crop_to_image[6],
                                   const float target[68][2], const float *validity, vv_image *crop,
                                   vv_image *frame) {
    if (!m->config.hybrid) return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_render_frame_warped: not a hybrid model");
    float crop_target[68][2];
    affine_apply_points(image_to_crop, target, crop_target, 68);
    int S = m->config.size;
    vv_image warped = {0};
    uint8_t *weight = mem_alloc((size_t)S * S, 1);
    vv_status status = weight ? image_create(&warped, S, S, 3) : vv_fail(VV_ERR_NO_MEMORY, "fsth_render: no memory");
    if (status == VV_OK) image_warp_affine(&warped, frame, crop_to_image, NULL); /* the warp as the crop sees it */
    if (status == VV_OK && m->config.residual) {
        status = render_residual(m, image_to_crop, crop_to_image, (const float (*)[2])crop_target, &warped, validity,
                                 crop, frame);
        image_free(&warped);
        free(weight);
        return status;
    }
    if (status == VV_OK) status = render_layers(m, (const float (*)[2])crop_target, &warped, validity, crop, weight);
    if (status == VV_OK) render_paste(m, crop_to_image, crop, weight, frame);
    image_free(&warped);
    free(weight);
    return status;
}

/* Runs G for target landmarks; the output (the crop composite for hybrid) in rgb.  A
 * hybrid's warp input: warped + validity when given, else the 2D warp of the person's
 * source crop. */
static vv_status render_forward(fsth_model *m, const float target[68][2], const vv_image *warped,
                                const float *validity, float *rgb) {
    int S = m->config.size;
    size_t plane = (size_t)S * S;
    float *in = m->scratch;
    vv_status status = fsth_landmark_tensor(in, target, S);
    if (status == VV_OK && m->config.hybrid && warped) {
        fsth_image_to_tensor(in + 3 * plane, warped);
        memcpy(in + 6 * plane, validity, plane * sizeof(float));
    } else if (status == VV_OK && m->config.hybrid) {
        status = fsth_warp_inputs(in + 3 * plane, in + 6 * plane, m->source_image,
                                  (const float (*)[2])m->source_landmarks, target, S);
    }
    if (status == VV_OK) status = fsth_generator_forward(&m->G, rgb, in, m->person_psi, 1);
    return status;
}

/* out: S x S RGB, allocated unless it already is; fails first when there is no person. */
static vv_status render_image(const fsth_model *m, vv_image *out, int S) {
    if (!m->has_person)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_render: no person (call fsth_prepare or load a fine-tuned model)");
    if (out->data && out->width == S && out->height == S && out->channels == 3) return VV_OK;
    image_free(out);
    return image_create(out, S, S, 3);
}

vv_status fsth_render(fsth_model *m, const float target[68][2], vv_image *out) {
    int S = m->config.size;
    vv_status status = render_image(m, out, S);
    if (status != VV_OK) return status;
    float *rgb = mem_alloc(3 * (size_t)S * S, sizeof(float));
    if (!rgb) return vv_fail(VV_ERR_NO_MEMORY, "fsth_render: no memory");
    status = render_forward(m, target, NULL, NULL, rgb);
    if (status == VV_OK) fsth_tensor_to_image(out, rgb, S);
    free(rgb);
    return status;
}

vv_status fsth_render_layers(fsth_model *m, const float target[68][2], vv_image *painted, uint8_t *weight) {
    if (!m->config.hybrid) return vv_fail(VV_ERR_INVALID_ARGUMENT, "fsth_render_layers: not a hybrid model");
    return render_layers(m, target, NULL, NULL, painted, weight);
}

static vv_status render_layers(fsth_model *m, const float target[68][2], const vv_image *warped,
                               const float *validity, vv_image *painted, uint8_t *weight) {
    int S = m->config.size;
    size_t plane = (size_t)S * S;
    vv_status status = render_image(m, painted, S);
    if (status != VV_OK) return status;
    float *rgb = mem_alloc(3 * plane, sizeof(float));
    if (!rgb) return vv_fail(VV_ERR_NO_MEMORY, "fsth_render: no memory");
    status = render_forward(m, target, warped, validity, rgb);
    if (status == VV_OK) {
        /* G keeps its last forward's tanh painting and sigmoid blend. */
        /* A residual hybrid's painting is its whole composite (warp + correction), weight 255. */
        fsth_tensor_to_image(painted, m->config.residual ? rgb : m->G.rgb, S);
        for (size_t i = 0; i < plane; i++)
            weight[i] = m->config.residual ? 255 : (uint8_t)((1.0f - m->G.blend[i]) * 255.0f + 0.5f);
    }
    free(rgb);
    return status;
}
