/* eval/motion_metrics: lag, blink, pose and jitter following measured on constructed
 * sequences whose truth is known (a synthetic talking head: the mean 3D face with a
 * moving mouth, blinks, brows and head turns, projected by face/pose.h), the landmark
 * readers on a malformed-input table, and (with ../shared) a real clip's dlib landmarks
 * against themselves shifted (without ../shared the rest runs and the test exits 77). */
#include "eval/motion_metrics.h"
#include "face/facemesh.h"
#include "face/pose.h"
#include "test.h"

#include <fcntl.h>
#include <unistd.h>

#define FRAMES 300
#define STILL_FROM 200 /* the synthetic head holds still over frames [STILL_FROM, STILL_TO) */
#define STILL_TO 280
#define EYE_PIXELS 100.0 /* outer-eye-corner distance of the synthetic face */

typedef float frame_points[68][2];

/* ---- The synthetic talking head ---- */

typedef struct synth {
    double blink_depth; /* how far the lids close at a blink's centre: 0.9 leaves 10% open */
    double pose_scale;  /* head motion (0: still) */
    double pitch_scale; /* pitch alone */
    bool pitch_noise;   /* pitch replaced by per-frame noise */
    double expression;  /* mouth and brow motion (0: none) */
    double yaw_offset;  /* the portrait's own turn, degrees */
    double eye_scale;   /* lid opening of the portrait's eyes (1: the mean face's) */
    double expression_delay; /* frames the mouth, eyes and brows trail the head */
    bool pose_drift;    /* the head drifts slowly through the clip instead of turning */
    double drift_delay; /* frames the drift trails */
    double yaw_drift;   /* degrees the portrait turns steadily over the FRAMES (not following) */
} synth;

static synth synth_default(void) {
    synth p = {0.9, 1.0, 1.0, false, 1.0, 0.0, 1.0, 0.0, false, 0.0, 0.0};
    return p;
}

static const double blink_centres[] = {23, 71, 118, 166, 215}; /* in motion time */
#define BLINKS (int)(sizeof blink_centres / sizeof blink_centres[0])

/* Motion time: the head holds still over [STILL_FROM, STILL_TO). */
static double motion_time(double t) {
    if (t < STILL_FROM) return t;
    if (t < STILL_TO) return STILL_FROM;
    return t - (STILL_TO - STILL_FROM);
}

static double hash_uniform(uint64_t x) { /* splitmix64 -> [-1, 1) */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (double)(x >> 11) / (double)(1ull << 52) - 1.0;
}

