/* models/perceptual_loss and the training mode's several outputs (nn/tfjs.h):
 * 1. the loss on features against central differences, and 0 with no gradient on equal
 *    features;
 * 2. faceres with two outputs, one upstream of the other: the backward pass with both
 *    gradients equals the sum of the two single-output passes (linearity, through the
 *    node that is both an output and on the other's path);
 * 3. the whole loss through faceres: its directional derivative along the analytic
 *    gradient and along a random direction against central differences; 0 on equal
 *    images; larger for a more changed image.
 * Images: tests/fixtures/tfjs_face_256.rgb (a face) cropped to 224, and smooth changes
 * of it. */
#include <math.h>
#include <string.h>

#include "models/perceptual_loss.h"
#include "test.h"

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"
#define SIDE PERCEPTUAL_LOSS_SIZE
#define IMAGE_FLOATS ((size_t)SIDE * SIDE * 3)

static float rng_signed(void) { return (float)(test_rng() & 0xffff) / 32768.0f - 1.0f; }

static void test_features(void) {
    int shapes[2][4] = {{1, 3, 4, 5}, {1, 2, 2, 7}};
    tensor fake[2], real[2], d[2];
    for (int l = 0; l < 2; l++) {
        CHECK_OK(tensor_alloc(&fake[l], 4, shapes[l]));
        CHECK_OK(tensor_alloc(&real[l], 4, shapes[l]));
        CHECK_OK(tensor_alloc(&d[l], 4, shapes[l]));
        for (size_t i = 0; i < fake[l].size; i++) {
            real[l].data[i] = 3 + 3 * rng_signed();
            float gap = 0.2f + 0.5f * fabsf(rng_signed()); /* away from the kink */
            fake[l].data[i] = real[l].data[i] + (test_rng() & 1 ? gap : -gap);
        }
    }
    float loss = -1;
    perceptual_loss_features(&loss, d, fake, real, 2);
    double want = 0;
    for (int l = 0; l < 2; l++) {
        double sum = 0;
        for (size_t i = 0; i < fake[l].size; i++) sum += fabs((double)fake[l].data[i] - real[l].data[i]);
        want += sum / fake[l].size / 2;
    }
    CHECK_NEAR(loss, want, 1e-5);
    double worst = 0;
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < fake[l].size; i += 3) {
            float keep = fake[l].data[i], plus = 0, minus = 0;
            fake[l].data[i] = keep + 1e-2f;
            perceptual_loss_features(&plus, NULL, fake, real, 2);
            fake[l].data[i] = keep - 1e-2f;
            perceptual_loss_features(&minus, NULL, fake, real, 2);
            fake[l].data[i] = keep;
            double numeric = ((double)plus - minus) / 2e-2, err = fabs(numeric - d[l].data[i]);
            worst = err > worst ? err : worst;
        }
    CHECK(worst < 1e-4);
    perceptual_loss_features(&loss, d, real, real, 2);
    CHECK_NEAR(loss, 0, 1e-9);
    double dsum = 0;
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < d[l].size; i++) dsum += fabs(d[l].data[i]);
    CHECK(dsum == 0);
    for (int l = 0; l < 2; l++) {
        tensor_free(&fake[l]);
        tensor_free(&real[l]);
        tensor_free(&d[l]);
    }
}

static void test_two_outputs(const tfjs_model *model, const tensor *image) {
    const char *names[2] = {perceptual_loss_layers[1], perceptual_loss_layers[3]}; /* the first feeds the second */
    tensor out[2] = {{0}}, single = {0}, d_out[2] = {{0}}, both = {0}, g[2] = {{0}};
    tfjs_tape *tape = NULL, *one = NULL;
    CHECK_OK(tfjs_model_run_train_outputs(model, image, names, 2, out, &tape));
    if (!tape) return;
    for (int k = 0; k < 2; k++) {
        CHECK_OK(tensor_alloc(&d_out[k], out[k].ndim, out[k].shape));
        for (size_t i = 0; i < d_out[k].size; i++) d_out[k].data[i] = rng_signed() / (float)d_out[k].size;
    }
    CHECK_OK(tfjs_model_backward_outputs(model, tape, d_out, 2, &both));
    /* each alone, from its own single-output tape; the outputs equal the plain runs' */
    for (int k = 0; k < 2; k++) {
        CHECK_OK(tfjs_model_run_train(model, image, names[k], &single, &one));
        CHECK(single.size == out[k].size && memcmp(single.data, out[k].data, single.size * sizeof(float)) == 0);
        CHECK_OK(tfjs_model_backward(model, one, &d_out[k], &g[k]));
        tfjs_tape_free(one);
        one = NULL;
        tensor_free(&single);
    }
    double worst = 0, scale = 0;
    for (size_t i = 0; both.data && g[0].data && g[1].data && i < both.size; i++) {
        double sum = (double)g[0].data[i] + g[1].data[i];
        worst = fmax(worst, fabs(both.data[i] - sum));
        scale = fmax(scale, fabs(sum));
    }
    printf("  two outputs: |both - (first + second)| max %.3e of %.3e\n", worst, scale);
    CHECK(scale > 0 && worst <= 1e-4 * scale);
    /* Wrong calls are refused. */
    tensor none = {0};
    CHECK(tfjs_model_backward_outputs(model, tape, d_out, 1, &none) == VV_ERR_INVALID_ARGUMENT);
    const char *twice[2] = {names[0], names[0]};
    tensor spare[2] = {{0}};
    tfjs_tape *bad = NULL;
    CHECK(tfjs_model_run_train_outputs(model, image, twice, 2, spare, &bad) == VV_ERR_INVALID_ARGUMENT && !bad);
    tfjs_tape_free(tape);
    for (int k = 0; k < 2; k++) {
        tensor_free(&out[k]);
        tensor_free(&d_out[k]);
        tensor_free(&g[k]);
    }
    tensor_free(&both);
}

