/* The live (lookahead 0) smoothing of the driver's landmarks, animate/timeline's predictive
 * fit (landmark_predict_frame): on synthetic tracks with known truth,
 *  1. a ramp (every point 2 px a frame, a head turning): no lag once a few frames are in,
 *     where a causal mean over the same past (and the One Euro filter the tracker used)
 *     trails it by pixels;
 *  2. a still face with +-0.6 px noise (0.006 eye distances, a webcam's jitter): the
 *     frame-to-frame motion drops by a third or more;
 *  3. a blink (the lids 15 px down over two frames and back): the lid reaches 90% of its
 *     depth on the deepest frame, not a frame later;
 *  4. the timeline with lookahead 0: one frame in, one out at once, and its frames are the
 *     predictive fit's, steadier than the raw ones; strength 0 passes the raw points. */
#include "animate/timeline.h"
#include "face/tracker.h"
#include "test.h"

static uint32_t rng_state = 4242;

enum { N = 80, HISTORY = 12 };
static float raw[N][68][2], filtered[N][68][2];

/* The live filter over raw[0..t] (at most HISTORY frames back), for every t. */
static void filter_all(float strength) {
    for (int t = 0; t < N; t++) {
        int lo = t - (HISTORY - 1) < 0 ? 0 : t - (HISTORY - 1);
        landmark_predict_frame((const float(*)[68][2])raw + lo, t - lo + 1, strength, filtered[t]);
    }
}

static double frame_motion(float (*p)[68][2], int from) {
    double sum = 0;
    for (int t = from + 1; t < N; t++)
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) sum += fabs(p[t][k][c] - p[t - 1][k][c]);
    return sum;
}

static void test_ramp(void) {
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        for (int k = 0; k < 68; k++) raw[t][k][0] += 2.0f * t;
    }
    filter_all(1.0f);
    double worst = 0;
    for (int t = 3; t < N; t++)
        for (int k = 0; k < 68; k++) worst = fmax(worst, fabs(filtered[t][k][0] - raw[t][k][0]));
    CHECK_MSG(worst < 0.01, "ramp: the live filter is %.4f px off a steady motion (want no lag)", worst);
    /* what it avoids: a plain Gaussian mean over the same past (sigma 3 frames) trails the
     * ramp, and so does the One Euro filter the tracker used */
    double sum = 0, weight = 0;
    for (int k = 0; k < HISTORY; k++) {
        double w = exp(-(double)k * k / 18.0);
        sum += w * raw[N - 1 - k][0][0];
        weight += w;
    }
    double mean_lag = raw[N - 1][0][0] - sum / weight;
    one_euro f;
    one_euro_init(&f, 1.0f, 0.007f);
    float last = 0;
    for (int t = 0; t < N; t++) last = one_euro_filter(&f, raw[t][0][0], 0.04f);
    CHECK_MSG(mean_lag > 3.0 && raw[N - 1][0][0] - last > 1.0f, "the lagging filters: mean %.2f px, One Euro %.2f px",
              mean_lag, raw[N - 1][0][0] - last);
    printf("ramp 2 px/frame: live filter off by %.4f px; a causal mean trails by %.2f px, One Euro by %.2f px\n", worst,
           mean_lag, raw[N - 1][0][0] - last);
}

static void test_jitter(void) {
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) raw[t][k][c] += 0.6f * test_uniform_noise(&rng_state);
    }
    filter_all(1.0f);
    double r = frame_motion(raw, HISTORY), f = frame_motion(filtered, HISTORY);
    CHECK_MSG(f < 0.67 * r, "jitter: filtered %.1f vs raw %.1f (want a third less or better)", f, r);
    /* and it stays on the face: the mean offset from the truth is small */
    float truth[68][2];
    test_template_face(truth);
    double off = 0;
    for (int t = HISTORY; t < N; t++)
        for (int k = 0; k < 68; k++) off += hypot(filtered[t][k][0] - truth[k][0], filtered[t][k][1] - truth[k][1]);
    off /= (double)(N - HISTORY) * 68;
    CHECK_MSG(off < 0.5, "jitter: filtered points %.2f px from the truth on average", off);
    printf("still face, +-0.6 px noise: frame-to-frame motion %.2f of the raw; %.2f px from the truth\n", f / r, off);
}

static void test_blink(void) {
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        float d = t == 40 ? 15.0f : (t == 39 || t == 41) ? 8.0f : 0.0f;
        int lids[4] = {37, 38, 43, 44};
        for (int i = 0; i < 4; i++) raw[t][lids[i]][1] += d;
    }
    filter_all(1.0f);
    float base[68][2];
    test_template_face(base);
    CHECK_MSG(filtered[40][37][1] - base[37][1] > 13.5f, "blink: the lid at %.2f of 15 px on the deepest frame",
              filtered[40][37][1] - base[37][1]);
    CHECK_MSG(fabsf(filtered[43][37][1] - base[37][1]) < 3.0f, "blink: the lid %.2f px off its rest two frames after",
              filtered[43][37][1] - base[37][1]);
    printf("blink 15 px: the lid at %.2f px on the deepest frame (raw 15), %.2f px two frames after\n",
           filtered[40][37][1] - base[37][1], filtered[43][37][1] - base[37][1]);
}

static void test_timeline_live(void) {
    for (int t = 0; t < N; t++) {
        test_template_face(raw[t]);
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) raw[t][k][c] += 0.6f * test_uniform_noise(&rng_state);
    }
    filter_all(1.0f);
    for (int pass = 0; pass < 2; pass++) {
        float strength = pass == 0 ? 1.0f : 0.0f;
        driver_timeline tl;
        timeline_init(&tl, 0, strength, 25);
        float p[68][2];
        bool has_face, found, ok = true;
        long index;
        double worst = 0;
        for (int t = 0; t < N; t++) {
            CHECK_OK(timeline_push(&tl, (const float(*)[2])raw[t], t * 0.04));
            ok = ok && timeline_ready(&tl); /* one in, one out: ready at once */
            timeline_take(&tl, p, &has_face, &found, &index);
            ok = ok && has_face && found && index == t && !timeline_ready(&tl);
            const float(*want)[2] = strength > 0 ? filtered[t] : raw[t];
            for (int k = 0; k < 68; k++) worst = fmax(worst, hypot(p[k][0] - want[k][0], p[k][1] - want[k][1]));
        }
        CHECK_MSG(ok, "timeline lookahead 0, strength %g: not one frame in, one out", strength);
        CHECK_MSG(worst < 1e-4, "timeline lookahead 0, strength %g: %.5f px from the %s", strength, worst,
                  strength > 0 ? "live filter" : "raw points");
        timeline_free(&tl);
    }
}

int main(void) {
    test_ramp();
    test_jitter();
    test_blink();
    test_timeline_live();
    return test_finish("test_live_filter");
}
