/* nn/safetensors: hostile-input-checked reader and atomic writer. */
#include "nn/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Half precision ---- */

float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float value;
    if (exponent == 0) {
        value = ldexpf((float)mantissa, -24);
        return sign ? -value : value;
    }
    uint32_t bits = exponent == 31 ? sign | 0x7f800000u | (mantissa << 13)
                                   : sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
    memcpy(&value, &bits, sizeof value);
    return value;
}

uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t magnitude = x & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return sign | 0x7e00;   /* NaN */
    if (magnitude >= 0x477ff000u) return sign | 0x7c00;  /* >= 65520 rounds to infinity */
    if (magnitude < 0x38800000u) {                       /* below 2^-14: subnormal */
        /* Scaling by 2^24 is exact; rintf rounds to nearest even; 1024 encodes 2^-14. */
        return sign | (uint16_t)rintf(fabsf(f) * 16777216.0f);
    }
    uint32_t exponent = (magnitude >> 23) - 127 + 15, mantissa = magnitude & 0x7fffff;
    uint32_t h = (exponent << 10) | (mantissa >> 13), rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* carries into the exponent */
    return sign | (uint16_t)h;
}

float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

uint16_t float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

static size_t dtype_size(safetensors_dtype dtype) { return dtype == SAFETENSORS_F32 ? 4 : 2; }

static const char *dtype_name(safetensors_dtype dtype) {
    return dtype == SAFETENSORS_F32 ? "F32" : dtype == SAFETENSORS_F16 ? "F16" : "BF16";
}

/* ---- Reader ---- */

void safetensors_close(safetensors_file *f) {
    if (!f) return;
    for (int i = 0; i < f->count; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->bytes);
    memset(f, 0, sizeof *f);
}

static char *string_copy(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

/* A JSON number that is a whole value in [0, max]. */
static bool json_whole(const cJSON *item, double max, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= max) || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

static vv_status parse_metadata(safetensors_file *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) return vv_fail(VV_ERR_CORRUPT, "safetensors: __metadata__ is not an object");
    int n = cJSON_GetArraySize(meta);
    if (n == 0) return VV_OK;
    f->meta_keys = calloc((size_t)n, sizeof(char *));
    f->meta_values = calloc((size_t)n, sizeof(char *));
    if (!f->meta_keys || !f->meta_values) return vv_fail(VV_ERR_NO_MEMORY, "safetensors: no memory for metadata");
    for (const cJSON *item = meta->child; item; item = item->next) {
        if (!cJSON_IsString(item) || !item->string)
            return vv_fail(VV_ERR_CORRUPT, "safetensors: metadata value of '%s' is not a string",
                           item->string ? item->string : "?");
        int i = f->meta_count;
        f->meta_keys[i] = string_copy(item->string);
        f->meta_values[i] = string_copy(item->valuestring);
        f->meta_count++;
        if (!f->meta_keys[i] || !f->meta_values[i]) return vv_fail(VV_ERR_NO_MEMORY, "safetensors: no memory for metadata");
    }
    return VV_OK;
}

