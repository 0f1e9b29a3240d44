/* The live controls of a streaming animator (include/vivify.h; `vivify live --window`'s
 * keys): driven by landmarks (vv_animator_push_landmarks, lookahead 0, no smoothing) from the
 * portrait's own face, then the same face with the mouth opened and the head shifted:
 *  1. vv_animator_set_gains: expression, pose, eyes and lips 0 bring the output back to
 *     the portrait at rest; 1 again moves it as before; bad values are refused;
 *  2. vv_animator_recalibrate: the moved face becomes the neutral: the output at rest for
 *     it, moving for the old rest face;
 *  3. vv_animator_set_source with two portraits: pinned to each in turn (frame info and
 *     pixels say which), -1 gives the choice back; out of range refused. */
#include "img/image.h"
#include "test.h"

static double mean_difference(const vv_image *a, const vv_image *b) {
    if (a->width != b->width || a->height != b->height || a->channels != b->channels) return 1e9;
    double sum = 0;
    size_t n = (size_t)a->width * a->height * a->channels;
    for (size_t i = 0; i < n; i++) sum += abs((int)a->data[i] - (int)b->data[i]);
    return sum / (double)n;
}

/* Pushes one face (or NULL) and pulls its frame. */
static void step(vv_animator *a, const float (*points)[2], double time, vv_image *out, vv_frame_info *info) {
    int got = 0;
    CHECK_OK(vv_animator_push_landmarks(a, points, NULL, time));
    CHECK_OK(vv_animator_pull(a, out, &got, info));
    CHECK(got == 1);
}

int main(void) {
    test_require_models("test_live_controls", "blazeface.json", "facemesh.json", "selfie.json", "iris.json", NULL);
    if (!test_model_present("dlib")) {
        printf("SKIPPED test_live_controls: model dlib not present (./dev setup fetches it)\n");
        return 77;
    }
    vv_image mona = {0}, hopper = {0};
    CHECK_OK(image_load(&mona, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    CHECK_OK(image_load(&hopper, VV_SOURCE_DIR "/examples/grace_hopper.jpg"));
    vv_animate_params p = vv_animate_default_params();
    p.engine = "warp2d";
    p.lookahead = 0;
    p.smoothing = 0;
    p.background_move = 1;
    vv_animator *a = NULL;
    const char *names[2] = {"mona_lisa.png", "grace_hopper.jpg"};
    CHECK_OK(vv_animator_new(&a, &mona, names, 1, &p));
    if (!a) return test_finish("test_live_controls");
    vv_face face;
    CHECK_OK(vv_animator_source_face(a, 0, &face));
    float rest[68][2], moved[68][2];
    memcpy(rest, face.landmarks, sizeof rest);
    memcpy(moved, rest, sizeof moved);
    float eyes = (float)hypot(rest[45][0] - rest[36][0], rest[45][1] - rest[36][1]);
    for (int k = 0; k < 68; k++) moved[k][0] += 0.15f * eyes; /* the head shifted */
    for (int k = 56; k <= 58; k++) moved[k][1] += 0.3f * eyes; /* the mouth opened */
    for (int k = 65; k <= 67; k++) moved[k][1] += 0.3f * eyes;

    vv_image base = {0}, out = {0};
    vv_frame_info info;
    double t = 0;
    step(a, (const float(*)[2])rest, t += 0.04, &base, &info); /* the reference: the portrait at rest */
    step(a, (const float(*)[2])moved, t += 0.04, &out, &info);
    double moving = mean_difference(&out, &base);
    CHECK_MSG(moving > 2.0, "the moved face moves the portrait: %.2f", moving);

    /* 1. gains */
    CHECK_OK(vv_animator_set_gains(a, 0, 0, 0, 0));
    step(a, (const float(*)[2])moved, t += 0.04, &out, &info);
    double still = mean_difference(&out, &base);
    CHECK_MSG(still < 0.25 * moving && still < 1.0, "gains 0: %.2f from the portrait at rest (moving %.2f)", still, moving);
    CHECK_OK(vv_animator_set_gains(a, 1, 1, -1, -1)); /* eyes and lips kept at 0 */
    CHECK_OK(vv_animator_set_gains(a, -1, -1, 1, 1));
    step(a, (const float(*)[2])moved, t += 0.04, &out, &info);
    double again = mean_difference(&out, &base);
    CHECK_MSG(fabs(again - moving) < 0.05 * moving, "gains 1 again: %.2f (first %.2f)", again, moving);
    CHECK(vv_animator_set_gains(a, NAN, 1, 1, 1) == VV_ERR_INVALID_ARGUMENT);
    CHECK(vv_animator_set_gains(a, 1, 1, 4, 1) == VV_ERR_INVALID_ARGUMENT);
    CHECK(vv_animator_set_gains(NULL, 1, 1, 1, 1) == VV_ERR_INVALID_ARGUMENT);

    /* 2. recalibrate: the moved face is the neutral now */
    CHECK_OK(vv_animator_recalibrate(a));
    step(a, (const float(*)[2])moved, t += 0.04, &out, &info);
    double neutral = mean_difference(&out, &base);
    CHECK_MSG(neutral < 0.25 * moving && neutral < 1.0, "recalibrated: the new neutral face %.2f from rest (moving %.2f)",
              neutral, moving);
    step(a, (const float(*)[2])rest, t += 0.04, &out, &info);
    double old_rest = mean_difference(&out, &base);
    CHECK_MSG(old_rest > 0.5 * moving, "recalibrated: the old rest face moves the portrait %.2f (moving %.2f)", old_rest,
              moving);
    printf("output's mean difference from the portrait at rest: moved %.2f, gains 0 %.2f, gains 1 %.2f; "
           "recalibrated: moved %.2f, old rest %.2f\n", moving, still, again, neutral, old_rest);
    vv_animator_free(a);

    /* 3. two portraits: pinned in turn */
    vv_image sources[2] = {mona, hopper};
    a = NULL;
    CHECK_OK(vv_animator_new(&a, sources, names, 2, &p));
    if (a) {
        CHECK(vv_animator_source_count(a) == 2);
        vv_image first = {0}, second = {0};
        step(a, (const float(*)[2])rest, t += 0.04, &base, &info);
        CHECK_OK(vv_animator_set_source(a, 1));
        step(a, (const float(*)[2])rest, t += 0.04, &second, &info);
        CHECK_MSG(info.source == 1, "pinned to source 2: frame from source %d", info.source + 1);
        CHECK_OK(vv_animator_set_source(a, 0));
        step(a, (const float(*)[2])rest, t += 0.04, &first, &info);
        CHECK_MSG(info.source == 0, "pinned to source 1: frame from source %d", info.source + 1);
        double apart = mean_difference(&first, &second);
        CHECK_MSG(apart > 10, "the two sources' frames differ: %.2f", apart);
        CHECK_OK(vv_animator_set_source(a, -1));
        step(a, (const float(*)[2])rest, t += 0.04, &out, &info);
        CHECK_MSG(info.source == 0, "back to the nearest source (the Mona Lisa's own face): %d", info.source + 1);
        CHECK(vv_animator_set_source(a, 2) == VV_ERR_INVALID_ARGUMENT);
        CHECK(vv_animator_set_source(a, -2) == VV_ERR_INVALID_ARGUMENT);
        image_free(&first);
        image_free(&second);
        vv_animator_free(a);
    }
    image_free(&base);
    image_free(&out);
    image_free(&mona);
    image_free(&hopper);
    return test_finish("test_live_controls");
}
