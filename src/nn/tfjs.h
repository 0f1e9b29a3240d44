/* nn/tfjs: loads TensorFlow.js graph models (model.json + weight shards; float32,
 * float16- and uint8-quantised weights) and runs them with the ops in nn/.  All model
 * input is hostile: JSON, manifest, shard sizes, shapes and node references are checked. */
#ifndef VV_NN_TFJS_H
#define VV_NN_TFJS_H

#include "nn/tensor.h"

typedef struct tfjs_model tfjs_model;

/* json_path: model.json; weight shards are read from the same folder. */
vv_status tfjs_model_load(tfjs_model **out, const char *json_path);
void tfjs_model_free(tfjs_model *model);

/* The (single) input's expected shape, NHWC, -1 for free dimensions. */
int tfjs_model_input_shape(const tfjs_model *model, int shape[TENSOR_MAX_DIMS]);

/* Runs the graph on one NHWC float32 input and returns the named output node's value
 * in `output` (allocated; caller frees).  output_name NULL: the model's first output.
 * Thread-safe for concurrent runs on one model (each run has its own activations). */
vv_status tfjs_model_run(const tfjs_model *model, const tensor *input, const char *output_name,
                         tensor *output);

/* Runs the graph once for several outputs (e.g. BlazeFace's score and box heads):
 * outputs[i] gets output_names[i] ("name" or "name:0"; NULL: the first output).
 * On failure every outputs[i] is left empty. */
vv_status tfjs_model_run_outputs(const tfjs_model *model, const tensor *input,
                                 const char *const *output_names, int count, tensor *outputs);

/* The graph's outputs (nodes no other node consumes), in file order. */
int tfjs_model_output_count(const tfjs_model *model);
const char *tfjs_model_output_name(const tfjs_model *model, int index);

/* The same as tfjs_model_run_outputs (both names are in use). */
vv_status tfjs_model_run_multi(const tfjs_model *model, const tensor *input,
                               const char *const *output_names, int output_count,
                               tensor *outputs);

/* Training mode: backpropagation through the frozen graph to its input (an identity
 * loss on faceres features, say).  tfjs_model_run_train runs like tfjs_model_run and
 * records the activations the backward pass needs in a tape (it copies the input);
 * tfjs_model_backward then turns d(loss)/d(output) into d(loss)/d(input) (d_input
 * allocated, shaped as the input; weights get no gradient).  A tape may be used for
 * several backward passes and is freed with tfjs_tape_free.  Any batch size the graph
 * accepts works.  Ops with backward: all the runner supports; fused leaky ReLU / PReLU
 * need positive slopes. */
typedef struct tfjs_tape tfjs_tape;

vv_status tfjs_model_run_train(const tfjs_model *model, const tensor *input, const char *output_name,
                               tensor *output, tfjs_tape **tape);
vv_status tfjs_model_backward(const tfjs_model *model, const tfjs_tape *tape, const tensor *d_output,
                              tensor *d_input);
void tfjs_tape_free(tfjs_tape *tape);

/* The same with several outputs (intermediate nodes too: a feature-matching loss over
 * several layers): outputs[k] gets output_names[k] (distinct nodes, at most
 * TFJS_TRAIN_MAX_OUTPUTS); the backward pass takes one gradient per output, in that order,
 * and gives d(loss)/d(input) for the sum of their losses (a node that is both an output
 * and upstream of another gets its own gradient plus what flows back to it). */
#define TFJS_TRAIN_MAX_OUTPUTS 8
vv_status tfjs_model_run_train_outputs(const tfjs_model *model, const tensor *input, const char *const *output_names,
                                       int output_count, tensor *outputs, tfjs_tape **tape);
vv_status tfjs_model_backward_outputs(const tfjs_model *model, const tfjs_tape *tape, const tensor *d_outputs,
                                      int output_count, tensor *d_input);

#endif
