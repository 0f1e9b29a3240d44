/* Dense face mesh (face/facemesh.h) and its tracker (face/mesh_tracker.h).
 * 1. Graphs: our runs of facemesh.json and iris.json equal @tensorflow/tfjs's (pure JS CPU
 *    backend) on the same inputs: tests/fixtures/facemesh_tfjs.bin, written by
 *    `node generate.js facemesh` (scripts/fixtures/tfjs_reference/), inputs built alike.
 * 2. The bundled portraits (examples/): face score high; the derived 68 points close to
 *    our dlib predictor's (vv_faces_detect); each iris centre inside its lid contour;
 *    re-running with the ROI from its own output moves the points < 1 px (stable tracking).
 * 3. With ../shared: the tracker over the first 60 frames of a clip follows dlib's
 *    reference (reference/<clip>.jsonl) and runs the detector once.
 * 4. Hostile input: tiny images, ROIs off the image, NaN / huge / tiny ROIs, bad arguments:
 *    a clear status, no crash.
 * 5. Concurrent runs on one face_mesh equal serial ones; the exported contour tables.
 * Models come from .cache/models (skipped with 77 when absent; without blazeface.json
 * parts 2 and 3 are skipped, the rest runs, and the test exits 77). */
#include "eval/motion_metrics.h"
#include "face/facemesh.h"
#include "face/mesh_tracker.h"
#include "img/image.h"
#include "test.h"
#include "video/video.h"
#include "vivify.h"

#include <stdint.h>

#define FIXTURES VV_SOURCE_DIR "/tests/fixtures/"
#define MESH_VALUES (FACE_MESH_POINTS * 3)
#define IRIS_VALUES 228

static uint8_t *face_bytes;

/* Byte of the synthetic inputs, as in generate.js. */
static int input_byte(int pattern, int y, int x, int c) {
    if (pattern) return (x * 7 + y * 13 + c * 29) % 256;
    return face_bytes[((size_t)y * 256 + x) * 3 + c];
}

static void make_window(float *dst, int pattern, int size, int x0, int y0) {
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            for (int c = 0; c < 3; c++)
                dst[((size_t)y * size + x) * 3 + c] = (float)input_byte(pattern, y + y0, x + x0, c) / 255.0f;
}

static bool read_file(const char *path, void *data, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t got = fread(data, 1, size, f);
    int extra = fgetc(f);
    fclose(f);
    return got == size && extra == EOF;
}

/* ---------------------------------------------------------------- 1. graphs */

static void test_graphs(const face_mesh *fm) {
    static float ref[2 * (MESH_VALUES + 1) + 2 * IRIS_VALUES];
    static uint8_t bytes[256 * 256 * 3];
    CHECK_MSG(read_file(FIXTURES "facemesh_tfjs.bin", ref, sizeof ref), "cannot read facemesh_tfjs.bin");
    CHECK_MSG(read_file(FIXTURES "tfjs_face_256.rgb", bytes, sizeof bytes), "cannot read tfjs_face_256.rgb");
    face_bytes = bytes;
    float *input = malloc(192 * 192 * 3 * sizeof(float));
    static float mesh[MESH_VALUES];
    for (int pattern = 0; pattern < 2; pattern++) {
        make_window(input, pattern, 192, 32, 32);
        float flag = -1;
        double t0 = time_now();
        CHECK_OK(face_mesh_run_graph(fm, input, 1, mesh, &flag));
        double ms = (time_now() - t0) * 1e3;
        const float *r = ref + pattern * (MESH_VALUES + 1);
        double err = test_max_abs_diff(mesh, r, MESH_VALUES);
        /* Crop pixels (0..192, z within +-60): float32 through ~100 layers with another
         * summation order stays within 1e-3 px (measured 4e-5). */
        CHECK_MSG(err <= 1e-3, "facemesh %s: mesh max abs err %g", pattern ? "pattern" : "face", err);
        CHECK_NEAR(flag, r[MESH_VALUES], 1e-5);
        printf("facemesh %-7s mesh max abs err %.2e px, flag %.6f (tfjs %.6f), %.1f ms\n",
               pattern ? "pattern" : "face", err, flag, r[MESH_VALUES], ms);
    }
    /* The flag is a probability (the graph ends in a sigmoid): a face ~1, a pattern ~0. */
    CHECK(ref[MESH_VALUES] > 0.99f && ref[2 * MESH_VALUES + 1] < 0.01f);

    /* Iris: the right eye of the face and a pattern, as one batch of 2. */
    float *eyes = malloc(2 * 64 * 64 * 3 * sizeof(float));
    make_window(eyes, 0, 64, 80, 60);
    make_window(eyes + 64 * 64 * 3, 1, 64, 0, 0);
    static float iris[2 * IRIS_VALUES], single[IRIS_VALUES];
    CHECK_OK(face_mesh_run_iris_graph(fm, eyes, 2, iris));
    const float *r = ref + 2 * (MESH_VALUES + 1);
    double err = test_max_abs_diff(iris, r, 2 * IRIS_VALUES);
    CHECK_MSG(err <= 1e-3, "iris max abs err %g", err);
    printf("iris batch of 2 max abs err %.2e px\n", err);
    /* Batch and single runs agree. */
    CHECK_OK(face_mesh_run_iris_graph(fm, eyes, 1, single));
    CHECK(test_max_abs_diff(single, iris, IRIS_VALUES) <= 1e-4);
    free(eyes);
    free(input);
}

