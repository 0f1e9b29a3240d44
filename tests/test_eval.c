/* test_eval: identity embeddings (CSIM) against @tensorflow/tfjs, the plot and report
 * writers, and the protocols on a tiny clip made from examples/mona_lisa.png.
 * Needs .cache/models (faceres, blazeface); skipped (77) without them. */
#include "eval/identity.h"
#include "eval/metrics.h"
#include "img/image.h"
#include "test.h"

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"

static const char *const identity_names[2] = {"mona_lisa", "grace_hopper"};
static const char *const identity_images[2] = {VV_SOURCE_DIR "/examples/mona_lisa.png",
                                               VV_SOURCE_DIR "/examples/grace_hopper.jpg"};

static bool read_identity_landmarks(float points[2][68][2]) {
    FILE *f = fopen(FIXTURES "eval_identity_landmarks.txt", "r");
    if (!f) return false;
    char line[256];
    int face = -1, k = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') { face++; k = 0; continue; }
        if (face < 0 || face > 1 || k >= 68 || sscanf(line, "%f %f", &points[face][k][0], &points[face][k][1]) != 2) break;
        k++;
    }
    fclose(f);
    return face == 1 && k == 68;
}

static void test_identity(void) {
    identity_model *model = NULL;
    CHECK_OK(identity_model_load(&model, NULL));
    if (!model) return;
    float *ref = mem_alloc(2 * IDENTITY_DIM, sizeof(float));
    FILE *f = fopen(FIXTURES "eval_identity_embeddings.bin", "rb");
    CHECK(f && fread(ref, sizeof(float), 2 * IDENTITY_DIM, f) == 2 * IDENTITY_DIM);
    if (f) fclose(f);
    float points[2][68][2];
    CHECK(read_identity_landmarks(points));
    float ours[2][IDENTITY_DIM];
    for (int i = 0; i < 2; i++) {
        /* 1. Our embedding of the very crop tfjs saw. */
        char path[1024];
        snprintf(path, sizeof path, FIXTURES "eval_identity_%s.png", identity_names[i]);
        vv_image fixture_crop = {0}, crop = {0}, image = {0};
        CHECK_OK(image_load(&fixture_crop, path));
        double t0 = time_now();
        CHECK_OK(identity_embed_crop(model, &fixture_crop, ours[i]));
        double ms = (time_now() - t0) * 1e3;
        const float *r = ref + (size_t)i * IDENTITY_DIM;
        double diff2 = 0, ref2 = 0, max_abs = 0;
        for (int k = 0; k < IDENTITY_DIM; k++) {
            double d = ours[i][k] - r[k];
            diff2 += d * d;
            ref2 += (double)r[k] * r[k];
            if (fabs(d) > max_abs) max_abs = fabs(d);
        }
        double rel = sqrt(diff2 / ref2);
        CHECK_MSG(rel <= 1e-3, "%s: relative error %g", identity_names[i], rel);
        printf("identity %-12s vs tfjs: relative L2 error %.2e, max abs %.2e (%.0f ms)\n", identity_names[i], rel,
               max_abs, ms);
        /* 2. Our aligner reproduces the committed crop from the image and landmarks. */
        CHECK_OK(image_load(&image, identity_images[i]));
        CHECK_OK(identity_align(&image, (const float(*)[2])points[i], &crop));
        double l1 = 1;
        if (crop.data && fixture_crop.data) CHECK_OK(metrics_psnr_l1(&crop, &fixture_crop, NULL, NULL, &l1, NULL));
        CHECK_MSG(l1 * 255 <= 0.5, "%s: aligned crop differs from the fixture by %.3f levels on average",
                  identity_names[i], l1 * 255);
        image_free(&fixture_crop);
        image_free(&crop);
        image_free(&image);
    }
    /* 3. CSIM separates the two people and is stable under a small misalignment. */
    double different = 1, same = 0;
    CHECK_OK(metrics_cosine_similarity(ours[0], ours[1], IDENTITY_DIM, &different));
    vv_image image = {0};
    CHECK_OK(image_load(&image, identity_images[0]));
    float moved[68][2], shifted[IDENTITY_DIM];
    for (int k = 0; k < 68; k++) { /* 3% larger, 2 px right */
        moved[k][0] = points[0][30][0] + 1.03f * (points[0][k][0] - points[0][30][0]) + 2;
        moved[k][1] = points[0][30][1] + 1.03f * (points[0][k][1] - points[0][30][1]);
    }
    CHECK_OK(identity_embed(model, &image, (const float(*)[2])moved, shifted));
    CHECK_OK(metrics_cosine_similarity(ours[0], shifted, IDENTITY_DIM, &same));
    printf("CSIM mona_lisa vs grace_hopper %.3f; mona_lisa vs itself misaligned %.3f\n", different, same);
    CHECK(same > 0.9 && different < 0.6 && same - different > 0.3);
    /* 4. Bad input. */
    float bad[68][2];
    memcpy(bad, points[0], sizeof bad);
    bad[40][0] = NAN;
    vv_image crop = {0};
    CHECK(identity_align(&image, (const float(*)[2])bad, &crop) == VV_ERR_INVALID_ARGUMENT);
    for (int k = 0; k < 68; k++) bad[k][0] = bad[k][1] = 5;
    CHECK(identity_align(&image, (const float(*)[2])bad, &crop) == VV_ERR_INVALID_ARGUMENT);
    CHECK(identity_embed_crop(model, &image, shifted) == VV_ERR_INVALID_ARGUMENT);
    identity_model *none = NULL;
    CHECK(identity_model_load(&none, "/nonexistent/models") != VV_OK && !none);
    image_free(&image);
    free(ref);
    identity_model_free(model);
}

int main(void) {
    char path[1024];
    if (models_find("faceres.json", path, sizeof path) != VV_OK) {
        printf("SKIPPED test_eval: faceres.json not in .cache/models (./dev setup)\n");
        return 77;
    }
    test_identity();
    return test_finish("test_eval");
}
