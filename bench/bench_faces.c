/* bench_faces: the whole still-image face pipeline through the public API
 * (vv_faces_detect: BlazeFace + calibration + 68-point predictor + head pose) on the
 * 512x512 examples/grace_hopper.jpg, in faces per second on all cores (wall time).
 * Prints one JSON line.  Usage: bench_faces [seconds] */
#include "img/image.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    vv_faces *faces = NULL;
    vv_image image = {0};
    double t0 = time_now();
    if (vv_faces_new(&faces, NULL) != VV_OK ||
        image_load(&image, VV_SOURCE_DIR "/examples/grace_hopper.jpg") != VV_OK) {
        fprintf(stderr, "bench_faces: %s\n", vv_last_error());
        return 1;
    }
    double load_s = time_now() - t0;
    vv_face found[4];
    int count = 0, runs = 0;
    vv_faces_detect(faces, &image, found, 4, &count); /* warm-up: buffers, page faults */
    double start = time_now(), elapsed = 0;
    long faces_found = 0;
    while (elapsed < seconds) {
        if (vv_faces_detect(faces, &image, found, 4, &count) != VV_OK) {
            fprintf(stderr, "bench_faces: %s\n", vv_last_error());
            return 1;
        }
        faces_found += count;
        runs++;
        elapsed = time_now() - start;
    }
    printf("{\"bench\": \"faces\", \"image\": \"grace_hopper.jpg\", \"width\": %d, \"height\": %d, "
           "\"models_load_s\": %.3f, \"runs\": %d, \"faces_per_run\": %.2f, "
           "\"ms_per_image\": %.2f, \"images_per_s\": %.1f}\n",
           image.width, image.height, load_s, runs, (double)faces_found / runs,
           1e3 * elapsed / runs, runs / elapsed);
    image_free(&image);
    vv_faces_free(faces);
    return 0;
}