/* ---------------------------------------------------------------- helpers */

static double mean_move(const face_mesh_result *a, const face_mesh_result *b) {
    double sum = 0;
    for (int i = 0; i < FACE_MESH_POINTS; i++)
        sum += hypot(a->points[i][0] - b->points[i][0], a->points[i][1] - b->points[i][1]);
    return sum / FACE_MESH_POINTS;
}

/* Normalised mean error of 68 points against a reference: (jaw 0-16, inner 17-67, all). */
static void nme68(const float p[68][2], const float ref[68][2], double out[3]) {
    double iod = hypot(ref[45][0] - ref[36][0], ref[45][1] - ref[36][1]);
    out[0] = out[1] = out[2] = 0;
    for (int i = 0; i < 68; i++) {
        double d = hypot(p[i][0] - ref[i][0], p[i][1] - ref[i][1]) / iod;
        out[i < 17 ? 0 : 1] += d / (i < 17 ? 17 : 51);
        out[2] += d / 68;
    }
}

/* Point in the eye's lid polygon (upper lid outer -> inner, then lower lid back). */
static bool inside_eye(const face_mesh_result *r, int eye, const float p[3]) {
    float poly[2 * FACE_MESH_LID_POINTS][2];
    int n = 0;
    for (int i = 0; i < FACE_MESH_LID_POINTS; i++)
        poly[n][0] = r->points[face_mesh_lid_upper[eye][i]][0], poly[n++][1] = r->points[face_mesh_lid_upper[eye][i]][1];
    for (int i = FACE_MESH_LID_POINTS - 2; i > 0; i--)
        poly[n][0] = r->points[face_mesh_lid_lower[eye][i]][0], poly[n++][1] = r->points[face_mesh_lid_lower[eye][i]][1];
    bool in = false;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((poly[i][1] > p[1]) != (poly[j][1] > p[1]) &&
            p[0] < (poly[j][0] - poly[i][0]) * (p[1] - poly[i][1]) / (poly[j][1] - poly[i][1]) + poly[i][0])
            in = !in;
    return in;
}

static bool all_finite(const face_mesh_result *r) {
    for (int i = 0; i < FACE_MESH_ALL; i++)
        for (int d = 0; d < 3; d++)
            if (!isfinite(r->points[i][d])) return false;
    return isfinite(r->score);
}

/* ---------------------------------------------------------------- 2. portraits */

