/* bench_tracker: landmark tracking speed and jitter on a 512x512 talking-head clip.
 *
 *   bench_tracker [video.mp4] [passes]
 * Default video: ../shared/data/driving/lp_d0.mp4 (512x512, 25 fps, 78 frames).  The clip is
 * decoded once into memory (decode timed separately), then tracked `passes` times (default
 * 10) with a fresh tracker each pass.  Jitter: mean frame-to-frame landmark motion in px
 * and in outer-eye-corner distances, with and without smoothing, and on the first frame
 * repeated as a still video (should be ~0).  Prints one JSON line.  Thread count is
 * whatever the process may use: run under `taskset -c 0,1` for the 2-core figure. */
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 2000

static double eye_distance(const float p[68][2]) {
    return hypot(p[45][0] - p[36][0], p[45][1] - p[36][1]);
}

/* Tracks frames[0..count) (or frame 0 `count` times when still); returns the seconds spent
 * and the mean motion (px and eye units) between consecutive found frames. */
static double track_all(face_detector *detector, const shape_predictor *predictor, vv_image *frames,
                        int count, bool still, float smoothing, int redetect_every, double *motion_px,
                        double *motion_eye, int *found_frames) {
    tracker_params params = tracker_default_params();
    params.smoothing = smoothing;
    if (redetect_every >= 0) params.redetect_every = redetect_every;
    face_tracker *tracker = NULL;
    if (face_tracker_new(&tracker, detector, predictor, &params) != VV_OK) return -1;
    float prev[68][2], points[68][2], box[4], score;
    double motion = 0, eye = 0, start = time_now();
    int moved = 0, found_count = 0;
    bool prev_found = false;
    for (int i = 0; i < count; i++) {
        bool found = false;
        if (face_tracker_update(tracker, &frames[still ? 0 : i], i / 25.0, &found, box, &score, points) != VV_OK) {
            face_tracker_free(tracker);
            return -1;
        }
        if (found && prev_found) {
            double m = 0;
            for (int k = 0; k < 68; k++) m += hypot(points[k][0] - prev[k][0], points[k][1] - prev[k][1]);
            motion += m / 68;
            eye += eye_distance(points);
            moved++;
        }
        found_count += found;
        prev_found = found;
        memcpy(prev, points, sizeof prev);
    }
    double elapsed = time_now() - start;
    face_tracker_free(tracker);
    if (motion_px) *motion_px = moved ? motion / moved : 0;
    if (motion_eye) *motion_eye = moved ? motion / eye : 0;
    if (found_frames) *found_frames = found_count;
    return elapsed;
}

int main(int argc, char **argv) {
    char default_video[4096];
    snprintf(default_video, sizeof default_video, "%s/../shared/data/driving/lp_d0.mp4", VV_SOURCE_DIR);
    const char *path = argc > 1 ? argv[1] : default_video;
    int passes = argc > 2 ? atoi(argv[2]) : 10;
    if (passes < 1) passes = 1;

    face_detector *detector = NULL;
    shape_predictor *predictor = NULL;
    video_reader *reader = NULL;
    vv_status s = face_detector_load(&detector, NULL);
    if (s == VV_OK) s = shape_predictor_load(&predictor, NULL);
    if (s == VV_OK) s = video_reader_open(&reader, path);
    if (s != VV_OK) {
        printf("{\"bench\":\"tracker\",\"error\":\"%s\"}\n", vv_last_error());
        face_detector_free(detector);
        shape_predictor_free(predictor);
        return 1;
    }
    vv_image *frames = calloc(MAX_FRAMES, sizeof *frames);
    int count = 0;
    double start = time_now();
    while (count < MAX_FRAMES) {
        bool got = false;
        double t;
        if (video_reader_next(reader, &frames[count], &t, &got) != VV_OK || !got) break;
        count++;
    }
    double decode_s = time_now() - start;
    video_reader_close(reader);
    if (count == 0) {
        printf("{\"bench\":\"tracker\",\"error\":\"no frames decoded from %s\"}\n", path);
        return 1;
    }
    /* Decoding leaves a buffer per frame (frames[i] reused only when sizes differ); keep
     * them: the tracker reads them. */
    double raw_px, raw_eye, smooth_px, smooth_eye, still_px, still_eye;
    int found_raw, found_smooth, found_still;
    track_all(detector, predictor, frames, count, false, 0, -1, &raw_px, &raw_eye, &found_raw);
    track_all(detector, predictor, frames, count, true, 0, -1, &still_px, &still_eye, &found_still);
    double track_s = 0, unchecked_s = 0;
    for (int p = 0; p < passes; p++) {
        track_s += track_all(detector, predictor, frames, count, false, 1, -1, &smooth_px, &smooth_eye,
                             &found_smooth);
        /* Without the periodic detector check: the cost of prediction + smoothing alone. */
        unchecked_s += track_all(detector, predictor, frames, count, false, 1, 0, NULL, NULL, NULL);
    }

    /* Detector alone, for scale: once per frame on the first 20 frames. */
    face_box boxes[8];
    int n;
    int detect_frames = count < 20 ? count : 20;
    start = time_now();
    for (int i = 0; i < detect_frames; i++) face_detect(detector, &frames[i], boxes, 8, &n);
    double detect_ms = (time_now() - start) * 1000 / detect_frames;

    double track_fps = count * passes / track_s, decode_fps = count / decode_s;
    printf("{\"bench\":\"tracker\",\"video\":\"%s\",\"width\":%d,\"height\":%d,\"frames\":%d,\"passes\":%d,"
           "\"threads_available\":%d,\"track_fps\":%.1f,\"track_fps_no_detector_checks\":%.1f,\"decode_fps\":%.1f,\"track_and_decode_fps\":%.1f,"
           "\"detect_ms\":%.2f,\"found\":%d,"
           "\"jitter_raw_px\":%.3f,\"jitter_raw_eye\":%.5f,\"jitter_smooth_px\":%.3f,\"jitter_smooth_eye\":%.5f,"
           "\"jitter_still_px\":%.5f,\"jitter_still_eye\":%.6f,\"found_still\":%d}\n",
           path, frames[0].width, frames[0].height, count, passes, cpu_count(), track_fps,
           count * passes / unchecked_s, decode_fps,
           1.0 / (1.0 / track_fps + 1.0 / decode_fps), detect_ms, found_smooth, raw_px, raw_eye,
           smooth_px, smooth_eye, still_px, still_eye, found_still);
    (void)found_raw;
    for (int i = 0; i < count; i++) image_free(&frames[i]);
    free(frames);
    face_detector_free(detector);
    shape_predictor_free(predictor);
    return 0;
}
