/* face/matte: the selfie segmentation graph and the person matte.
 * 1. The selfie graph (nn/tfjs with AvgPool, ResizeBilinear, Conv2DBackpropInput, AddN)
 *    against @tensorflow/tfjs's CPU backend on the face and pattern inputs of
 *    tests/test_tfjs.c scaled to [0, 1] (tests/fixtures/selfie_graph.bin, written by
 *    scripts/fixtures/tfjs_reference/generate.js selfie): the 8x8 block means and 256
 *    sampled outputs within 1e-4 (measured: 2e-6).
 * 2. examples/mona_lisa.png (500x756), regions checked by eye on the written matte: face
 *    and chest are person (mean > 240, every pixel > 200), the top corners and the
 *    landscape either side of the head background (every pixel < 50); the same with the
 *    plain bilinear upsampling, and on a gray copy; two threads running at once give the
 *    same bytes as one; bad arguments fail cleanly.
 * 3. Does the edge-aware upsampling put the edge on the image's edge?  Each example
 *    portrait pasted with a hard edge (its own bilinear matte > 127) onto a synthetic
 *    background, so the true matte is that mask: mean |error| within 8 px of the edge must
 *    drop to under 0.8x the bilinear upsampling's (measured 0.049 -> 0.015, mona_lisa;
 *    0.067 -> 0.046, grace_hopper).
 * 4. ../shared/data/portraits: on each, the central half of the BlazeFace box is person
 *    (mean > 240) and the top corners background (mean < 20).  Without ../shared or
 *    blazeface.json this part is skipped: the rest runs, then the test exits 77.
 * Prints ms per person_matte_run on a 720x720 image.  Skips (77) without selfie.json. */
#include "face/detector.h"
#include "face/matte.h"
#include "img/image.h"
#include "nn/tfjs.h"
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"

/* ---------------------------------------------------------------- graph vs TFJS ---- */

static void test_graph(const char *path) {
    tfjs_model *model = NULL;
    CHECK_OK(tfjs_model_load(&model, path));
    if (!model) return;
    FILE *f = fopen(FIXTURES "tfjs_face_256.rgb", "rb");
    uint8_t *face = malloc(256 * 256 * 3);
    CHECK(f && fread(face, 1, 256 * 256 * 3, f) == 256 * 256 * 3);
    if (f) fclose(f);
    float *ref = test_read_floats(FIXTURES "selfie_graph.bin", 2 * (32 * 32 + 256));
    CHECK_MSG(ref != NULL, "cannot read " FIXTURES "selfie_graph.bin");
    for (int pattern = 0; pattern < 2 && ref; pattern++) {
        tensor input, out;
        int shape[4] = {1, 256, 256, 3};
        CHECK_OK(tensor_alloc(&input, 4, shape));
        for (int y = 0; y < 256; y++)
            for (int x = 0; x < 256; x++)
                for (int c = 0; c < 3; c++) {
                    int q = pattern ? (x * 7 + y * 13 + c * 29) % 256 : face[((size_t)y * 256 + x) * 3 + c];
                    input.data[((size_t)y * 256 + x) * 3 + c] = (float)(q * (1.0 / 255) + 0);
                }
        CHECK_OK(tfjs_model_run(model, &input, NULL, &out));
        CHECK(out.ndim == 4 && out.shape[1] == 256 && out.shape[2] == 256 && out.shape[3] == 1);
        if (out.size == 256 * 256) {
            const float *blocks = ref + pattern * (32 * 32 + 256), *samples = blocks + 32 * 32;
            double block_err = 0, sample_err = 0, person = 0;
            for (int by = 0; by < 32; by++)
                for (int bx = 0; bx < 32; bx++) {
                    double sum = 0;
                    for (int y = 0; y < 8; y++)
                        for (int x = 0; x < 8; x++) sum += out.data[(by * 8 + y) * 256 + bx * 8 + x];
                    block_err = fmax(block_err, fabs(sum / 64 - blocks[by * 32 + bx]));
                    person += blocks[by * 32 + bx] / 1024;
                }
            for (int k = 0; k < 256; k++)
                sample_err = fmax(sample_err, fabs(out.data[(k * 7919) % 65536] - samples[k]));
            printf("selfie graph vs TFJS, %s: block max err %.2e, sample max err %.2e (person share %.2f)\n",
                   pattern ? "pattern" : "face", block_err, sample_err, person);
            CHECK_MSG(block_err < 1e-4 && sample_err < 1e-4, "selfie graph differs from TFJS by %g / %g", block_err,
                      sample_err);
            /* The reference is informative: Grace Hopper is a third of the frame, the
             * pattern is no one. */
            CHECK(pattern ? person < 0.01 : person > 0.25);
        }
        tensor_free(&input);
        tensor_free(&out);
    }
    free(ref);
    free(face);
    tfjs_model_free(model);
}

