/* Fuzz target: landmark sequences (eval/landmark_json.c): the same bytes through the
 * whole-document reader (`vivify landmarks` output) and the JSON-lines reader (dlib
 * reference files), each result checked against what the loaders promise. */
#include "fuzz_common.h"

#include "eval/motion_metrics.h"

#include <math.h>

static void check_sequence(const landmark_sequence *seq) {
    if (seq->count < 0 || seq->count > FOLLOW_MAX_FRAMES) abort();
    if (seq->count > 0 && (!seq->points || !seq->valid)) abort();
    for (int t = 0; t < seq->count; t++) {
        if (seq->valid[t] > 1) abort();
        for (int i = 0; i < 68; i++)
            for (int k = 0; k < 2; k++) {
                float v = seq->points[t][i][k];
                if (!isfinite(v) || fabsf(v) > 1e6f || (!seq->valid[t] && v != 0)) abort();
            }
    }
    if (!(seq->fps >= 0) || seq->width < 0 || seq->height < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    landmark_sequence seq;
    if (fuzz_status(landmark_sequence_parse(&seq, (const char *)data, size, "fuzz.json")) == VV_OK) {
        check_sequence(&seq);
        landmark_sequence_free(&seq);
    }
    if (fuzz_status(landmark_sequence_parse_jsonl(&seq, (const char *)data, size, "fuzz.jsonl")) == VV_OK) {
        check_sequence(&seq);
        landmark_sequence_free(&seq);
    }
    return 0;
}
