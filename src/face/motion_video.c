/* face/motion_video: a driver video tracked into a landmark track with the tracker's default
 * (One Euro) smoothing, for bench_reenactment.  The commands track with
 * animate/tracking.h's tracking_collect instead (raw landmarks for the centred smoothing). */
#include "face/faces.h"
#include "face/motion.h"
#include "face/tracker.h"
#include "img/image.h"
#include "video/video.h"

#include <stdlib.h>
#include <string.h>

vv_status motion_track_video(vv_faces *faces, const char *path, long max_frames, vv_progress_fn progress,
                             void *progress_data, motion_track *track) {
    video_reader *reader = NULL;
    face_tracker *tracker = NULL;
    vv_image frame = {0};
    memset(track, 0, sizeof *track);
    vv_status s = video_reader_open(&reader, path);
    if (s != VV_OK) return s;
    const video_info *info = video_reader_info(reader);
    long capacity = info->frame_count > 0 ? info->frame_count + 16 : 256;
    if (max_frames > 0 && capacity > max_frames) capacity = max_frames;
    if (capacity > MOTION_MAX_FRAMES) capacity = MOTION_MAX_FRAMES;
    s = motion_track_alloc(track, (int)capacity);
    tracker_params tp = tracker_default_params();
    if (s == VV_OK) s = face_tracker_new(&tracker, faces_detector(faces), faces_predictor(faces), &tp);
    long count = 0;
    long total = max_frames > 0 && (info->frame_count <= 0 || max_frames < info->frame_count) ? max_frames
                                                                                              : info->frame_count;
    while (s == VV_OK && (max_frames <= 0 || count < max_frames)) {
        bool got = false, found = false;
        double time = 0;
        s = video_reader_next(reader, &frame, &time, &got);
        if (s != VV_OK || !got) break;
        if (count >= MOTION_MAX_FRAMES) {
            s = vv_fail(VV_ERR_TOO_LARGE, "%s has more than %d frames", path, MOTION_MAX_FRAMES);
            break;
        }
        if (count >= track->frame_count) { /* the container's estimate was short: grow by half */
            long grown = track->frame_count + track->frame_count / 2 + 16;
            if (grown > MOTION_MAX_FRAMES) grown = MOTION_MAX_FRAMES;
            void *p = realloc(track->points, (size_t)grown * sizeof track->points[0]);
            if (p) track->points = p;
            void *f = p ? realloc(track->found, (size_t)grown) : NULL;
            if (!p || !f) {
                s = vv_fail(VV_ERR_NO_MEMORY, "out of memory tracking %s", path);
                break;
            }
            track->found = f;
            memset(track->found + track->frame_count, 0, (size_t)(grown - track->frame_count));
            track->frame_count = (int)grown;
        }
        float box[4], score[1];
        s = face_tracker_update(tracker, &frame, time, &found, box, score, track->points[count]);
        track->found[count] = found;
        count++;
        if (s == VV_OK && progress && progress(progress_data, count, total))
            s = vv_fail(VV_ERR_ABORTED, "tracking %s stopped", path);
    }
    if (s == VV_OK && count == 0) s = vv_fail(VV_ERR_NO_VIDEO, "no frames could be decoded from %s", path);
    if (s == VV_OK) {
        track->frame_count = (int)count;
        track->fps = info->fps > 0 ? info->fps : 25;
        track->width = info->width;
        track->height = info->height;
        if (info->has_audio) {
            char *resolved = realpath(path, NULL);
            track->audio = resolved ? resolved : strdup(path);
        }
        if (motion_first_found(track) < 0) s = vv_fail(VV_ERR_NO_FACE, "no face found in any frame of %s", path);
    }
    if (s != VV_OK) motion_track_free(track);
    image_free(&frame);
    face_tracker_free(tracker);
    video_reader_close(reader);
    return s;
}
