/* eval/landmark_json: landmark sequences from `vivify landmarks` JSON and from the dlib
 * reference .jsonl files (eval/motion_metrics.h).  The files are hostile input: sizes are
 * capped before allocation, every value is type- and range-checked. */
#include "eval/motion_metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES (1u << 20)
#define COORDINATE_LIMIT 1e6

void landmark_sequence_free(landmark_sequence *seq) {
    if (!seq) return;
    free(seq->points);
    free(seq->valid);
    memset(seq, 0, sizeof *seq);
}

static vv_status sequence_alloc(landmark_sequence *seq, int count, const char *name) {
    if (count > FOLLOW_MAX_FRAMES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: %d frames, over the limit of %d", name, count, FOLLOW_MAX_FRAMES);
    seq->points = mem_calloc((size_t)(count > 0 ? count : 1), sizeof *seq->points);
    seq->valid = mem_calloc((size_t)(count > 0 ? count : 1), 1);
    if (!seq->points || !seq->valid) {
        landmark_sequence_free(seq);
        return vv_fail(VV_ERR_NO_MEMORY, "%s: out of memory for %d frames", name, count);
    }
    seq->count = count;
    return VV_OK;
}

static bool json_number_in(const cJSON *item, double lo, double hi, double *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Optional "width", "height", "fps" of an object: absent or null is unknown (0). */
static vv_status read_header(landmark_sequence *seq, const cJSON *object, const char *name) {
    static const char *const keys[3] = {"width", "height", "fps"};
    static const double limits[3] = {65536, 65536, 1000};
    double values[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, keys[k]);
        if (item && !cJSON_IsNull(item) && !json_number_in(item, 0, limits[k], &values[k]))
            return vv_fail(VV_ERR_CORRUPT, "%s: \"%s\" is not a number in [0, %g]", name, keys[k], limits[k]);
    }
    seq->width = (int)values[0];
    seq->height = (int)values[1];
    seq->fps = values[2];
    return VV_OK;
}

/* The largest face (bounding box of its landmarks) of a frame object's "faces" into
 * points; *found false when the list is empty. */
static vv_status read_faces(const cJSON *frame, const char *name, int index, float points[68][2], bool *found) {
    *found = false;
    if (!cJSON_IsObject(frame)) return vv_fail(VV_ERR_CORRUPT, "%s: frame %d is not an object", name, index);
    const cJSON *faces = cJSON_GetObjectItemCaseSensitive(frame, "faces");
    if (!cJSON_IsArray(faces)) return vv_fail(VV_ERR_CORRUPT, "%s: frame %d has no \"faces\" list", name, index);
    int face_count = cJSON_GetArraySize(faces);
    if (face_count > LANDMARK_MAX_FACES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s: frame %d lists %d faces, over the limit of %d", name, index, face_count,
                       LANDMARK_MAX_FACES);
    double best_area = -1;
    int f = 0;
    const cJSON *face;
    cJSON_ArrayForEach(face, faces) {
        const cJSON *landmarks = cJSON_IsObject(face) ? cJSON_GetObjectItemCaseSensitive(face, "landmarks") : NULL;
        if (!cJSON_IsArray(landmarks) || cJSON_GetArraySize(landmarks) != 68)
            return vv_fail(VV_ERR_CORRUPT, "%s: frame %d face %d has no list of 68 \"landmarks\"", name, index, f);
        float p[68][2];
        double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
        int k = 0;
        const cJSON *point;
        cJSON_ArrayForEach(point, landmarks) {
            double x, y;
            if (k >= 68 || !cJSON_IsArray(point) || cJSON_GetArraySize(point) != 2 ||
                !json_number_in(cJSON_GetArrayItem(point, 0), -COORDINATE_LIMIT, COORDINATE_LIMIT, &x) ||
                !json_number_in(cJSON_GetArrayItem(point, 1), -COORDINATE_LIMIT, COORDINATE_LIMIT, &y))
                return vv_fail(VV_ERR_CORRUPT, "%s: frame %d face %d point %d is not a finite [x, y] within +-1e6",
                               name, index, f, k);
            p[k][0] = (float)x, p[k][1] = (float)y;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
            k++;
        }
        double area = (x1 - x0) * (y1 - y0);
        if (area > best_area) {
            best_area = area;
            memcpy(points, p, sizeof p);
            *found = true;
        }
        f++;
    }
    return VV_OK;
}

/* Only white space after the JSON value. */
static bool rest_is_space(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return false;
    return true;
}

/* The checks both readers start with; *name defaults to "landmarks". */
static vv_status parse_begin(landmark_sequence *seq, const char *data, size_t size, const char **name) {
    if (!seq) return vv_fail(VV_ERR_INVALID_ARGUMENT, "landmarks: no output");
    memset(seq, 0, sizeof *seq);
    if (!*name) *name = "landmarks";
    if (!data && size) return vv_fail(VV_ERR_INVALID_ARGUMENT, "%s: no data", *name);
    if (size > LANDMARK_JSON_MAX_BYTES)
        return vv_fail(VV_ERR_TOO_LARGE, "%s is %zu bytes, over the %u-byte limit", *name, size,
                       LANDMARK_JSON_MAX_BYTES);
    return VV_OK;
}

vv_status landmark_sequence_parse(landmark_sequence *seq, const char *data, size_t size, const char *name) {
    vv_status s = parse_begin(seq, data, size, &name);
    if (s != VV_OK) return s;
    const char *end = NULL;
    cJSON *root = size ? cJSON_ParseWithLengthOpts(data, size, &end, false) : NULL;
    if (!root || !rest_is_space(end, data + size)) {
        size_t at = root ? (size_t)(end - data) : end ? (size_t)(end - data) : 0;
        cJSON_Delete(root);
        /* text that starts like our output but does not parse was cut short or damaged */
        size_t lead = 0;
        while (lead < size && rest_is_space(data + lead, data + lead + 1)) lead++;
        bool ours = lead < size && data[lead] == '{' && size - lead > 1;
        return ours ? vv_fail(VV_ERR_CORRUPT, "%s: truncated or damaged JSON (breaks at byte %zu)", name, at)
                    : vv_fail(VV_ERR_FORMAT, "%s is not a JSON landmark file", name);
    }
    const cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(frames))
        s = vv_fail(VV_ERR_FORMAT, "%s is not a landmark file (no \"frames\" list; see vivify landmarks)", name);
    if (s == VV_OK) s = read_header(seq, root, name);
    int count = s == VV_OK ? cJSON_GetArraySize(frames) : 0;
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_CORRUPT, "%s: no frames", name);
    if (s == VV_OK) s = sequence_alloc(seq, count, name);
    if (s == VV_OK) {
        int t = 0;
        const cJSON *frame;
        cJSON_ArrayForEach(frame, frames) {
            bool found;
            s = read_faces(frame, name, t, seq->points[t], &found);
            if (s != VV_OK) break;
            seq->valid[t++] = found;
        }
    }
    cJSON_Delete(root);
    if (s != VV_OK) landmark_sequence_free(seq);
    return s;
}

