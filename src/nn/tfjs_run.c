/* nn/tfjs_run: running a loaded TFJS graph (nn/tfjs.h): values with reference counts,
 * activation buffers reused between runs, one function per op kind, shapes checked as they
 * flow. */
#include "nn/tfjs_graph.h"

#include "nn/layers.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- running ---- */



/* A hostile graph can blow a tiny input up (an 860 MB Pad from a 1.4 KB model, found by
 * fuzz_tfjs).  Real networks stay within a few times their input per activation
 * (faceres ~5x, BlazeFace ~2x), so cap each activation at 64x the input, at least 16M
 * floats, at most TFJS_MAX_ELEMENTS. */
size_t tfjs_run_activation_cap(const tensor *input) {
    size_t cap = 0;
    if (!size_mul(input->size, 64, &cap) || cap > TFJS_MAX_ELEMENTS) cap = TFJS_MAX_ELEMENTS;
    if (cap < ((size_t)1 << 24)) cap = (size_t)1 << 24;
    return cap;
}

static const value *input_value(run_state *r, const tfjs_node *node, int k) {
    return &r->values[node->inputs[k]];
}

/* The smallest cached buffer holding n floats, or a new one. */
static float *buffer_take(buffer_cache *cache, size_t n, size_t *capacity) {
    if (n == 0) n = 1;
    pthread_mutex_lock(&cache->lock);
    int best = -1;
    for (int i = 0; i < cache->count; i++)
        if (cache->capacity[i] >= n && (best < 0 || cache->capacity[i] < cache->capacity[best])) best = i;
    float *data = NULL;
    if (best >= 0) {
        data = cache->data[best];
        *capacity = cache->capacity[best];
        cache->bytes -= *capacity * sizeof(float);
        cache->count--;
        cache->data[best] = cache->data[cache->count];
        cache->capacity[best] = cache->capacity[cache->count];
    }
    pthread_mutex_unlock(&cache->lock);
    if (data) return data;
    *capacity = n;
    return mem_alloc_aligned(n * sizeof(float));
}

static void buffer_give(buffer_cache *cache, float *data, size_t capacity) {
    if (!data) return;
    pthread_mutex_lock(&cache->lock);
    size_t bytes = capacity * sizeof(float);
    if (cache->count < BUFFER_CACHE_SLOTS && cache->bytes + bytes <= BUFFER_CACHE_MAX_BYTES) {
        cache->data[cache->count] = data;
        cache->capacity[cache->count++] = capacity;
        cache->bytes += bytes;
        data = NULL;
    }
    pthread_mutex_unlock(&cache->lock);
    mem_free_aligned(data);
}

void tfjs_value_release(run_state *r, value *v) {
    if (v->owned) buffer_give(r->model->cache, v->data, v->capacity);
    v->data = NULL;
    v->owned = false;
}

/* Allocates a node's output, capped. */
static vv_status value_alloc(run_state *r, value *v, int ndim, const int *shape, const tfjs_node *node) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !size_mul(n, (size_t)shape[i], &n) || n > r->max_elements)
            return vv_fail(VV_ERR_TOO_LARGE, "node '%s': output too large (over %zu floats for this input)",
                           node->name, r->max_elements);
    }
    if (r->total_elements + n > RUN_TOTAL_FACTOR * r->max_elements)
        return vv_fail(VV_ERR_TOO_LARGE, "node '%s': the model's activations exceed %zu floats in all for this input",
                       node->name, RUN_TOTAL_FACTOR * r->max_elements);
    r->total_elements += n;
    v->data = buffer_take(r->model->cache, n, &v->capacity);
    if (!v->data) return vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory for %zu floats", node->name, n);
    v->ndim = ndim;
    memcpy(v->shape, shape, (size_t)ndim * sizeof(int));
    v->size = n;
    v->owned = true;
    return VV_OK;
}

/* Output buffer for an elementwise op: takes over input k's buffer when this node is
 * its last user and the sizes match, else allocates. */
