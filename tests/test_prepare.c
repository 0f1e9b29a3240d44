/* animator_prepare (src/animate/animator.c, run.c): vv_animator_new leaves the 3D heads'
 * person matte and background plate (most of the start-up) to animator_prepare, which
 * vv_animate calls with the driver's tracker thread already running:
 *  1. after vv_animator_new the head is still to be built (its face mesh kept, no matte
 *     time spent); vv_animate builds it (the matte's time in its report);
 *  2. a portrait whose face is too small for the 3D head: the fall-back to the 2D warp is
 *     still warned right after vv_animator_new (vv_animator_warning prepares first), and
 *     vv_animate, which started tracking for a 3D head (the Iris model on the driver),
 *     tracks again without it: the frames equal those of eyes 0 (never the Iris model).
 * `./dev test`'s ThreadSanitizer build covers the tracker running beside the build through
 * test_animate. */
#include "animate/animate.h"
#include "img/image.h"
#include "test.h"
#include "vivify.h"

#include <unistd.h>

#define FRAMES 12
/* lp_d0 whole: with the Iris model's lids its frames differ from those without (a fall-back
 * still tracked with it fails the check; 12 frames would not tell) */
#define FALLBACK_FRAMES 78

static bool models_present(void) {
    const char *names[] = {"blazeface.json", "dlib", "facemesh.json", "iris.json", "selfie.json"};
    for (int i = 0; i < 5; i++)
        if (!test_model_present(names[i])) {
            test_skip("model %s not present (./dev setup)", names[i]);
            return false;
        }
    return true;
}

/* Animates `portrait` by the driver's first `frames` frames into PNG frames in dir. */
static vv_status animate_to(const vv_image *portrait, const vv_animate_params *params, const char *driver, int frames,
                            const char *dir, vv_animate_report *report, char warning[512]) {
    const char *name = "portrait";
    vv_animator *a = NULL;
    vv_status s = vv_animator_new(&a, portrait, &name, 1, params);
    if (s != VV_OK) return s;
    vv_animate_job job = {0};
    job.driving = driver;
    job.output = dir;
    job.max_frames = frames;
    s = vv_animate(a, &job, NULL, report);
    const char *w = vv_animator_warning(a, 0);
    snprintf(warning, 512, "%s", w ? w : "");
    vv_animator_free(a);
    return s;
}

static bool same_frames(const char *dir_a, const char *dir_b, int count) {
    bool same = true;
    for (int i = 0; i < count && same; i++) {
        char pa[8300], pb[8300];
        snprintf(pa, sizeof pa, "%s/frame_%05d.png", dir_a, i);
        snprintf(pb, sizeof pb, "%s/frame_%05d.png", dir_b, i);
        vv_image a = {0}, b = {0};
        same = image_load(&a, pa) == VV_OK && image_load(&b, pb) == VV_OK && a.width == b.width && a.height == b.height &&
               memcmp(a.data, b.data, (size_t)a.width * a.height * 3) == 0;
        image_free(&a);
        image_free(&b);
    }
    return same;
}

static void test_built_by_animate(const char *driver, const char tmp[4096]) {
    vv_image portrait = {0};
    CHECK_OK(image_load(&portrait, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    const char *name = "mona_lisa.png";
    vv_animate_params params = vv_animate_default_params();
    vv_animator *a = NULL;
    CHECK_OK(vv_animator_new(&a, &portrait, &name, 1, &params));
    if (a) {
        CHECK_MSG(!a->sources[0].head && a->sources[0].head_mesh && a->seconds_matte == 0,
                  "after vv_animator_new: head %p, mesh %p, matte %.3f s", (void *)a->sources[0].head,
                  (void *)a->sources[0].head_mesh, a->seconds_matte);
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/mona", tmp);
        vv_animate_job job = {0};
        job.driving = driver;
        job.output = dir;
        job.max_frames = FRAMES;
        vv_animate_report report;
        CHECK_OK(vv_animate(a, &job, NULL, &report));
        CHECK_MSG(a->sources[0].head && !a->sources[0].head_mesh && report.seconds_matte > 0 && report.frames == FRAMES,
                  "after vv_animate: head %p, mesh %p, matte %.3f s, %ld frames", (void *)a->sources[0].head,
                  (void *)a->sources[0].head_mesh, report.seconds_matte, report.frames);
        CHECK(vv_animator_warning(a, 0) == NULL);
    }
    vv_animator_free(a);
    image_free(&portrait);
}

static void test_fallback(const char *shared, const char *driver, const char tmp[4096]) {
    char path[8192];
    snprintf(path, sizeof path, "%s/portraits/deb_grace_hopper_512.jpg", shared);
    vv_image big = {0}, small = {0};
    CHECK_OK(image_load(&big, path));
    CHECK_OK(image_resize(&small, &big, 160, 160)); /* 35 px between the eyes' corners: 40 needed */
    const char *name = "small";
    vv_animate_params params = vv_animate_default_params();
    vv_animator *a = NULL;
    CHECK_OK(vv_animator_new(&a, &small, &name, 1, &params));
    const char *w = a ? vv_animator_warning(a, 0) : NULL;
    CHECK_MSG(w && strstr(w, "too small") && strstr(w, "2D warp"), "warning after vv_animator_new: %s", w ? w : "none");
    vv_animator_free(a);

    char dir_eyes[8192], dir_none[8192], warning[512];
    snprintf(dir_eyes, sizeof dir_eyes, "%s/small_eyes", tmp);
    snprintf(dir_none, sizeof dir_none, "%s/small_no_eyes", tmp);
    vv_animate_report report;
    CHECK_OK(animate_to(&small, &params, driver, FALLBACK_FRAMES, dir_eyes, &report, warning));
    CHECK(report.frames == FALLBACK_FRAMES && strstr(warning, "too small"));
    params.eyes = 0; /* the driver tracked without the Iris model from the start */
    CHECK_OK(animate_to(&small, &params, driver, FALLBACK_FRAMES, dir_none, &report, warning));
    CHECK_MSG(same_frames(dir_eyes, dir_none, FALLBACK_FRAMES), "the fall-back's frames differ from those tracked without the Iris model");
    image_free(&big);
    image_free(&small);
}

int main(void) {
    const char *shared = test_require_shared("test_prepare");
    if (models_present()) {
        char driver[8192], tmp[4096];
        snprintf(driver, sizeof driver, "%s/driving/lp_d0.mp4", shared);
        snprintf(tmp, sizeof tmp, "%s", test_tmp_dir("test_prepare"));
        test_built_by_animate(driver, tmp);
        test_fallback(shared, driver, tmp);
        char command[8300];
        snprintf(command, sizeof command, "rm -rf '%s'", tmp);
        if (system(command) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    }
    return test_finish("test_prepare");
}