static double gaussian(uint64_t seed, uint64_t index) { /* Box-Muller */
    double u = 0.5 * (hash_uniform(seed * 1000003u + 2 * index) + 1.0);
    double v = 0.5 * (hash_uniform(seed * 1000003u + 2 * index + 1) + 1.0);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Blinks that half reopen for 4 frames at their middle, to 0.7 of open (between
 * FOLLOW_BLINK_THRESHOLD and FOLLOW_BLINK_EXIT): our tracker's reading of a small shut eye
 * (cli_eval's 256-px talking Grace Hopper); frames centre-5 .. centre+4. */
static bool rebound_blinks;
static const double rebound_profile[] = {0.75, 0.5, 0.45, 0.7, 0.7, 0.7, 0.7, 0.45, 0.5, 0.75};

/* Lid opening factor in [1 - depth, 1]: raised-cosine dips 6 frames wide. */
static double lid_opening(double tau, double depth) {
    double f = 1.0;
    for (int k = 0; k < BLINKS; k++) {
        double u = (tau - blink_centres[k]) / 3.0;
        int i = (int)lround(tau - blink_centres[k]) + 5;
        if (rebound_blinks) f = i >= 0 && i < 10 && rebound_profile[i] < f ? rebound_profile[i] : f;
        else if (fabs(u) < 1) f -= depth * 0.5 * (1.0 + cos(M_PI * u));
    }
    return f;
}

static double mouth_motion(double tau) {
    return 0.09 + 0.05 * sin(2 * M_PI * tau / 9.7) + 0.03 * sin(2 * M_PI * tau / 23.0 + 1.3);
}

static double pitch_of(const synth *p, double t, double tau) {
    if (p->pitch_noise) return 8.0 * hash_uniform(77000 + (uint64_t)(t + 0.5));
    return p->pitch_scale * p->pose_scale * 6.0 * sin(2 * M_PI * tau / 43.0 + 0.5);
}

static void synth_frame(const synth *p, double t, float out[68][2]) {
    double tau = motion_time(t - p->expression_delay);
    float shape[68][3];
    memcpy(shape, face_mean_shape_3d(), sizeof shape);
    double m = p->expression * mouth_motion(tau);
    static const int lower_lip[] = {55, 56, 57, 58, 59, 65, 66, 67}, half[] = {6, 7, 8, 9, 10, 48, 54, 60, 64};
    for (int i = 0; i < 8; i++) shape[lower_lip[i]][1] += (float)m;
    for (int i = 0; i < 9; i++) shape[half[i]][1] += (float)(0.5 * m);
    double f = lid_opening(tau, p->blink_depth);
    for (int e = 36; e <= 42; e += 6) {
        float yc = 0.5f * (shape[e][1] + shape[e + 3][1]);
        static const int lids[] = {1, 2, 4, 5};
        for (int i = 0; i < 4; i++)
            shape[e + lids[i]][1] = yc + (float)(f * p->eye_scale) * (shape[e + lids[i]][1] - yc);
    }
    for (int i = 17; i <= 26; i++) shape[i][1] -= (float)(p->expression * 0.03 * sin(2 * M_PI * tau / 37.0));
    head_pose pose = {0};
    tau = motion_time(t);
    float yaw = (float)(p->yaw_offset + p->yaw_drift * t / FRAMES + p->pose_scale * 12.0 * sin(2 * M_PI * tau / 61));
    float roll = (float)(p->pose_scale * 4.0 * sin(2 * M_PI * tau / 53.0 + 1.0));
    float pitch = (float)pitch_of(p, t, tau);
    if (p->pose_drift) {
        double u = 2 * M_PI * (t - p->drift_delay);
        yaw = (float)(15 * sin(u / 150)), pitch = (float)(6 * sin(u / 170 + 0.3)), roll = (float)(-5 * sin(u / 190));
    }
    head_pose_rotation(yaw, pitch, roll, pose.rotation);
    pose.scale = (float)EYE_PIXELS;
    pose.tx = 256, pose.ty = 256;
    head_pose_project(&pose, (const float(*)[3])shape, out);
}

/* count frames of the head delayed by `delay` frames (a(t) = head(t - delay)), made by
 * linear interpolation of the landmarks of the two nearest whole frames; plus Gaussian
 * noise of sigma pixels per coordinate (seeded). */
static void synth_sequence(const synth *p, int count, double delay, double sigma, uint64_t seed, frame_points *out) {
    double whole = floor(delay), frac = delay - whole;
    for (int t = 0; t < count; t++) {
        float x0[68][2], x1[68][2];
        synth_frame(p, t - whole, x0);
        synth_frame(p, t - whole - 1, x1);
        for (int i = 0; i < 68; i++)
            for (int c = 0; c < 2; c++) {
                double v = (1 - frac) * x0[i][c] + frac * x1[i][c];
                if (sigma > 0) v += sigma * gaussian(seed, (uint64_t)t * 136 + (uint64_t)i * 2 + c);
                out[t][i][c] = (float)v;
            }
    }
}

/* ---- An independent eye aspect ratio (for expected values) ---- */

static double dist2(const float p[2], const float q[2]) { return hypot(p[0] - q[0], p[1] - q[1]); }

static double ear_of(const float p[68][2]) {
    double e = 0;
    for (int s = 36; s <= 42; s += 6)
        e += 0.5 * (dist2(p[s + 1], p[s + 5]) + dist2(p[s + 2], p[s + 4])) / (2 * dist2(p[s], p[s + 3]));
    return e;
}

static bool all_finite(const follow_metrics *m) {
    const float v[] = {m->lag_subframe, m->lag_confidence, m->lag_margin, m->mouth_correlation,
                       m->blink_closure_driver, m->blink_closure_output, m->blink_gap, m->yaw_correlation,
                       m->pitch_correlation, m->roll_correlation, m->yaw_range_ratio, m->pitch_range_ratio,
                       m->roll_range_ratio, m->jitter_ratio, m->jitter_driver, m->jitter_output};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

static follow_metrics measure(const frame_points *a, const uint8_t *av, int an, const frame_points *b,
                              const uint8_t *bv, int bn, int max_shift) {
    follow_metrics m;
    CHECK_OK(follow_measure((const float(*)[68][2])a, av, an, (const float(*)[68][2])b, bv, bn, max_shift, NULL, NULL, &m));
    return m;
}

static frame_points a_seq[FRAMES + 8], b_seq[FRAMES + 8];

/* ---- 0. The per-frame signals on hand-made points ---- */

static void test_signals(void) {
    float p[68][2] = {{0}};
    for (int i = 0; i < 68; i++) p[i][0] = (float)i, p[i][1] = (float)(i % 5); /* distinct, non-degenerate */
    /* right eye 36-41: corners 10 apart, lids 2 and 3 above/below -> EAR (5 + 5) / 20 */
    float eye[6][2] = {{0, 0}, {3, -2}, {7, -3}, {10, 0}, {7, 2}, {3, 3}};
    for (int i = 0; i < 6; i++) p[36 + i][0] = eye[i][0] + 100, p[36 + i][1] = eye[i][1] + 50;
    for (int i = 0; i < 6; i++) /* the left eye twice as big: the same EAR */
        p[42 + i][0] = 2 * eye[i][0] + 200, p[42 + i][1] = 2 * eye[i][1] + 50;
    /* mouth: corners 48, 54 40 apart; inner gaps 6, 8, 10 -> 8 / 40 */
    p[48][0] = 0, p[48][1] = 300, p[54][0] = 40, p[54][1] = 300;
    float gaps[3] = {6, 8, 10};
    for (int i = 0; i < 3; i++) {
        p[61 + i][0] = p[67 - i][0] = (float)(10 + 10 * i);
        p[61 + i][1] = 300, p[67 - i][1] = 300 + gaps[i];
    }
    float mouth, left, right;
    follow_signals((const float(*)[2])p, &mouth, &left, &right);
    CHECK_NEAR(mouth, 0.2, 1e-6);
    CHECK_NEAR(right, (sqrt(25.0) + sqrt(25.0)) / 20.0 + 0 * left, 1e-6); /* |(3,-2)-(3,3)| = 5, |(7,-3)-(7,2)| = 5 */
    CHECK_NEAR(left, right, 1e-6);
    /* degenerate: eye corners coincide -> NAN, no crash */
    p[39][0] = p[36][0], p[39][1] = p[36][1];
    follow_signals((const float(*)[2])p, NULL, NULL, &right);
    CHECK(isnan(right));
    /* brow height of the upright synthetic face is positive and rises with the brows */
    synth s = synth_default();
    s.pose_scale = 0;
    float all[2][FOLLOW_SIGNAL_COUNT], x[68][2];
    synth_frame(&s, 0, x);
    follow_signals_all((const float(*)[2])x, all[0]);
    synth_frame(&s, 37.0 / 4, x); /* brows at their highest */
    follow_signals_all((const float(*)[2])x, all[1]);
    CHECK(all[0][FOLLOW_BROW] > 0.2f && all[1][FOLLOW_BROW] > all[0][FOLLOW_BROW] + 0.02f);
    CHECK_NEAR(all[0][FOLLOW_YAW], 0, 0.05);
    CHECK(!strcmp(follow_signal_name(FOLLOW_PITCH), "pitch") && !strcmp(follow_signal_name(FOLLOW_SIGNAL_COUNT), "?"));
}

/* ---- 1. Lag: whole and fractional shifts ---- */

static void test_lag(void) {
    synth p = synth_default();
    synth_sequence(&p, FRAMES, 0, 0, 0, b_seq);
    for (int k = -2; k <= 3; k++) {
        synth_sequence(&p, FRAMES, k, 0, 0, a_seq);
        follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
        CHECK_MSG(m.lag_frames == k, "shift %d measured as %d", k, m.lag_frames);
        CHECK_NEAR(m.lag_subframe, k, 0.1);
        /* not exactly 1: the detrending window is cut at the ends, at different frames of a and b */
        CHECK_MSG(m.lag_confidence > 0.99f && m.signals_used == FOLLOW_SIGNAL_COUNT, "confidence %g, %d signals",
                  m.lag_confidence, m.signals_used);
        CHECK(m.lag_margin > 0.05f); /* one lobe over the range: the peak stands out from its ends */
        if (k == 0) CHECK_NEAR(m.mouth_correlation, 1, 1e-6);
    }
    /* Fractional delays made by interpolating the landmarks. */
    const double fractions[] = {1.5, -0.5, 0.3, 2.7};
    for (int i = 0; i < 4; i++) {
        synth_sequence(&p, FRAMES, fractions[i], 0, 0, a_seq);
        follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
        CHECK_NEAR(m.lag_subframe, fractions[i], 0.2);
        CHECK(abs(m.lag_frames - (int)lround(fractions[i])) <= 1);
    }
    /* The output a few frames longer than the driver, and noise on both: still exact. */
    synth_sequence(&p, FRAMES, 2, 0.3, 11, a_seq);
    synth_sequence(&p, FRAMES - 4, 0, 0.3, 12, b_seq);
    follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES - 4, 6);
    CHECK(m.lag_frames == 2);
    CHECK_NEAR(m.lag_subframe, 2, 0.15);
    /* The shift range is respected: a delay of 5 searched over +-3 ends at the range end. */
    synth_sequence(&p, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&p, FRAMES, 5, 0, 0, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 3);
    CHECK(m.lag_frames == 3 && m.lag_subframe == 3.0f && m.lag_margin == 0.0f);
    /* Lips and eyes 2 frames late on a head that sways slowly (periods of 5-6 s), 10 frames
     * late: the lag is the expression's; the sway, whose correlation would tilt C(s)
     * towards +10, is removed. */
    p.pose_drift = true;
    synth_sequence(&p, FRAMES, 0, 0.3, 13, b_seq);
    p.expression_delay = 2;
    p.drift_delay = 10;
    synth_sequence(&p, FRAMES, 0, 0.3, 14, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_MSG(m.lag_frames == 2 && fabs(m.lag_subframe - 2) < 0.2, "lag %d (%g)", m.lag_frames, m.lag_subframe);
    CHECK(m.signal_weight[FOLLOW_MOUTH] > 0.9f);
    /* A portrait that turns steadily by 40 degrees over the clip while following 1 frame
     * late: the drift is not motion the driver made, and does not lower the confidence. */
    p = synth_default();
    synth_sequence(&p, FRAMES, 0, 0.3, 15, b_seq);
    p.yaw_drift = 40;
    synth_sequence(&p, FRAMES, 1, 0.3, 16, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_MSG(m.lag_frames == 1 && m.lag_confidence > 0.93f, "lag %d confidence %g", m.lag_frames,
              m.lag_confidence); /* 0.82 without the detrending */
}

/* ---- 2. Blinks that close half way ---- */

static void check_blinks(double pose_scale, double tolerance) {
    synth driver = synth_default(), output = synth_default();
    driver.pose_scale = output.pose_scale = pose_scale;
    output.blink_depth = 0.5 * driver.blink_depth; /* the lids travel half as far */
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&output, FRAMES, 0, 0, 0, a_seq);
    follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    /* Expected, directly: the EAR at each blink centre over the EAR of a frame with the
     * eyes open (the open level; with the head still every open frame has the same EAR). */
    float open_b[68][2], open_a[68][2];
    synth_frame(&driver, 45, open_b);
    synth_frame(&output, 45, open_a);
    double closure_b = 0, closure_a = 0, gap = 0;
    for (int k = 0; k < BLINKS; k++) {
        int t = (int)blink_centres[k] + (blink_centres[k] >= STILL_FROM ? STILL_TO - STILL_FROM : 0);
        closure_b += ear_of(b_seq[t]) / ear_of(open_b) / BLINKS;
        closure_a += ear_of(a_seq[t]) / ear_of(open_a) / BLINKS;
        gap += (ear_of(a_seq[t]) - ear_of(b_seq[t])) / BLINKS;
    }
    CHECK(m.lag_frames == 0);
    CHECK_MSG(m.blinks == BLINKS, "%d blinks found, %d made", m.blinks, BLINKS);
    CHECK_NEAR(m.blink_closure_driver, closure_b, tolerance);
    CHECK_NEAR(m.blink_closure_output, closure_a, tolerance);
    CHECK_NEAR(m.blink_gap, gap, tolerance * 0.3);
    /* half the closing: 1 - closure_output = 0.5 (1 - closure_driver) */
    CHECK_NEAR(1 - m.blink_closure_output, 0.5 * (1 - m.blink_closure_driver), 0.01 + tolerance); /* EAR ~ lid travel */
    CHECK_NEAR(m.blink_closure_driver, 1 - driver.blink_depth, 0.02 + tolerance);
    /* a copy: the same closure, no gap */
    m = measure(b_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.blinks == BLINKS && m.blink_closure_output == m.blink_closure_driver && m.blink_gap == 0.0f);
}

static void test_blinks(void) {
    /* The rule: under 0.6 of the open level.  Lids that travel 50% make the EAR dip to
     * ~50% (blinks); 30% to ~70% (not). */
    synth shallow = synth_default();
    shallow.blink_depth = 0.5;
    synth_sequence(&shallow, FRAMES, 0, 0, 0, b_seq);
    follow_metrics m = measure(b_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.blinks == BLINKS);
    shallow.blink_depth = 0.3;
    synth_sequence(&shallow, FRAMES, 0, 0, 0, b_seq);
    m = measure(b_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.blinks == 0);
    check_blinks(0, 1e-4);
    check_blinks(1, 0.03); /* head turns change the EAR by a few percent */
    /* A blink that half reopens in its middle for 4 frames is one blink, not two (it
     * counted twice before the exit level). */
    rebound_blinks = true;
    synth_sequence(&shallow, FRAMES, 0, 0, 0, b_seq);
    rebound_blinks = false;
    m = measure(b_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_MSG(m.blinks == BLINKS, "%d blinks that half reopen in their middle counted as %d", BLINKS, m.blinks);
    /* A blink two frames late still counts at its depth (the window follows the lag). */
    synth driver = synth_default();
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&driver, FRAMES, 3, 0, 0, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.lag_frames == 3 && m.blinks == BLINKS);
    CHECK_NEAR(m.blink_gap, 0, 0.01);
    /* A portrait with wider eyes that blinks as deep: the same closure (each against its own
     * open level), the gap in EAR units. */
    synth wide = synth_default();
    driver.pose_scale = wide.pose_scale = 0;
    wide.eye_scale = 1.4;
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&wide, FRAMES, 0, 0, 0, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    double gap = 0;
    for (int k = 0; k < BLINKS; k++) {
        int t = (int)blink_centres[k] + (blink_centres[k] >= STILL_FROM ? STILL_TO - STILL_FROM : 0);
        gap += (ear_of(a_seq[t]) - ear_of(b_seq[t])) / BLINKS;
    }
    CHECK(m.blinks == BLINKS);
    CHECK_NEAR(m.blink_closure_output, m.blink_closure_driver, 0.01);
    CHECK_NEAR(m.blink_gap, gap, 1e-4);
}

/* ---- 2b. Blink closure by the face mesh's lids ---- */

/* A mesh with only the lids placed: each eye's corners `width` apart along the direction
 * `angle`, the 7 inner upper points `up[k]` above the corner line and the lower ones
 * `down[k]` below it (all else 0). */
static void lid_mesh(float mesh[FACE_MESH_ALL][3], int eye, double cx, double cy, double width, double angle,
                     const double up[7], const double down[7]) {
    double ux = cos(angle), uy = sin(angle), nx = -uy, ny = ux; /* n: down the face (y down) */
    for (int k = 0; k < FACE_MESH_LID_POINTS; k++) {
        double along = width * k / (FACE_MESH_LID_POINTS - 1) - 0.5 * width;
        double a = k == 0 || k == FACE_MESH_LID_POINTS - 1 ? 0 : up[k - 1];
        double b = k == 0 || k == FACE_MESH_LID_POINTS - 1 ? 0 : down[k - 1];
        float *u = mesh[face_mesh_lid_upper[eye][k]], *l = mesh[face_mesh_lid_lower[eye][k]];
        u[0] = (float)(cx + along * ux - a * nx), u[1] = (float)(cy + along * uy - a * ny);
        l[0] = (float)(cx + along * ux + b * nx), l[1] = (float)(cy + along * uy + b * ny);
    }
}

static void test_lid_gap(void) {
    static float mesh[FACE_MESH_ALL][3];
    const double up[7] = {2, 4, 6, 7, 6, 4, 2}, down[7] = {1, 2, 3, 3, 3, 2, 1}, flat[7] = {0};
    /* right eye: the gaps 3, 6, 9, 10, 9, 6, 3 over a width of 40: 46 / 7 / 40 */
    memset(mesh, 0, sizeof mesh);
    lid_mesh(mesh, FACE_MESH_EYE_RIGHT, 100, 120, 40, 0.5, up, down);
    lid_mesh(mesh, FACE_MESH_EYE_LEFT, 180, 160, 50, 0.5, up, flat); /* 31 / 7 / 50 */
    CHECK_NEAR(follow_lid_gap((const float(*)[3])mesh, FACE_MESH_EYE_RIGHT), 46.0 / 7 / 40, 1e-5);
    CHECK_NEAR(follow_lid_gap((const float(*)[3])mesh, FACE_MESH_EYE_LEFT), 31.0 / 7 / 50, 1e-5);
    CHECK_NEAR(follow_lid_openness((const float(*)[3])mesh), 0.5 * (46.0 / 7 / 40 + 31.0 / 7 / 50), 1e-5);
    /* shut lids: 0; an eye without width: NAN, and so the openness */
    lid_mesh(mesh, FACE_MESH_EYE_LEFT, 180, 160, 50, -0.2, flat, flat);
    CHECK_NEAR(follow_lid_gap((const float(*)[3])mesh, FACE_MESH_EYE_LEFT), 0, 1e-6);
    lid_mesh(mesh, FACE_MESH_EYE_LEFT, 180, 160, 0, 0, up, down);
    CHECK(isnan(follow_lid_gap((const float(*)[3])mesh, FACE_MESH_EYE_LEFT)));
    CHECK(isnan(follow_lid_openness((const float(*)[3])mesh)));
    CHECK(isnan(follow_lid_gap((const float(*)[3])mesh, 2)) && isnan(follow_lid_gap(NULL, 0)));
    /* The right eye turned 45 degrees about the vertical: 2D reads it 1.41 times as open, 3D
     * (the mesh's z) as before. */
    memset(mesh, 0, sizeof mesh);
    lid_mesh(mesh, FACE_MESH_EYE_RIGHT, 100, 120, 40, 0, up, down);
    lid_mesh(mesh, FACE_MESH_EYE_LEFT, 180, 160, 50, 0.5, up, flat);
    CHECK_NEAR(follow_lid_gap_3d((const float(*)[3])mesh, FACE_MESH_EYE_RIGHT), 46.0 / 7 / 40, 1e-5);
    for (int k = 0; k < FACE_MESH_LID_POINTS; k++)
        for (int side = 0; side < 2; side++) {
            int i = (side ? face_mesh_lid_upper : face_mesh_lid_lower)[FACE_MESH_EYE_RIGHT][k];
            if (side && i == face_mesh_lid_lower[FACE_MESH_EYE_RIGHT][k]) continue; /* a shared corner */
            float *q = mesh[i];
            double dx = q[0] - 100.0;
            q[0] = (float)(100.0 + dx * cos(M_PI / 4)), q[2] = (float)(dx * sin(M_PI / 4));
        }
    CHECK_NEAR(follow_lid_gap((const float(*)[3])mesh, FACE_MESH_EYE_RIGHT), 46.0 / 7 / 40 * sqrt(2.0), 1e-4);
    CHECK_NEAR(follow_lid_gap_3d((const float(*)[3])mesh, FACE_MESH_EYE_RIGHT), 46.0 / 7 / 40, 1e-5);
    CHECK_NEAR(follow_lid_openness_3d((const float(*)[3])mesh), 0.5 * (46.0 / 7 / 40 + 31.0 / 7 / 50), 1e-5);
    CHECK(isnan(follow_lid_gap_3d((const float(*)[3])mesh, 2)) && isnan(follow_lid_gap_3d(NULL, 0)));
}

/* Lid openness of a synthetic sequence: `open` with the lids `depth` of the way shut at
 * the blink centres (as the landmarks' lids), `delay` frames late. */
static void lid_sequence(double open, double depth, double delay, int count, float *out) {
    for (int t = 0; t < count; t++) out[t] = (float)(open * lid_opening(motion_time(t - delay), depth));
}

static void test_lid_closure(void) {
    static float lids_b[FRAMES], lids_a[FRAMES];
    synth driver = synth_default();
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&driver, FRAMES, 3, 0, 0, a_seq); /* the output 3 frames late */
    follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.lag_frames == 3 && m.blinks == BLINKS);
    CHECK(m.lid_blinks == 0 && isnan(m.lid_closure_driver) && isnan(m.lid_closure_output)); /* not measured yet */
    /* The blinks' frames, as follow_measure counts them (the eval reads the lids near them). */
    int at[BLINKS + 1];
    CHECK(follow_blink_frames((const float(*)[68][2])b_seq, NULL, FRAMES, at, BLINKS + 1) == BLINKS);
    for (int k = 0; k < BLINKS; k++) {
        int t = (int)blink_centres[k] + (blink_centres[k] >= STILL_FROM ? STILL_TO - STILL_FROM : 0);
        CHECK_MSG(at[k] == t, "blink %d at %d, made at %d", k, at[k], t);
    }
    CHECK(follow_blink_frames((const float(*)[68][2])b_seq, NULL, FRAMES, NULL, 0) == BLINKS);
    CHECK(follow_blink_frames(NULL, NULL, FRAMES, at, BLINKS) == 0);
    /* The mesh reads the driver's lids 0.55 of the way shut (its EAR says 0.9) and the
     * output's 0.35, on a wider eye (its own open level): at the driver's blinks (found by
     * its EAR), the output's window 3 frames later. */
    lid_sequence(0.30, 0.55, 0, FRAMES, lids_b);
    lid_sequence(0.42, 0.35, 3, FRAMES, lids_a);
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &m));
    CHECK_MSG(m.lid_blinks == BLINKS, "%d lid blinks", m.lid_blinks);
    CHECK_NEAR(m.lid_closure_driver, 0.45, 1e-5);
    CHECK_NEAR(m.lid_closure_output, 0.65, 1e-5);
    CHECK_NEAR(m.blink_closure_driver, 0.1, 0.05); /* the EAR's reading is left as it was */
    /* Without the lag the output's blinks are out of the window: they would read open. */
    follow_metrics no_lag = m;
    no_lag.lag_frames = 0;
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &no_lag));
    CHECK_MSG(no_lag.lid_closure_output > 0.7f, "%.3f", no_lag.lid_closure_output); /* 0.74: 2 frames off the dip */
    /* Read only near the blinks and on a grid of 5 frames (as eval reads them), the open
     * levels from the grid: the same. */
    static float sparse_b[FRAMES], sparse_a[FRAMES];
    for (int t = 0; t < FRAMES; t++) sparse_b[t] = sparse_a[t] = t % 5 ? NAN : lids_b[t];
    for (int k = 0; k < BLINKS; k++) {
        int c = (int)blink_centres[k] + (blink_centres[k] >= STILL_FROM ? STILL_TO - STILL_FROM : 0);
        for (int u = c - 9; u <= c + 9; u++)
            if (u >= 0 && u < FRAMES) sparse_b[u] = lids_b[u], sparse_a[u] = lids_a[u];
    }
    for (int t = 0; t < FRAMES; t += 5) sparse_a[t] = lids_a[t];
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, sparse_b, sparse_a, FRAMES, 5, &m));
    CHECK(m.lid_blinks == BLINKS);
    CHECK_NEAR(m.lid_closure_driver, 0.45, 1e-5);
    CHECK_NEAR(m.lid_closure_output, 0.65, 1e-5);
    CHECK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, sparse_b, sparse_a, FRAMES, 0, &m) ==
          VV_ERR_INVALID_ARGUMENT);
    /* Frames without a reading: a blink whose output window has none is skipped; an output
     * with no reading at all measures nothing. */
    for (int u = (int)blink_centres[0] + 3 - FOLLOW_BLINK_WINDOW; u <= (int)blink_centres[0] + 3 + FOLLOW_BLINK_WINDOW; u++)
        lids_a[u] = NAN;
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &m));
    CHECK(m.lid_blinks == BLINKS - 1);
    CHECK_NEAR(m.lid_closure_output, 0.65, 1e-5);
    for (int t = 0; t < FRAMES; t++) lids_a[t] = NAN;
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &m));
    CHECK(m.lid_blinks == 0 && isnan(m.lid_closure_driver) && isnan(m.lid_closure_output));
    /* A driver without blinks (by its EAR): none, even where its lid signal dips. */
    synth still = synth_default();
    still.blink_depth = 0;
    synth_sequence(&still, FRAMES, 0, 0, 0, b_seq);
    lid_sequence(0.42, 0.35, 0, FRAMES, lids_a);
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &m));
    CHECK(m.lid_blinks == 0 && isnan(m.lid_closure_output));
    /* Bad arguments; empty input measures nothing. */
    CHECK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, -1, lids_b, lids_a, FRAMES, 1, &m) == VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, NULL, lids_a, FRAMES, 1, &m) == VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure_lids(NULL, NULL, 0, NULL, lids_a, FRAMES, 1, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK_OK(follow_measure_lids(NULL, NULL, 0, NULL, NULL, 0, 1, &m));
    CHECK(m.lid_blinks == 0 && isnan(m.lid_closure_driver));
}