static vv_status value_alloc_inplace(run_state *r, const tfjs_node *node, int k, value *out, int ndim,
                                     const int *shape) {
    value *in = &r->values[node->inputs[k]];
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (in->owned && in->refs == 1 && in->size == n && in->data) {
        out->data = in->data;
        out->ndim = ndim;
        memcpy(out->shape, shape, (size_t)ndim * sizeof(int));
        out->size = n;
        out->capacity = in->capacity;
        out->owned = true;
        in->data = NULL; /* moved */
        in->owned = false;
        return VV_OK;
    }
    return value_alloc(r, out, ndim, shape, node);
}

/* Same data, new shape: moves or (when others still need the buffer) copies. */
static vv_status value_alias(run_state *r, const tfjs_node *node, value *out, int ndim, const int *shape) {
    value *in = &r->values[node->inputs[0]];
    if (!in->owned) { /* weights or the caller's input: live for the whole run */
        out->data = in->data;
        out->ndim = ndim;
        memcpy(out->shape, shape, (size_t)ndim * sizeof(int));
        out->size = in->size;
        out->owned = false;
        return VV_OK;
    }
    vv_status s = value_alloc_inplace(r, node, 0, out, ndim, shape);
    if (s == VV_OK && out->data != in->data && in->data) memcpy(out->data, in->data, in->size * sizeof(float));
    return s;
}

static void apply_activation(float *data, size_t n, int channels, activation act, float alpha,
                             const float *prelu) {
    switch (act) {
    case ACT_RELU: relu_forward(data, data, n); break;
    case ACT_RELU6: relu6_forward(data, data, n); break;
    case ACT_SIGMOID: sigmoid_forward(data, data, n); break;
    case ACT_LEAKY_RELU: leaky_relu_forward(data, data, alpha, n); break;
    case ACT_PRELU: prelu_forward(data, data, prelu, n / (size_t)channels, channels); break;
    case ACT_NONE: break;
    }
}

/* Bias and PReLU alpha of a fused op: [C] vectors. */
vv_status tfjs_fused_args(run_state *r, const tfjs_node *node, int first, int channels,
                            const float **bias, const float **alpha) {
    *bias = NULL;
    *alpha = NULL;
    int k = first;
    if (node->has_bias) {
        const value *b = input_value(r, node, k++);
        if (b->size != (size_t)channels)
            return vv_fail(VV_ERR_MODEL, "node '%s': bias has %zu values for %d channels", node->name, b->size, channels);
        *bias = b->data;
    }
    if (node->act == ACT_PRELU) {
        const value *a = input_value(r, node, k);
        if (a->size != (size_t)channels)
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': prelu alpha has %zu values for %d channels",
                           node->name, a->size, channels);
        *alpha = a->data;
    }
    return VV_OK;
}

vv_status tfjs_spatial_out(const tfjs_node *node, int H, int W, int KH, int KW, int *OH, int *OW,
                             int *pad_top, int *pad_left) {
    bool ok;
    if (node->padding == PADDING_SAME) {
        ok = conv_out_size_same(H, KH, node->stride_h, OH, pad_top) &&
             conv_out_size_same(W, KW, node->stride_w, OW, pad_left);
    } else if (node->padding == PADDING_VALID) {
        *pad_top = *pad_left = 0;
        ok = conv_out_size_valid(H, KH, node->stride_h, OH) && conv_out_size_valid(W, KW, node->stride_w, OW);
    } else {
        *pad_top = node->pad_top;
        *pad_left = node->pad_left;
        ok = conv_out_size_explicit(H, KH, node->stride_h, node->pad_top, node->pad_bottom, OH) &&
             conv_out_size_explicit(W, KW, node->stride_w, node->pad_left, node->pad_right, OW);
    }
    if (!ok || *OH <= 0 || *OW <= 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "node '%s': %dx%d input too small for a %dx%d window",
                       node->name, H, W, KH, KW);
    return VV_OK;
}

