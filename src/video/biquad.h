/* video/biquad: a second-order Butterworth section (Q = 1/sqrt 2) from the bilinear
 * transform, high- or low-pass, run in place over float samples forwards or backwards
 * (forwards then backwards: zero phase).  Shared by the speech envelope and the labial
 * cues. */
#ifndef VV_VIDEO_BIQUAD_H
#define VV_VIDEO_BIQUAD_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct biquad {
    double b0, b1, b2, a1, a2;
} biquad;

static inline biquad biquad_design(double cutoff, double rate, bool high_pass) {
    double w = 2 * 3.14159265358979323846 * cutoff / rate, c = cos(w), alpha = sin(w) / (2 * sqrt(0.5)), a0 = 1 + alpha;
    biquad q;
    q.b0 = (high_pass ? (1 + c) / 2 : (1 - c) / 2) / a0;
    q.b1 = (high_pass ? -(1 + c) : 1 - c) / a0;
    q.b2 = q.b0;
    q.a1 = -2 * c / a0;
    q.a2 = (1 - alpha) / a0;
    return q;
}

/* Runs the section over x[0..count) in place, forwards (step 1) or backwards (step -1). */
static inline void biquad_run(const biquad *q, float *x, int64_t count, int step) {
    double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
    for (int64_t n = 0; n < count; n++) {
        int64_t i = step > 0 ? n : count - 1 - n;
        double in = x[i], out = q->b0 * in + q->b1 * x1 + q->b2 * x2 - q->a1 * y1 - q->a2 * y2;
        x2 = x1;
        x1 = in;
        y2 = y1;
        y1 = out;
        x[i] = (float)out;
    }
}

#endif