/* ---------------------------------------------------------------- regions ---- */

typedef struct region_stats {
    double mean;
    int min, max;
} region_stats;

static region_stats region(const uint8_t *alpha, int W, int x0, int y0, int x1, int y1) {
    region_stats r = {0, 255, 0};
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int v = alpha[(size_t)y * W + x];
            r.mean += v;
            r.min = v < r.min ? v : r.min;
            r.max = v > r.max ? v : r.max;
            n++;
        }
    r.mean /= n ? n : 1;
    return r;
}

/* Mona Lisa (500x756): face x 210-290, y 150-230; chest x 150-350, y 450-600; landscape
 * beside the head x 20-120 and 400-480, y 100-300; corners 60 px. */
static void check_mona(const uint8_t *alpha, const char *label) {
    const int W = 500;
    region_stats face = region(alpha, W, 210, 150, 290, 230), chest = region(alpha, W, 150, 450, 350, 600);
    region_stats left = region(alpha, W, 20, 100, 120, 300), right = region(alpha, W, 400, 100, 480, 300);
    region_stats tl = region(alpha, W, 0, 0, 60, 60), tr = region(alpha, W, 440, 0, 500, 60);
    printf("mona_lisa %s: face %.0f (min %d), chest %.0f (min %d), landscape max %d / %d, top corners max %d / %d\n",
           label, face.mean, face.min, chest.mean, chest.min, left.max, right.max, tl.max, tr.max);
    CHECK_MSG(face.mean > 240 && face.min > 200, "%s: face mean %.0f min %d", label, face.mean, face.min);
    CHECK_MSG(chest.mean > 240 && chest.min > 200, "%s: chest mean %.0f min %d", label, chest.mean, chest.min);
    CHECK_MSG(left.max < 50 && right.max < 50, "%s: landscape max %d / %d", label, left.max, right.max);
    CHECK_MSG(tl.max < 50 && tr.max < 50, "%s: top corners max %d / %d", label, tl.max, tr.max);
}

typedef struct thread_run {
    const person_matte *m;
    const vv_image *image;
    uint8_t *alpha;
    vv_status status;
} thread_run;

static void *run_thread(void *arg) {
    thread_run *t = arg;
    for (int i = 0; i < 3 && t->status == VV_OK; i++) t->status = person_matte_run(t->m, t->image, t->alpha);
    return NULL;
}

