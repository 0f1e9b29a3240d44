/* train/parallel: slices of the global batch and the scaled all-reduce (train/parallel.h). */
#include "train/parallel.h"

#include <string.h>

void train_parallel_slice(int B, int rank, int ranks, int *first, int *count) {
    if (ranks < 1) ranks = 1;
    int base = B / ranks, extra = B % ranks;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

vv_status train_parallel_sum(const train_parallel *p, float *data, size_t count, float scale, double *seconds) {
    if (train_parallel_ranks(p) == 1) return VV_OK;
    if (!p->allreduce_sum) return vv_fail(VV_ERR_INVALID_ARGUMENT, "parallel training: %d ranks and no all-reduce", p->ranks);
    if (scale != 1.0f)
        for (size_t i = 0; i < count; i++) data[i] *= scale;
    double t0 = time_now();
    vv_status status = p->allreduce_sum(p->ctx, data, count);
    if (seconds) *seconds += time_now() - t0;
    return status;
}

vv_status train_parallel_agree(const train_parallel *p, const float *data, size_t count, bool *same) {
    *same = true;
    int ranks = train_parallel_ranks(p);
    if (ranks == 1) return VV_OK;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the bytes */
    const unsigned char *bytes = (const unsigned char *)data;
    for (size_t i = 0; i < count * sizeof(float); i++) h = (h ^ bytes[i]) * 0x100000001b3ull;
    /* Bytes b_r of the hash: sum b_r = N b and sum b_r^2 = N b^2 on a rank holding b hold
     * exactly when every rank holds b (their spread is zero), so every rank answers alike. */
    float own[8], sum[16];
    for (int i = 0; i < 8; i++) {
        own[i] = (float)((h >> (8 * i)) & 0xff);
        sum[i] = own[i], sum[8 + i] = own[i] * own[i];
    }
    vv_status status = train_parallel_sum(p, sum, 16, 1.0f, NULL);
    if (status != VV_OK) return status;
    for (int i = 0; i < 8; i++) /* exact: ranks * 255^2 < 2^24 for up to 258 ranks */
        if (ranks > 258 || sum[i] != own[i] * (float)ranks || sum[8 + i] != own[i] * own[i] * (float)ranks) *same = false;
    return VV_OK;
}
