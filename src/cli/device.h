/* cli/device: `--device cpu|cuda` of train, finetune and animate (docs/TRAINING.md). */
#ifndef VV_CLI_DEVICE_H
#define VV_CLI_DEVICE_H

#include <stdbool.h>
#include <stdio.h>

#define CLI_DEVICE_HELP                                                                            \
    "where the networks' convolutions and large GEMMs run: cpu, or cuda (a -DVV_CUDA=ON build "   \
    "on a GPU; everything else stays on the CPU: docs/TRAINING.md)"

/* Selects the backend for "cpu" or "cuda" (NULL: cpu).  0, or an exit code after one line
 * on stderr: 2 for a value that is neither, 12 (unsupported) for cuda in a build without
 * CUDA or on a machine without a GPU.  Under mpirun each rank takes the GPU of its local
 * rank (modulo the GPUs it sees). */
int cli_device_use(const char *device);
/* With cuda: one line to out saying how many GEMMs and convolutions ran on which GPU. */
void cli_device_report(FILE *out);

#endif