/* ---- 2c. Blinks found by either reader ---- */

/* Scales both eyes' lid points (37, 38, 40, 41; 43, 44, 46, 47) about their corners'
 * midpoint by f: the EAR times f. */
static void eye_squeeze(float p[68][2], double f) {
    for (int e = 36; e <= 42; e += 6) {
        double cx = 0.5 * (p[e][0] + p[e + 3][0]), cy = 0.5 * (p[e][1] + p[e + 3][1]);
        static const int lids[] = {1, 2, 4, 5};
        for (int i = 0; i < 4; i++) {
            float *q = p[e + lids[i]];
            q[0] = (float)(cx + f * (q[0] - cx)), q[1] = (float)(cy + f * (q[1] - cy));
        }
    }
}

static follow_metrics measure_blinks_both(const float *lids_a, const float *lids_b) {
    follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_OK(follow_measure_blinks((const float(*)[68][2])a_seq, NULL, lids_a, FRAMES, (const float(*)[68][2])b_seq, NULL,
                                   lids_b, NULL, FRAMES, 1, &m));
    return m;
}

static void test_blinks_either(void) {
    static float lids_b[FRAMES], lids_a[FRAMES];
    /* dlib reads the driver's blinks shallow (its lids travel 30%: the EAR ~0.7 of open, as
     * dlib reads shut eyes on a head turned 45 degrees), the mesh reads them 0.8 shut; the
     * output blinks 0.9 deep (the mesh: 0.7), 3 frames late. */
    synth turned = synth_default(), output = synth_default();
    turned.blink_depth = 0.3;
    synth_sequence(&turned, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&output, FRAMES, 3, 0, 0, a_seq);
    lid_sequence(0.30, 0.8, 0, FRAMES, lids_b);
    lid_sequence(0.42, 0.7, 3, FRAMES, lids_a);
    /* Before: dlib's blinks alone, so none, and none for the mesh to read. */
    follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.lag_frames == 3 && m.blinks == 0);
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &m));
    CHECK(m.lid_blinks == 0);
    /* Now: the mesh finds them, and both readers read them. */
    m = measure_blinks_both(lids_a, lids_b);
    CHECK_MSG(m.blinks == BLINKS && m.blinks_mesh_only == BLINKS && m.lid_blinks == BLINKS, "%d blinks, %d by the mesh, %d read",
              m.blinks, m.blinks_mesh_only, m.lid_blinks);
    CHECK_NEAR(m.lid_closure_driver, 0.2, 1e-5);
    CHECK_NEAR(m.lid_closure_output, 0.3, 1e-5);
    CHECK_MSG(m.blink_closure_driver > 0.65f && m.blink_closure_driver < 0.75f, "%.3f", m.blink_closure_driver);
    CHECK_MSG(m.blink_closure_output < 0.2f, "%.3f", m.blink_closure_output);
    CHECK(m.blink_gap < -0.1f);
    CHECK(m.blink_listed == BLINKS);
    for (int k = 0; k < m.blink_listed && k < BLINKS; k++) {
        int t = (int)blink_centres[k] + (blink_centres[k] >= STILL_FROM ? STILL_TO - STILL_FROM : 0);
        const struct follow_blink *b = &m.blink_list[k];
        CHECK_MSG(b->frame == t && b->mesh_only, "blink %d at %d (made at %d), mesh %d", k, b->frame, t, b->mesh_only);
        CHECK_NEAR(b->lid_closure_driver, 0.2, 1e-5);
        CHECK_NEAR(b->lid_closure_output, 0.3, 1e-5);
        CHECK(b->closure_driver > 0.6f && b->closure_output < 0.2f);
    }
    /* Guards: a mesh dip to 0.5 of open (a look down, a squint) is no blink; nor is a deep
     * one where dlib's lids do not move at all. */
    lid_sequence(0.30, 0.5, 0, FRAMES, lids_b);
    m = measure_blinks_both(lids_a, lids_b);
    CHECK_MSG(m.blinks == 0 && m.lid_blinks == 0 && m.blink_listed == 0, "%d", m.blinks);
    CHECK(isnan(m.blink_closure_driver) && isnan(m.lid_closure_driver));
    turned.blink_depth = 0;
    synth_sequence(&turned, FRAMES, 0, 0, 0, b_seq);
    lid_sequence(0.30, 0.8, 0, FRAMES, lids_b);
    m = measure_blinks_both(lids_a, lids_b);
    CHECK_MSG(m.blinks == 0 && m.lid_blinks == 0, "%d", m.blinks);
    /* Blinks both readers see are counted once, as dlib's, with the same readings as
     * follow_measure and follow_measure_lids give. */
    synth driver = synth_default();
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    lid_sequence(0.30, 0.55, 0, FRAMES, lids_b);
    follow_metrics old = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_OK(follow_measure_lids((const float(*)[68][2])b_seq, NULL, FRAMES, lids_b, lids_a, FRAMES, 1, &old));
    m = measure_blinks_both(lids_a, lids_b);
    CHECK(m.blinks == BLINKS && m.blinks_mesh_only == 0 && old.blinks == BLINKS);
    CHECK_NEAR(m.blink_closure_driver, old.blink_closure_driver, 1e-6);
    CHECK_NEAR(m.blink_closure_output, old.blink_closure_output, 1e-6);
    CHECK_NEAR(m.blink_gap, old.blink_gap, 1e-6);
    CHECK(m.lid_blinks == old.lid_blinks);
    CHECK_NEAR(m.lid_closure_driver, old.lid_closure_driver, 1e-6);
    CHECK_NEAR(m.lid_closure_output, old.lid_closure_output, 1e-6);
    /* A long closure of which dlib sees only the start (the head turns with the eyes shut,
     * as sty_style_nice_clip1 36-60): after the first blink, frames 30-49 keep the lids shut
     * by the mesh (0.15 of open) while dlib reads 0.75 of open.  One blink more, the mesh's,
     * at that stretch's deepest frame; the first blink stays dlib's. */
    for (int t = 30; t < 50; t++) {
        eye_squeeze(b_seq[t], 0.75);
        lids_b[t] = (float)(0.30 * (t == 41 ? 0.12 : 0.15));
    }
    m = measure_blinks_both(lids_a, lids_b);
    CHECK_MSG(m.blinks == BLINKS + 1 && m.blinks_mesh_only == 1 && m.blink_listed == BLINKS + 1, "%d blinks, %d by the mesh",
              m.blinks, m.blinks_mesh_only);
    const struct follow_blink *last = &m.blink_list[m.blink_listed - 1];
    CHECK_MSG(last->mesh_only && last->frame == 41, "frame %d", last->frame);
    CHECK_NEAR(last->lid_closure_driver, 0.12, 1e-5);
    CHECK_MSG(last->closure_driver > 0.7f && last->closure_driver < 0.8f, "%.3f", last->closure_driver);
    CHECK(m.blink_list[0].frame == 23 && !m.blink_list[0].mesh_only);
    /* The same frames for the eval's plan of where to read the output's lids. */
    int at[BLINKS + 2];
    CHECK(follow_blink_frames_both((const float(*)[68][2])b_seq, NULL, lids_b, FRAMES, 1, at, BLINKS + 2) == BLINKS + 1);
    for (int k = 0; k < m.blink_listed; k++) CHECK(at[k] == m.blink_list[k].frame);
    CHECK(follow_blink_frames_both((const float(*)[68][2])b_seq, NULL, lids_b, FRAMES, 1, NULL, 0) == BLINKS + 1);
    CHECK(follow_blink_frames_both((const float(*)[68][2])b_seq, NULL, NULL, FRAMES, 1, at, BLINKS) == 0);
    /* Guards: a one-frame dip (a glitch) is no blink; nor is the stretch where dlib reads the
     * lids still (0.9 of open: over FOLLOW_MESH_BLINK_EAR). */
    for (int t = 30; t < 50; t++) lids_b[t] = (float)(0.30 * (t == 41 ? 0.12 : 0.9));
    m = measure_blinks_both(lids_a, lids_b);
    CHECK(m.blinks == BLINKS && m.blinks_mesh_only == 0);
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    for (int t = 30; t < 50; t++) {
        eye_squeeze(b_seq[t], 0.9);
        lids_b[t] = 0.30f * 0.15f;
    }
    m = measure_blinks_both(lids_a, lids_b);
    CHECK(m.blinks == BLINKS && m.blinks_mesh_only == 0);
    /* Found on b_find (the 3D lids), read on b_lids: the 2D lids there stay open. */
    static float find_b[FRAMES];
    for (int t = 0; t < FRAMES; t++) find_b[t] = lids_b[t];
    lid_sequence(0.30, 0.55, 0, FRAMES, lids_b);
    for (int t = 30; t < 50; t++) eye_squeeze(b_seq[t], 0.75 / 0.9);
    follow_metrics found = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_OK(follow_measure_blinks((const float(*)[68][2])a_seq, NULL, lids_a, FRAMES, (const float(*)[68][2])b_seq, NULL,
                                   lids_b, find_b, FRAMES, 1, &found));
    CHECK(found.blinks == BLINKS + 1 && found.blinks_mesh_only == 1);
    CHECK_NEAR(found.blink_list[BLINKS].lid_closure_driver, 1.0, 1e-5);
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    lid_sequence(0.30, 0.55, 0, FRAMES, lids_b);
    /* No lid readings: dlib's blinks as before, unread by the mesh. */
    for (int t = 0; t < FRAMES; t++) lids_b[t] = NAN;
    m = measure_blinks_both(lids_a, lids_b);
    CHECK(m.blinks == BLINKS && m.blinks_mesh_only == 0 && m.lid_blinks == 0);
    CHECK_NEAR(m.blink_closure_driver, old.blink_closure_driver, 1e-6);
    /* Bad arguments; empty input measures nothing. */
    CHECK(follow_measure_blinks((const float(*)[68][2])a_seq, NULL, lids_a, FRAMES, (const float(*)[68][2])b_seq, NULL, NULL,
                                NULL, FRAMES, 1, &m) == VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure_blinks((const float(*)[68][2])a_seq, NULL, lids_a, FRAMES, (const float(*)[68][2])b_seq, NULL, lids_b,
                                NULL, FRAMES, 0, &m) == VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure_blinks(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, 1, NULL) == VV_ERR_INVALID_ARGUMENT);
    CHECK_OK(follow_measure_blinks(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, 1, &m));
    CHECK(m.blinks == 0 && m.lid_blinks == 0 && isnan(m.blink_closure_driver));
}

