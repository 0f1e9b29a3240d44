/* bench_landmarks: dlib 68-point shape predictions per second on one core, on
 * examples/grace_hopper.jpg with dlib's own HOG box for it (from reference/portraits.jsonl:
 * l, t, r, b = 180, 118, 366, 304).  Prints one JSON line.
 * us_per_prediction is thread CPU time (steadier on a shared machine).
 * Usage: bench_landmarks [model.dat] [seconds] */
#include "face/shape_predictor.h"
#include "img/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU seconds of this thread: steadier than wall time on a shared machine. */
static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 && argv[1][0] ? argv[1] : NULL;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;

    shape_predictor *sp = NULL;
    double start = time_now();
    if (shape_predictor_load(&sp, model) != VV_OK) {
        fprintf(stderr, "bench_landmarks: %s\n", vv_last_error());
        return 1;
    }
    double load_s = time_now() - start;

    vv_image rgb = { 0 }, gray = { 0 };
    if (image_load(&rgb, VV_SOURCE_DIR "/examples/grace_hopper.jpg") != VV_OK ||
        image_to_gray(&gray, &rgb) != VV_OK) {
        fprintf(stderr, "bench_landmarks: %s\n", vv_last_error());
        shape_predictor_free(sp);
        return 1;
    }
    const float box[4] = { 180, 118, 366, 304 };
    float points[VV_LANDMARK_COUNT][2];

    for (int i = 0; i < 50; i++) shape_predict(sp, &gray, box, points); /* warm the caches */
    long count = 0;
    start = time_now();
    double cpu_start = thread_cpu_seconds();
    double elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 100; i++) shape_predict(sp, &gray, box, points);
        count += 100;
        elapsed = time_now() - start;
    }
    double cpu = thread_cpu_seconds() - cpu_start;

    /* Like tracking: the box moves by up to +-4 px and scales by up to +-4% every call,
     * so the trees take varied paths and the leaves come less from cache. */
    long moving_count = 0;
    unsigned seed = 12345;
    double moving_cpu_start = thread_cpu_seconds(), moving_start = time_now();
    while (time_now() - moving_start < seconds) {
        for (int i = 0; i < 100; i++) {
            seed = seed * 1103515245u + 12345u;
            float dx = (float)((seed >> 8) % 9) - 4, dy = (float)((seed >> 12) % 9) - 4;
            float grow = (float)((seed >> 16) % 17) - 8; /* +-8 px on a 186 px box */
            const float moved[4] = { box[0] + dx - grow / 2, box[1] + dy - grow / 2,
                                     box[2] + dx + grow / 2, box[3] + dy + grow / 2 };
            shape_predict(sp, &gray, moved, points);
        }
        moving_count += 100;
    }
    double moving_cpu = thread_cpu_seconds() - moving_cpu_start;
    shape_predict(sp, &gray, box, points);
    printf("{\"bench\":\"landmarks\",\"model_load_s\":%.3f,\"predictions\":%ld,\"seconds\":%.3f,"
           "\"predictions_per_s\":%.1f,\"predictions_per_cpu_s\":%.1f,\"us_per_prediction\":%.1f,"
           "\"moving_box_predictions_per_cpu_s\":%.1f,\"threads\":1,"
           "\"nose_tip\":[%.2f,%.2f]}\n",
           load_s, count, elapsed, count / elapsed, count / cpu, 1e6 * cpu / count,
           moving_count / moving_cpu, points[30][0], points[30][1]);
    image_free(&gray);
    image_free(&rgb);
    shape_predictor_free(sp);
    return 0;
}
