/* nn/tfjs_train: the TFJS runner's training mode (nn/tfjs.h): a run that keeps what the
 * backward pass reads, and backpropagation through the frozen graph to its input. */
#include "nn/tfjs_graph.h"

#include "nn/layers.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- training mode ---- */

/* A training-mode run keeps the activations the backward pass reads: an extra reference
 * on each keeps it from being released or taken over in place by a later node. */
struct tfjs_tape {
    const tfjs_model *model;
    value *values;
    bool *needed;
    bool *requires_grad; /* depends on the input */
    int targets[TFJS_TRAIN_MAX_OUTPUTS], target_count;
    tensor input; /* a copy: the placeholder's value points into it */
};

/* Whether node's backward reads the value of its data input k. */
static bool backward_reads_input(const tfjs_node *node, int k) {
    switch (node->kind) {
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_MAX_POOL: return k == 0;
    case KIND_BINARY: return node->binary != BINARY_ADD && node->binary != BINARY_SUB;
    case KIND_MATMUL: return k <= 1;
    case KIND_CONV2D:
    case KIND_DEPTHWISE: return k == 1 || (node->act == ACT_PRELU && k == node->input_count - 1);
    case KIND_CONV2D_TRANSPOSE: return k == 1;
    default: return false;
    }
}

/* Whether node's backward reads its own output. */
static bool backward_reads_output(const tfjs_node *node) {
    switch (node->kind) {
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX: return true;
    case KIND_CONV2D:
    case KIND_DEPTHWISE:
    case KIND_MATMUL: return node->act != ACT_NONE;
    default: return false;
    }
}

void tfjs_tape_free(tfjs_tape *tape) {
    if (!tape) return;
    if (tape->values) {
        run_state rs = {tape->model, tape->values, TFJS_MAX_ELEMENTS, 0};
        for (int i = 0; i < tape->model->node_count; i++) tfjs_value_release(&rs, &tape->values[i]);
    }
    free(tape->values);
    free(tape->needed);
    free(tape->requires_grad);
    tensor_free(&tape->input);
    free(tape);
}

vv_status tfjs_model_run_train_outputs(const tfjs_model *model, const tensor *input, const char *const *output_names,
                                       int output_count, tensor *outputs, tfjs_tape **tape_out) {
    for (int k = 0; outputs && k < output_count && k <= TFJS_TRAIN_MAX_OUTPUTS; k++) memset(&outputs[k], 0, sizeof outputs[k]);
    if (tape_out) *tape_out = NULL;
    if (!model || !input || !input->data || !outputs || !tape_out || output_count < 1 || output_count > TFJS_TRAIN_MAX_OUTPUTS)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run_train: missing model, input, outputs or tape, or %d outputs "
                       "(1 to %d)", output_count, TFJS_TRAIN_MAX_OUTPUTS);
    vv_status s = tfjs_check_input(model, input);
    if (s) return s;
    int targets[TFJS_TRAIN_MAX_OUTPUTS];
    for (int k = 0; k < output_count; k++) {
        const char *name = output_names ? output_names[k] : NULL;
        targets[k] = tfjs_find_output(model, name);
        if (targets[k] < 0)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run_train: the model has no node '%s'",
                           name ? name : "(first output)");
        for (int j = 0; j < k; j++)
            if (targets[j] == targets[k])
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_run_train: node '%s' asked for twice", model->nodes[targets[k]].name);
    }
    int count = model->node_count;
    tfjs_tape *t = calloc(1, sizeof *t);
    if (!t) return vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run_train: out of memory");
    t->model = model;
    memcpy(t->targets, targets, sizeof targets);
    t->target_count = output_count;
    t->values = mem_calloc((size_t)count, sizeof(value));
    t->needed = mem_calloc((size_t)count, sizeof(bool));
    t->requires_grad = mem_calloc((size_t)count, sizeof(bool));
    if (!t->values || !t->needed || !t->requires_grad) {
        s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run_train: out of memory");
        goto end;
    }
    if ((s = tensor_alloc(&t->input, input->ndim, input->shape))) goto end;
    memcpy(t->input.data, input->data, input->size * sizeof(float));

    value *values = t->values;
    bool *held = mem_calloc((size_t)count, sizeof(bool)); /* the targets: kept for the backward pass */
    if (!held) {
        s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_run_train: out of memory");
        goto end;
    }
    for (int k = 0; k < output_count; k++) {
        t->needed[targets[k]] = true;
        held[targets[k]] = true;
        values[targets[k]].refs++;
    }
    for (int o = count - 1; o >= 0; o--) {
        int i = model->order[o];
        if (!t->needed[i]) continue;
        const tfjs_node *node = &model->nodes[i];
        if (backward_reads_output(node) && !held[i]) values[i].refs++;
        for (int k = 0; k < node->input_count; k++) {
            int in = node->inputs[k];
            t->needed[in] = true;
            values[in].refs++;
            if (backward_reads_input(node, k)) values[in].refs++;
        }
    }
    free(held);
    for (int o = 0; o < count; o++) {
        int i = model->order[o];
        const tfjs_node *node = &model->nodes[i];
        bool rg = i == model->input_node;
        for (int k = 0; k < node->input_count && !rg; k++) rg = t->requires_grad[node->inputs[k]];
        t->requires_grad[i] = rg;
    }
    run_state r = {model, values, tfjs_run_activation_cap(&t->input), 0};
    for (int o = 0; o < count && s == VV_OK; o++) {
        int i = model->order[o];
        if (t->needed[i]) s = tfjs_run_node(&r, i, &t->input);
    }
    for (int k = 0; k < output_count && s == VV_OK; k++) {
        const value *v = &values[targets[k]];
        if (!v->data) {
            s = vv_fail(VV_ERR_UNSUPPORTED, "tfjs_model_run_train: output '%s' is not a float tensor",
                        model->nodes[targets[k]].name);
            break;
        }
        if ((s = tensor_alloc(&outputs[k], v->ndim, v->shape))) break;
        memcpy(outputs[k].data, v->data, v->size * sizeof(float));
    }