/* ---- 3. Head pose following ---- */

static void test_pose(void) {
    synth driver = synth_default(), output = synth_default();
    synth_sequence(&driver, FRAMES, 0, 0, 0, b_seq);
    output.pitch_scale = 0.2;
    synth_sequence(&output, FRAMES, 0, 0, 0, a_seq);
    follow_metrics m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_NEAR(m.pitch_range_ratio, 0.2, 0.03);
    CHECK(m.pitch_correlation > 0.97f);
    CHECK_NEAR(m.yaw_range_ratio, 1, 0.02);
    CHECK(m.yaw_correlation > 0.999f && m.roll_correlation > 0.999f);
    CHECK_NEAR(m.roll_range_ratio, 1, 0.02);

    output = synth_default();
    output.pitch_noise = true;
    synth_sequence(&output, FRAMES, 0, 0, 0, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_MSG(fabs(m.pitch_correlation) < 0.2, "pitch correlation with noise %g", m.pitch_correlation);
    CHECK(m.yaw_correlation > 0.99f);

    /* The portrait's own pose, position and size do not count: the output turned by a
     * constant 15 degrees, scaled by 0.7 and moved. */
    output = synth_default();
    output.yaw_offset = 15;
    synth_sequence(&output, FRAMES, 0, 0, 0, a_seq);
    for (int t = 0; t < FRAMES; t++)
        for (int i = 0; i < 68; i++)
            a_seq[t][i][0] = 0.7f * a_seq[t][i][0] + 40, a_seq[t][i][1] = 0.7f * a_seq[t][i][1] - 13;
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_NEAR(m.yaw_range_ratio, 1, 0.02);
    CHECK_NEAR(m.pitch_range_ratio, 1, 0.02);
    CHECK(m.yaw_correlation > 0.999f && m.pitch_correlation > 0.999f);
    CHECK_NEAR(m.jitter_ratio, 1, 0.1); /* jitter is in each sequence's own eye distances */
    /* EAR and mouth width foreshorten with the turn, so the expression signals differ a little */
    CHECK_MSG(m.lag_frames == 0 && m.lag_confidence > 0.95f, "lag %d confidence %g", m.lag_frames, m.lag_confidence);

    /* A driver that does not turn, its landmarks as noisy as dlib's (0.005 eye distances):
     * pose following is not measured, nor the angles used for the lag. */
    driver.pose_scale = 0;
    synth_sequence(&driver, FRAMES, 0, 0.5, 51, b_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK_MSG(isnan(m.yaw_correlation) && isnan(m.yaw_range_ratio) && isnan(m.roll_correlation),
              "yaw %g (%g), roll %g", m.yaw_correlation, m.yaw_range_ratio, m.roll_correlation);
    CHECK(isnan(m.pitch_correlation) && m.signal_weight[FOLLOW_YAW] == 0 && m.signal_weight[FOLLOW_ROLL] == 0);
    CHECK(m.lag_frames == 0 && m.signal_weight[FOLLOW_MOUTH] > 0.5f && isfinite(m.mouth_correlation));
}

/* The pose signals from rotations (follow_turns, the face mesh's) in place of the 68
 * points' pose: the points do not turn at all, the rotations do (the driver's yaw a sine of
 * 20 degrees, pitch 8; the output's at half the pitch); measured on every second frame, the
 * frames between filled; a turn the 68 points never see is followed. */
static float turn_b[FRAMES][3][3], turn_a[FRAMES][3][3];
static uint8_t has_b[FRAMES], has_a[FRAMES];

static void test_pose_turns(void) {
    synth still = synth_default();
    still.pose_scale = 0;
    synth_sequence(&still, FRAMES, 0, 0, 0, b_seq);
    synth_sequence(&still, FRAMES, 0, 0, 0, a_seq);
    for (int t = 0; t < FRAMES; t++) {
        float yaw = 20 * (float)sin(t * 0.05), pitch = 8 * (float)sin(t * 0.031 + 1);
        head_pose_rotation(yaw + 3, pitch - 2, 1, turn_b[t]); /* an absolute offset: only changes count */
        head_pose_rotation(yaw, 0.5f * pitch, 0, turn_a[t]);
        has_b[t] = has_a[t] = t % 2 == 0;
    }
    follow_turns ta = {(const float(*)[3][3])turn_a, has_a}, tb = {(const float(*)[3][3])turn_b, has_b};
    follow_metrics m;
    CHECK_OK(follow_measure((const float(*)[68][2])a_seq, NULL, FRAMES, (const float(*)[68][2])b_seq, NULL, FRAMES, 6,
                            &ta, &tb, &m));
    CHECK_MSG(m.yaw_correlation > 0.999f && fabsf(m.yaw_range_ratio - 1) < 0.03f, "turns: yaw r %g range %g",
              m.yaw_correlation, m.yaw_range_ratio);
    CHECK_MSG(m.pitch_correlation > 0.99f && fabsf(m.pitch_range_ratio - 0.5f) < 0.05f, "turns: pitch r %g range %g",
              m.pitch_correlation, m.pitch_range_ratio);
    /* without them the points' pose: no turn to follow */
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(isnan(m.yaw_correlation) && isnan(m.yaw_range_ratio));
    /* the angles themselves: frame t's change since frame 0, the odd frames their neighbours' mean */
    static double yaw[FRAMES], pitch[FRAMES], roll[FRAMES];
    double *angles[3] = {yaw, pitch, roll};
    follow_turn_angles(&tb, NULL, FRAMES, angles);
    double worst = 0;
    for (int t = 1; t < FRAMES - 1; t++) {
        double want = t % 2 ? 0.5 * (20 * sin((t - 1) * 0.05) + 20 * sin((t + 1) * 0.05)) : 20 * sin(t * 0.05);
        worst = fmax(worst, fabs(yaw[t] - want));
    }
    CHECK_MSG(worst < 0.6 && isnan(yaw[FRAMES - 1]), "turn angles: yaw %.3f degrees off (last frame %g)", worst,
              yaw[FRAMES - 1]);
}

/* ---- 4. Jitter on the driver's still stretches ---- */

static void test_jitter(void) {
    synth p = synth_default();
    const double sigma_b = 0.4;
    synth_sequence(&p, FRAMES, 0, sigma_b, 21, b_seq);
    follow_metrics m = measure(b_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.jitter_ratio == 1.0f && m.still_frames >= STILL_TO - STILL_FROM - 4);
    /* still frames are the held stretch (plus at most a few slow turning points) */
    CHECK_MSG(m.still_frames <= STILL_TO - STILL_FROM + 20, "%d still frames", m.still_frames);
    /* Expected: mean |n(t) - n(t - 1)| for 2D Gaussian noise of sigma per coordinate is
     * sigma sqrt(pi); the output carries the driver's noise and its own. */
    CHECK_NEAR(m.jitter_driver, sigma_b * sqrt(M_PI) / EYE_PIXELS, 0.06 * sigma_b * sqrt(M_PI) / EYE_PIXELS);
    const double extra[] = {0.4, 0.8};
    for (int i = 0; i < 2; i++) {
        memcpy(a_seq, b_seq, sizeof(frame_points) * FRAMES);
        for (int t = 0; t < FRAMES; t++)
            for (int j = 0; j < 68; j++)
                for (int c = 0; c < 2; c++)
                    a_seq[t][j][c] += (float)(extra[i] * gaussian(31 + i, (uint64_t)t * 136 + j * 2 + c));
        m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
        double expected = sqrt(sigma_b * sigma_b + extra[i] * extra[i]) / sigma_b;
        CHECK_MSG(fabs(m.jitter_ratio - expected) < 0.06 * expected, "jitter ratio %g, expected %g", m.jitter_ratio,
                  expected);
        CHECK(m.lag_frames == 0);
    }
    /* A smoothed output (each frame the mean of three): less jitter than the driver. */
    for (int t = 0; t < FRAMES; t++)
        for (int j = 0; j < 68; j++)
            for (int c = 0; c < 2; c++)
                a_seq[t][j][c] =
                    (b_seq[t > 0 ? t - 1 : t][j][c] + b_seq[t][j][c] + b_seq[t + 1 < FRAMES ? t + 1 : t][j][c]) / 3;
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.jitter_ratio < 0.7f && m.lag_frames == 0);
}

/* ---- 5. Invalid frames, different lengths, nothing to measure ---- */

static void test_degenerate(void) {
    static uint8_t av[FRAMES], bv[FRAMES];
    synth p = synth_default();
    synth_sequence(&p, FRAMES, 0, 0.2, 41, b_seq);
    synth_sequence(&p, FRAMES, 1, 0.2, 42, a_seq);
    for (int t = 0; t < FRAMES; t++) av[t] = t % 11 != 3, bv[t] = t % 7 != 5;
    a_seq[50][10][0] = NAN; /* flagged valid but not finite: not used */
    a_seq[51][10][1] = INFINITY;
    follow_metrics m = measure(a_seq, av, FRAMES - 3, b_seq, bv, FRAMES, 6);
    CHECK(m.lag_frames == 1 && all_finite(&m));
    CHECK(m.blinks >= BLINKS - 1); /* a blink centre on an invalid driver frame may split or go */
    int expected = 0;
    for (int t = 0; t < FRAMES - 3; t++) expected += av[t] && bv[t] && t != 50 && t != 51;
    CHECK(m.frames == expected);

    /* No blinks in the driver: none counted, blink values not measured, the rest measured. */
    p.blink_depth = 0;
    synth_sequence(&p, FRAMES, 0, 0.2, 43, b_seq);
    synth_sequence(&p, FRAMES, 0, 0.2, 44, a_seq);
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.blinks == 0 && isnan(m.blink_closure_driver) && isnan(m.blink_closure_output) && isnan(m.blink_gap));
    CHECK(m.lag_frames == 0 && isfinite(m.lag_confidence) && isfinite(m.pitch_correlation) && isfinite(m.jitter_ratio));

    /* All invalid, empty, a still driver: defined, nothing measured, no crash. */
    memset(av, 0, sizeof av);
    memset(bv, 0, sizeof bv);
    m = measure(a_seq, av, FRAMES, b_seq, bv, FRAMES, 6);
    CHECK(m.frames == 0 && m.signals_used == 0 && m.blinks == 0 && m.still_frames == 0 && m.lag_frames == 0);
    CHECK(isnan(m.lag_subframe) && isnan(m.mouth_correlation) && isnan(m.yaw_correlation) && isnan(m.jitter_ratio));
    m = measure(NULL, NULL, 0, NULL, NULL, 0, 6);
    CHECK(m.frames == 0 && m.signals_used == 0 && isnan(m.lag_confidence));
    m = measure(a_seq, NULL, FRAMES, b_seq, NULL, 5, 6); /* too short to correlate */
    CHECK(m.signals_used == 0 && isnan(m.pitch_range_ratio) && m.frames == 5);
    synth still = {0, 0, 0, false, 0, 0, 1, 0, false, 0, 0};
    synth_sequence(&still, FRAMES, 0, 0, 0, b_seq);
    m = measure(b_seq, NULL, FRAMES, b_seq, NULL, FRAMES, 6);
    CHECK(m.signals_used == 0 && isnan(m.lag_subframe) && m.blinks == 0 && isnan(m.yaw_range_ratio));
    CHECK(m.jitter_ratio == 1.0f); /* a frozen copy of a frozen driver */

    /* Bad arguments. */
    follow_metrics out;
    CHECK(follow_measure(NULL, NULL, 3, (const float(*)[68][2])b_seq, NULL, 3, 2, NULL, NULL, &out) == VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure((const float(*)[68][2])a_seq, NULL, -1, (const float(*)[68][2])b_seq, NULL, 3, 2, NULL, NULL, &out) ==
          VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure((const float(*)[68][2])a_seq, NULL, 3, (const float(*)[68][2])b_seq, NULL, 3, -1, NULL, NULL, &out) ==
          VV_ERR_INVALID_ARGUMENT);
    CHECK(follow_measure((const float(*)[68][2])a_seq, NULL, 3, (const float(*)[68][2])b_seq, NULL, 3, 2, NULL, NULL, NULL) ==
          VV_ERR_INVALID_ARGUMENT);
    /* max_shift over the limit is clamped, not an error */
    synth_sequence(&p, FRAMES, 0, 0, 0, b_seq);
    CHECK(follow_measure((const float(*)[68][2])b_seq, NULL, FRAMES, (const float(*)[68][2])b_seq, NULL, FRAMES,
                         1000, NULL, NULL, &out) == VV_OK && out.lag_frames == 0);
}

