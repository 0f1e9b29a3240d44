/* bench_faces: the still-image face pipeline through the public API (vv_faces_detect:
 * BlazeFace with thorough tile passes + calibration + 68 points + head pose), and the fast
 * path video tracking uses on (re)detection (one BlazeFace pass + 68 points), on the
 * 512x512 examples/grace_hopper.jpg.  Wall and process CPU time (the machine may be
 * shared).  Prints one JSON line.  Usage: bench_faces [seconds] */
#include "face/faces.h"
#include "img/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct { double ms_wall, ms_cpu; int runs; double faces; } timing;

static int run_thorough(vv_faces *faces, const vv_image *image) {
    vv_face found[4];
    int count = 0;
    if (vv_faces_detect(faces, image, found, 4, &count) != VV_OK) return -1;
    return count;
}

static int run_fast(vv_faces *faces, const vv_image *image, const vv_image *gray) {
    face_box boxes[4];
    int count = 0;
    if (face_detect(faces_detector(faces), image, boxes, 4, &count) != VV_OK) return -1;
    for (int i = 0; i < count; i++) {
        float box[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1}, points[68][2];
        shape_predict(faces_predictor(faces), gray, box, points);
    }
    return count;
}

static int measure(vv_faces *faces, const vv_image *image, const vv_image *gray, bool thorough,
                   double seconds, timing *t) {
    int n = thorough ? run_thorough(faces, image) : run_fast(faces, image, gray); /* warm-up */
    if (n < 0) return -1;
    double start = time_now(), cpu0 = cpu_now(), elapsed = 0;
    long found = 0;
    t->runs = 0;
    while (elapsed < seconds || t->runs < 3) {
        n = thorough ? run_thorough(faces, image) : run_fast(faces, image, gray);
        if (n < 0) return -1;
        found += n;
        t->runs++;
        elapsed = time_now() - start;
    }
    t->ms_wall = 1e3 * elapsed / t->runs;
    t->ms_cpu = 1e3 * (cpu_now() - cpu0) / t->runs;
    t->faces = (double)found / t->runs;
    return 0;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    vv_faces *faces = NULL;
    vv_image image = {0}, gray = {0};
    double t0 = time_now();
    if (vv_faces_new(&faces, NULL) != VV_OK ||
        image_load(&image, VV_SOURCE_DIR "/examples/grace_hopper.jpg") != VV_OK ||
        image_to_gray(&gray, &image) != VV_OK) {
        fprintf(stderr, "bench_faces: %s\n", vv_last_error());
        return 1;
    }
    double load_s = time_now() - t0;
    timing fast, thorough;
    if (measure(faces, &image, &gray, false, seconds, &fast) || measure(faces, &image, &gray, true, seconds, &thorough)) {
        fprintf(stderr, "bench_faces: %s\n", vv_last_error());
        return 1;
    }
    printf("{\"bench\": \"faces\", \"image\": \"grace_hopper.jpg\", \"width\": %d, \"height\": %d, "
           "\"models_load_s\": %.3f, \"fast_ms_wall\": %.2f, \"fast_ms_cpu\": %.2f, \"fast_images_per_s\": %.1f, "
           "\"thorough_ms_wall\": %.2f, \"thorough_ms_cpu\": %.2f, \"thorough_images_per_s\": %.1f, "
           "\"faces_per_image\": %.2f}\n",
           image.width, image.height, load_s, fast.ms_wall, fast.ms_cpu, 1e3 / fast.ms_wall,
           thorough.ms_wall, thorough.ms_cpu, 1e3 / thorough.ms_wall, thorough.faces);
    image_free(&gray);
    image_free(&image);
    vv_faces_free(faces);
    return 0;
}