static vv_status parse_tensor(safetensors_tensor *t, const cJSON *item, size_t data_size) {
    const char *name = item->string;
    if (!cJSON_IsObject(item)) return vv_fail(VV_ERR_CORRUPT, "safetensors: entry '%s' is not an object", name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *field = item->child; field; field = field->next) {
        const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                             : strcmp(field->string, "shape") == 0        ? &shape
                             : strcmp(field->string, "data_offsets") == 0 ? &offsets
                                                                          : NULL;
        if (!slot || *slot)
            return vv_fail(VV_ERR_CORRUPT, "safetensors: entry '%s' has an unknown or repeated field '%s'", name, field->string);
        *slot = field;
    }
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets))
        return vv_fail(VV_ERR_CORRUPT, "safetensors: entry '%s' lacks dtype, shape or data_offsets", name);
    const char *d = dtype->valuestring;
    if (strcmp(d, "F32") == 0) t->dtype = SAFETENSORS_F32;
    else if (strcmp(d, "F16") == 0) t->dtype = SAFETENSORS_F16;
    else if (strcmp(d, "BF16") == 0) t->dtype = SAFETENSORS_BF16;
    else {
        static const char *const known[] = {"F64", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16",
                                            "I8",  "U64",     "U32",     "U16", "U8",  "BOOL"};
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(d, known[i]) == 0)
                return vv_fail(VV_ERR_UNSUPPORTED, "safetensors: tensor '%s' has dtype %s (only F32, F16, BF16)", name, d);
        return vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' has an unknown dtype", name);
    }
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SAFETENSORS_MAX_DIMS)
        return vv_fail(VV_ERR_TOO_LARGE, "safetensors: tensor '%s' has %d dimensions (max %d)", name, ndim, SAFETENSORS_MAX_DIMS);
    t->ndim = ndim;
    size_t count = 1;
    int dim = 0;
    for (const cJSON *s = shape->child; s; s = s->next, dim++) {
        uint64_t v;
        if (!json_whole(s, 4503599627370496.0, &v))
            return vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' has a bad shape entry", name);
        t->shape[dim] = (int64_t)v;
        if (!size_mul(count, (size_t)v, &count))
            return vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' shape overflows", name);
    }
    uint64_t begin, end;
    if (cJSON_GetArraySize(offsets) != 2 || !json_whole(offsets->child, 9007199254740992.0, &begin) ||
        !json_whole(offsets->child->next, 9007199254740992.0, &end) || begin > end)
        return vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' has bad data_offsets", name);
    if (end > data_size)
        return vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' ends at byte %llu past the %zu-byte data region",
                       name, (unsigned long long)end, data_size);
    size_t bytes;
    if (!size_mul(count, dtype_size(t->dtype), &bytes) || bytes != end - begin)
        return vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' shape needs %zu elements but spans %llu bytes",
                       name, count, (unsigned long long)(end - begin));
    t->count = count;
    t->offset = (size_t)begin;
    t->bytes = bytes;
    t->name = string_copy(name);
    if (!t->name) return vv_fail(VV_ERR_NO_MEMORY, "safetensors: no memory for a name");
    return VV_OK;
}