/* ---- 6. The readers on malformed input ---- */

static const char *face_json(char *buf, size_t size, double x0, double y0, double step) {
    size_t n = (size_t)snprintf(buf, size, "{\"box\": [0, 0, 1, 1], \"score\": 0.9, \"landmarks\": [");
    for (int i = 0; i < 68; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s[%.2f, %.2f]", i ? ", " : "", x0 + step * (i % 9),
                              y0 + step * (i / 9));
    snprintf(buf + n, size - n, "], \"pose\": {\"yaw\": 1.00, \"pitch\": 2.00, \"roll\": 3.00}}");
    return buf;
}

/* {"frames": [{"faces": [{"landmarks": [count points, point `bad` replaced by text]}]}]} */
static void one_face_doc(char *buf, size_t size, int count, int bad, const char *text) {
    size_t n = (size_t)snprintf(buf, size, "{\"frames\":[{\"faces\":[{\"landmarks\":[");
    for (int i = 0; i < count; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "", i == bad ? text : "[1,2]");
    snprintf(buf + n, size - n, "]}]}]}");
}

typedef struct reader_case {
    const char *name;
    const char *text;
    vv_status expected;
} reader_case;

static void test_readers(void) {
    static char small[4096], big[4096], doc[16384];
    face_json(small, sizeof small, 10, 20, 1);
    face_json(big, sizeof big, 100, 200, 5);
    /* As `vivify landmarks` writes it: the smaller face listed first on purpose. */
    snprintf(doc, sizeof doc,
             "{\"source\": \"x.mp4\", \"width\": 640, \"height\": 480, \"fps\": 25.0000, \"frames\": [\n"
             "  {\"index\": 0, \"time\": 0.0000, \"faces\": [%s, %s]},\n"
             "  {\"index\": 1, \"time\": 0.0400, \"faces\": []}\n]}\n",
             small, big);
    landmark_sequence seq;
    CHECK_OK(landmark_sequence_parse(&seq, doc, strlen(doc), "doc"));
    CHECK(seq.count == 2 && seq.valid[0] == 1 && seq.valid[1] == 0 && seq.width == 640 && seq.height == 480);
    CHECK_NEAR(seq.fps, 25, 1e-9);
    CHECK(seq.count == 2 && seq.points[0][67][0] == 100.0f + 5 * (67 % 9) && seq.points[0][67][1] == 200.0f + 5 * 7);
    landmark_sequence_free(&seq);
    CHECK(seq.points == NULL && seq.count == 0);

    static char line_doc[16384];
    snprintf(line_doc, sizeof line_doc,
             "{\"file\":\"000000.png\",\"width\":512,\"height\":512,\"faces\":[%s]}\n\n"
             "{\"file\":\"000001.png\",\"width\":512,\"height\":512,\"faces\":[]}\n"
             "{\"file\":\"000002.png\",\"width\":512,\"height\":512,\"faces\":[%s,%s]}",
             small, small, big);
    CHECK_OK(landmark_sequence_parse_jsonl(&seq, line_doc, strlen(line_doc), "lines"));
    CHECK(seq.count == 3 && seq.valid[0] && !seq.valid[1] && seq.valid[2] && seq.width == 512 && seq.fps == 0);
    CHECK(seq.count == 3 && seq.points[2][0][0] == 100.0f && seq.points[0][0][0] == 10.0f);
    landmark_sequence_free(&seq);

    char tmp[8192];
    static char c67[2200], cbad[2200], chuge[2200], cfar[2200], c3[2200], cnan[2200];
    one_face_doc(c67, sizeof c67, 67, -1, NULL);
    one_face_doc(cbad, sizeof cbad, 68, 30, "[\"1\",2]");
    one_face_doc(chuge, sizeof chuge, 68, 5, "[1e400,2]"); /* parses to infinity */
    one_face_doc(cfar, sizeof cfar, 68, 5, "[2e6,2]");
    one_face_doc(c3, sizeof c3, 68, 7, "[1,2,3]");
    one_face_doc(cnan, sizeof cnan, 68, 0, "[NaN,1]"); /* not JSON */
    const reader_case cases[] = {
        {"empty", "", VV_ERR_FORMAT},
        {"spaces", "  \n ", VV_ERR_FORMAT},
        {"not json", "hello", VV_ERR_FORMAT},
        {"a number", "42", VV_ERR_FORMAT},
        {"no frames", "{\"faces\": []}", VV_ERR_FORMAT},
        {"frames not a list", "{\"frames\": 3}", VV_ERR_FORMAT},
        {"zero frames", "{\"frames\": []}", VV_ERR_CORRUPT},
        {"truncated", "{\"frames\": [{\"faces\": [{\"landmarks\": [[1, 2], [3", VV_ERR_CORRUPT},
        {"trailing garbage", "{\"frames\": [{\"faces\": []}]} x", VV_ERR_CORRUPT},
        {"frame not an object", "{\"frames\": [3]}", VV_ERR_CORRUPT},
        {"no faces", "{\"frames\": [{\"index\": 0}]}", VV_ERR_CORRUPT},
        {"faces a string", "{\"frames\": [{\"faces\": \"x\"}]}", VV_ERR_CORRUPT},
        {"face no landmarks", "{\"frames\": [{\"faces\": [{\"box\": [1,2,3,4]}]}]}", VV_ERR_CORRUPT},
        {"face a number", "{\"frames\": [{\"faces\": [7]}]}", VV_ERR_CORRUPT},
        {"67 points", c67, VV_ERR_CORRUPT},
        {"string coordinate", cbad, VV_ERR_CORRUPT},
        {"overflowing coordinate", chuge, VV_ERR_CORRUPT},
        {"coordinate over 1e6", cfar, VV_ERR_CORRUPT},
        {"three coordinates", c3, VV_ERR_CORRUPT},
        {"NaN literal", cnan, VV_ERR_CORRUPT},
        {"negative width", "{\"width\": -5, \"frames\": [{\"faces\": []}]}", VV_ERR_CORRUPT},
        {"fps a string", "{\"fps\": \"25\", \"frames\": [{\"faces\": []}]}", VV_ERR_CORRUPT},
        {"null fps", "{\"fps\": null, \"frames\": [{\"faces\": []}]}", VV_OK},
        {"no face anywhere", "{\"frames\": [{\"faces\": []}, {\"faces\": []}]}", VV_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vv_status s = landmark_sequence_parse(&seq, cases[i].text, strlen(cases[i].text), cases[i].name);
        CHECK_MSG(s == cases[i].expected, "%s: %s (%s), expected %s", cases[i].name, vv_status_string(s),
                  s ? vv_last_error() : "", vv_status_string(cases[i].expected));
        CHECK(s == VV_OK || (seq.points == NULL && seq.count == 0));
        landmark_sequence_free(&seq);
        /* every case cut short at every length: a clear status, never a crash */
        size_t len = strlen(cases[i].text);
        for (size_t cut = 0; cut < len && cut < 300; cut++) {
            s = landmark_sequence_parse(&seq, cases[i].text, cut, cases[i].name);
            CHECK(s == VV_OK || s == VV_ERR_FORMAT || s == VV_ERR_CORRUPT);
            landmark_sequence_free(&seq);
        }
    }
    /* The same table as JSON lines (one frame per line; the first line bad: not ours). */
    const reader_case line_cases[] = {
        {"no lines", "\n\n", VV_ERR_FORMAT},
        {"not json", "hello\n", VV_ERR_FORMAT},
        {"an array", "[1, 2]\n", VV_ERR_FORMAT},
        {"second line truncated", "{\"faces\": []}\n{\"faces\": [{\"landm", VV_ERR_CORRUPT},
        {"second line an array", "{\"faces\": []}\n[]\n", VV_ERR_CORRUPT},
        {"two objects on a line", "{\"faces\": []} {\"faces\": []}\n", VV_ERR_CORRUPT},
        {"no faces key", "{\"file\": \"a.png\"}\n", VV_ERR_CORRUPT},
        {"67 points", "{\"faces\": [{\"landmarks\": [[1,2]]}]}\n", VV_ERR_CORRUPT},
        {"CRLF and blank lines", "{\"faces\": []}\r\n\r\n{\"faces\": []}\r\n", VV_OK},
    };
    for (size_t i = 0; i < sizeof line_cases / sizeof line_cases[0]; i++) {
        vv_status s = landmark_sequence_parse_jsonl(&seq, line_cases[i].text, strlen(line_cases[i].text),
                                                    line_cases[i].name);
        CHECK_MSG(s == line_cases[i].expected, "jsonl %s: %s (%s)", line_cases[i].name, vv_status_string(s),
                  s ? vv_last_error() : "");
        if (s == VV_OK) CHECK(seq.count == 2 && !seq.valid[0] && !seq.valid[1]);
        landmark_sequence_free(&seq);
    }

    /* Huge counts: frames and faces over the caps, a line over 1 MiB, a file over the size cap. */
    size_t cap = (size_t)FOLLOW_MAX_FRAMES * 13 + 64;
    char *many = malloc(cap);
    CHECK(many != NULL);
    if (many) {
        size_t k = (size_t)snprintf(many, cap, "{\"frames\": [");
        for (int i = 0; i <= FOLLOW_MAX_FRAMES; i++)
            k += (size_t)snprintf(many + k, cap - k, "%s{\"faces\":[]}", i ? "," : "");
        k += (size_t)snprintf(many + k, cap - k, "]}");
        CHECK(landmark_sequence_parse(&seq, many, k, "many") == VV_ERR_TOO_LARGE);
        /* the same as lines */
        k = 0;
        for (int i = 0; i <= FOLLOW_MAX_FRAMES; i++) k += (size_t)snprintf(many + k, cap - k, "{\"faces\":[]}\n");
        CHECK(landmark_sequence_parse_jsonl(&seq, many, k, "many lines") == VV_ERR_TOO_LARGE);
        /* one line over 1 MiB (white space inside the object) */
        k = (size_t)snprintf(many, cap, "{\"faces\":[]}\n{\"faces\":");
        memset(many + k, ' ', (1u << 20) + 10);
        k += (1u << 20) + 10;
        k += (size_t)snprintf(many + k, cap - k, "[]}\n");
        CHECK(landmark_sequence_parse_jsonl(&seq, many, k, "long line") == VV_ERR_CORRUPT);
        free(many);
    }
    size_t n = (size_t)snprintf(doc, sizeof doc, "{\"frames\": [{\"faces\": [");
    for (int i = 0; i <= LANDMARK_MAX_FACES; i++) n += (size_t)snprintf(doc + n, sizeof doc - n, "%s{}", i ? "," : "");
    snprintf(doc + n, sizeof doc - n, "]}]}");
    CHECK(landmark_sequence_parse(&seq, doc, strlen(doc), "many faces") == VV_ERR_TOO_LARGE);

    const char *dir = test_tmp_dir("test_motion_metrics");
    snprintf(tmp, sizeof tmp, "%s/huge.json", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(ftruncate(fd, (off_t)LANDMARK_JSON_MAX_BYTES + 1) == 0); /* sparse: no disk used */
        close(fd);
        CHECK(landmark_sequence_load(&seq, tmp) == VV_ERR_TOO_LARGE);
        CHECK(landmark_sequence_load_jsonl(&seq, tmp) == VV_ERR_TOO_LARGE);
        remove(tmp);
    }
    snprintf(tmp, sizeof tmp, "%s/missing.json", dir);
    CHECK(landmark_sequence_load(&seq, tmp) == VV_ERR_NOT_FOUND);
    snprintf(tmp, sizeof tmp, "%s/small.json", dir);
    FILE *f = fopen(tmp, "w");
    if (f) {
        snprintf(doc, sizeof doc, "{\"frames\": [{\"faces\": [%s]}]}", big);
        fputs(doc, f);
        fclose(f);
        CHECK_OK(landmark_sequence_load(&seq, tmp));
        CHECK(seq.count == 1 && seq.valid[0] && seq.points[0][0][1] == 200.0f);
        landmark_sequence_free(&seq);
        CHECK(landmark_sequence_load_jsonl(&seq, tmp) == VV_ERR_CORRUPT); /* a line without "faces" */
        landmark_sequence_free(&seq);
    }
}

/* ---- With ../shared: a real clip's dlib landmarks against themselves shifted ---- */

static void test_real_clip(const char *shared) {
    char path[4096];
    snprintf(path, sizeof path, "%s/reference/lp_d3.jsonl", shared);
    landmark_sequence seq;
    vv_status s = landmark_sequence_load_jsonl(&seq, path);
    CHECK_OK(s);
    if (s != VV_OK) return;
    CHECK(seq.count == 354 && seq.width == 512 && seq.height == 512);
    int n = seq.count, valid = 0;
    for (int t = 0; t < n; t++) valid += seq.valid[t];
    CHECK(valid > n * 9 / 10);
    frame_points *a = calloc((size_t)n, sizeof *a);
    uint8_t *av = calloc((size_t)n, 1);
    if (!a || !av) {
        free(a), free(av), landmark_sequence_free(&seq);
        CHECK(!"out of memory");
        return;
    }
    for (int k = -2; k <= 3; k++) {
        for (int t = 0; t < n; t++) {
            int u = t - k;
            av[t] = u >= 0 && u < n && seq.valid[u];
            if (av[t]) memcpy(a[t], seq.points[u], sizeof a[t]);
        }
        follow_metrics m = measure(a, av, n, (const frame_points *)seq.points, seq.valid, n, 6);
        CHECK_MSG(m.lag_frames == k, "lp_d3 shifted by %d: lag %d", k, m.lag_frames);
        CHECK_NEAR(m.lag_subframe, k, 0.1);
        printf("lp_d3 delayed %+d: lag %d (%.3f), confidence %.4f, margin %.4f, blinks %d (closure %.3f / %.3f), "
               "pitch corr %.3f\n", k, m.lag_frames, m.lag_subframe, m.lag_confidence, m.lag_margin, m.blinks,
               m.blink_closure_output, m.blink_closure_driver, m.pitch_correlation);
    }
    /* 1.5 frames by interpolation */
    for (int t = 0; t < n; t++) {
        int u = t - 1, w = t - 2;
        av[t] = w >= 0 && seq.valid[u] && seq.valid[w];
        if (!av[t]) continue;
        for (int i = 0; i < 68; i++)
            for (int c = 0; c < 2; c++) a[t][i][c] = 0.5f * (seq.points[u][i][c] + seq.points[w][i][c]);
    }
    follow_metrics m = measure(a, av, n, (const frame_points *)seq.points, seq.valid, n, 6);
    CHECK_NEAR(m.lag_subframe, 1.5, 0.2);
    printf("lp_d3 delayed 1.5 (interpolated): lag %d (%.3f), confidence %.4f, jitter ratio %.3f\n", m.lag_frames,
           m.lag_subframe, m.lag_confidence, m.jitter_ratio);
    /* itself: everything ideal */
    m = measure((const frame_points *)seq.points, seq.valid, n, (const frame_points *)seq.points, seq.valid, n, 6);
    CHECK_MSG(m.lag_frames == 0 && m.blinks > 0 && m.blink_gap == 0.0f && m.jitter_ratio == 1.0f,
              "lag %d blinks %d gap %g jitter %g", m.lag_frames, m.blinks, m.blink_gap, m.jitter_ratio);
    CHECK_NEAR(m.pitch_correlation, 1, 1e-6);
    printf("lp_d3 itself: %d blinks, closure %.3f, %d still frames, driver jitter %.4f eye distances/frame\n",
           m.blinks, m.blink_closure_driver, m.still_frames, m.jitter_driver);
    free(a), free(av);
    landmark_sequence_free(&seq);
}

int main(void) {
    test_signals();
    test_lag();
    test_blinks();
    test_lid_gap();
    test_lid_closure();
    test_blinks_either();
    test_pose();
    test_pose_turns();
    test_jitter();
    test_degenerate();
    test_readers();
    const char *shared = test_shared_data();
    if (shared) test_real_clip(shared);
    int rc = test_finish("test_motion_metrics");
    if (rc == 0 && !shared) {
        printf("SKIPPED the real-clip part of test_motion_metrics: ../shared/data not present\n");
        return 77;
    }
    return rc;
}