vv_status landmark_sequence_parse_jsonl(landmark_sequence *seq, const char *data, size_t size, const char *name) {
    vv_status s = parse_begin(seq, data, size, &name);
    if (s != VV_OK) return s;
    /* Count the non-blank lines first: one allocation, capped before it is made. */
    long lines = 0;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t next = nl ? (size_t)(nl - data) + 1 : size;
        if (!rest_is_space(data + i, data + next)) lines++;
        i = next;
        if (lines > FOLLOW_MAX_FRAMES)
            return vv_fail(VV_ERR_TOO_LARGE, "%s: over %d frames", name, FOLLOW_MAX_FRAMES);
    }
    if (lines == 0) return vv_fail(VV_ERR_FORMAT, "%s: no JSON lines", name);
    s = sequence_alloc(seq, (int)lines, name);
    int t = 0;
    for (size_t i = 0; s == VV_OK && i < size;) {
        const char *line = data + i, *nl = memchr(line, '\n', size - i);
        size_t length = nl ? (size_t)(nl - line) : size - i;
        i += length + (nl != NULL);
        if (rest_is_space(line, line + length)) continue;
        if (length > LINE_MAX_BYTES) {
            s = vv_fail(VV_ERR_CORRUPT, "%s: line of frame %d is over %u bytes", name, t, LINE_MAX_BYTES);
            break;
        }
        const char *end = NULL;
        cJSON *object = cJSON_ParseWithLengthOpts(line, length, &end, false);
        if (!object || !rest_is_space(end, line + length)) {
            s = t == 0 && (!object || !cJSON_IsObject(object))
                    ? vv_fail(VV_ERR_FORMAT, "%s is not a JSON-lines landmark file", name)
                    : vv_fail(VV_ERR_CORRUPT, "%s: frame %d is not one JSON object (truncated or damaged)", name, t);
            cJSON_Delete(object);
            break;
        }
        if (t == 0) {
            if (!cJSON_IsObject(object)) s = vv_fail(VV_ERR_FORMAT, "%s is not a JSON-lines landmark file", name);
            else s = read_header(seq, object, name);
        }
        bool found = false;
        if (s == VV_OK) s = read_faces(object, name, t, seq->points[t], &found);
        if (s == VV_OK) seq->valid[t++] = found;
        cJSON_Delete(object);
    }
    if (s != VV_OK) landmark_sequence_free(seq);
    return s;
}

static vv_status load_with(landmark_sequence *seq, const char *path,
                           vv_status (*parse)(landmark_sequence *, const char *, size_t, const char *)) {
    if (!seq || !path) return vv_fail(VV_ERR_INVALID_ARGUMENT, "landmarks: missing argument");
    memset(seq, 0, sizeof *seq);
    uint8_t *data = NULL;
    size_t size = 0;
    vv_status s = file_read_all(path, LANDMARK_JSON_MAX_BYTES, &data, &size);
    if (s != VV_OK) return s;
    s = parse(seq, (const char *)data, size, path);
    free(data);
    return s;
}

vv_status landmark_sequence_load(landmark_sequence *seq, const char *path) {
    return load_with(seq, path, landmark_sequence_parse);
}

vv_status landmark_sequence_load_jsonl(landmark_sequence *seq, const char *path) {
    return load_with(seq, path, landmark_sequence_parse_jsonl);
}