static void test_portraits(const face_mesh *fm) {
    vv_faces *faces = NULL;
    CHECK_OK(vv_faces_new(&faces, NULL));
    if (!faces) return;
    const char *names[] = {"mona_lisa.png", "grace_hopper.jpg"};
    for (int k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/examples/%s", VV_SOURCE_DIR, names[k]);
        vv_image image = {0};
        CHECK_OK(vv_image_load(&image, path));
        vv_face face;
        int count = 0;
        CHECK_OK(vv_faces_detect(faces, &image, &face, 1, &count));
        CHECK(count == 1);
        if (count != 1) {
            vv_image_free(&image);
            continue;
        }
        /* Start from the 68 points, then once from the mesh's own ROI (as the tracker). */
        static face_mesh_result first, r, again;
        face_mesh_roi roi;
        face_mesh_roi_from_landmarks68((const float(*)[2])face.landmarks, &roi);
        CHECK_OK(face_mesh_run(fm, &image, &roi, true, &first));
        face_mesh_roi_from_mesh((const float(*)[3])first.points, &roi);
        double t0 = time_now();
        CHECK_OK(face_mesh_run(fm, &image, &roi, true, &r));
        double ms = (time_now() - t0) * 1e3;
        CHECK(r.iris && all_finite(&r));
        CHECK_MSG(r.score > 0.95f, "%s: face score %g", names[k], r.score);
        /* The 68-point ROI lands close to the mesh's own (its constants fit on data). */
        double start_move = mean_move(&first, &r);

        float p68[68][2];
        face_mesh_to_landmarks68((const float(*)[3])r.points, p68);
        double e[3];
        nme68((const float(*)[2])p68, (const float(*)[2])face.landmarks, e);
        /* Held-out clips measure 0.066 jaw / 0.025 inner against dlib (facemesh.c); here
         * 0.077 / 0.025 (Mona Lisa) and 0.084 / 0.027 (Grace Hopper: the mesh's jaw runs
         * wider, nearer the ears, than dlib's). */
        CHECK_MSG(e[0] < 0.10 && e[1] < 0.04, "%s: NME jaw %.4f inner %.4f", names[k], e[0], e[1]);

        for (int eye = 0; eye < 2; eye++) {
            const float *centre = r.points[eye == FACE_MESH_EYE_RIGHT ? FACE_MESH_IRIS_RIGHT : FACE_MESH_IRIS_LEFT];
            CHECK_MSG(inside_eye(&r, eye, centre), "%s: iris %d centre (%.1f, %.1f) outside its lids", names[k],
                      eye, centre[0], centre[1]);
        }
        /* Nearer is smaller z: the nose tip (4) is in front of the eye corners and the
         * ear-side face oval (234, 454). */
        CHECK(r.points[4][2] < r.points[33][2] && r.points[4][2] < r.points[263][2]);
        CHECK(r.points[4][2] < r.points[234][2] && r.points[4][2] < r.points[454][2]);

        /* Tracking a still face: each re-run from the previous run's ROI moves the points
         * a little (the crop shifts by a pixel or so and the model is not exactly
         * shift-invariant): measured 0.15-0.8 px on these ~220-300 px crops. */
        double move = 0, worst = 0;
        face_mesh_result *previous = &r, *next = &again;
        for (int i = 0; i < 4; i++) {
            face_mesh_roi_from_mesh((const float(*)[3])previous->points, &roi);
            CHECK_OK(face_mesh_run(fm, &image, &roi, true, next));
            double m = mean_move(previous, next);
            move += m / 4;
            worst = fmax(worst, m);
            face_mesh_result *t = previous;
            previous = next;
            next = t;
        }
        CHECK_MSG(move < 1.0 && worst < 1.5, "%s: re-runs from its own ROI moved %.3f px (worst %.3f)", names[k],
                  move, worst);

        /* From dlib's box (upright, no angle) the iris-less mesh lands near the tracked
         * one too (measured 1.6 / 1.9 px, the eye region differing most). */
        static face_mesh_result boxed;
        face_mesh_roi box_roi;
        face_mesh_roi_from_box(face.box, &box_roi);
        CHECK_OK(face_mesh_run(fm, &image, &box_roi, false, &boxed));
        double box_move = mean_move(&boxed, previous);
        CHECK_MSG(boxed.score > 0.95f && box_move < 3.0, "%s: from dlib's box score %g, %.2f px off", names[k],
                  boxed.score, box_move);
        printf("%-16s score %.4f, NME vs our dlib: jaw %.4f inner %.4f all %.4f; from the 68-point ROI "
               "%.2f px, re-runs %.3f px (worst %.3f), from dlib's box %.2f px; %.1f ms with iris\n",
               names[k], r.score, e[0], e[1], e[2], start_move, move, worst, box_move, ms);

        /* Without iris: the same mesh outside the eyes; iris slots at the lid centroid. */
        static face_mesh_result plain;
        CHECK_OK(face_mesh_run(fm, &image, &previous->roi, false, &plain));
        CHECK(!plain.iris && fabsf(plain.points[1][0] - previous->points[1][0]) < 1e-3f);
        CHECK(inside_eye(&plain, FACE_MESH_EYE_LEFT, plain.points[FACE_MESH_IRIS_LEFT]));
        vv_image_free(&image);
    }
    vv_faces_free(faces);
}

