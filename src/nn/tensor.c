/* nn/tensor: allocation helpers for float32 tensors. */
#include "nn/tensor.h"

#include <string.h>

/* Element count of a shape, or false when a dimension is negative, the rank is out of
 * range or the product overflows. */
static bool tensor_shape_size(int ndim, const int *shape, size_t *size) {
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) return false;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !size_mul(n, (size_t)shape[i], &n)) return false;
    }
    *size = n;
    return true;
}

vv_status tensor_alloc(tensor *t, int ndim, const int *shape) {
    memset(t, 0, sizeof *t);
    size_t size, bytes;
    if (!tensor_shape_size(ndim, shape, &size) || !size_mul(size, sizeof(float), &bytes))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tensor_alloc: invalid shape (rank %d)", ndim);
    /* A zero-element tensor still gets a (tiny) buffer so data is never NULL when owned. */
    float *data = mem_alloc_aligned(bytes ? bytes : sizeof(float));
    if (!data) return vv_fail(VV_ERR_NO_MEMORY, "tensor_alloc: out of memory for %zu floats", size);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->size = size;
    t->data = data;
    t->owned = true;
    return VV_OK;
}

vv_status tensor_zeros(tensor *t, int ndim, const int *shape) {
    vv_status status = tensor_alloc(t, ndim, shape);
    if (status == VV_OK) memset(t->data, 0, t->size * sizeof(float));
    return status;
}

tensor tensor_view(float *data, int ndim, const int *shape) {
    tensor t;
    memset(&t, 0, sizeof t);
    size_t size = 0;
    if (!tensor_shape_size(ndim, shape, &size)) return t; /* ndim 0, size 0, data NULL */
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.size = size;
    t.data = data;
    t.owned = false;
    return t;
}

void tensor_free(tensor *t) {
    if (!t) return;
    if (t->owned) mem_free_aligned(t->data);
    memset(t, 0, sizeof *t);
}