static vv_status run_conv(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0), *f = input_value(r, node, 1);
    bool depthwise = node->kind == KIND_DEPTHWISE;
    if (x->ndim != 4 || f->ndim != 4 || f->shape[2] != x->shape[3])
        return vv_fail(VV_ERR_MODEL, "node '%s': input and filter shapes do not fit", node->name);
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int KH = f->shape[0], KW = f->shape[1];
    long long oc = depthwise ? (long long)C * f->shape[3] : f->shape[3];
    if (KH > TFJS_MAX_KERNEL || KW > TFJS_MAX_KERNEL || oc > INT_MAX || KH * KW == 0)
        return vv_fail(VV_ERR_MODEL, "node '%s': bad filter size", node->name);
    int OH, OW, pad_top, pad_left;
    vv_status s = tfjs_spatial_out(node, H, W, KH, KW, &OH, &OW, &pad_top, &pad_left);
    if (s) return s;
    const float *bias, *alpha;
    if ((s = tfjs_fused_args(r, node, 2, (int)oc, &bias, &alpha))) return s;
    int shape[4] = {N, OH, OW, (int)oc};
    if ((s = value_alloc(r, out, 4, shape, node))) return s;
    if (depthwise) {
        depthwise_conv2d_nhwc_forward(out->data, x->data, f->data, bias, N, H, W, C, KH, KW, f->shape[3],
                                      node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
    } else {
        size_t k;
        if (!size_mul3((size_t)KH, (size_t)KW, (size_t)C, &k) || k > INT_MAX)
            return vv_fail(VV_ERR_MODEL, "node '%s': filter too large", node->name);
        if ((s = conv2d_nhwc_forward(out->data, x->data, f->data, bias, N, H, W, C, KH, KW, (int)oc,
                                     node->stride_h, node->stride_w, pad_top, pad_left, OH, OW)))
            return s;
    }
    apply_activation(out->data, out->size, (int)oc, node->act, node->leaky_alpha, alpha);
    return VV_OK;
}

static vv_status run_pool(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    if (x->ndim != 4) return vv_fail(VV_ERR_MODEL, "node '%s': %s input is not 4-D", node->name, node->op);
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int OH, OW, pad_top, pad_left;
    vv_status s = tfjs_spatial_out(node, H, W, node->kernel_h, node->kernel_w, &OH, &OW, &pad_top, &pad_left);
    if (s) return s;
    int shape[4] = {N, OH, OW, C};
    if ((s = value_alloc(r, out, 4, shape, node))) return s;
    if (node->kind == KIND_AVG_POOL)
        avg_pool_nhwc_forward(out->data, x->data, N, H, W, C, node->kernel_h, node->kernel_w, node->stride_h,
                              node->stride_w, pad_top, pad_left, OH, OW);
    else
        max_pool_nhwc_forward(out->data, x->data, N, H, W, C, node->kernel_h, node->kernel_w, node->stride_h,
                              node->stride_w, pad_top, pad_left, OH, OW);
    return VV_OK;
}

static vv_status run_resize_bilinear(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const int32_t *size = r->model->nodes[node->inputs[1]].idata; /* checked at load: 2 sides >= 1 */
    if (x->ndim != 4 || x->shape[1] <= 0 || x->shape[2] <= 0)
        return vv_fail(VV_ERR_MODEL, "node '%s': ResizeBilinear input is not a 4-D image", node->name);
    int shape[4] = {x->shape[0], size[0], size[1], x->shape[3]};
    vv_status s = value_alloc(r, out, 4, shape, node);
    if (s) return s;
    resize_bilinear_nhwc_forward(out->data, x->data, shape[0], x->shape[1], x->shape[2], shape[3], shape[1],
                                 shape[2], node->align_corners, node->half_pixel_centers);
    return VV_OK;
}


