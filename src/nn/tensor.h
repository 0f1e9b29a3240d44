/* nn/tensor: float32 tensors.  Layout is given by the op using them: the TFJS runner
 * works in NHWC (TensorFlow's order); the training code (later) in NCHW. */
#ifndef VV_NN_TENSOR_H
#define VV_NN_TENSOR_H

#include "base/base.h"

#define TENSOR_MAX_DIMS 6

typedef struct tensor {
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t size;   /* element count */
    float *data;   /* 64-byte aligned when owned */
    bool owned;    /* data freed by tensor_free */
} tensor;

/* Allocates (uninitialised) a tensor of the given shape; overflow-checked. */
vv_status tensor_alloc(tensor *t, int ndim, const int *shape);
vv_status tensor_zeros(tensor *t, int ndim, const int *shape);
/* A view over existing memory (not freed). */
tensor tensor_view(float *data, int ndim, const int *shape);
void tensor_free(tensor *t);

#endif