static void test_mona(person_matte *m) {
    vv_image image;
    CHECK_OK(image_load(&image, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    if (!image.data) return;
    CHECK(image.width == 500 && image.height == 756);
    size_t n = (size_t)image.width * image.height;
    uint8_t *alpha = malloc(n), *plain = malloc(n), *gray_alpha = malloc(n);
    CHECK_OK(person_matte_run(m, &image, alpha));
    check_mona(alpha, "refined");
    person_matte_set_refine(m, false);
    CHECK_OK(person_matte_run(m, &image, plain));
    person_matte_set_refine(m, true);
    check_mona(plain, "bilinear");
    /* The refinement only moves edges: away from them both agree. */
    long differ = 0;
    for (size_t i = 0; i < n; i++) differ += abs(alpha[i] - plain[i]) > 64;
    printf("refined vs bilinear: %.2f%% of pixels differ by > 64\n", 100.0 * differ / n);
    CHECK_MSG(differ < (long)(n / 50), "refinement changed %ld pixels by > 64", differ);

    vv_image gray;
    CHECK_OK(image_to_gray(&gray, &image));
    if (gray.data) {
        CHECK_OK(person_matte_run(m, &gray, gray_alpha));
        check_mona(gray_alpha, "gray");
        image_free(&gray);
    }

    /* Concurrent runs on one matte. */
    uint8_t *a = malloc(n), *b = malloc(n);
    thread_run runs[2] = {{m, &image, a, VV_OK}, {m, &image, b, VV_OK}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, run_thread, &runs[i]);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    CHECK(runs[0].status == VV_OK && runs[1].status == VV_OK);
    CHECK(memcmp(a, alpha, n) == 0 && memcmp(b, alpha, n) == 0);
    free(a);
    free(b);

    /* Bad arguments. */
    CHECK(person_matte_run(m, NULL, alpha) == VV_ERR_INVALID_ARGUMENT);
    CHECK(person_matte_run(m, &image, NULL) == VV_ERR_INVALID_ARGUMENT);
    vv_image two = image;
    two.channels = 2;
    CHECK(person_matte_run(m, &two, alpha) == VV_ERR_INVALID_ARGUMENT);
    person_matte *none = NULL;
    CHECK(person_matte_new(&none, VV_SOURCE_DIR "/tests/fixtures/no_such_folder") == VV_ERR_MODEL && !none);

    /* Tiny and very elongated images still work. */
    vv_image tiny;
    CHECK_OK(image_resize(&tiny, &image, 3, 1));
    if (tiny.data) CHECK_OK(person_matte_run(m, &tiny, alpha));
    image_free(&tiny);

    if (getenv("VV_MATTE_PNG")) { /* look at it: VV_MATTE_PNG=/tmp/mona_matte.png */
        vv_image out = {image.width, image.height, 1, alpha};
        CHECK_OK(image_save(&out, getenv("VV_MATTE_PNG")));
    }
    free(alpha);
    free(plain);
    free(gray_alpha);

    /* Speed on a 720x720 image. */
    vv_image big;
    CHECK_OK(image_resize(&big, &image, 720, 720));
    uint8_t *big_alpha = malloc(720 * 720);
    if (big.data) {
        for (int refine = 1; refine >= 0; refine--) {
            person_matte_set_refine(m, refine);
            CHECK_OK(person_matte_run(m, &big, big_alpha));
            double best = 1e9;
            for (int i = 0; i < 5; i++) {
                double t0 = time_now();
                CHECK_OK(person_matte_run(m, &big, big_alpha));
                best = fmin(best, time_now() - t0);
            }
            printf("person_matte_run 720x720 (%s): %.1f ms (best of 5)\n", refine ? "joint bilateral" : "bilinear",
                   best * 1e3);
        }
        person_matte_set_refine(m, true);
    }
    free(big_alpha);
    image_free(&big);
    image_free(&image);
}

/* ---------------------------------------------------------------- composite ---- */

static void test_composite(person_matte *m, const char *path, const float c0[3], const float c1[3]) {
    vv_image image;
    CHECK_OK(image_load(&image, path));
    if (!image.data) return;
    int W = image.width, H = image.height;
    size_t n = (size_t)W * H;
    uint8_t *mask = malloc(n), *alpha = malloc(n), *band = calloc(n, 1);
    person_matte_set_refine(m, false);
    CHECK_OK(person_matte_run(m, &image, mask));
    for (size_t i = 0; i < n; i++) mask[i] = mask[i] > 127 ? 255 : 0;
    /* Band: within 8 px of the mask's edge. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t v = mask[(size_t)y * W + x];
            bool edge = (x + 1 < W && mask[(size_t)y * W + x + 1] != v) || (y + 1 < H && mask[(size_t)(y + 1) * W + x] != v);
            if (!edge) continue;
            for (int yy = y - 8 > 0 ? y - 8 : 0; yy <= y + 8 && yy < H; yy++)
                for (int xx = x - 8 > 0 ? x - 8 : 0; xx <= x + 8 && xx < W; xx++) band[(size_t)yy * W + xx] = 1;
        }
    /* The person over a gradient with a wavy texture: no edge where the mask has none. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            if (mask[i]) continue;
            float t = 0.6f * x / W + 0.4f * y / H, tex = 25 * sinf(0.045f * x + 3 * sinf(0.03f * y)) * sinf(0.04f * y);
            for (int c = 0; c < 3; c++) {
                float v = c0[c] + (c1[c] - c0[c]) * t + tex;
                image.data[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    double err[2] = {0, 0};
    long count = 0;
    for (size_t i = 0; i < n; i++) count += band[i];
    for (int refine = 0; refine < 2; refine++) {
        person_matte_set_refine(m, refine);
        CHECK_OK(person_matte_run(m, &image, alpha));
        for (size_t i = 0; i < n; i++)
            if (band[i]) err[refine] += abs(alpha[i] - mask[i]) / 255.0;
        err[refine] /= count ? count : 1;
    }
    const char *name = strrchr(path, '/') + 1;
    printf("composite %s: edge-band error bilinear %.4f, joint bilateral %.4f\n", name, err[0], err[1]);
    CHECK_MSG(count > 0 && err[1] < 0.8 * err[0], "%s: refinement did not sharpen the edge (%.4f vs %.4f)", name,
              err[1], err[0]);
    person_matte_set_refine(m, true);
    free(mask);
    free(alpha);
    free(band);
    image_free(&image);
}

/* ---------------------------------------------------------------- portraits ---- */

/* false when skipped (one line says why). */
static bool test_portraits(person_matte *m) {
    const char *shared = test_shared_data();
    if (!shared) {
        printf("SKIPPED the portraits part of test_matte: ../shared/data not present\n");
        return false;
    }
    char model[4096];
    if (models_find("blazeface.json", model, sizeof model) != VV_OK) {
        printf("SKIPPED the portraits part of test_matte: blazeface.json not in .cache/models (run ./dev setup)\n");
        return false;
    }
    char dir_path[4200];
    snprintf(dir_path, sizeof dir_path, "%s/portraits", shared);
    DIR *dir = opendir(dir_path);
    if (!dir) {
        printf("SKIPPED the portraits part of test_matte: %s not present\n", dir_path);
        return false;
    }
    face_detector *detector = NULL;
    CHECK_OK(face_detector_load(&detector, NULL));
    struct dirent *e;
    int count = 0;
    while (detector && (e = readdir(dir))) {
        const char *ext = strrchr(e->d_name, '.');
        if (!ext || (strcmp(ext, ".jpg") && strcmp(ext, ".png"))) continue;
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        vv_image image;
        if (image_load(&image, path) != VV_OK) continue;
        int W = image.width, H = image.height;
        uint8_t *alpha = malloc((size_t)W * H);
        face_box box[4];
        int faces = 0;
        CHECK_OK(face_detect(detector, &image, box, 4, &faces));
        CHECK_OK(person_matte_run(m, &image, alpha));
        if (faces > 0) {
            float cx = (box[0].x0 + box[0].x1) / 2, cy = (box[0].y0 + box[0].y1) / 2;
            float hw = (box[0].x1 - box[0].x0) / 4, hh = (box[0].y1 - box[0].y0) / 4;
            int x0 = (int)(cx - hw), x1 = (int)(cx + hw), y0 = (int)(cy - hh), y1 = (int)(cy + hh);
            x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0, x1 = x1 > W ? W : x1, y1 = y1 > H ? H : y1;
            int c = (W < H ? W : H) / 12;
            region_stats face = region(alpha, W, x0, y0, x1, y1);
            region_stats tl = region(alpha, W, 0, 0, c, c), tr = region(alpha, W, W - c, 0, W, c);
            printf("  %-26s %4dx%-4d face %.0f (min %d), top corners %.0f / %.0f\n", e->d_name, W, H, face.mean,
                   face.min, tl.mean, tr.mean);
            CHECK_MSG(face.mean > 240, "%s: face mean %.0f", e->d_name, face.mean);
            CHECK_MSG(tl.mean < 20 && tr.mean < 20, "%s: top corners %.0f / %.0f", e->d_name, tl.mean, tr.mean);
            count++;
        }
        free(alpha);
        image_free(&image);
    }
    closedir(dir);
    face_detector_free(detector);
    printf("portraits checked: %d\n", count);
    CHECK(count > 0);
    return true;
}

int main(void) {
    char path[4096];
    if (models_find("selfie.json", path, sizeof path) != VV_OK) {
        printf("SKIPPED test_matte: selfie.json not in .cache/models (run ./dev setup)\n");
        return 77;
    }
    test_graph(path);
    person_matte *m = NULL;
    bool portraits = true;
    CHECK_OK(person_matte_new(&m, NULL));
    if (m) {
        test_mona(m);
        const float green[3] = {60, 90, 70}, sand[3] = {200, 180, 140}, blue[3] = {40, 60, 140};
        test_composite(m, VV_SOURCE_DIR "/examples/mona_lisa.png", green, sand);
        test_composite(m, VV_SOURCE_DIR "/examples/grace_hopper.jpg", blue, sand);
        portraits = test_portraits(m);
    }
    person_matte_free(m);
    int rc = test_finish("test_matte");
    return rc == 0 && !portraits ? 77 : rc;
}
