/* video/writer's encoding thread: frames come out in the order written and exactly as
 * given (each frame's own colour, read back from the file), even when the caller reuses
 * one buffer for every frame; a failure on the thread (the file size limit reached mid
 * video) comes back from a later write or the finish as an error, with no file left; an
 * abort with frames still queued leaves nothing behind. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "img/image.h"
#include "test.h"
#include "video/video.h"

#define W 96
#define H 64
#define FRAMES 40

/* Frame i: a flat grey whose level encodes i (distinct after H.264 at crf 18). */
static int level_of(int i) { return 20 + 5 * i; }

static void test_order_and_reuse(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/order.mp4", dir);
    video_writer_params params = video_writer_default_params();
    params.width = W;
    params.height = H;
    video_writer *writer = NULL;
    CHECK_OK(video_writer_open(&writer, path, &params));
    vv_image frame;
    CHECK_OK(image_create(&frame, W, H, 3));
    for (int i = 0; i < FRAMES && writer; i++) { /* one buffer, overwritten right after each write */
        memset(frame.data, level_of(i), (size_t)W * H * 3);
        CHECK_OK(video_writer_write(writer, &frame));
        memset(frame.data, 255, (size_t)W * H * 3);
    }
    CHECK_OK(video_writer_finish(writer));
    video_reader *reader = NULL;
    CHECK_OK(video_reader_open(&reader, path));
    int count = 0, wrong = 0;
    for (bool got = true; reader && got;) {
        double t = 0;
        CHECK_OK(video_reader_next(reader, &frame, &t, &got));
        if (!got) break;
        int centre = frame.data[((size_t)(H / 2) * W + W / 2) * 3 + 1];
        if (abs(centre - level_of(count)) > 3) {
            if (wrong++ < 3) printf("frame %d reads %d, wrote %d\n", count, centre, level_of(count));
        }
        count++;
    }
    video_reader_close(reader);
    CHECK(count == FRAMES);
    CHECK(wrong == 0);
    image_free(&frame);
}

/* In a child limited to a small file size: the thread's write failure must surface. */
static void test_failure_surfaces(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/limited.mp4", dir);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG instead */
        struct rlimit limit = {32 * 1024, 32 * 1024};
        setrlimit(RLIMIT_FSIZE, &limit);
        video_writer_params params = video_writer_default_params();
        params.width = 320;
        params.height = 240;
        video_writer *writer = NULL;
        if (video_writer_open(&writer, path, &params) != VV_OK) _exit(3);
        vv_image frame;
        if (image_create(&frame, 320, 240, 3) != VV_OK) _exit(3);
        vv_status status = VV_OK;
        for (int i = 0; i < 400 && status == VV_OK; i++) { /* noise: about 60 KB a frame */
            for (size_t k = 0; k < (size_t)320 * 240 * 3; k++) frame.data[k] = (uint8_t)(test_rng() >> 7);
            status = video_writer_write(writer, &frame);
        }
        if (status == VV_OK) status = video_writer_finish(writer);
        else video_writer_abort(writer);
        printf("limited file: %s (%s)\n", vv_status_string(status), vv_last_error());
        _exit(status == VV_ERR_WRITE ? 0 : status == VV_OK ? 1 : 2);
    }
    int code = -1;
    CHECK(waitpid(child, &code, 0) == child);
    CHECK(WIFEXITED(code) && WEXITSTATUS(code) == 0);
    CHECK(!file_exists(path)); /* nothing half-written in place */
}

static void test_abort_with_frames_queued(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/aborted.mp4", dir);
    video_writer_params params = video_writer_default_params();
    params.width = 640;
    params.height = 480;
    video_writer *writer = NULL;
    CHECK_OK(video_writer_open(&writer, path, &params));
    vv_image frame;
    CHECK_OK(image_create(&frame, 640, 480, 3));
    for (int i = 0; i < 6 && writer; i++) {
        memset(frame.data, level_of(i), (size_t)640 * 480 * 3);
        CHECK_OK(video_writer_write(writer, &frame));
    }
    video_writer_abort(writer); /* the last frames may still be queued */
    CHECK(!file_exists(path));
    image_free(&frame);
}

int main(void) {
    test_rng_seed(7);
    char dir[] = "/tmp/vv_test_writer_XXXXXX";
    if (!mkdtemp(dir)) {
        printf("cannot make a temporary folder\n");
        return 1;
    }
    test_order_and_reuse(dir);
    test_failure_surfaces(dir);
    test_abort_with_frames_queued(dir);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) printf("could not remove %s\n", dir);
    return test_finish("test_video_writer");
}
