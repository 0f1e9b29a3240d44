/* eval/metrics: SSIM / PSNR / L1 against skimage, Fréchet distance against
 * scipy.linalg.sqrtm, landmark metrics against numpy (fixtures from
 * scripts/fixtures/make_metrics_fixtures.py), plus invariance and error properties. */
#include "eval/metrics.h"
#include "test.h"

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"

/* ---- fixture reading ---- */

static char expected_names[64][32];
static double expected_values[64];
static int expected_count;

static int load_expected(void) {
    FILE *f = fopen(FIXTURES "metrics_expected.txt", "r");
    if (!f) return 0;
    char line[256];
    while (fgets(line, sizeof line, f) && expected_count < 64) {
        if (line[0] == '#') continue;
        if (sscanf(line, "%31s %lf", expected_names[expected_count], &expected_values[expected_count]) == 2)
            expected_count++;
    }
    fclose(f);
    return expected_count;
}

static double expected(const char *name) {
    for (int i = 0; i < expected_count; i++)
        if (strcmp(expected_names[i], name) == 0) return expected_values[i];
    fprintf(stderr, "fixture value %s missing\n", name);
    test_failed++;
    return NAN;
}

static void *read_fixture(const char *name, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = malloc(size + 1);
    size_t got = fread(data, 1, size + 1, f);
    fclose(f);
    if (got != size) { /* exactly size bytes: catches a stale fixture */
        free(data);
        return NULL;
    }
    return data;
}

static vv_image image_view(uint8_t *data, int w, int h, int c) {
    vv_image im = {w, h, c, data};
    return im;
}

/* ---- pixel metrics ---- */

