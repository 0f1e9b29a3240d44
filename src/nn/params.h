/* nn/params: one contiguous parameter buffer per network.
 *
 * A network declares its tensors by name (param_store_add), then param_store_alloc makes
 * one 64-byte-aligned allocation holding four mirrored regions of `total` floats:
 * parameters, gradients, Adam's first and second moments.  Tensor i lives at the same
 * offset in each region, so the optimiser walks flat arrays and a checkpoint is the
 * parameter region cut by the name table.  Offsets are rounded up to 16 floats. */
#ifndef VV_NN_PARAMS_H
#define VV_NN_PARAMS_H

#include "base/base.h"

#define PARAM_NAME_MAX 96
#define PARAM_MAX_DIMS 4

typedef struct param_entry {
    char name[PARAM_NAME_MAX];
    int ndim;
    int shape[PARAM_MAX_DIMS];
    size_t size;   /* elements */
    size_t offset; /* elements from the start of each region */
} param_entry;

typedef struct param_store {
    param_entry *entries;
    int count, capacity;
    size_t total;    /* floats per region, padding included */
    float *buffer;   /* the one allocation: 4 * total floats */
    float *data, *grad, *adam_m, *adam_v;
    long step;       /* optimiser steps taken (Adam's bias correction) */
} param_store;

void param_store_init(param_store *ps);
void param_store_free(param_store *ps);
/* Declares a tensor before param_store_alloc; *index receives its handle.  Fails on a
 * duplicate or over-long name, bad shape, or after allocation. */
vv_status param_store_add(param_store *ps, const char *name, int ndim, const int *shape,
                          int *index);
/* Allocates the four regions, all zero. */
vv_status param_store_alloc(param_store *ps);
/* Index of a named tensor or -1. */
int param_store_find(const param_store *ps, const char *name);
static inline float *param_data(const param_store *ps, int index) {
    return ps->data + ps->entries[index].offset;
}
static inline float *param_grad(const param_store *ps, int index) {
    return ps->grad + ps->entries[index].offset;
}
void param_store_zero_grad(param_store *ps);
/* Fills a tensor with uniform values in [-bound, bound] from a seeded generator
 * (PyTorch's default conv/linear init uses bound = 1/sqrt(fan_in)). */
void param_fill_uniform(param_store *ps, int index, float bound, uint64_t *rng_state);

/* Checkpoints: the parameters as F32 safetensors; metadata key/value pairs (e.g. the
 * network's config JSON) go to __metadata__.  Loading requires every declared tensor,
 * matching shapes; extra tensors in the file are an error too (a different network). */
vv_status param_store_save(const param_store *ps, const char *path, const char *const *meta_keys,
                           const char *const *meta_values, int meta_count);
vv_status param_store_load(param_store *ps, const char *path);

#endif
