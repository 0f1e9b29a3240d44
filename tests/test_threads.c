/* Several vv_faces contexts on several threads at once (issue 8: the thread pool and the
 * library under ThreadSanitizer; `./dev test` also runs it from a -DVV_TSAN=ON build).
 * Each thread opens its own context and detects faces in the bundled grace_hopper.jpg
 * twice (the detector's convolutions use the shared thread pool), then runs parallel_for
 * itself while the others do; every result must equal the one computed alone on the main
 * thread, bit for bit.  Under the normal and ASan builds it checks the same: concurrent
 * contexts do not disturb each other. */
#include "base/base.h"
#include "test.h"
#include "vivify.h"

#include <pthread.h>

#define THREADS 3
#define MAX_FACES 8

#define SQUARES 4096

typedef struct worker {
    const vv_image *image;
    vv_face faces[2][MAX_FACES];
    int counts[2];
    vv_status status;
    long long squares[SQUARES]; /* parallel_for's results, index i holds i*i + worker id */
    int id;
} worker;

static void square_one(void *ctx, int i) {
    worker *w = ctx;
    w->squares[i] = (long long)i * i + w->id;
}

static vv_status detect_with_new_context(const vv_image *image, vv_face *out, int *count) {
    vv_faces *faces = NULL;
    vv_faces_params params = vv_faces_default_params();
    vv_status s = vv_faces_new(&faces, &params);
    if (s == VV_OK) s = vv_faces_detect(faces, image, out, MAX_FACES, count);
    vv_faces_free(faces);
    return s;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    vv_faces *faces = NULL;
    vv_faces_params params = vv_faces_default_params();
    w->status = vv_faces_new(&faces, &params);
    for (int run = 0; run < 2 && w->status == VV_OK; run++)
        w->status = vv_faces_detect(faces, w->image, w->faces[run], MAX_FACES, &w->counts[run]);
    vv_faces_free(faces);
    parallel_for(SQUARES, 2, square_one, w);
    return NULL;
}

int main(void) {
    /* Skipped only when a model is absent: a present but invalid one fails below. */
    test_require_models("test_threads", "blazeface.json", "dlib", NULL);
    vv_image image = {0};
    CHECK_OK(vv_image_load(&image, VV_SOURCE_DIR "/examples/grace_hopper.jpg"));
    vv_face reference[MAX_FACES];
    int reference_count = 0;
    CHECK_OK(detect_with_new_context(&image, reference, &reference_count));
    CHECK_MSG(reference_count == 1, "grace_hopper.jpg: %d faces, want 1", reference_count);

    static worker workers[THREADS];
    pthread_t threads[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        workers[i].image = &image;
        workers[i].id = i;
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0) started++;
        else break;
    }
    CHECK(started == THREADS);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);

    for (int i = 0; i < started; i++) {
        CHECK_MSG(workers[i].status == VV_OK, "thread %d: %s", i, vv_status_string(workers[i].status));
        int wrong = 0;
        for (int k = 0; k < SQUARES; k++) wrong += workers[i].squares[k] != (long long)k * k + i;
        CHECK_MSG(wrong == 0, "thread %d: parallel_for left %d of %d results wrong", i, wrong, SQUARES);
        for (int run = 0; run < 2; run++) {
            CHECK_MSG(workers[i].counts[run] == reference_count, "thread %d run %d: %d faces, want %d", i,
                      run, workers[i].counts[run], reference_count);
            for (int f = 0; f < reference_count && f < workers[i].counts[run]; f++)
                CHECK_MSG(memcmp(&workers[i].faces[run][f], &reference[f], sizeof reference[f]) == 0,
                          "thread %d run %d face %d differs from the single-threaded result", i, run, f);
        }
    }
    vv_image_free(&image);
    return test_finish("test_threads");
}
