/* Face detection time: a 512x512 photo with one face (the common video-frame case: one
 * model pass), a large canvas with a small face (tile passes), and the largest shared
 * portrait when ../shared is present.  Prints one JSON line. */
#include "face/detector.h"
#include "img/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Median milliseconds of `runs` detections (after one warm-up). */
static double time_detect(face_detector *detector, const vv_image *image, int runs, int *faces) {
    face_box boxes[16];
    double times[64];
    if (runs > 64) runs = 64;
    face_detect(detector, image, boxes, 16, faces);
    for (int i = 0; i < runs; i++) {
        double t = time_now();
        face_detect(detector, image, boxes, 16, faces);
        times[i] = (time_now() - t) * 1e3;
    }
    for (int i = 1; i < runs; i++)
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double swap = times[j];
            times[j] = times[j - 1];
            times[j - 1] = swap;
        }
    return times[runs / 2];
}

int main(void) {
    face_detector *detector = NULL;
    vv_image photo = {0}, canvas = {0}, portrait = {0};
    if (face_detector_load(&detector, NULL) != VV_OK ||
        image_load(&photo, VV_SOURCE_DIR "/examples/grace_hopper.jpg") != VV_OK) {
        fprintf(stderr, "bench_detector: %s\n", vv_last_error());
        return 1;
    }
    int faces_photo = 0, faces_canvas = 0, faces_portrait = -1;
    double ms_photo = time_detect(detector, &photo, 21, &faces_photo);

    double ms_canvas = -1;
    if (image_create(&canvas, 2400, 1800, 3) == VV_OK) {
        memset(canvas.data, 180, (size_t)canvas.width * canvas.height * 3);
        for (int y = 0; y < photo.height; y++)
            memcpy(canvas.data + ((size_t)(y + 1000) * canvas.width + 1500) * 3,
                   photo.data + (size_t)y * photo.width * 3, (size_t)photo.width * 3);
        ms_canvas = time_detect(detector, &canvas, 5, &faces_canvas);
    }

    double ms_portrait = -1;
    const char *shared = getenv("VV_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/portraits/lp_s10.jpg",
             shared ? shared : VV_SOURCE_DIR "/../shared");
    if (image_load(&portrait, path) == VV_OK)
        ms_portrait = time_detect(detector, &portrait, 5, &faces_portrait);

    printf("{\"bench\":\"detector\",\"threads\":%d,\"photo_512_ms\":%.2f,\"photo_512_faces\":%d,"
           "\"canvas_2400x1800_ms\":%.2f,\"canvas_faces\":%d,\"portrait_1092x1280_ms\":%.2f,"
           "\"portrait_faces\":%d}\n",
           cpu_count(), ms_photo, faces_photo, ms_canvas, faces_canvas, ms_portrait, faces_portrait);
    image_free(&photo);
    image_free(&canvas);
    image_free(&portrait);
    face_detector_free(detector);
    return 0;
}