end:
    if (s) {
        for (int k = 0; k < output_count; k++) tensor_free(&outputs[k]);
        tfjs_tape_free(t);
        return s;
    }
    *tape_out = t;
    return VV_OK;
}

vv_status tfjs_model_run_train(const tfjs_model *model, const tensor *input, const char *output_name,
                               tensor *output, tfjs_tape **tape_out) {
    const char *names[1] = {output_name};
    return tfjs_model_run_train_outputs(model, input, names, 1, output, tape_out);
}

/* g_pre = g * act'(pre) from the fused op's output (out > 0 iff pre > 0 when the leaky
 * slopes are positive, which is checked). */
static vv_status activation_backward(float *g_pre, const float *g, const float *out, size_t n, int C,
                                     const tfjs_node *node, const float *prelu) {
    memset(g_pre, 0, n * sizeof(float));
    switch (node->act) {
    case ACT_NONE: memcpy(g_pre, g, n * sizeof(float)); break;
    case ACT_RELU: relu_backward(g_pre, g, out, n); break;
    case ACT_RELU6: relu6_backward(g_pre, g, out, n); break;
    case ACT_SIGMOID: sigmoid_backward(g_pre, g, out, n); break;
    case ACT_LEAKY_RELU:
        if (!(node->leaky_alpha > 0))
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward through a leaky ReLU with slope <= 0", node->name);
        leaky_relu_backward(g_pre, g, out, node->leaky_alpha, n);
        break;
    case ACT_PRELU:
        for (int c = 0; c < C; c++)
            if (!(prelu[c] > 0))
                return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward through a PReLU with slope <= 0", node->name);
        prelu_backward(g_pre, NULL, g, out, prelu, n / (size_t)C, C);
        break;
    }
    return VV_OK;
}

typedef struct backward_state {
    const tfjs_tape *tape;
    float **grads; /* per node, zeroed on first use; NULL: no gradient reached it */
} backward_state;

/* Gradient buffer of node's input k, or NULL when that input does not depend on the
 * model's input (constants: the network is frozen). */
static vv_status grad_of_input(backward_state *b, const tfjs_node *node, int k, float **out) {
    int in = node->inputs[k];
    *out = NULL;
    if (!b->tape->requires_grad[in]) return VV_OK;
    if (!b->grads[in]) {
        size_t n = b->tape->values[in].size;
        b->grads[in] = mem_alloc_aligned((n ? n : 1) * sizeof(float));
        if (!b->grads[in]) return vv_fail(VV_ERR_NO_MEMORY, "tfjs backward: out of memory at node '%s'", node->name);
        memset(b->grads[in], 0, n * sizeof(float));
    }
    *out = b->grads[in];
    return VV_OK;
}

