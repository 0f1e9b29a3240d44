/* train/shots: frame descriptors (pose, mouth, eyes) and the farthest-point choice of
 * fine-tuning shots, against hand-computed picks. */
#include "test.h"

#include "face/pose.h"
#include "train/shots.h"

/* The mean 3D face posed (yaw, pitch) and projected at 50 px per eye-corner distance. */
static void posed_face(float yaw, float pitch, float points[68][2]) {
    head_pose pose = {0};
    head_pose_rotation(yaw, pitch, 0, pose.rotation);
    pose.scale = 50, pose.tx = 200, pose.ty = 200;
    head_pose_project(&pose, face_mean_shape_3d(), points);
}

static void test_describe(void) {
    float points[68][2], d[SHOT_DIMS];
    posed_face(0, 0, points);
    CHECK(shot_describe((const float (*)[2])points, d));
    CHECK_NEAR(d[SHOT_YAW], 0, 1.0);
    CHECK_NEAR(d[SHOT_PITCH], 0, 1.0);
    CHECK(d[SHOT_EYES] > 0.1f && d[SHOT_EYES] < 0.5f);
    float closed_mouth = d[SHOT_MOUTH];
    CHECK(closed_mouth >= 0.0f && closed_mouth < 0.2f);
    posed_face(20, -10, points);
    CHECK(shot_describe((const float (*)[2])points, d));
    CHECK_NEAR(d[SHOT_YAW], 20, 1.5);
    CHECK_NEAR(d[SHOT_PITCH], -10, 1.5);
    /* The lower inner lip 30 px down: the mouth opens by 30 px / 50 px = 0.6 of the eye-corner distance. */
    posed_face(0, 0, points);
    for (int i = 65; i <= 67; i++) points[i][1] += 30;
    CHECK(shot_describe((const float (*)[2])points, d));
    CHECK_NEAR(d[SHOT_MOUTH], closed_mouth + 0.6f, 0.02);
    /* Not usable: turned past 45 degrees, not finite, degenerate. */
    posed_face(60, 0, points);
    float before[SHOT_DIMS] = {7, 7, 7, 7};
    memcpy(d, before, sizeof d);
    CHECK(!shot_describe((const float (*)[2])points, d));
    CHECK(memcmp(d, before, sizeof d) == 0);
    posed_face(0, 0, points);
    points[30][0] = NAN;
    CHECK(!shot_describe((const float (*)[2])points, d));
    for (int i = 0; i < 68; i++) points[i][0] = points[i][1] = 10;
    CHECK(!shot_describe((const float (*)[2])points, d));
}

static void test_pick(void) {
    /* yaw, pitch, mouth, eyes.  Squared scaled distances from frame 1 (shot 0: frontal,
     * closed, open): frame 0 and 3: (30/15)^2 = 4, 4: (0.6/0.15)^2 = 16, 5: (10/10)^2 = 1,
     * 2: 0.009.  Then 4; then 0 and 3 both at 4 from the set (0 first: the earlier); then
     * 3 (16 from 0, still 4 from 1); then 5; then 2. */
    const float desc[6][SHOT_DIMS] = {
        {30, 0, 0, 0.3f}, {0, 0, 0, 0.3f}, {1, 0, 0.01f, 0.3f}, {-30, 0, 0, 0.3f}, {0, 0, 0.6f, 0.3f}, {0, 10, 0, 0.3f},
    };
    int picked[8], count = -1;
    CHECK_OK(shots_pick(desc, 6, 10, picked, &count));
    CHECK(count == 6);
    const int want[6] = {1, 4, 0, 3, 5, 2};
    for (int i = 0; i < 6 && count == 6; i++) CHECK_MSG(picked[i] == want[i], "pick %d: frame %d, want %d", i, picked[i], want[i]);
    CHECK_OK(shots_pick(desc, 6, 3, picked, &count));
    CHECK(count == 3 && picked[0] == 1 && picked[1] == 4 && picked[2] == 0);
    /* Shut eyes count against shot 0: a frontal face with eyes shut (aspect 0.1: cost
     * 0.2 / 0.08 = 2.5) loses to one turned 1 degree with a slightly open mouth (0.13). */
    const float rest[2][SHOT_DIMS] = {{0, 0, 0, 0.1f}, {1, 0, 0.01f, 0.3f}};
    CHECK_OK(shots_pick(rest, 2, 1, picked, &count));
    CHECK(count == 1 && picked[0] == 1);
    CHECK_OK(shots_pick(desc, 0, 4, picked, &count));
    CHECK(count == 0);
}

int main(void) {
    test_describe();
    test_pick();
    return test_finish("test_shots");
}