static void test_pixel_metrics(void) {
    int w = (int)expected("width"), h = (int)expected("height");
    size_t rgb = (size_t)w * h * 3, gray = (size_t)w * h;
    uint8_t *data = read_fixture("metrics_images.bin", 2 * rgb + 2 * gray);
    CHECK(data != NULL);
    if (!data) return;
    vv_image a_rgb = image_view(data, w, h, 3), b_rgb = image_view(data + rgb, w, h, 3);
    vv_image a_gray = image_view(data + 2 * rgb, w, h, 1);
    vv_image b_gray = image_view(data + 2 * rgb + gray, w, h, 1);
    metrics_box box = {(int)expected("box_x0"), (int)expected("box_y0"), (int)expected("box_x1"),
                       (int)expected("box_y1")};
    struct { const char *name; vv_image *a, *b; } cases[] = {{"rgb", &a_rgb, &b_rgb},
                                                            {"gray", &a_gray, &b_gray}};
    for (int i = 0; i < 2; i++) {
        for (int use_box = 0; use_box < 2; use_box++) {
            char key[64];
            const char *suffix = use_box ? "_box" : "";
            image_metrics m;
            CHECK_OK(metrics_images(cases[i].a, cases[i].b, use_box ? &box : NULL, 0, &m));
            snprintf(key, sizeof key, "ssim_%s%s", cases[i].name, suffix);
            CHECK_NEAR(m.ssim, expected(key), 1e-6);  /* brief: 1e-4; we match in double */
            snprintf(key, sizeof key, "psnr_%s%s", cases[i].name, suffix);
            CHECK_NEAR(m.psnr, expected(key), 1e-6);  /* brief: 1e-3 dB */
            snprintf(key, sizeof key, "l1_%s%s", cases[i].name, suffix);
            CHECK_NEAR(m.l1, expected(key), 1e-12);
            CHECK_NEAR(m.mse, 255.0 * 255.0 / pow(10.0, m.psnr / 10.0), 1e-9);
            /* single-threaded gives the identical number (band sums added in order) */
            double ssim_serial;
            CHECK_OK(metrics_ssim(cases[i].a, cases[i].b, use_box ? &box : NULL, 1, &ssim_serial));
            CHECK(ssim_serial == m.ssim);
        }
        /* identical images: SSIM 1, PSNR +inf, L1 0 */
        image_metrics same;
        CHECK_OK(metrics_images(cases[i].a, cases[i].a, NULL, 0, &same));
        CHECK_NEAR(same.ssim, 1.0, 1e-12);
        CHECK(isinf(same.psnr) && same.psnr > 0);
        CHECK(same.l1 == 0 && same.mse == 0);
        /* symmetric in its arguments */
        image_metrics ab, ba;
        CHECK_OK(metrics_images(cases[i].a, cases[i].b, NULL, 0, &ab));
        CHECK_OK(metrics_images(cases[i].b, cases[i].a, NULL, 0, &ba));
        CHECK_NEAR(ab.ssim, ba.ssim, 1e-12);
    }

    /* a box metric equals the metric of the copied-out crop */
    {
        int bw = box.x1 - box.x0, bh = box.y1 - box.y0;
        uint8_t *ca = malloc((size_t)bw * bh * 3), *cb = malloc((size_t)bw * bh * 3);
        for (int y = 0; y < bh; y++) {
            memcpy(ca + (size_t)y * bw * 3, a_rgb.data + ((size_t)(y + box.y0) * w + box.x0) * 3, (size_t)bw * 3);
            memcpy(cb + (size_t)y * bw * 3, b_rgb.data + ((size_t)(y + box.y0) * w + box.x0) * 3, (size_t)bw * 3);
        }
        vv_image crop_a = image_view(ca, bw, bh, 3), crop_b = image_view(cb, bw, bh, 3);
        double crop_ssim, box_ssim;
        CHECK_OK(metrics_ssim(&crop_a, &crop_b, NULL, 0, &crop_ssim));
        CHECK_OK(metrics_ssim(&a_rgb, &b_rgb, &box, 0, &box_ssim));
        CHECK(crop_ssim == box_ssim);
        free(ca);
        free(cb);
    }

    /* the smallest legal region (11 x 11: one SSIM window) and refusals */
    {
        metrics_box tiny = {3, 4, 3 + METRICS_SSIM_WINDOW, 4 + METRICS_SSIM_WINDOW};
        double v;
        CHECK_OK(metrics_ssim(&a_rgb, &b_rgb, &tiny, 0, &v));
        CHECK(v > -1 && v < 1);
        metrics_box too_small = {3, 4, 3 + METRICS_SSIM_WINDOW - 1, 4 + METRICS_SSIM_WINDOW};
        CHECK(metrics_ssim(&a_rgb, &b_rgb, &too_small, 0, &v) == VV_ERR_INVALID_ARGUMENT);
        double psnr, l1, mse;
        CHECK_OK(metrics_psnr_l1(&a_rgb, &b_rgb, &too_small, &psnr, &l1, &mse));
        metrics_box outside = {box.x0, box.y0, w + 1, box.y1};
        CHECK(metrics_ssim(&a_rgb, &b_rgb, &outside, 0, &v) == VV_ERR_INVALID_ARGUMENT);
        metrics_box empty = {5, 5, 5, 20};
        CHECK(metrics_psnr_l1(&a_rgb, &b_rgb, &empty, &psnr, &l1, &mse) == VV_ERR_INVALID_ARGUMENT);
        vv_image smaller = image_view(data, w - 1, h, 3);
        CHECK(metrics_ssim(&a_rgb, &smaller, NULL, 0, &v) == VV_ERR_INVALID_ARGUMENT);
        CHECK(metrics_ssim(&a_rgb, &a_gray, NULL, 0, &v) == VV_ERR_INVALID_ARGUMENT);
        CHECK(strstr(vv_last_error(), "ssim") != NULL);
        vv_image none = {0};
        CHECK(metrics_psnr_l1(&none, &a_rgb, NULL, &psnr, &l1, &mse) == VV_ERR_INVALID_ARGUMENT);
    }

    /* PSNR of a constant offset d: 10 log10(255^2 / d^2); L1 = d / 255 */
    {
        uint8_t *shifted = malloc(gray);
        for (size_t i = 0; i < gray; i++) shifted[i] = (uint8_t)(a_gray.data[i] > 250 ? a_gray.data[i] - 4 : a_gray.data[i] + 4);
        vv_image s = image_view(shifted, w, h, 1);
        image_metrics m;
        CHECK_OK(metrics_images(&a_gray, &s, NULL, 1, &m));
        CHECK_NEAR(m.psnr, 10 * log10(255.0 * 255.0 / 16.0), 1e-9);
        CHECK_NEAR(m.l1, 4.0 / 255.0, 1e-12);
        free(shifted);
    }
    free(data);
}

