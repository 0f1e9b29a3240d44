/* nn/params: the parameter store and its safetensors checkpoints. */
#include "nn/params.h"

#include "nn/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PARAM_ALIGN_FLOATS 16 /* 64 bytes: every tensor starts on a cache line */

void param_store_init(param_store *ps) { memset(ps, 0, sizeof *ps); }

void param_store_free(param_store *ps) {
    free(ps->entries);
    mem_free_aligned(ps->buffer);
    memset(ps, 0, sizeof *ps);
}

vv_status param_store_add(param_store *ps, const char *name, int ndim, const int *shape,
                          int *index) {
    if (ps->buffer) return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_add: '%s' added after allocation", name);
    size_t len = strlen(name);
    if (len == 0 || len >= PARAM_NAME_MAX)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_add: name '%s' empty or over %d bytes", name, PARAM_NAME_MAX - 1);
    if (ndim < 1 || ndim > PARAM_MAX_DIMS)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_add: '%s' has %d dimensions", name, ndim);
    if (param_store_find(ps, name) >= 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_add: duplicate name '%s'", name);
    size_t size = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0 || !size_mul(size, (size_t)shape[d], &size))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_add: '%s' has a bad dimension %d", name, shape[d]);
    size_t padded, offset = ps->total;
    if (!size_add(size, PARAM_ALIGN_FLOATS - 1, &padded) ||
        !size_add(offset, padded / PARAM_ALIGN_FLOATS * PARAM_ALIGN_FLOATS, &padded))
        return vv_fail(VV_ERR_TOO_LARGE, "param_store_add: '%s' overflows the store", name);
    if (ps->count == ps->capacity) {
        int capacity = ps->capacity ? ps->capacity * 2 : 32;
        param_entry *grown = realloc(ps->entries, (size_t)capacity * sizeof *grown);
        if (!grown) return vv_fail(VV_ERR_NO_MEMORY, "param_store_add: no memory for '%s'", name);
        ps->entries = grown;
        ps->capacity = capacity;
    }
    param_entry *e = &ps->entries[ps->count];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, len + 1);
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->size = size;
    e->offset = offset;
    ps->total = padded;
    if (index) *index = ps->count;
    ps->count++;
    return VV_OK;
}

vv_status param_store_alloc(param_store *ps) {
    if (ps->buffer) return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_alloc: already allocated");
    if (ps->total == 0) return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_alloc: no tensors declared");
    size_t bytes;
    if (!size_mul3(ps->total, 4, sizeof(float), &bytes))
        return vv_fail(VV_ERR_TOO_LARGE, "param_store_alloc: %zu floats overflow", ps->total);
    ps->buffer = mem_alloc_aligned(bytes);
    if (!ps->buffer) return vv_fail(VV_ERR_NO_MEMORY, "param_store_alloc: no memory for %zu bytes", bytes);
    memset(ps->buffer, 0, bytes);
    ps->data = ps->buffer;
    ps->grad = ps->data + ps->total;
    ps->adam_m = ps->grad + ps->total;
    ps->adam_v = ps->adam_m + ps->total;
    ps->step = 0;
    return VV_OK;
}

int param_store_find(const param_store *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->entries[i].name, name) == 0) return i;
    return -1;
}

void param_store_zero_grad(param_store *ps) {
    if (ps->grad) memset(ps->grad, 0, ps->total * sizeof(float));
}

/* splitmix64: a seeded, platform-independent stream for initialisation. */
static uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void param_fill_uniform(param_store *ps, int index, float bound, uint64_t *rng_state) {
    float *p = param_data(ps, index);
    for (size_t i = 0; i < ps->entries[index].size; i++) {
        double unit = (double)(rng_next(rng_state) >> 11) * (1.0 / 9007199254740992.0);
        p[i] = (float)((2.0 * unit - 1.0) * bound);
    }
}

vv_status param_store_save(const param_store *ps, const char *path, const char *const *meta_keys,
                           const char *const *meta_values, int meta_count) {
    if (!ps->buffer) return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_save: store not allocated");
    safetensors_entry *entries = mem_calloc((size_t)ps->count, sizeof *entries);
    int64_t *shapes = mem_calloc((size_t)ps->count * PARAM_MAX_DIMS, sizeof *shapes);
    if (!entries || !shapes) {
        free(entries);
        free(shapes);
        return vv_fail(VV_ERR_NO_MEMORY, "param_store_save: no memory for %d entries", ps->count);
    }
    for (int i = 0; i < ps->count; i++) {
        const param_entry *e = &ps->entries[i];
        for (int d = 0; d < e->ndim; d++) shapes[i * PARAM_MAX_DIMS + d] = e->shape[d];
        entries[i] = (safetensors_entry){e->name, SAFETENSORS_F32, e->ndim,
                                         shapes + i * PARAM_MAX_DIMS, ps->data + e->offset};
    }
    vv_status status = safetensors_write(path, entries, ps->count, meta_keys, meta_values, meta_count);
    free(entries);
    free(shapes);
    return status;
}

vv_status param_store_load(param_store *ps, const char *path) {
    if (!ps->buffer) return vv_fail(VV_ERR_INVALID_ARGUMENT, "param_store_load: store not allocated");
    safetensors_file f;
    vv_status status = safetensors_open(&f, path, 0);
    if (status != VV_OK) return status;
    if (f.count != ps->count) {
        safetensors_close(&f);
        return vv_fail(VV_ERR_MODEL, "%s: %d tensors, the network has %d", path, f.count, ps->count);
    }
    for (int i = 0; i < ps->count && status == VV_OK; i++) {
        const param_entry *e = &ps->entries[i];
        const safetensors_tensor *t = safetensors_find(&f, e->name);
        bool same = t && t->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++) same = t->shape[d] == e->shape[d];
        if (!same) status = vv_fail(VV_ERR_MODEL, "%s: tensor '%s' missing or of another shape", path, e->name);
        else status = safetensors_read_f32(&f, e->name, ps->data + e->offset, e->size);
    }
    safetensors_close(&f);
    return status;
}