vv_status tfjs_transpose_geometry_of(const tfjs_model *m, const value *values, const tfjs_node *node,
                                       transpose_geometry *t) {
    const int32_t *sizes = m->nodes[node->inputs[0]].idata; /* checked at load: 4 entries >= 1 */
    const value *f = &values[node->inputs[1]], *x = &values[node->inputs[2]];
    if (x->ndim != 4 || f->ndim != 4)
        return vv_fail(VV_ERR_MODEL, "node '%s': Conv2DBackpropInput needs a 4-D input and filter", node->name);
    t->N = sizes[0], t->H = sizes[1], t->W = sizes[2], t->C = sizes[3];
    t->KH = f->shape[0], t->KW = f->shape[1], t->OC = f->shape[3];
    if (t->KH < 1 || t->KW < 1 || t->KH > TFJS_MAX_KERNEL || t->KW > TFJS_MAX_KERNEL)
        return vv_fail(VV_ERR_MODEL, "node '%s': bad filter size", node->name);
    if (f->shape[2] != t->C || x->shape[3] != t->OC || x->shape[0] != t->N)
        return vv_fail(VV_ERR_MODEL, "node '%s': input_sizes, filter [%d,%d,%d,%d] and input [%d,%d,%d,%d] do not fit",
                       node->name, f->shape[0], f->shape[1], f->shape[2], f->shape[3], x->shape[0], x->shape[1],
                       x->shape[2], x->shape[3]);
    size_t k;
    if (!size_mul3((size_t)t->KH, (size_t)t->KW, (size_t)t->C, &k) || k > INT_MAX)
        return vv_fail(VV_ERR_MODEL, "node '%s': filter too large", node->name);
    vv_status s = tfjs_spatial_out(node, t->H, t->W, t->KH, t->KW, &t->OH, &t->OW, &t->pad_top, &t->pad_left);
    if (s) return s;
    if (t->OH != x->shape[1] || t->OW != x->shape[2])
        return vv_fail(VV_ERR_MODEL, "node '%s': a %dx%d convolution output does not come from %dx%d input_sizes",
                       node->name, x->shape[1], x->shape[2], t->H, t->W);
    return VV_OK;
}

static vv_status run_conv_transpose(run_state *r, const tfjs_node *node, value *out) {
    transpose_geometry t;
    vv_status s = tfjs_transpose_geometry_of(r->model, r->values, node, &t);
    if (s) return s;
    int shape[4] = {t.N, t.H, t.W, t.C};
    if ((s = value_alloc(r, out, 4, shape, node))) return s;
    return conv2d_transpose_nhwc_forward(out->data, input_value(r, node, 2)->data, input_value(r, node, 1)->data,
                                         t.N, t.H, t.W, t.C, t.KH, t.KW, t.OC, node->stride_h, node->stride_w,
                                         t.pad_top, t.pad_left, t.OH, t.OW);
}