/* ---------------------------------------------------------------- 3. tracker on a clip */

#define CLIP_FRAMES 60

static void test_tracker_clip(const face_mesh *fm, const char *data, const char *clip) {
    char path[8192];
    snprintf(path, sizeof path, "%s/reference/%s.jsonl", data, clip);
    landmark_sequence ref = {0};
    CHECK_OK(landmark_sequence_load_jsonl(&ref, path));
    int ref_count = ref.count < CLIP_FRAMES ? ref.count : CLIP_FRAMES;
    CHECK_MSG(ref_count == CLIP_FRAMES, "%s: %d reference frames", path, ref.count);
    snprintf(path, sizeof path, "%s/train/%s.mp4", data, clip);
    video_reader *reader = NULL;
    CHECK_OK(video_reader_open(&reader, path));
    face_detector *detector = NULL;
    CHECK_OK(face_detector_load(&detector, NULL));
    mesh_tracker *tracker = NULL;
    CHECK_OK(mesh_tracker_new(&tracker, fm, detector, NULL));
    if (!reader || !tracker) {
        mesh_tracker_free(tracker);
        face_detector_free(detector);
        video_reader_close(reader);
        landmark_sequence_free(&ref);
        return;
    }
    vv_image frame = {0};
    static face_mesh_result r;
    double sum[3] = {0, 0, 0};
    int found_count = 0, scored = 0, frames = 0;
    double t0 = time_now();
    while (frames < CLIP_FRAMES) {
        bool got = false, found = false;
        double time;
        CHECK_OK(video_reader_next(reader, &frame, &time, &got));
        if (!got) break;
        CHECK_OK(mesh_tracker_update(tracker, &frame, &found, &r));
        if (found) found_count++;
        if (found && frames < ref_count && ref.valid[frames]) {
            float p68[68][2];
            double e[3];
            face_mesh_to_landmarks68((const float(*)[3])r.points, p68);
            nme68((const float(*)[2])p68, (const float(*)[2])ref.points[frames], e);
            for (int i = 0; i < 3; i++) sum[i] += e[i];
            scored++;
        }
        frames++;
    }
    double ms = (time_now() - t0) * 1e3 / (frames ? frames : 1);
    mesh_tracker_counts counts = mesh_tracker_get_counts(tracker);
    CHECK(frames == CLIP_FRAMES && found_count == frames);
    for (int i = 0; i < 3; i++) sum[i] /= scored ? scored : 1;
    /* lp_d20 (held out from the 68-point table's fit; a young man, large motion):
     * measured jaw 0.051, inner 0.019 (its whole clip: 0.049 / 0.020). */
    CHECK_MSG(scored >= CLIP_FRAMES - 2 && sum[0] < 0.07 && sum[1] < 0.03, "%s: %d frames scored, NME jaw %.4f inner %.4f",
              clip, scored, sum[0], sum[1]);
    /* One detection for a face that never leaves; every frame meshed once more. */
    CHECK_MSG(counts.quick_searches + counts.full_searches == 1, "%s: %ld + %ld detector runs", clip,
              counts.quick_searches, counts.full_searches);
    CHECK(counts.mesh_runs == frames + 1);
    printf("tracker on %s: %d frames, face in %d, NME vs dlib jaw %.4f inner %.4f all %.4f; detector runs %ld, "
           "mesh runs %ld; %.1f ms/frame (with decoding)\n",
           clip, frames, found_count, sum[0], sum[1], sum[2], counts.quick_searches + counts.full_searches,
           counts.mesh_runs, ms);

    /* A face-less frame: no face, no error; the detector searched. */
    vv_image gray = {0};
    CHECK_OK(image_create(&gray, 320, 240, 3));
    memset(gray.data, 128, (size_t)320 * 240 * 3);
    bool found = true;
    CHECK_OK(mesh_tracker_update(tracker, &gray, &found, &r));
    CHECK(!found);
    mesh_tracker_counts after = mesh_tracker_get_counts(tracker);
    CHECK(after.full_searches + after.quick_searches > counts.full_searches + counts.quick_searches);
    image_free(&gray);

    image_free(&frame);
    mesh_tracker_free(tracker);
    face_detector_free(detector);
    video_reader_close(reader);
    landmark_sequence_free(&ref);
}