static void test_face_box(void) {
    float pts[68][2];
    for (int i = 0; i < 68; i++) pts[i][0] = 100 + (float)(i % 10) * 10, pts[i][1] = 50 + (float)(i / 10) * 10;
    /* points span x 100..190, y 50..110: side 90, margin 0.1 -> grow 9 */
    metrics_box b;
    CHECK_OK(metrics_box_from_landmarks(pts, 0.1f, 400, 300, &b));
    CHECK(b.x0 == 91 && b.y0 == 41 && b.x1 == 199 && b.y1 == 119);
    CHECK_OK(metrics_box_from_landmarks(pts, 0.1f, 150, 300, &b)); /* clipped on the right */
    CHECK(b.x0 == 91 && b.x1 == 150);
    CHECK(metrics_box_from_landmarks(pts, 0.1f, 95, 300, &b) == VV_ERR_INVALID_ARGUMENT);
    pts[7][1] = NAN;
    CHECK(metrics_box_from_landmarks(pts, 0.1f, 400, 300, &b) == VV_ERR_INVALID_ARGUMENT);
}

/* ---- landmark metrics ---- */

static void transform(const float in[68][2], float out[68][2], double angle, double scale,
                      double tx, double ty) {
    double c = cos(angle) * scale, s = sin(angle) * scale;
    for (int i = 0; i < 68; i++) {
        double x = in[i][0], y = in[i][1];
        out[i][0] = (float)(c * x - s * y + tx);
        out[i][1] = (float)(s * x + c * y + ty);
    }
}