static vv_status backward_conv(backward_state *b, const tfjs_node *node, const value *y, const float *g) {
    const value *x = &b->tape->values[node->inputs[0]], *f = &b->tape->values[node->inputs[1]];
    for (int k = 1; k < node->input_count; k++)
        if (b->tape->requires_grad[node->inputs[k]])
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward to computed filters or biases", node->name);
    float *dx;
    vv_status s = grad_of_input(b, node, 0, &dx);
    if (s || !dx) return s;
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int KH = f->shape[0], KW = f->shape[1], OC = y->shape[3];
    int OH, OW, pad_top, pad_left;
    if ((s = tfjs_spatial_out(node, H, W, KH, KW, &OH, &OW, &pad_top, &pad_left))) return s;
    const float *bias, *alpha;
    run_state rs = {b->tape->model, b->tape->values, TFJS_MAX_ELEMENTS, 0};
    if ((s = tfjs_fused_args(&rs, node, 2, OC, &bias, &alpha))) return s;
    float *g_pre = NULL;
    if (node->act != ACT_NONE) {
        g_pre = mem_alloc_aligned(y->size * sizeof(float));
        if (!g_pre) return vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        if ((s = activation_backward(g_pre, g, y->data, y->size, OC, node, alpha))) goto end;
        g = g_pre;
    }
    if (node->kind == KIND_DEPTHWISE)
        depthwise_conv2d_nhwc_backward(dx, NULL, NULL, g, NULL, f->data, N, H, W, C, KH, KW, f->shape[3],
                                       node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
    else
        s = conv2d_nhwc_backward(dx, NULL, NULL, g, NULL, f->data, N, H, W, C, KH, KW, OC, node->stride_h,
                                 node->stride_w, pad_top, pad_left, OH, OW);
end:
    mem_free_aligned(g_pre);
    return s;
}

static vv_status backward_matmul(backward_state *b, const tfjs_node *node, const value *y, const float *g) {
    const value *a = &b->tape->values[node->inputs[0]], *bv = &b->tape->values[node->inputs[1]];
    if (node->act == ACT_PRELU && b->tape->requires_grad[node->inputs[node->input_count - 1]])
        return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward to a computed PReLU slope", node->name);
    float *da, *db, *dbias = NULL;
    vv_status s;
    if ((s = grad_of_input(b, node, 0, &da)) || (s = grad_of_input(b, node, 1, &db))) return s;
    if (node->has_bias && (s = grad_of_input(b, node, 2, &dbias))) return s;
    if (!da && !db && !dbias) return VV_OK;
    int M = node->transpose_a ? a->shape[1] : a->shape[0];
    int K = node->transpose_a ? a->shape[0] : a->shape[1];
    int N = y->shape[1];
    const float *bias, *alpha;
    run_state rs = {b->tape->model, b->tape->values, TFJS_MAX_ELEMENTS, 0};
    if ((s = tfjs_fused_args(&rs, node, 2, N, &bias, &alpha))) return s;
    float *g_pre = NULL;
    if (node->act != ACT_NONE) {
        g_pre = mem_alloc_aligned(y->size * sizeof(float));
        if (!g_pre) return vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        if ((s = activation_backward(g_pre, g, y->data, y->size, N, node, alpha))) goto end;
        g = g_pre;
    }
    matmul_backward(da, db, dbias, g, a->data, bv->data, M, K, N, node->transpose_a, node->transpose_b);
end:
    mem_free_aligned(g_pre);
    return s;
}

/* Sends node i's output gradient g to its inputs. */
static vv_status backward_node(backward_state *b, int i, const float *g) {
    const tfjs_tape *t = b->tape;
    const tfjs_model *m = t->model;
    const tfjs_node *node = &m->nodes[i];
    const value *y = &t->values[i];
    float *dx = NULL;
    vv_status s = VV_OK;
    switch (node->kind) {
    case KIND_PLACEHOLDER:
    case KIND_CONST: return VV_OK;
    case KIND_IDENTITY:
    case KIND_RESHAPE:
    case KIND_SQUEEZE:
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        for (size_t k = 0; k < y->size; k++) dx[k] += g[k];
        return VV_OK;
    case KIND_CONV2D:
    case KIND_DEPTHWISE: return backward_conv(b, node, y, g);
    case KIND_MATMUL: return backward_matmul(b, node, y, g);
    case KIND_BIAS_ADD: {
        float *dbias;
        if ((s = grad_of_input(b, node, 0, &dx)) || (s = grad_of_input(b, node, 1, &dbias))) return s;
        int C = y->shape[y->ndim - 1];
        if (C > 0) bias_add_backward(dx, dbias, g, y->size / (size_t)C, C);
        return VV_OK;
    }
    case KIND_BINARY: {
        const value *a = &t->values[node->inputs[0]], *bv = &t->values[node->inputs[1]];
        float *da, *db;
        if ((s = grad_of_input(b, node, 0, &da)) || (s = grad_of_input(b, node, 1, &db))) return s;
        binary_backward(da, db, g, a->data, bv->data, node->binary, y->shape, y->ndim, a->shape, a->ndim,
                        bv->shape, bv->ndim);
        return VV_OK;
    }
    case KIND_RELU:
    case KIND_RELU6:
    case KIND_SIGMOID:
    case KIND_TANH:
    case KIND_SOFTMAX: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const float *x = t->values[node->inputs[0]].data;
        size_t n = y->size;
        if (node->kind == KIND_RELU) relu_backward(dx, g, x, n);
        else if (node->kind == KIND_RELU6) relu6_backward(dx, g, x, n);
        else if (node->kind == KIND_SIGMOID) sigmoid_backward(dx, g, y->data, n);
        else if (node->kind == KIND_TANH) tanh_backward(dx, g, y->data, n);
        else {
            int cols = y->ndim ? y->shape[y->ndim - 1] : 1;
            if (cols > 0) softmax_backward(dx, g, y->data, n / (size_t)cols, cols);
        }
        return VV_OK;
    }
    case KIND_AVG_POOL: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        int H = x->shape[1], W = x->shape[2], OH, OW, pad_top, pad_left;
        if ((s = tfjs_spatial_out(node, H, W, node->kernel_h, node->kernel_w, &OH, &OW, &pad_top, &pad_left))) return s;
        avg_pool_nhwc_backward(dx, g, x->shape[0], H, W, x->shape[3], node->kernel_h, node->kernel_w,
                               node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
        return VV_OK;
    }
    case KIND_RESIZE_BILINEAR: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        resize_bilinear_nhwc_backward(dx, g, x->shape[0], x->shape[1], x->shape[2], x->shape[3], y->shape[1],
                                      y->shape[2], node->align_corners, node->half_pixel_centers);
        return VV_OK;
    }
    case KIND_CONV2D_TRANSPOSE: {
        if (t->requires_grad[node->inputs[1]])
            return vv_fail(VV_ERR_UNSUPPORTED, "node '%s': backward to a computed filter", node->name);
        if ((s = grad_of_input(b, node, 2, &dx)) || !dx) return s;
        transpose_geometry tg;
        if ((s = tfjs_transpose_geometry_of(m, t->values, node, &tg))) return s;
        return conv2d_transpose_nhwc_backward(dx, NULL, g, NULL, t->values[node->inputs[1]].data, tg.N, tg.H, tg.W,
                                              tg.C, tg.KH, tg.KW, tg.OC, node->stride_h, node->stride_w, tg.pad_top,
                                              tg.pad_left, tg.OH, tg.OW);
    }
    case KIND_ADD_N:
        for (int k = 0; k < node->input_count; k++) {
            if ((s = grad_of_input(b, node, k, &dx))) return s;
            if (dx)
                for (size_t e = 0; e < y->size; e++) dx[e] += g[e];
        }
        return VV_OK;
    case KIND_MAX_POOL: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        int H = x->shape[1], W = x->shape[2], OH, OW, pad_top, pad_left;
        if ((s = tfjs_spatial_out(node, H, W, node->kernel_h, node->kernel_w, &OH, &OW, &pad_top, &pad_left))) return s;
        max_pool_nhwc_backward(dx, g, x->data, x->shape[0], H, W, x->shape[3], node->kernel_h, node->kernel_w,
                               node->stride_h, node->stride_w, pad_top, pad_left, OH, OW);
        return VV_OK;
    }
    case KIND_PAD: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        const tfjs_node *pads = &m->nodes[node->inputs[1]];
        int before[TENSOR_MAX_DIMS], after[TENSOR_MAX_DIMS];
        for (int k = 0; k < x->ndim; k++) before[k] = pads->idata[2 * k], after[k] = pads->idata[2 * k + 1];
        pad_backward(dx, g, x->shape, x->ndim, before, after);
        return VV_OK;
    }
    case KIND_MEAN: {
        if ((s = grad_of_input(b, node, 0, &dx)) || !dx) return s;
        const value *x = &t->values[node->inputs[0]];
        const tfjs_node *axes = &m->nodes[node->inputs[1]];
        bool reduce[TENSOR_MAX_DIMS] = {false};
        for (size_t k = 0; k < axes->size; k++) reduce[axes->idata[k] < 0 ? axes->idata[k] + x->ndim : axes->idata[k]] = true;
        mean_backward(dx, g, x->shape, x->ndim, reduce);
        return VV_OK;
    }
    case KIND_CONCAT: {
        int count = node->input_count - 1;
        const value *first = &t->values[node->inputs[0]];
        int axis = m->nodes[node->inputs[count]].idata[0];
        if (axis < 0) axis += first->ndim;
        float **d = mem_calloc((size_t)count, sizeof(float *));
        size_t *inner = mem_alloc((size_t)count, sizeof(size_t));
        if (!d || !inner) {
            s = vv_fail(VV_ERR_NO_MEMORY, "node '%s': out of memory", node->name);
        } else {
            size_t outer = 1, after = 1;
            for (int k = 0; k < axis; k++) outer *= (size_t)first->shape[k];
            for (int k = axis + 1; k < first->ndim; k++) after *= (size_t)first->shape[k];
            for (int k = 0; k < count && !s; k++) {
                inner[k] = (size_t)t->values[node->inputs[k]].shape[axis] * after;
                s = grad_of_input(b, node, k, &d[k]);
            }
            if (!s) concat_backward(d, g, inner, count, outer);
        }
        free(d);
        free(inner);
        return s;
    }
    }
    return VV_OK;
}