/* ---------------------------------------------------------------- 4. hostile input */

static void test_hostile(const face_mesh *fm) {
    static face_mesh_result r;
    vv_image image = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/mona_lisa.png", VV_SOURCE_DIR);
    CHECK_OK(vv_image_load(&image, path));
    face_mesh_roi good = {241.6f, 197.0f, 220.0f, 0.0f};

    /* ROIs off the image, non-finite, too small, too large. */
    face_mesh_roi bad[] = {
        {-5000, 200, 220, 0}, {241, 9000, 220, 0}, {NAN, 197, 220, 0}, {241, 197, NAN, 0},
        {241, 197, 220, INFINITY}, {241, 197, 1e30f, 0}, {241, 197, 0, 0}, {241, 197, -50, 0},
        {241, 197, 3, 0}, {241, 197, 8 * 756 + 1, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vv_status s = face_mesh_run(fm, &image, &bad[i], true, &r);
        CHECK_MSG(s == VV_ERR_INVALID_ARGUMENT, "bad ROI %zu: status %d", i, (int)s);
        CHECK(strstr(vv_last_error(), "ROI") != NULL);
    }
    /* A ROI partly off the image (the border is replicated) works. */
    face_mesh_roi edge = {-50, 100, 220, 0.3f};
    CHECK_OK(face_mesh_run(fm, &image, &edge, true, &r));
    CHECK(all_finite(&r));

    /* Bad arguments. */
    CHECK(face_mesh_run(NULL, &image, &good, true, &r) == VV_ERR_INVALID_ARGUMENT);
    CHECK(face_mesh_run(fm, NULL, &good, true, &r) == VV_ERR_INVALID_ARGUMENT);
    CHECK(face_mesh_run(fm, &image, NULL, true, &r) == VV_ERR_INVALID_ARGUMENT);
    vv_image broken = image;
    broken.channels = 2;
    CHECK(face_mesh_run(fm, &broken, &good, true, &r) == VV_ERR_INVALID_ARGUMENT);
    broken = image;
    broken.data = NULL;
    CHECK(face_mesh_run(fm, &broken, &good, true, &r) == VV_ERR_INVALID_ARGUMENT);
    broken = image;
    broken.width = 0;
    CHECK(face_mesh_run(fm, &broken, &good, true, &r) == VV_ERR_INVALID_ARGUMENT);

    /* Images smaller than the 192 crop: a 10x8 image and the portrait at 1/5 (its face
     * ~45 px), upsampled; the small portrait still holds a face. */
    vv_image tiny = {0}, small = {0};
    CHECK_OK(image_resize(&tiny, &image, 10, 8));
    face_mesh_roi tiny_roi = {4.5f, 3.5f, 10, 0};
    CHECK_OK(face_mesh_run(fm, &tiny, &tiny_roi, true, &r));
    CHECK(all_finite(&r) && r.score >= 0 && r.score <= 1);
    CHECK_OK(image_resize(&small, &image, 100, 151));
    face_mesh_roi small_roi = {good.cx / 5, good.cy / 5, good.size / 5, 0};
    CHECK_OK(face_mesh_run(fm, &small, &small_roi, true, &r));
    CHECK(all_finite(&r));
    CHECK_MSG(r.score > 0.5f, "small portrait: score %g", r.score);
    /* Gray images work as RGB with equal channels. */
    vv_image gray = {0};
    CHECK_OK(image_to_gray(&gray, &image));
    CHECK_OK(face_mesh_run(fm, &gray, &good, false, &r));
    CHECK(r.score > 0.9f);

    /* A mesh from garbage (a flat image) has a low score and no crash in the iris step. */
    vv_image flat = {0};
    CHECK_OK(image_create(&flat, 64, 64, 3));
    face_mesh_roi flat_roi = {32, 32, 64, 0};
    CHECK_OK(face_mesh_run(fm, &flat, &flat_roi, true, &r));
    CHECK(all_finite(&r) && r.score < FACE_MESH_MIN_PRESENCE);

    /* Loading from a folder without the models. */
    face_mesh *none = (face_mesh *)&r;
    vv_status s = face_mesh_new(&none, "/nonexistent-vivify-models");
    CHECK(s != VV_OK && none == NULL);
    CHECK(face_mesh_new(NULL, NULL) == VV_ERR_INVALID_ARGUMENT);
    mesh_tracker *t = (mesh_tracker *)&r;
    CHECK(mesh_tracker_new(&t, fm, NULL, NULL) == VV_ERR_INVALID_ARGUMENT && t == NULL);

    image_free(&flat);
    image_free(&gray);
    image_free(&tiny);
    image_free(&small);
    vv_image_free(&image);
}

/* ---------------------------------------------------------------- concurrency */

typedef struct concurrent_job {
    const face_mesh *fm;
    const vv_image *image;
    face_mesh_roi roi;
    face_mesh_result results[4];
    vv_status status[4];
} concurrent_job;

static void concurrent_run(void *ctx, int i) {
    concurrent_job *job = ctx;
    job->status[i] = face_mesh_run(job->fm, job->image, &job->roi, i % 2 == 0, &job->results[i]);
}

/* Runs on one face_mesh from several threads at once equal serial runs. */
static void test_concurrent(const face_mesh *fm) {
    vv_image image = {0};
    CHECK_OK(vv_image_load(&image, VV_SOURCE_DIR "/examples/mona_lisa.png"));
    static concurrent_job job;
    job.fm = fm;
    job.image = &image;
    job.roi = (face_mesh_roi){241.6f, 197.0f, 220.0f, 0.02f};
    parallel_for(4, 4, concurrent_run, &job);
    static face_mesh_result serial[2];
    CHECK_OK(face_mesh_run(fm, &image, &job.roi, true, &serial[0]));
    CHECK_OK(face_mesh_run(fm, &image, &job.roi, false, &serial[1]));
    for (int i = 0; i < 4; i++) {
        CHECK(job.status[i] == VV_OK);
        CHECK(memcmp(job.results[i].points, serial[i % 2].points, sizeof serial[0].points) == 0);
    }
    vv_image_free(&image);
}

/* ---------------------------------------------------------------- index tables */

static void test_tables(void) {
    /* Lids and lips run corner to corner; the oval is a closed loop of distinct vertices. */
    for (int eye = 0; eye < 2; eye++) {
        CHECK(face_mesh_lid_upper[eye][0] == face_mesh_lid_lower[eye][0]);
        CHECK(face_mesh_lid_upper[eye][8] == face_mesh_lid_lower[eye][8]);
    }
    CHECK(face_mesh_lid_upper[0][0] == 33 && face_mesh_lid_upper[1][0] == 263);
    CHECK(face_mesh_lips_outer_upper[0] == 61 && face_mesh_lips_outer_lower[10] == 291);
    CHECK(face_mesh_lips_inner_upper[0] == 78 && face_mesh_lips_inner_lower[10] == 308);
    bool distinct = true;
    for (int i = 0; i < FACE_MESH_OVAL_POINTS; i++)
        for (int j = i + 1; j < FACE_MESH_OVAL_POINTS; j++) distinct &= face_mesh_face_oval[i] != face_mesh_face_oval[j];
    CHECK(distinct && face_mesh_face_oval[0] == 10 && face_mesh_face_oval[18] == 152);
}

int main(void) {
    char probe[4096];
    if (models_find("facemesh.json", probe, sizeof probe) != VV_OK ||
        models_find("iris.json", probe, sizeof probe) != VV_OK) {
        printf("SKIPPED test_facemesh: facemesh.json / iris.json not found (./dev setup fetches them)\n");
        return 77;
    }
    face_mesh *fm = NULL;
    CHECK_OK(face_mesh_new(&fm, NULL));
    if (!fm) return test_finish("test_facemesh");
    /* Parts 2 and 3 find the face with BlazeFace. */
    bool detector = models_find("blazeface.json", probe, sizeof probe) == VV_OK;
    test_tables();
    test_graphs(fm);
    if (detector) test_portraits(fm);
    test_hostile(fm);
    test_concurrent(fm);
    const char *data = test_shared_data();
    if (data && detector) test_tracker_clip(fm, data, "lp_d20");
    face_mesh_free(fm);
    int rc = test_finish("test_facemesh");
    if (rc == 0 && !detector) {
        printf("SKIPPED parts 2 and 3 of test_facemesh: blazeface.json not found (./dev setup fetches it)\n");
        return 77;
    }
    if (rc == 0 && !data) {
        printf("SKIPPED part 3 of test_facemesh: ../shared/data not present\n");
        return 77;
    }
    return rc;
}