static void test_landmark_metrics(void) {
    float (*sets)[68][2] = read_fixture("metrics_landmarks.bin", 4 * sizeof(float[68][2]));
    CHECK(sets != NULL);
    if (!sets) return;
    float (*p)[2] = sets[0], (*q)[2] = sets[1], (*r)[2] = sets[2], (*s)[2] = sets[3];
    double v, v2;

    CHECK_NEAR(metrics_akd(p, q), expected("akd"), 1e-5);
    CHECK_OK(metrics_nme(p, q, &v));
    CHECK_NEAR(v, expected("nme"), 1e-7);
    CHECK_OK(metrics_nme(q, q, &v));
    CHECK(v == 0);
    /* NME is invariant to scaling (and moving) both sets together */
    float p2[68][2], q2[68][2];
    transform(p, p2, 0.4, 2.5, -30, 17);
    transform(q, q2, 0.4, 2.5, -30, 17);
    CHECK_OK(metrics_nme(p2, q2, &v2));
    CHECK_OK(metrics_nme(p, q, &v));
    CHECK_NEAR(v2, v, 1e-5 * v);
    CHECK_NEAR(metrics_akd(p2, q2), 2.5 * metrics_akd(p, q), 1e-4);
    float flat[68][2] = {{0}};
    CHECK(metrics_nme(p, flat, &v) == VV_ERR_INVALID_ARGUMENT);

    /* expression distance against the numpy reference */
    CHECK_OK(metrics_expression_distance(p, q, NULL, NULL, &v));
    CHECK_NEAR(v, expected("expr_pq"), 1e-6);
    CHECK_OK(metrics_expression_distance(p, r, NULL, NULL, &v));
    CHECK_NEAR(v, expected("expr_pr"), 1e-6);
    CHECK_OK(metrics_expression_distance(p, s, q, r, &v));
    CHECK_NEAR(v, expected("expr_neutral"), 1e-6);
    /* identical sets: 0, also after a similarity transform of one */
    CHECK_OK(metrics_expression_distance(p, p, NULL, NULL, &v));
    CHECK_NEAR(v, 0, 1e-9);
    transform(p, p2, -0.7, 0.3, 500, -40);
    CHECK_OK(metrics_expression_distance(p2, p, NULL, NULL, &v));
    CHECK_NEAR(v, 0, 1e-5);
    /* invariant to rotating / scaling / translating either set */
    CHECK_OK(metrics_expression_distance(p, r, NULL, NULL, &v));
    transform(r, q2, 1.1, 4.0, 13, 99);
    CHECK_OK(metrics_expression_distance(p, q2, NULL, NULL, &v2));
    CHECK_NEAR(v2, v, 1e-5);
    transform(p, p2, -0.2, 0.5, -7, 3);
    CHECK_OK(metrics_expression_distance(p2, r, NULL, NULL, &v2));
    CHECK_NEAR(v2, v, 1e-5);
    /* with neutrals: same expression displacement on two people -> ~0 (s - r is the
     * mouth opening on person 2; add the same normalised displacement to person 1) */
    CHECK_OK(metrics_expression_distance(p, s, q, r, &v));
    transform(s, q2, 0.9, 2.0, 40, 40);
    transform(r, p2, -0.3, 0.7, 5, 5);
    CHECK_OK(metrics_expression_distance(p, q2, q, p2, &v2)); /* b and b_neutral moved independently */
    CHECK_NEAR(v2, v, 1e-5);
    CHECK_OK(metrics_expression_distance(s, s, r, r, &v));
    CHECK_NEAR(v, 0, 1e-9);
    CHECK_OK(metrics_expression_distance(q, p, q, p, &v)); /* both at their neutral */
    CHECK_NEAR(v, 0, 1e-9);
    CHECK(metrics_expression_distance(p, flat, NULL, NULL, &v) == VV_ERR_INVALID_ARGUMENT);
    CHECK(metrics_expression_distance(p, q, r, NULL, &v) == VV_ERR_INVALID_ARGUMENT);
    /* a bigger expression change gives a bigger distance */
    float open[68][2], wide[68][2];
    memcpy(open, q, sizeof open);
    memcpy(wide, q, sizeof wide);
    for (int i = 48; i < 68; i++) open[i][1] += (float)(i < 60 && i > 54 ? 6 : 0);
    for (int i = 48; i < 68; i++) wide[i][1] += (float)(i < 60 && i > 54 ? 12 : 0);
    CHECK_OK(metrics_expression_distance(open, q, NULL, NULL, &v));
    CHECK_OK(metrics_expression_distance(wide, q, NULL, NULL, &v2));
    CHECK(v > 0.005 && v2 > 1.8 * v);
    free(sets);
}

static void test_pose_distance(void) {
    head_pose a = {0}, b = {0};
    head_pose_rotation(0, 0, 0, a.rotation);
    head_pose_rotation(20, 0, 0, b.rotation);
    b.yaw = 20;
    pose_distance d = metrics_pose_distance(&a, &b);
    CHECK_NEAR(d.angle, 20, 1e-3);
    CHECK_NEAR(d.yaw, 20, 1e-6);
    CHECK_NEAR(d.mean_euler, 20.0 / 3, 1e-6);
    d = metrics_pose_distance(&b, &b);
    CHECK_NEAR(d.angle, 0, 0.05); /* acos near 1 on float matrices */
    /* roll only: relative rotation about z */
    a.roll = 170, b.roll = -170, b.yaw = 0;
    head_pose_rotation(0, 0, 170, a.rotation);
    head_pose_rotation(0, 0, -170, b.rotation);
    d = metrics_pose_distance(&a, &b);
    CHECK_NEAR(d.roll, 20, 1e-4); /* wrapped */
    CHECK_NEAR(d.angle, 20, 1e-3);

    /* from landmarks: the mean face projected under two poses */
    const float (*shape)[3] = face_mean_shape_3d();
    head_pose pa = {.scale = 100, .tx = 200, .ty = 200}, pb = pa;
    head_pose_rotation(15, -5, 3, pa.rotation);
    head_pose_rotation(-10, 5, -2, pb.rotation);
    float la[68][2], lb[68][2];
    head_pose_project(&pa, shape, la);
    head_pose_project(&pb, shape, lb);
    pa.yaw = 15, pa.pitch = -5, pa.roll = 3, pb.yaw = -10, pb.pitch = 5, pb.roll = -2;
    pose_distance truth = metrics_pose_distance(&pa, &pb);
    CHECK_OK(metrics_pose_distance_landmarks(la, lb, &d));
    CHECK_NEAR(d.angle, truth.angle, 1.0);
    CHECK_NEAR(d.yaw, 25, 1.0);
    CHECK_NEAR(d.roll, 5, 1.0);
    float flat[68][2] = {{0}};
    CHECK(metrics_pose_distance_landmarks(la, flat, &d) == VV_ERR_INVALID_ARGUMENT);
}