static int compare_offset(const void *a, const void *b) {
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a, *y = *(const safetensors_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

static int compare_name(const void *a, const void *b) {
    return strcmp((*(const safetensors_tensor *const *)a)->name, (*(const safetensors_tensor *const *)b)->name);
}

/* Spans must tile the data region exactly (no overlap, no hole) and names be unique. */
static vv_status check_layout(safetensors_file *f) {
    if (f->count == 0) {
        if (f->data_size) return vv_fail(VV_ERR_CORRUPT, "safetensors: %zu data bytes but no tensors", f->data_size);
        return VV_OK;
    }
    safetensors_tensor **order = mem_alloc((size_t)f->count, sizeof *order);
    if (!order) return vv_fail(VV_ERR_NO_MEMORY, "safetensors: no memory to check %d tensors", f->count);
    for (int i = 0; i < f->count; i++) order[i] = &f->tensors[i];
    vv_status status = VV_OK;
    qsort(order, (size_t)f->count, sizeof *order, compare_offset);
    size_t at = 0;
    for (int i = 0; i < f->count && status == VV_OK; i++) {
        if (order[i]->offset < at)
            status = vv_fail(VV_ERR_CORRUPT, "safetensors: tensor '%s' overlaps another", order[i]->name);
        else if (order[i]->offset > at)
            status = vv_fail(VV_ERR_CORRUPT, "safetensors: unindexed bytes before tensor '%s'", order[i]->name);
        at = order[i]->offset + order[i]->bytes;
    }
    if (status == VV_OK && at != f->data_size)
        status = vv_fail(VV_ERR_CORRUPT, "safetensors: %zu trailing unindexed data bytes", f->data_size - at);
    if (status == VV_OK) {
        qsort(order, (size_t)f->count, sizeof *order, compare_name);
        for (int i = 1; i < f->count && status == VV_OK; i++)
            if (strcmp(order[i - 1]->name, order[i]->name) == 0)
                status = vv_fail(VV_ERR_CORRUPT, "safetensors: duplicate tensor name '%s'", order[i]->name);
    }
    free(order);
    return status;
}

static vv_status parse_owned(safetensors_file *f) {
    if (f->size < 8) return vv_fail(VV_ERR_FORMAT, "safetensors: %zu bytes is shorter than the header length", f->size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | f->bytes[i];
    if (header_len < 2 || header_len > SAFETENSORS_MAX_HEADER)
        return vv_fail(VV_ERR_FORMAT, "safetensors: header length %llu outside [2, %u]",
                       (unsigned long long)header_len, SAFETENSORS_MAX_HEADER);
    if (header_len > f->size - 8)
        return vv_fail(VV_ERR_CORRUPT, "safetensors: header of %llu bytes runs past the %zu-byte file",
                       (unsigned long long)header_len, f->size);
    const char *header = (const char *)f->bytes + 8;
    if (header[0] != '{') return vv_fail(VV_ERR_FORMAT, "safetensors: header does not start with '{'");
    f->data = f->bytes + 8 + header_len;
    f->data_size = f->size - 8 - (size_t)header_len;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, (size_t)header_len, &end, false);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vv_fail(VV_ERR_CORRUPT, "safetensors: header is not a JSON object");
    }
    for (; end && end < header + header_len; end++) /* padding: spaces only */
        if (*end != ' ' && *end != '\0') {
            cJSON_Delete(root);
            return vv_fail(VV_ERR_CORRUPT, "safetensors: bytes after the header JSON");
        }
    int entries = cJSON_GetArraySize(root);
    vv_status status = VV_OK;
    if (entries > SAFETENSORS_MAX_TENSORS + 1)
        status = vv_fail(VV_ERR_TOO_LARGE, "safetensors: %d entries (max %d)", entries, SAFETENSORS_MAX_TENSORS);
    else if (entries > 0 && !(f->tensors = calloc((size_t)entries, sizeof *f->tensors)))
        status = vv_fail(VV_ERR_NO_MEMORY, "safetensors: no memory for %d entries", entries);
    bool seen_meta = false;
    for (const cJSON *item = root->child; item && status == VV_OK; item = item->next) {
        if (!item->string) status = vv_fail(VV_ERR_CORRUPT, "safetensors: unnamed header entry");
        else if (strcmp(item->string, "__metadata__") == 0) {
            status = seen_meta ? vv_fail(VV_ERR_CORRUPT, "safetensors: repeated __metadata__")
                               : parse_metadata(f, item);
            seen_meta = true;
        } else {
            status = parse_tensor(&f->tensors[f->count], item, f->data_size);
            if (status == VV_OK) f->count++;
        }
    }
    cJSON_Delete(root);
    if (status == VV_OK) status = check_layout(f);
    return status;
}

vv_status safetensors_parse(safetensors_file *f, const uint8_t *bytes, size_t size) {
    memset(f, 0, sizeof *f);
    if (size == 0) return vv_fail(VV_ERR_FORMAT, "safetensors: empty input");
    f->bytes = malloc(size);
    if (!f->bytes) return vv_fail(VV_ERR_NO_MEMORY, "safetensors: no memory for %zu bytes", size);
    memcpy(f->bytes, bytes, size);
    f->size = size;
    vv_status status = parse_owned(f);
    if (status != VV_OK) safetensors_close(f);
    return status;
}

vv_status safetensors_open(safetensors_file *f, const char *path, size_t max_bytes) {
    memset(f, 0, sizeof *f);
    if (max_bytes == 0) max_bytes = (size_t)4 << 30;
    vv_status status = file_read_all(path, max_bytes, &f->bytes, &f->size);
    if (status != VV_OK) return status;
    status = parse_owned(f);
    if (status != VV_OK) {
        vv_fail(status, "%s: %s", path, vv_last_error());
        safetensors_close(f);
    }
    return status;
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *safetensors_metadata(const safetensors_file *f, const char *key) {
    for (int i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

vv_status safetensors_read_f32(const safetensors_file *f, const char *name, float *out,
                               size_t count) {
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t) return vv_fail(VV_ERR_NOT_FOUND, "safetensors: no tensor '%s'", name);
    if (t->count != count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "safetensors: tensor '%s' has %zu elements, %zu asked", name, t->count, count);
    const uint8_t *src = f->data + t->offset;
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == SAFETENSORS_F32) {
            uint32_t bits = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                            (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
            memcpy(&out[i], &bits, sizeof bits);
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            out[i] = t->dtype == SAFETENSORS_F16 ? half_to_float(h) : bf16_to_float(h);
        }
    }
    return VV_OK;
}

/* ---- Writer ---- */

static char *build_header(const safetensors_entry *entries, int count, const char *const *keys,
                          const char *const *values, int meta_count, size_t *data_bytes) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    bool ok = true;
    if (meta_count > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; ok && i < meta_count; i++) ok = meta && cJSON_AddStringToObject(meta, keys[i], values[i]);
    }
    size_t at = 0;
    for (int i = 0; ok && i < count; i++) {
        const safetensors_entry *e = &entries[i];
        size_t n = 1, bytes;
        cJSON *item = cJSON_AddObjectToObject(root, e->name), *shape = NULL, *offsets = NULL;
        ok = item && cJSON_AddStringToObject(item, "dtype", dtype_name(e->dtype)) &&
             (shape = cJSON_AddArrayToObject(item, "shape")) &&
             (offsets = cJSON_AddArrayToObject(item, "data_offsets"));
        for (int d = 0; ok && d < e->ndim; d++) {
            ok = e->shape[d] >= 0 && size_mul(n, (size_t)e->shape[d], &n);
            cJSON *dim = ok ? cJSON_CreateNumber((double)e->shape[d]) : NULL;
            ok = ok && dim && cJSON_AddItemToArray(shape, dim);
        }
        ok = ok && size_mul(n, dtype_size(e->dtype), &bytes);
        cJSON *begin = ok ? cJSON_CreateNumber((double)at) : NULL;
        ok = ok && begin && cJSON_AddItemToArray(offsets, begin) && size_add(at, bytes, &at);
        cJSON *end = ok ? cJSON_CreateNumber((double)at) : NULL;
        ok = ok && end && cJSON_AddItemToArray(offsets, end);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    *data_bytes = at;
    return text;
}

vv_status safetensors_write(const char *path, const safetensors_entry *entries, int count,
                            const char *const *meta_keys, const char *const *meta_values,
                            int meta_count) {
    for (int i = 0; i < count; i++) {
        if (entries[i].ndim < 0 || entries[i].ndim > SAFETENSORS_MAX_DIMS || !entries[i].name ||
            strcmp(entries[i].name, "__metadata__") == 0)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "safetensors_write: entry %d has a bad name or rank", i);
        for (int j = 0; j < i; j++)
            if (strcmp(entries[i].name, entries[j].name) == 0)
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "safetensors_write: duplicate name '%s'", entries[i].name);
    }
    size_t data_bytes = 0;
    char *header = build_header(entries, count, meta_keys, meta_values, meta_count, &data_bytes);
    if (!header) return vv_fail(VV_ERR_NO_MEMORY, "safetensors_write: cannot build the header for %s", path);
    size_t header_len = strlen(header), padded = (header_len + 7) / 8 * 8;
    char temp[4096];
    vv_status status = file_temp_path(path, temp, sizeof temp);
    FILE *out = status == VV_OK ? fopen(temp, "wb") : NULL;
    if (status == VV_OK && !out) status = vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno)); /* the user's name, not the temp's */
    if (out) {
        uint8_t len_bytes[8];
        for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        bool ok = fwrite(len_bytes, 1, 8, out) == 8 && fwrite(header, 1, header_len, out) == header_len;
        for (size_t i = header_len; ok && i < padded; i++) ok = fputc(' ', out) != EOF;
        uint8_t buffer[4096];
        for (int i = 0; ok && i < count; i++) {
            const safetensors_entry *e = &entries[i];
            size_t n = 1, filled = 0, width = dtype_size(e->dtype);
            for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
            for (size_t j = 0; ok && j < n; j++) {
                float v = e->data[j];
                if (width == 4) {
                    uint32_t bits;
                    memcpy(&bits, &v, sizeof bits);
                    for (int b = 0; b < 4; b++) buffer[filled++] = (uint8_t)(bits >> (8 * b));
                } else {
                    uint16_t h = e->dtype == SAFETENSORS_F16 ? float_to_half(v) : float_to_bf16(v);
                    buffer[filled++] = (uint8_t)h;
                    buffer[filled++] = (uint8_t)(h >> 8);
                }
                if (filled == sizeof buffer || j + 1 == n) {
                    ok = fwrite(buffer, 1, filled, out) == filled;
                    filled = 0;
                }
            }
        }
        if (fclose(out) != 0) ok = false;
        if (!ok) {
            remove(temp);
            status = vv_fail(VV_ERR_WRITE, "error writing %s (disk full?)", path);
        } else status = file_commit(temp, path);
    }
    free(header);
    return status;
}
