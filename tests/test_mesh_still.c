/* mesh_target_points_damped: a head moving by no more than the landmarks' noise keeps its
 * hair ring (nearly) still, a head that really moves is followed, the expression is kept
 * either way, and the ring beyond the chin takes only a share of the chin's own motion. */
#include "warp/mesh.h"
#include "test.h"

#define SIZE 512

/* The mean face in a SIZE crop, as the warp engine lays it out. */
static void mean_face(float face[68][2]) {
    const float (*mean)[2] = face_mean_landmarks();
    float scale = SIZE / MESH_CROP_UNITS;
    for (int k = 0; k < 68; k++) {
        face[k][0] = mean[k][0] * scale + SIZE / 2.0f;
        face[k][1] = (mean[k][1] - MESH_CROP_CENTER_Y) * scale + SIZE / 2.0f;
    }
}

/* RMS distance of the head ring between two meshes. */
static double ring_motion(const float a[MESH_POINT_COUNT][2], const float b[MESH_POINT_COUNT][2]) {
    double sum = 0;
    for (int i = MESH_HEAD_RING_FIRST; i < MESH_OUTER_RING_FIRST; i++)
        sum += pow(a[i][0] - b[i][0], 2) + pow(a[i][1] - b[i][1], 2);
    return sqrt(sum / MESH_HEAD_RING_COUNT);
}

/* A deterministic jitter in [-amplitude, amplitude]. */
static float jitter(unsigned *state, float amplitude) {
    *state = *state * 1103515245u + 12345u;
    return amplitude * (2.0f * (float)((*state >> 8) & 0xFFFF) / 65535.0f - 1.0f);
}

int main(void) {
    float face[68][2], source[MESH_POINT_COUNT][2], plain[MESH_POINT_COUNT][2], damped[MESH_POINT_COUNT][2];
    mean_face(face);
    mesh_source_points((const float(*)[2])face, SIZE, source);
    float eyes = hypotf(face[45][0] - face[36][0], face[45][1] - face[36][1]); /* ~110 px */

    /* 1. A still head: every landmark off by up to 1.5 px of noise, in a pattern that
     * scales the face by about 1%: the ring stays within a third of the undamped motion. */
    unsigned state = 7;
    float noisy[68][2];
    for (int k = 0; k < 68; k++) {
        noisy[k][0] = face[k][0] + 0.01f * (face[k][0] - SIZE / 2.0f) + jitter(&state, 1.5f);
        noisy[k][1] = face[k][1] + 0.01f * (face[k][1] - SIZE / 2.0f) + jitter(&state, 1.5f);
    }
    mesh_target_points((const float(*)[2])source, (const float(*)[2])noisy, NULL, plain);
    mesh_target_points_damped((const float(*)[2])source, (const float(*)[2])noisy, NULL, MESH_STILL_DEFAULT, damped);
    double moved_plain = ring_motion((const float(*)[2])plain, (const float(*)[2])source);
    double moved_damped = ring_motion((const float(*)[2])damped, (const float(*)[2])source);
    CHECK_MSG(moved_plain > 1.0 && moved_damped < moved_plain / 3, "still head: ring moved %.2f px damped, %.2f px plain",
              moved_damped, moved_plain);

    /* 2. A real head motion: 0.25 eye distances sideways and 8 degrees of roll, with a
     * wide-open mouth: the ring follows within 5% and the mouth opening is kept. */
    float turned[68][2], c = cosf(8 * 3.14159265f / 180), s = sinf(8 * 3.14159265f / 180);
    for (int k = 0; k < 68; k++) {
        float x = face[k][0] - SIZE / 2.0f, y = face[k][1] - SIZE / 2.0f;
        if (k >= 5 && k <= 11) y += 0.2f * eyes; /* the chin drops */
        if (k >= 56 && k <= 59) y += 0.2f * eyes; /* and the lower lip */
        if (k >= 65 && k <= 67) y += 0.2f * eyes;
        turned[k][0] = c * x - s * y + SIZE / 2.0f + 0.25f * eyes;
        turned[k][1] = s * x + c * y + SIZE / 2.0f;
    }
    mesh_target_points((const float(*)[2])source, (const float(*)[2])turned, NULL, plain);
    mesh_target_points_damped((const float(*)[2])source, (const float(*)[2])turned, NULL, MESH_STILL_DEFAULT, damped);
    moved_plain = ring_motion((const float(*)[2])plain, (const float(*)[2])source);
    double apart = ring_motion((const float(*)[2])plain, (const float(*)[2])damped);
    CHECK_MSG(apart < 0.05 * moved_plain, "moving head: damped ring %.2f px from the plain one (moved %.2f px)", apart,
              moved_plain);
    CHECK(mesh_count_folds((const float(*)[2])damped, 0.0f) == 0);
    double opening = hypot(turned[66][0] - turned[62][0], turned[66][1] - turned[62][1]);
    double kept = hypot(damped[66][0] - damped[62][0], damped[66][1] - damped[62][1]);
    CHECK_NEAR(kept, opening, 0.01 * opening);

    /* 3. Only the expression (mouth and chin open, the head still): the face keeps it
     * exactly (no rigid motion to damp), and the point beyond the chin moves by a third
     * of the chin's drop at most, so the collar below stays. */
    float open[68][2];
    memcpy(open, face, sizeof open);
    for (int k = 5; k <= 11; k++) open[k][1] += 0.2f * eyes;
    for (int k = 56; k <= 59; k++) open[k][1] += 0.2f * eyes;
    for (int k = 65; k <= 67; k++) open[k][1] += 0.2f * eyes;
    mesh_target_points_damped((const float(*)[2])source, (const float(*)[2])open, NULL, MESH_STILL_DEFAULT, damped);
    double mouth_error = 0;
    for (int k = 48; k < 68; k++) {
        /* the rigid fit sees the open chin a little: the mouth keeps its shape to 1 px */
        double dx = (damped[k][0] - damped[30][0]) - (open[k][0] - open[30][0]);
        double dy = (damped[k][1] - damped[30][1]) - (open[k][1] - open[30][1]);
        mouth_error = fmax(mouth_error, hypot(dx, dy));
    }
    CHECK_MSG(mouth_error < 1.0, "mouth shape off by %.2f px", mouth_error);
    int below_chin = MESH_JAW_OUTER_FIRST + 4; /* beyond jaw point 8 */
    double chin_drop = damped[8][1] - source[8][1], outer_drop = damped[below_chin][1] - source[below_chin][1];
    CHECK_MSG(chin_drop > 15 && outer_drop < 0.35 * chin_drop, "chin dropped %.1f px, the point below it %.1f px",
              chin_drop, outer_drop);
    CHECK(mesh_count_folds((const float(*)[2])damped, 0.0f) == 0);

    /* 4. still 0 is mesh_target_points exactly. */
    mesh_target_points((const float(*)[2])source, (const float(*)[2])noisy, NULL, plain);
    mesh_target_points_damped((const float(*)[2])source, (const float(*)[2])noisy, NULL, 0, damped);
    CHECK(memcmp(plain, damped, sizeof plain) == 0);
    return test_finish("test_mesh_still");
}