/* ---- feature metrics ---- */

static void test_feature_metrics(void) {
    int na = (int)expected("features_a"), nb = (int)expected("features_b");
    int dim = (int)expected("features_dim");
    float *fa = read_fixture("metrics_features.bin", (size_t)(na + nb) * dim * sizeof(float));
    CHECK(fa != NULL);
    if (!fa) return;
    float *fb = fa + (size_t)na * dim;
    double v;
    CHECK_OK(metrics_frechet_distance_sets(fa, na, fb, nb, dim, &v));
    CHECK_NEAR(v, expected("fd"), 1e-6 * expected("fd")); /* brief: relative 1e-3 */
    CHECK_OK(metrics_frechet_distance_sets(fa, na, fa, na, dim, &v));
    CHECK_NEAR(v, 0, 1e-9);
    /* shifting a set moves only the mean term: FD = |shift|^2 */
    float *shifted = malloc((size_t)na * dim * sizeof(float));
    for (int i = 0; i < na; i++)
        for (int j = 0; j < dim; j++) shifted[(size_t)i * dim + j] = fa[(size_t)i * dim + j] + (j == 3 ? 0.5f : j == 7 ? -0.25f : 0);
    CHECK_OK(metrics_frechet_distance_sets(fa, na, shifted, na, dim, &v));
    CHECK_NEAR(v, 0.25 + 0.0625, 1e-5);
    /* symmetric */
    double ab, ba;
    feature_gaussian ga, gb;
    CHECK_OK(feature_gaussian_fit(&ga, fa, na, dim));
    CHECK_OK(feature_gaussian_fit(&gb, fb, nb, dim));
    CHECK_OK(metrics_frechet_distance(&ga, &gb, &ab));
    CHECK_OK(metrics_frechet_distance(&gb, &ga, &ba));
    CHECK_NEAR(ab, ba, 1e-9 * ab);
    CHECK(ga.count == na && ga.dim == dim);
    feature_gaussian_free(&ga);
    feature_gaussian_free(&gb);
    /* rank-deficient covariances (fewer vectors than dimensions) still work */
    CHECK_OK(metrics_frechet_distance_sets(fa, 5, fb, 7, dim, &v));
    CHECK(isfinite(v) && v > 0);
    CHECK(metrics_frechet_distance_sets(fa, 1, fb, nb, dim, &v) == VV_ERR_INVALID_ARGUMENT);
    shifted[5] = NAN;
    CHECK(metrics_frechet_distance_sets(shifted, na, fb, nb, dim, &v) == VV_ERR_INVALID_ARGUMENT);
    free(shifted);

    CHECK_OK(metrics_cosine_similarity(fa, fb, dim, &v));
    CHECK_NEAR(v, expected("csim"), 1e-7);
    CHECK_OK(metrics_cosine_similarity(fa, fa, dim, &v));
    CHECK_NEAR(v, 1, 1e-12);
    float zero[16] = {0};
    CHECK(metrics_cosine_similarity(fa, zero, 16, &v) == VV_ERR_INVALID_ARGUMENT);
    free(fa);
}

int main(void) {
    CHECK(load_expected() > 20);
    test_pixel_metrics();
    test_face_box();
    test_landmark_metrics();
    test_pose_distance();
    test_feature_metrics();
    return test_finish("test_metrics");
}