/* AddN: the elementwise sum of equally shaped inputs. */
static vv_status run_add_n(run_state *r, const tfjs_node *node, value *out) {
    const value *first = input_value(r, node, 0);
    for (int k = 1; k < node->input_count; k++) {
        const value *v = input_value(r, node, k);
        bool same = v->ndim == first->ndim;
        for (int i = 0; same && i < v->ndim; i++) same = v->shape[i] == first->shape[i];
        if (!same) return vv_fail(VV_ERR_MODEL, "node '%s': AddN inputs differ in shape", node->name);
    }
    int ndim = first->ndim, shape[TENSOR_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    const float *src = first->data;
    vv_status s = value_alloc_inplace(r, node, 0, out, ndim, shape);
    if (s) return s;
    if (!src) src = out->data; /* moved */
    size_t n = out->size;
    if (src != out->data) memcpy(out->data, src, n * sizeof(float));
    for (int k = 1; k < node->input_count; k++) {
        const float *v = input_value(r, node, k)->data;
        for (size_t i = 0; i < n; i++) out->data[i] += v[i];
    }
    return VV_OK;
}

static vv_status run_binary(run_state *r, const tfjs_node *node, value *out) {
    const value *a = input_value(r, node, 0), *b = input_value(r, node, 1);
    int shape[TENSOR_MAX_DIMS], ndim;
    if (!broadcast_shape(shape, &ndim, a->shape, a->ndim, b->shape, b->ndim, TENSOR_MAX_DIMS))
        return vv_fail(VV_ERR_MODEL, "node '%s': operand shapes do not broadcast", node->name);
    /* Reuse whichever operand has the output's size (and is dying here). */
    const value *reuse = a->size >= b->size ? a : b;
    int k = reuse == a ? 0 : 1;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    vv_status s = reuse->size == n ? value_alloc_inplace(r, node, k, out, ndim, shape)
                                   : value_alloc(r, out, ndim, shape, node);
    if (s) return s;
    /* After a move the operand's value slot lost its pointer: use the output buffer. */
    const float *ad = a->data ? a->data : out->data, *bd = b->data ? b->data : out->data;
    binary_forward(out->data, ad, bd, node->binary, shape, ndim, a->shape, a->ndim, b->shape, b->ndim);
    return VV_OK;
}

static vv_status run_unary(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    size_t n = x->size;
    const float *src = x->data;
    vv_status s = value_alloc_inplace(r, node, 0, out, x->ndim, x->shape);
    if (s) return s;
    if (!src) src = out->data; /* moved */
    switch (node->kind) {
    case KIND_RELU: relu_forward(out->data, src, n); break;
    case KIND_RELU6: relu6_forward(out->data, src, n); break;
    case KIND_SIGMOID: sigmoid_forward(out->data, src, n); break;
    case KIND_TANH: tanh_forward(out->data, src, n); break;
    case KIND_SOFTMAX: {
        int cols = out->ndim ? out->shape[out->ndim - 1] : 1;
        if (cols > 0) softmax_forward(out->data, src, n / (size_t)cols, cols);
        break;
    }
    default: break;
    }
    return VV_OK;
}

static vv_status run_bias_add(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0), *b = input_value(r, node, 1);
    int C = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || b->ndim != 1 || b->shape[0] != C)
        return vv_fail(VV_ERR_MODEL, "node '%s': bias does not match the channels", node->name);
    const float *src = x->data, *bias = b->data;
    size_t n = x->size;
    vv_status s = value_alloc_inplace(r, node, 0, out, x->ndim, x->shape);
    if (s) return s;
    if (!src) src = out->data;
    if (C > 0) bias_add_forward(out->data, src, bias, n / (size_t)C, C);
    return VV_OK;
}

static vv_status run_reshape(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const tfjs_node *target = &r->model->nodes[node->inputs[1]];
    int shape[TENSOR_MAX_DIMS], ndim = (int)target->size, free_axis = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        int d = target->idata[i];
        if (d == -1 && free_axis < 0) {
            free_axis = i;
            d = 1;
        } else if (d < 0) {
            return vv_fail(VV_ERR_MODEL, "node '%s': bad reshape target", node->name);
        }
        shape[i] = d;
        if (!size_mul(known, (size_t)d, &known))
            return vv_fail(VV_ERR_MODEL, "node '%s': bad reshape target", node->name);
    }
    if (free_axis >= 0) {
        if (known == 0 || x->size % known != 0 || x->size / known > INT_MAX)
            return vv_fail(VV_ERR_MODEL, "node '%s': cannot reshape %zu values", node->name, x->size);
        shape[free_axis] = (int)(x->size / known);
        known = x->size;
    }
    if (known != x->size)
        return vv_fail(VV_ERR_MODEL, "node '%s': reshape of %zu values to %zu", node->name, x->size, known);
    return value_alias(r, node, out, ndim, shape);
}

static vv_status run_squeeze(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    bool drop[TENSOR_MAX_DIMS] = {false};
    for (int i = 0; i < node->squeeze_count; i++) {
        int axis = node->squeeze_dims[i] < 0 ? node->squeeze_dims[i] + x->ndim : node->squeeze_dims[i];
        if (axis < 0 || axis >= x->ndim || x->shape[axis] != 1)
            return vv_fail(VV_ERR_MODEL, "node '%s': cannot squeeze axis %d", node->name, node->squeeze_dims[i]);
        drop[axis] = true;
    }
    int shape[TENSOR_MAX_DIMS], ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        bool d = node->squeeze_count ? drop[i] : x->shape[i] == 1;
        if (!d) shape[ndim++] = x->shape[i];
    }
    return value_alias(r, node, out, ndim, shape);
}