vv_status tfjs_model_backward_outputs(const tfjs_model *model, const tfjs_tape *tape, const tensor *d_outputs,
                                      int output_count, tensor *d_input) {
    if (d_input) memset(d_input, 0, sizeof *d_input);
    if (!model || !tape || tape->model != model || !d_outputs || !d_input || output_count != tape->target_count)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_backward: missing model, tape or gradients, or %d gradients "
                       "for %d outputs", output_count, tape ? tape->target_count : 0);
    for (int k = 0; k < output_count; k++) {
        const value *y = &tape->values[tape->targets[k]];
        if (!d_outputs[k].data || d_outputs[k].size != y->size)
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_backward: gradient %d has %zu values, its output %zu", k,
                           d_outputs[k].data ? d_outputs[k].size : 0, y->size);
    }
    vv_status s = tensor_zeros(d_input, tape->input.ndim, tape->input.shape);
    if (s) return s;
    bool any = false; /* does an output depend on the input at all */
    for (int k = 0; k < output_count; k++) any = any || tape->requires_grad[tape->targets[k]];
    if (!any) return VV_OK;
    backward_state b = {tape, mem_calloc((size_t)model->node_count, sizeof(float *))};
    if (!b.grads) {
        tensor_free(d_input);
        return vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_backward: out of memory");
    }
    /* Each output's gradient seeds its node; nodes downstream of it add theirs on the way. */
    for (int k = 0; k < output_count && s == VV_OK; k++) {
        int target = tape->targets[k];
        if (!tape->requires_grad[target]) continue;
        size_t n = tape->values[target].size;
        b.grads[target] = mem_alloc_aligned((n ? n : 1) * sizeof(float));
        if (!b.grads[target]) s = vv_fail(VV_ERR_NO_MEMORY, "tfjs_model_backward: out of memory");
        else memcpy(b.grads[target], d_outputs[k].data, n * sizeof(float));
    }
    /* Reverse topological order: a node's gradient is complete before it is sent on. */
    for (int o = model->node_count - 1; o >= 0 && s == VV_OK; o--) {
        int i = model->order[o];
        if (!tape->needed[i] || !b.grads[i] || i == model->input_node) continue;
        s = backward_node(&b, i, b.grads[i]);
        mem_free_aligned(b.grads[i]);
        b.grads[i] = NULL;
    }
    if (s == VV_OK && b.grads[model->input_node])
        memcpy(d_input->data, b.grads[model->input_node], d_input->size * sizeof(float));
    for (int i = 0; i < model->node_count; i++) mem_free_aligned(b.grads[i]);
    free(b.grads);
    if (s) tensor_free(d_input);
    return s;
}

vv_status tfjs_model_backward(const tfjs_model *model, const tfjs_tape *tape, const tensor *d_output,
                              tensor *d_input) {
    if (d_input) memset(d_input, 0, sizeof *d_input);
    if (!d_output) return vv_fail(VV_ERR_INVALID_ARGUMENT, "tfjs_model_backward: missing gradients");
    return tfjs_model_backward_outputs(model, tape, d_output, 1, d_input);
}