static double loss_at(const tfjs_model *model, const float *fake, const float *real) {
    float loss = NAN;
    if (perceptual_loss_forward_backward(model, fake, real, 1, &loss, NULL) != VV_OK) return NAN;
    return loss;
}

static void test_whole_loss(const tfjs_model *model, const float *face) {
    size_t n = IMAGE_FLOATS;
    float *fake = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float)), *dir = malloc(n * sizeof(float));
    float *moved = malloc(n * sizeof(float));
    /* the face brightened and with a smooth ripple: features differ at every depth */
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            for (int c = 0; c < 3; c++) {
                size_t i = ((size_t)y * SIDE + x) * 3 + c;
                float v = face[i] * 0.85f + 30 + 20 * sinf(0.11f * x + 0.07f * y + c);
                fake[i] = v < 0 ? 0 : v > 255 ? 255 : v;
            }
    float loss = -1;
    CHECK_OK(perceptual_loss_forward_backward(model, fake, face, 1, &loss, d));
    printf("  perceptual loss, changed face vs face: %.4f\n", loss);
    CHECK(loss > 0.01f && loss < 6.0f);
    CHECK_NEAR(loss_at(model, face, face), 0, 1e-7);
    /* Half the change costs less than all of it. */
    for (size_t i = 0; i < n; i++) moved[i] = 0.5f * (fake[i] + face[i]);
    double half = loss_at(model, moved, face);
    CHECK(half > 0 && half < loss);
    /* Directional derivatives: along the gradient and along a random smooth direction. */
    double gnorm = 0;
    for (size_t i = 0; i < n; i++) gnorm += (double)d[i] * d[i];
    gnorm = sqrt(gnorm);
    CHECK(gnorm > 0);
    for (int which = 0; which < 2 && gnorm > 0; which++) {
        double norm = 0;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++)
                for (int c = 0; c < 3; c++) {
                    size_t i = ((size_t)y * SIDE + x) * 3 + c;
                    dir[i] = which == 0 ? d[i] : sinf(0.05f * x + 0.3f * c) * cosf(0.04f * y + 0.2f * c);
                    norm += (double)dir[i] * dir[i];
                }
        norm = sqrt(norm);
        double analytic = 0, eps = 2.0; /* pixels in 0..255: a step of 2 levels along a unit-norm direction spread over 150k values */
        for (size_t i = 0; i < n; i++) {
            dir[i] = (float)(dir[i] / norm);
            analytic += (double)d[i] * dir[i];
        }
        for (size_t i = 0; i < n; i++) moved[i] = fake[i] + (float)eps * dir[i];
        double plus = loss_at(model, moved, face);
        for (size_t i = 0; i < n; i++) moved[i] = fake[i] - (float)eps * dir[i];
        double minus = loss_at(model, moved, face);
        double numeric = (plus - minus) / (2 * eps), rel = fabs(numeric - analytic) / fmax(fabs(numeric), 1e-12);
        printf("  along %s: analytic %+.5e numeric %+.5e rel err %.2e\n", which ? "a smooth direction" : "the gradient",
               analytic, numeric, rel);
        CHECK_MSG(rel < 0.05, "perceptual loss directional derivative %d: rel err %g", which, rel);
    }
    free(fake);
    free(d);
    free(dir);
    free(moved);
}

int main(void) {
    test_rng_seed(11);
    test_features();
    if (!test_model_present("faceres.json")) {
        test_skip("faceres parts: faceres.json absent (./dev setup fetches it)");
        return test_finish("test_perceptual_loss");
    }
    char path[4096];
    tfjs_model *model = NULL;
    CHECK_OK(models_find("faceres.json", path, sizeof path));
    CHECK_OK(tfjs_model_load(&model, path));
    uint8_t *bytes = test_read_bytes(FIXTURES "tfjs_face_256.rgb", 256 * 256 * 3);
    CHECK(bytes != NULL);
    if (model && bytes) {
        int shape[4] = {1, SIDE, SIDE, 3};
        tensor image = {0};
        CHECK_OK(tensor_alloc(&image, 4, shape));
        for (int y = 0; y < SIDE; y++) /* the centre 224 x 224 of the 256 x 256 face */
            for (int x = 0; x < SIDE; x++)
                for (int c = 0; c < 3; c++)
                    image.data[((size_t)y * SIDE + x) * 3 + c] = bytes[((size_t)(y + 16) * 256 + x + 16) * 3 + c];
        double t0 = time_now();
        test_two_outputs(model, &image);
        test_whole_loss(model, image.data);
        printf("  faceres parts: %.1f s\n", time_now() - t0);
        tensor_free(&image);
    }
    free(bytes);
    tfjs_model_free(model);
    return test_finish("test_perceptual_loss");
}