static vv_status run_pad(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const tfjs_node *pads = &r->model->nodes[node->inputs[1]];
    if (pads->shape[0] != x->ndim)
        return vv_fail(VV_ERR_MODEL, "node '%s': paddings for rank %d on a rank-%d tensor", node->name,
                       pads->shape[0], x->ndim);
    int before[TENSOR_MAX_DIMS], after[TENSOR_MAX_DIMS], shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        before[i] = pads->idata[2 * i];
        after[i] = pads->idata[2 * i + 1];
        long long d = (long long)x->shape[i] + before[i] + after[i];
        if (d > INT_MAX) return vv_fail(VV_ERR_TOO_LARGE, "node '%s': padded size too large", node->name);
        shape[i] = (int)d;
    }
    float fill = 0;
    if (node->input_count == 3) {
        const tfjs_node *v = &r->model->nodes[node->inputs[2]];
        fill = v->is_int ? (float)v->idata[0] : v->fdata[0];
    }
    vv_status s = value_alloc(r, out, x->ndim, shape, node);
    if (s) return s;
    pad_forward(out->data, x->data, x->shape, x->ndim, before, after, fill);
    return VV_OK;
}

static vv_status run_mean(run_state *r, const tfjs_node *node, value *out) {
    const value *x = input_value(r, node, 0);
    const tfjs_node *axes = &r->model->nodes[node->inputs[1]];
    bool reduce[TENSOR_MAX_DIMS] = {false};
    for (size_t i = 0; i < axes->size; i++) {
        int axis = axes->idata[i];
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis >= x->ndim)
            return vv_fail(VV_ERR_MODEL, "node '%s': axis %d out of range", node->name, axes->idata[i]);
        reduce[axis] = true;
    }
    int shape[TENSOR_MAX_DIMS], ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!reduce[i]) shape[ndim++] = x->shape[i];
        else if (node->keep_dims) shape[ndim++] = 1;
    }
    vv_status s = value_alloc(r, out, ndim, shape, node);
    if (s) return s;
    mean_forward(out->data, x->data, x->shape, x->ndim, reduce);
    return VV_OK;
}

static vv_status run_matmul(run_state *r, const tfjs_node *node, value *out) {
    const value *a = input_value(r, node, 0), *b = input_value(r, node, 1);
    if (a->ndim != 2 || b->ndim != 2) return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': MatMul of non-matrices", node->name);
    int M = node->transpose_a ? a->shape[1] : a->shape[0];
    int K = node->transpose_a ? a->shape[0] : a->shape[1];
    int K2 = node->transpose_b ? b->shape[1] : b->shape[0];
    int N = node->transpose_b ? b->shape[0] : b->shape[1];
    if (K != K2) return vv_fail(VV_ERR_MODEL, "node '%s': MatMul inner sizes %d and %d differ", node->name, K, K2);
    const float *bias, *alpha;
    vv_status s = tfjs_fused_args(r, node, 2, N, &bias, &alpha);
    if (s) return s;
    int shape[2] = {M, N};
    if ((s = value_alloc(r, out, 2, shape, node))) return s;
    matmul_forward(out->data, a->data, b->data, bias, M, K, N, node->transpose_a, node->transpose_b);
    if (N > 0) apply_activation(out->data, out->size, N, node->act, node->leaky_alpha, alpha);
    return VV_OK;
}

