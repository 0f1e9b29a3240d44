/* nn/tfjs_graph: what the TFJS loader (tfjs.c), runner (tfjs_run.c) and training mode
 * (tfjs_train.c) share: the graph as loaded, the run's values, and the few functions one
 * part calls in another.  Internal to nn/; the API is nn/tfjs.h. */
#ifndef VV_NN_TFJS_GRAPH_H
#define VV_NN_TFJS_GRAPH_H

#include "nn/tfjs.h"
#include "nn/ops.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TFJS_MAX_JSON_BYTES ((size_t)64 << 20)
#define TFJS_MAX_SHARD_BYTES ((size_t)1 << 30)
#define TFJS_MAX_WEIGHT_BYTES ((size_t)2 << 30)
#define TFJS_MAX_NODES 100000
#define TFJS_MAX_INPUTS 1024
#define TFJS_MAX_ELEMENTS ((size_t)1 << 28) /* per tensor: 1 GiB of floats */
#define TFJS_MAX_STRIDE 1024
#define TFJS_MAX_KERNEL 1024
#define TFJS_MAX_PAD 65536
#define TFJS_MAX_SIDE 65536 /* resize targets, transposed-convolution output sides */

typedef enum node_kind {
    KIND_PLACEHOLDER,
    KIND_CONST,
    KIND_IDENTITY,
    KIND_RESHAPE,
    KIND_SQUEEZE,
    KIND_CONV2D,
    KIND_DEPTHWISE,
    KIND_BIAS_ADD,
    KIND_BINARY,
    KIND_RELU,
    KIND_RELU6,
    KIND_SIGMOID,
    KIND_TANH,
    KIND_SOFTMAX,
    KIND_MAX_POOL,
    KIND_PAD,
    KIND_MEAN,
    KIND_MATMUL,
    KIND_CONCAT,
    KIND_AVG_POOL,
    KIND_RESIZE_BILINEAR,
    KIND_CONV2D_TRANSPOSE,
    KIND_ADD_N,
} node_kind;

typedef enum activation {
    ACT_NONE,
    ACT_RELU,
    ACT_RELU6,
    ACT_SIGMOID,
    ACT_LEAKY_RELU,
    ACT_PRELU,
} activation;

typedef enum padding_mode { PADDING_VALID, PADDING_SAME, PADDING_EXPLICIT } padding_mode;

typedef struct tfjs_node {
    char *name;
    char op[48];
    node_kind kind;
    binary_op binary;
    int *inputs;       /* data inputs (node indices), then control inputs */
    int input_count;   /* data inputs */
    int control_count; /* control ("^name") inputs after them */

    /* Attributes (those that apply to the node's kind). */
    int stride_h, stride_w, kernel_h, kernel_w;
    padding_mode padding;
    int pad_top, pad_bottom, pad_left, pad_right;
    bool has_bias;
    activation act;
    float leaky_alpha;
    bool transpose_a, transpose_b;
    bool keep_dims;
    bool align_corners, half_pixel_centers;
    int squeeze_dims[TENSOR_MAX_DIMS];
    int squeeze_count;

    /* Const value: float or int32 data (one of them), shape. */
    bool is_int;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t size;
    float *fdata;
    int32_t *idata;
    bool has_value;
    /* Placeholder: declared shape (-1 free), rank -1 when unknown. */
} tfjs_node;

/* Activation buffers kept between runs: re-touching fresh pages (page faults, zeroing)
 * cost more than BlazeFace's arithmetic.  A pointer, so const runs can use it. */
#define BUFFER_CACHE_SLOTS 32
#define BUFFER_CACHE_MAX_BYTES ((size_t)256 << 20)

typedef struct buffer_cache {
    pthread_mutex_t lock;
    float *data[BUFFER_CACHE_SLOTS];
    size_t capacity[BUFFER_CACHE_SLOTS]; /* floats */
    int count;
    size_t bytes;
} buffer_cache;

struct tfjs_model {
    buffer_cache *cache;
    tfjs_node *nodes;
    int node_count;
    int *order; /* topological order of all nodes */
    int input_node;
    int input_ndim; /* -1: unknown rank */
    int input_shape[TENSOR_MAX_DIMS];
    int *outputs; /* nodes nobody consumes, file order */
    int output_count;
    /* name -> node index, open addressing */
    int *table;
    size_t table_size;
};

/* One node's value during a run. */
typedef struct value {
    float *data;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t size;
    size_t capacity; /* floats allocated, when owned */
    bool owned; /* an activation of this run (else a view of weights or the input) */
    int refs;   /* uses still to come */
} value;

typedef struct run_state {
    const tfjs_model *model;
    value *values;
    size_t max_elements; /* per activation: scales with the input (see run_activation_cap) */
    size_t total_elements; /* allocated so far in this run, at most RUN_TOTAL_FACTOR x max_elements */
} run_state;

/* All activations of one run together: a fuzzed graph chained hundreds of 16M-float Muls
 * (28 s under ASan).  faceres and BlazeFace allocate under 1x the per-activation cap in a run. */
#define RUN_TOTAL_FACTOR 4

/* Conv2DBackpropInput(input_sizes, filter, x): the convolution whose input has
 * input_sizes and whose output is x, run backwards.  Sizes: the convolution's. */
typedef struct transpose_geometry {
    int N, H, W, C, KH, KW, OC, OH, OW, pad_top, pad_left;
} transpose_geometry;

/* The loader's name table and input references (tfjs.c). */
int tfjs_model_find_len(const tfjs_model *m, const char *s, size_t len);
bool tfjs_split_input_ref(const char *ref, const char **name, size_t *len, bool *control,
                            bool *other_output);

/* The runner (tfjs_run.c), for the training mode. */
vv_status tfjs_check_input(const tfjs_model *model, const tensor *input);
int tfjs_find_output(const tfjs_model *m, const char *name);
vv_status tfjs_fused_args(run_state *r, const tfjs_node *node, int first, int channels,
                            const float **bias, const float **alpha);
size_t tfjs_run_activation_cap(const tensor *input);
vv_status tfjs_run_node(run_state *r, int index, const tensor *input);
vv_status tfjs_spatial_out(const tfjs_node *node, int H, int W, int KH, int KW, int *OH, int *OW,
                             int *pad_top, int *pad_left);
vv_status tfjs_transpose_geometry_of(const tfjs_model *m, const value *values, const tfjs_node *node,
                                       transpose_geometry *t);
void tfjs_value_release(run_state *r, value *v);

#endif
