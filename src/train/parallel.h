/* train/parallel: the seam between the trainer and data-parallel ranks (issue 15).
 *
 * Every rank holds the whole model and takes a slice of each step's global batch of B
 * episodes; after the backward pass the ranks sum their gradients (an all-reduce) so each
 * takes the same optimiser step.  The library does no communication itself: the caller
 * hands it an all-reduce (vivify train: MPI_Allreduce, src/cli/train_mpi.c; a CUDA build
 * would pass NCCL's), so a single process is the same code path with ranks = 1 and no call.
 *
 * Scaling: every loss term is a mean over the samples it sees, so rank r's gradient over
 * its n_r episodes is a mean over n_r; the global batch's gradient is the sum over the
 * ranks of (n_r / B) times the local one.  The trainer scales before it sums. */
#ifndef VV_TRAIN_PARALLEL_H
#define VV_TRAIN_PARALLEL_H

#include "base/base.h"

typedef struct train_parallel {
    int rank, ranks; /* this rank in [0, ranks); ranks 0 or 1: one process */
    /* Sums count floats over the ranks in place: every rank gets the same sum.  Needed
     * when ranks > 1. */
    vv_status (*allreduce_sum)(void *ctx, float *data, size_t count);
    void *ctx;
} train_parallel;

static inline int train_parallel_ranks(const train_parallel *p) { return p && p->ranks > 1 ? p->ranks : 1; }

/* Rank `rank`'s episodes of a global batch B: [*first, *first + *count), the first B % ranks
 * ranks taking one more. */
void train_parallel_slice(int B, int rank, int ranks, int *first, int *count);

/* data *= scale, then the all-reduce (nothing with one rank); *seconds += the time spent. */
vv_status train_parallel_sum(const train_parallel *p, float *data, size_t count, float scale, double *seconds);

/* Whether every rank holds the same count floats, bit for bit (a 64-bit hash of them,
 * and their squares summed over the ranks byte by byte, which float sums carry exactly).  *same is the
 * same answer on every rank.  True at once with one rank. */
vv_status train_parallel_agree(const train_parallel *p, const float *data, size_t count, bool *same);

#endif