static vv_status run_concat(run_state *r, const tfjs_node *node, value *out) {
    int count = node->input_count - 1;
    const value *first = input_value(r, node, 0);
    int axis = r->model->nodes[node->inputs[count]].idata[0];
    if (axis < 0) axis += first->ndim;
    if (axis < 0 || axis >= first->ndim) return vv_fail(VV_ERR_MODEL, "node '%s': concat axis out of range", node->name);
    const float **inputs = mem_alloc((size_t)count, sizeof(float *));
    size_t *inner = mem_alloc((size_t)count, sizeof(size_t));
    vv_status s = VV_OK;
    if (!inputs || !inner) {
        s = vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        goto end;
    }
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    long long axis_total = 0;
    size_t outer = 1, after = 1;
    for (int i = 0; i < axis; i++) outer *= (size_t)first->shape[i];
    for (int i = axis + 1; i < first->ndim; i++) after *= (size_t)first->shape[i];
    for (int k = 0; k < count; k++) {
        const value *v = input_value(r, node, k);
        bool ok = v->ndim == first->ndim;
        for (int i = 0; ok && i < v->ndim; i++) ok = i == axis || v->shape[i] == first->shape[i];
        if (!ok) {
            s = vv_fail(VV_ERR_MODEL, "node '%s': concat inputs differ off the axis", node->name);
            goto end;
        }
        axis_total += v->shape[axis];
        inputs[k] = v->data;
        inner[k] = (size_t)v->shape[axis] * after;
    }
    if (axis_total > INT_MAX) {
        s = vv_fail(VV_ERR_TOO_LARGE, "node '%s': concat too large", node->name);
        goto end;
    }
    shape[axis] = (int)axis_total;
    if ((s = value_alloc(r, out, first->ndim, shape, node))) goto end;
    concat_forward(out->data, inputs, inner, count, outer);
end:
    free(inputs);
    free(inner);
    return s;
}

vv_status tfjs_run_node(run_state *r, int index, const tensor *input) {
    const tfjs_model *m = r->model;
    const tfjs_node *node = &m->nodes[index];
    value *out = &r->values[index];
    int refs = out->refs;
    vv_status s = VV_OK;
    switch (node->kind) {
    case KIND_PLACEHOLDER:
        out->data = input->data;
        out->ndim = input->ndim;
        memcpy(out->shape, input->shape, sizeof out->shape);
        out->size = input->size;
        break;
    case KIND_CONST:
        out->data = node->fdata; /* NULL for int32 constants, which ops read from the node */
        out->ndim = node->ndim;
        memcpy(out->shape, node->shape, sizeof out->shape);
        out->size = node->size;
        break;
    case KIND_IDENTITY: {
        const value *x = input_value(r, node, 0);
        s = value_alias(r, node, out, x->ndim, x->shape);
        break;
    }
    case KIND_RESHAPE: s = run_reshape(r, node, out); break;
    case KIND_SQUEEZE: s = run_squeeze(r, node, out); break;
    case KIND_CONV2D:
    case KIND_DEPTHWISE: s = run_conv(r, node, out); break;
    case KIND_BIAS_ADD: s = run_bias_add(r, node, out); break;
    case KIND_BINARY: s = run_binary(r, node, out); break;
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX: s = run_unary(r, node, out); break;
    case KIND_MAX_POOL:
    case KIND_AVG_POOL: s = run_pool(r, node, out); break;
    case KIND_RESIZE_BILINEAR: s = run_resize_bilinear(r, node, out); break;
    case KIND_CONV2D_TRANSPOSE: s = run_conv_transpose(r, node, out); break;
    case KIND_ADD_N: s = run_add_n(r, node, out); break;
    case KIND_PAD: s = run_pad(r, node, out); break;
    case KIND_MEAN: s = run_mean(r, node, out); break;
    case KIND_MATMUL: s = run_matmul(r, node, out); break;
    case KIND_CONCAT: s = run_concat(r, node, out); break;
    }
    out->refs = refs;
    if (s) return s;
    /* Release inputs this was the last user of. */
    for (int k = 0; k < node->input_count; k++) {
        value *in = &r->values[node->inputs[k]];
        if (--in->refs == 0) tfjs_value_release(r, in);
    }
    return VV_OK;
}

int tfjs_find_output(const tfjs_model *m, const char *name) {
    if (!name) return m->outputs[0];
    const char *ref;
    size_t len;
    bool control, other;
    if (!tfjs_split_input_ref(name, &ref, &len, &control, &other) || control || other) return -1;
    return tfjs_model_find_len(m, ref, len);
}

