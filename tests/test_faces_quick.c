/* faces_detect_quick (animate's source detection): one detector pass when it finds a
 * confident face, the thorough search otherwise.  On the bundled portraits it must find
 * the face vv_faces_detect finds, with landmarks within a small fraction of the eye
 * distance; on an image without a face it falls back and finds nothing, without error. */
#include "face/faces.h"
#include "img/image.h"
#include "test.h"

static double eye_distance(const float p[68][2]) { return hypot(p[45][0] - p[36][0], p[45][1] - p[36][1]); }

static double mean_distance(const float a[68][2], const float b[68][2]) {
    double sum = 0;
    for (int k = 0; k < 68; k++) sum += hypot(a[k][0] - b[k][0], a[k][1] - b[k][1]);
    return sum / 68;
}

int main(void) {
    /* Skipped only when a model is absent: a present but invalid one fails below. */
    test_require_models("test_faces_quick", "blazeface.json", "dlib", NULL);
    vv_faces *faces = NULL;
    CHECK_OK(vv_faces_new(&faces, NULL));
    if (!faces) return test_finish("test_faces_quick");

    const char *names[2] = {"mona_lisa.png", "grace_hopper.jpg"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/examples/%s", VV_SOURCE_DIR, names[i]);
        vv_image image = {0};
        CHECK_OK(image_load(&image, path));
        if (!image.data) continue;
        vv_face thorough[8], quick[8];
        int thorough_count = 0, quick_count = 0;
        CHECK_OK(vv_faces_detect(faces, &image, thorough, 8, &thorough_count));
        CHECK_OK(faces_detect_quick(faces, &image, quick, 8, &quick_count));
        CHECK_MSG(thorough_count == 1 && quick_count == 1, "%s: %d faces thorough, %d quick", names[i], thorough_count,
                  quick_count);
        if (thorough_count >= 1 && quick_count >= 1) {
            CHECK(quick[0].score >= FACES_CONFIDENT_SCORE);
            /* Measured: 0.59 px (Mona Lisa, 0.006 of the eye distance) and 0 px. */
            double d = mean_distance((const float(*)[2])quick[0].landmarks, (const float(*)[2])thorough[0].landmarks);
            CHECK_MSG(d < 0.02 * eye_distance((const float(*)[2])thorough[0].landmarks), "%s: landmarks %.2f px apart",
                      names[i], d);
        }
        image_free(&image);
    }

    /* No face: the single pass is not confident, the thorough search runs and finds none. */
    vv_image blank = {0};
    CHECK_OK(image_create(&blank, 640, 480, 3));
    if (blank.data) {
        for (size_t i = 0; i < (size_t)640 * 480 * 3; i++) blank.data[i] = (uint8_t)(96 + (i / 3 % 640) / 16);
        vv_face none[4];
        int count = -1;
        CHECK_OK(faces_detect_quick(faces, &blank, none, 4, &count));
        CHECK(count == 0);
        image_free(&blank);
    }
    vv_faces_free(faces);
    return test_finish("test_faces_quick");
}