/* The input must fit the placeholder's declared shape and the size cap. */
vv_status tfjs_check_input(const tfjs_model *model, const tensor *input) {
    int want_ndim = model->input_ndim;
    bool fits = input->ndim >= 0 && input->ndim <= TENSOR_MAX_DIMS && (want_ndim < 0 || input->ndim == want_ndim);
    size_t n = 1;
    for (int i = 0; fits && i < input->ndim; i++) {
        fits = input->shape[i] > 0 && (want_ndim < 0 || model->input_shape[i] < 0 ||
                                       model->input_shape[i] == input->shape[i]);
        if (fits) fits = size_mul(n, (size_t)input->shape[i], &n);
    }
    if (fits && n > TFJS_MAX_ELEMENTS)
        return vv_fail(VV_ERR_TOO_LARGE, "tfjs_model_run: input of %zu values is over the limit", n);
    if (!fits || n != input->size) {
        char want[96] = "";
        for (int i = 0; i < want_ndim && strlen(want) < 80; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? "x" : "", model->input_shape[i]);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run: input shape does not fit the model's %s", want);
    }
    return VV_OK;
}

vv_status tfjs_model_run_outputs(const tfjs_model *model, const tensor *input,
                                 const char *const *output_names, int count, tensor *outputs) {
    for (int i = 0; i < count; i++) memset(&outputs[i], 0, sizeof outputs[i]);
    if (!model || !input || !input->data || count <= 0 || !outputs)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run: missing model, input or outputs");
    vv_status cs = tfjs_check_input(model, input);
    if (cs) return cs;
    int *targets = mem_alloc((size_t)count, sizeof(int));
    value *values = mem_calloc((size_t)model->node_count, sizeof(value));
    bool *needed = mem_calloc((size_t)model->node_count, sizeof(bool));
    vv_status s = VV_OK;
    if (!targets || !values || !needed) {
        s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run: out of memory");
        goto end;
    }
    for (int i = 0; i < count; i++) {
        targets[i] = tfjs_find_output(model, output_names ? output_names[i] : NULL);
        if (targets[i] < 0) {
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run: the model has no node '%s'", output_names[i]);
            goto end;
        }
        needed[targets[i]] = true;
        values[targets[i]].refs++; /* held for the caller */
    }
    /* Needed nodes: walk the topological order backwards from the targets. */
    for (int o = model->node_count - 1; o >= 0; o--) {
        int i = model->order[o];
        if (!needed[i]) continue;
        const tfjs_node *node = &model->nodes[i];
        for (int k = 0; k < node->input_count; k++) {
            needed[node->inputs[k]] = true;
            values[node->inputs[k]].refs++;
        }
    }
    run_state r = {model, values, tfjs_run_activation_cap(input), 0};
    for (int o = 0; o < model->node_count && s == VV_OK; o++) {
        int i = model->order[o];
        if (needed[i]) s = tfjs_run_node(&r, i, input);
    }
    for (int i = 0; i < count && s == VV_OK; i++) {
        const value *v = &values[targets[i]];
        if (!v->data) { /* an int32 constant */
            s = vv_fail(VV_ERR_UNSUPPORTED, "tfjs_model_run: output '%s' is not a float tensor",
                        model->nodes[targets[i]].name);
            break;
        }
        if ((s = tensor_alloc(&outputs[i], v->ndim, v->shape))) break;
        memcpy(outputs[i].data, v->data, v->size * sizeof(float));
    }
end:
    if (values) {
        run_state rs = {model, values, TFJS_MAX_ELEMENTS, 0};
        for (int i = 0; i < model->node_count; i++) tfjs_value_release(&rs, &values[i]);
    }
    if (s)
        for (int i = 0; i < count; i++) tensor_free(&outputs[i]);
    free(targets);
    free(values);
    free(needed);
    return s;
}

vv_status tfjs_model_run(const tfjs_model *model, const tensor *input, const char *output_name,
                         tensor *output) {
    const char *names[1] = {output_name};
    return tfjs_model_run_outputs(model, input, names, 1, output);
}

vv_status tfjs_model_run_multi(const tfjs_model *model, const tensor *input,
                               const char *const *output_names, int output_count,
                               tensor *outputs) {
    return tfjs_model_run_outputs(model, input, output_names, output_count, outputs);
}
