/* animate/run: vv_animate, a whole driver (video, template or built-in motion) to a file.
 *
 * A driving video with the first face as reference streams: it is tracked on a thread of
 * its own (animate/tracking.h) while this thread smooths, renders and encodes the frames
 * already tracked, `lookahead` frames behind the tracker; every source moves relative to
 * that one frame, so several sources stream too.  Anything else (reference "best": each
 * source's own reference, found in the whole track; templates, built-in motions) is tracked
 * or loaded whole first and smoothed with the same window, which gives the same points.
 * The driver's frames for its mouth interior and the --compare panel come from the
 * tracker thread, which keeps the few it decoded ahead of the render (else the driver is
 * decoded a second time here, in step).  A still driver (an image) has a path of its own
 * (animate_still): its expression and pose against a neutral face, to an image or a short
 * video. */
#include "animate/animate.h"
#include "animate/tracking.h"
#include "img/image.h"
#include "video/audio_envelope.h"
#include "video/video.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most the tracker thread keeps of the driver's decoded frames for the render. */
#define RUN_KEPT_FRAME_BYTES ((size_t)64 << 20)
/* The most frames it keeps beyond the lookahead's few. */
#define RUN_AHEAD_FRAMES 64

static bool run_aborted(const vv_animate_callbacks *cb) { return cb->abort && cb->abort(cb->user_data); }

static int run_progress(const vv_animate_callbacks *cb, vv_animate_stage stage, long done, long total) {
    return cb->progress ? cb->progress(cb->user_data, stage, done, total) : 0;
}

static void run_log(const vv_animate_callbacks *cb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_log(const vv_animate_callbacks *cb, const char *fmt, ...) {
    if (!cb->log) return;
    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    cb->log(cb->user_data, line);
}

static bool path_has_extension(const char *path, const char *const *exts, int count) {
    char ext[16];
    path_extension(path, ext, sizeof ext);
    for (int i = 0; i < count; i++)
        if (!strcmp(ext, exts[i])) return true;
    return false;
}

bool animate_driver_is_still(const char *driving) { return driving && image_file_is_image(driving); }

static vv_status job_check(const vv_animate_job *job) {
    if (!job || !job->output) return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: no output path");
    if (job->audio && job->driving)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: --audio drives the mouth with --motion (or alone), not with a "
                       "driving video (its own audio is copied)");
    if (!job->driving == !job->motion && !job->audio)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, job->driving ? "animate: a driving video or a motion, not both"
                                                             : "animate: needs a driving video or a motion");
    if (job->lipsync && !audio_lipsync_resolve(job->lipsync))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: lip-sync '%s' is not known (energy or phonemes)", job->lipsync);
    if ((job->lipsync || job->fps != 0) && !job->audio)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: a lip-sync mode and a frame rate are for an audio job");
    if (job->audio && !(job->fps >= 0 && job->fps <= 240))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: fps %g is outside (0, 240]", job->fps);
    if (job->audio && job->duration != 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "a duration is not for an audio job (the output lasts as long as the audio)");
    if (job->audio && !file_exists(job->audio)) return vv_fail(VV_ERR_NOT_FOUND, "audio file not found: %s", job->audio);
    static const char *const unsupported[] = {"webm", "avi"}, *const still[] = {"png", "jpg", "jpeg"};
    if (path_has_extension(job->output, unsupported, 2))
        return vv_fail(VV_ERR_UNSUPPORTED, "-o %s: write .mp4, .gif or a folder for PNG frames", job->output);
    if (path_has_extension(job->output, still, 3) && !animate_driver_is_still(job->driving))
        return vv_fail(VV_ERR_UNSUPPORTED, "-o %s: a still image is made from a still driver (an image as the driving "
                       "input); for a video or a motion write .mp4, .gif or a folder for PNG frames", job->output);
    if (job->max_frames < 0 || job->max_frames > MOTION_MAX_FRAMES)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "animate: at most %d frames", MOTION_MAX_FRAMES);
    if (job->driving && !file_exists(job->driving)) return vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", job->driving);
    bool builtin = job->motion && motion_builtin_exists(job->motion);
    if (job->duration != 0 && !builtin)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "a duration is for the built-in motions (a driver or template has its own length)");
    if (builtin && !(job->duration >= 0 && job->duration <= 3600))
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "motion duration %g s is outside 0..3600", job->duration);
    if (job->motion && !builtin) {
        static const char *const json[] = {"json"};
        if (!path_has_extension(job->motion, json, 1) && !file_exists(job->motion))
            return vv_fail(VV_ERR_INVALID_ARGUMENT, "unknown motion '%s' (built-in: %s, or a .json template)", job->motion,
                           motion_builtin_names());
        if (!file_exists(job->motion)) return vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", job->motion);
    }
    return VV_OK;
}

/* Copies `in` scaled to height h (width w) into out at column x0. */
static void panel_blit(vv_image *out, const vv_image *in, int x0, int w, int h) {
    vv_image scaled = {0};
    if (in->width == w && in->height == h) scaled = *in;
    else if (image_resize(&scaled, in, w, h) != VV_OK) return;
    for (int y = 0; y < h && y < out->height; y++)
        memcpy(out->data + ((size_t)y * out->width + x0) * 3, scaled.data + (size_t)y * w * 3, (size_t)w * 3);
    if (scaled.data != in->data) image_free(&scaled);
}

static int panel_width(int width, int height, int h) {
    int w = (int)lround((double)width * h / height);
    return w < 2 ? 2 : w & ~1;
}

void smoothed_track_free(smoothed_track *st) {
    free(st->points);
    free(st->gaze);
    free(st->has_gaze);
    free(st->turn);
    free(st->has_turn);
    free(st->has_face);
    free(st->found);
    memset(st, 0, sizeof *st);
}

vv_status animate_smooth_track(const motion_track *track, const vv_animate_params *p, smoothed_track *out) {
    memset(out, 0, sizeof *out);
    out->count = track->frame_count;
    out->points = mem_alloc((size_t)out->count, sizeof out->points[0]);
    out->has_face = mem_calloc((size_t)out->count, 1);
    out->found = mem_calloc((size_t)out->count, 1);
    if (track->gaze && track->has_gaze) {
        out->gaze = mem_calloc((size_t)out->count, sizeof out->gaze[0]);
        out->has_gaze = mem_calloc((size_t)out->count, 1);
    }
    if (track->turn && track->has_turn) {
        out->turn = mem_calloc((size_t)out->count, sizeof out->turn[0]);
        out->has_turn = mem_calloc((size_t)out->count, 1);
    }
    if (!out->points || !out->has_face || !out->found || (track->gaze && track->has_gaze && (!out->gaze || !out->has_gaze)) ||
        (track->turn && track->has_turn && (!out->turn || !out->has_turn))) {
        smoothed_track_free(out);
        return vv_fail(VV_ERR_NO_MEMORY, "animate: out of memory smoothing %d frames", track->frame_count);
    }
    driver_timeline tl;
    timeline_init(&tl, p->lookahead, p->smoothing, track->fps);
    vv_status s = VV_OK;
    long taken = 0;
    for (long f = 0; f <= out->count && s == VV_OK; f++) {
        if (f < out->count) {
            s = timeline_push(&tl, track->found[f] ? (const float(*)[2])track->points[f] : NULL, f / track->fps);
            if (s == VV_OK && out->gaze && track->has_gaze[f]) timeline_push_gaze(&tl, (const float(*)[2])track->gaze[f]);
            if (s == VV_OK && out->turn && track->has_turn[f]) timeline_push_turn(&tl, (const float(*)[3])track->turn[f]);
            if (s == VV_OK && track->lids && track->has_gaze && track->has_gaze[f])
                timeline_push_lids(&tl, (const float(*)[2])track->lids[f]);
        } else {
            timeline_end(&tl);
        }
        while (s == VV_OK && timeline_ready(&tl)) {
            bool has_face, found;
            long index;
            timeline_take(&tl, out->points[taken], &has_face, &found, &index);
            if (out->gaze) out->has_gaze[taken] = timeline_take_gaze(&tl, out->gaze[taken]);
            if (out->turn) out->has_turn[taken] = timeline_take_turn(&tl, out->turn[taken]);
            out->has_face[taken] = has_face;
            out->found[taken] = found;
            taken++;
        }
    }
    timeline_free(&tl);
    if (s != VV_OK) smoothed_track_free(out);
    return s;
}

/* A template's frames stretched to `frames` at `fps` by time, looped back and forth
 * (ping-pong: no jump) when it is shorter; its own audio dropped. */
static vv_status track_fit(motion_track *track, int frames, double fps) {
    motion_track fit;
    vv_status s = motion_track_alloc(&fit, frames);
    if (s != VV_OK) return s;
    fit.fps = fps;
    fit.width = track->width;
    fit.height = track->height;
    int n = track->frame_count, period = n > 1 ? 2 * (n - 1) : 1;
    for (int f = 0; f < frames; f++) {
        long i = lround(f / fps * (track->fps > 0 ? track->fps : 25)) % period;
        if (i >= n) i = period - i;
        memcpy(fit.points[f], track->points[i], sizeof fit.points[f]);
        fit.found[f] = track->found[i];
    }
    motion_track_free(track);
    *track = fit;
    return VV_OK;
}

/* An audio job's track: the recording's envelope drives the mouth of `job->motion` (a
 * built-in, default talk, or a template fitted to the audio's length).  reference: what the
 * motion is relative to, with the motion's own mouth (speech may open the mouth at frame 0):
 * a built-in's neutral face, or the template's first face as it was. */
static vv_status speech_track(const vv_animate_job *job, const vv_animate_callbacks *cb, motion_track *track,
                              float reference[68][2]) {
    audio_envelope env;
    double fps = job->fps > 0 ? job->fps : 25;
    vv_status s = audio_envelope_read_lipsync(&env, job->audio, fps, 0, job->lipsync);
    if (s != VV_OK) return s;
    if (env.silent)
        run_log(cb, "animate: warning: %s is silent (under %.0f dBFS): the mouth stays closed", job->audio, AUDIO_SILENCE_DB);
    else
        run_log(cb, "animate: %s: %.2f s of speech, %d frames at %g fps (lip-sync: %s)", job->audio, env.seconds, env.frames,
                fps, env.lipsync);
    const char *motion = job->motion ? job->motion : "talk";
    if (motion_builtin_exists(motion)) {
        s = motion_builtin_speech(track, motion, env.openness, env.width, env.tuck, env.onset, env.frames, fps);
        motion_builtin_neutral(reference);
    } else {
        s = motion_load(track, motion);
        if (s == VV_OK) s = track_fit(track, env.frames, fps);
        int first = s == VV_OK ? motion_first_found(track) : -1;
        if (s == VV_OK && first < 0) s = vv_fail(VV_ERR_NO_FACE, "%s: no frame has landmarks", motion);
        if (s == VV_OK) {
            memcpy(reference, track->points[first], sizeof track->points[first]);
            motion_track_set_mouth(track, first, env.openness, env.width, env.tuck);
        }
    }
    if (s == VV_OK) {
        free(track->audio);
        track->audio = strdup(job->audio);
        if (!track->audio) s = vv_fail(VV_ERR_NO_MEMORY, "out of memory");
    }
    if (s != VV_OK) motion_track_free(track);
    audio_envelope_free(&env);
    return s;
}

/* Whole-track mode: the tracking progress as the job's. */
static int tracking_progress(void *data, long done, long total) {
    return run_progress(data, VV_STAGE_TRACKING, done, total);
}

/* Streaming: one more tracked frame from the tracker thread into the animator's timeline
 * (with its gaze), or the end of the driver. */
static vv_status stream_feed(vv_animator *a, tracking_thread *tt, long *next_push, bool *tracker_done) {
    float points[68][2], gaze[2][2], lids[2][2], turn[3][3];
    bool found = false, got = false, has_gaze = false, has_turn = false;
    double time = 0;
    vv_status s = tracking_take(tt, *next_push, points, &found, gaze, lids, &has_gaze, turn, &has_turn, &time, &got);
    if (s != VV_OK) return s;
    if (!got) {
        *tracker_done = true;
        timeline_end(&a->timeline);
        return VV_OK;
    }
    s = timeline_push(&a->timeline, found ? (const float(*)[2])points : NULL, time);
    if (s == VV_OK && has_gaze) timeline_push_gaze(&a->timeline, (const float(*)[2])gaze);
    if (s == VV_OK && has_gaze) timeline_push_lids(&a->timeline, (const float(*)[2])lids);
    if (s == VV_OK && has_turn) timeline_push_turn(&a->timeline, (const float(*)[3])turn);
    (*next_push)++;
    return s;
}

/* ---- A still driver (an image) ----------------------------------------------------
 *
 * One image has no first frame to move from: its expression and head pose are taken against
 * a neutral face (the built-in motions' frontal, neutral frame 0), placed over the driver's
 * face at its position and size (eyes and nose: translation and scale only, so its roll is
 * kept as pose).  An image output (.png, .jpg) holds that one frame; a video output eases
 * from the portrait as it is to the driver's expression and pose in STILL_EASE_FRAMES and
 * holds it, STILL_FRAMES at 25 fps in all.  The driver's mouth interior is used once it is
 * reached; no gaze (the portrait keeps its own), no audio. */
#define STILL_FRAMES 25
#define STILL_EASE_FRAMES 15

static vv_status still_neutral(const float driver[68][2], float out[68][2]) {
    motion_track neutral = {0};
    vv_status s = motion_builtin(&neutral, "blink", 1.0 / 25, 25); /* frame 0: neutral, frontal */
    if (s != VV_OK) return s;
    double dc[2] = {0, 0}, nc[2] = {0, 0}, dr = 0, nr = 0;
    const int first = 27, last = 47, count = last - first + 1; /* nose and eyes: no expression in scale */
    for (int k = first; k <= last; k++)
        for (int c = 0; c < 2; c++) {
            dc[c] += driver[k][c] / count;
            nc[c] += neutral.points[0][k][c] / count;
        }
    for (int k = first; k <= last; k++)
        for (int c = 0; c < 2; c++) {
            dr += (driver[k][c] - dc[c]) * (driver[k][c] - dc[c]);
            nr += (neutral.points[0][k][c] - nc[c]) * (neutral.points[0][k][c] - nc[c]);
        }
    double scale = nr > 0 ? sqrt(dr / nr) : 1;
    for (int k = 0; k < 68; k++)
        for (int c = 0; c < 2; c++) out[k][c] = (float)(dc[c] + (neutral.points[0][k][c] - nc[c]) * scale);
    motion_track_free(&neutral);
    return VV_OK;
}

static vv_status animate_still(vv_animator *a, const vv_animate_job *job, const vv_animate_callbacks *cb,
                               vv_animate_report *rep) {
    static const char *const still_ext[] = {"png", "jpg", "jpeg"};
    bool still_output = path_has_extension(job->output, still_ext, 3);
    double start = time_now();
    vv_image driver = {0}, result = {0}, frame = {0};
    video_writer *writer = NULL;
    vv_face faces[8];
    int found = 0;
    vv_status s = image_load(&driver, job->driving);
    if (s == VV_OK) s = vv_faces_detect(a->faces, &driver, faces, 8, &found);
    if (s == VV_OK && found == 0) s = vv_fail(VV_ERR_NO_FACE, "no face found in %s (the driving image)", job->driving);
    rep->seconds_tracking = time_now() - start;
    float neutral[68][2];
    if (s == VV_OK) s = still_neutral((const float(*)[2])faces[0].landmarks, neutral);
    if (s == VV_OK) {
        a->reference_neutral = true;
        animator_set_reference(a, (const float(*)[2])neutral);
        animator_set_reference_gaze(a, NULL);
        animator_set_gaze(a, NULL);
        animator_set_reference_turn(a, NULL);
        animator_set_turn(a, NULL);
        rep->reference_frame = 0;
        run_log(cb, "animate: %s is a still driver: its expression and pose against a neutral face (yaw %.0f pitch %.0f roll %.0f)",
                job->driving, faces[0].yaw, faces[0].pitch, faces[0].roll);
    }
    int out_w = a->out_width, out_h = a->out_height, driver_w = job->compare ? panel_width(driver.width, driver.height, out_h) : 0;
    if (s == VV_OK && job->compare && (long)out_w * 2 + driver_w > VV_IMAGE_MAX_SIDE)
        s = vv_fail(VV_ERR_TOO_LARGE, "--compare: %d px wide is too wide", out_w * 2 + driver_w);
    if (s == VV_OK && job->compare) s = image_create(&frame, out_w * 2 + driver_w, out_h, 3);
    if (s == VV_OK && !still_output) {
        video_writer_params vp = video_writer_default_params();
        vp.width = job->compare ? frame.width : out_w;
        vp.height = out_h;
        vp.fps = 25;
        s = video_writer_open(&writer, job->output, &vp);
    }
    long frames = still_output ? 1 : STILL_FRAMES, written = 0;
    bool interrupted = false;
    for (long f = 0; f < frames && s == VV_OK; f++) {
        if (run_aborted(cb)) {
            interrupted = true;
            break;
        }
        /* Eased from the neutral face to the driver's (smoothstep); the image output is the end. */
        double t = still_output || f >= STILL_EASE_FRAMES ? 1 : (double)f / STILL_EASE_FRAMES;
        float w = (float)(t * t * (3 - 2 * t)), points[68][2];
        for (int k = 0; k < 68; k++)
            for (int c = 0; c < 2; c++) points[k][c] = neutral[k][c] + w * (faces[0].landmarks[k][c] - neutral[k][c]);
        double t0 = time_now();
        int source = 0;
        s = animator_render(a, (const float(*)[2])points, true, &driver, t >= 1, &result, &source);
        rep->seconds_render += time_now() - t0;
        const vv_image *out = &result;
        if (s == VV_OK && job->compare) { /* source | driver | result */
            memset(frame.data, 0, (size_t)frame.width * frame.height * 3);
            const vv_image *src = &a->sources[0].image;
            if (a->params.crop_output) panel_blit(&frame, &a->sources[source].image, 0,
                                                  panel_width(a->sources[source].image.width, a->sources[source].image.height, out_h), out_h);
            else
                for (int y = 0; y < out_h; y++)
                    memcpy(frame.data + (size_t)y * frame.width * 3, src->data + (size_t)y * src->width * 3, (size_t)out_w * 3);
            panel_blit(&frame, &driver, out_w, driver_w, out_h);
            for (int y = 0; y < out_h; y++)
                memcpy(frame.data + ((size_t)y * frame.width + out_w + driver_w) * 3, result.data + (size_t)y * result.width * 3,
                       (size_t)out_w * 3);
            out = &frame;
        }
        double t1 = time_now();
        if (s == VV_OK) s = still_output ? image_save(out, job->output) : video_writer_write(writer, out);
        rep->seconds_encode += time_now() - t1;
        if (s == VV_OK) written = f + 1;
        if (s == VV_OK && run_progress(cb, VV_STAGE_RENDERING, f + 1, frames)) interrupted = true;
        if (interrupted) break;
    }
    if (s == VV_ERR_ABORTED) {
        interrupted = true;
        s = VV_OK;
    }
    bool keep = interrupted && job->keep_partial && writer && written > 0;
    if (writer) {
        if (s == VV_OK && (!interrupted || keep)) s = video_writer_finish(writer);
        else video_writer_abort(writer);
    }
    if (s == VV_OK && interrupted)
        s = vv_fail(VV_ERR_ABORTED, "interrupted; %s", keep ? "the output holds the frames made so far" : "no output written");
    rep->frames = (s == VV_OK || keep) ? written : 0;
    rep->width = job->compare ? frame.width : result.width;
    rep->height = job->compare ? frame.height : result.height;
    rep->fps = still_output ? 0 : 25;
    rep->source_switches = a->switches;
    rep->seconds_faces = a->seconds_faces;
    rep->seconds_mesh = a->seconds_mesh;
    rep->seconds_matte = a->seconds_matte;
    rep->seconds = time_now() - start;
    image_free(&driver);
    image_free(&result);
    image_free(&frame);
    return s;
}

vv_status vv_animate(vv_animator *a, const vv_animate_job *job, const vv_animate_callbacks *callbacks,
                     vv_animate_report *report) {
    vv_animate_callbacks cb;
    memset(&cb, 0, sizeof cb);
    if (callbacks) cb = *callbacks;
    vv_animate_report rep;
    memset(&rep, 0, sizeof rep);
    rep.reference_frame = -1;
    if (report) *report = rep;
    if (!a) return vv_fail(VV_ERR_INVALID_ARGUMENT, "vv_animate: NULL animator");
    vv_status s = job_check(job);
    if (s != VV_OK) return s;
    animator_reset(a);
    if (animate_driver_is_still(job->driving)) {
        s = animate_still(a, job, &cb, &rep);
        if (report) *report = rep;
        return s;
    }
    const vv_animate_params *p = &a->params;
    double start = time_now();
    bool streaming = job->driving && !p->reference_best;
    /* a tracked reference's lips count from closed; a built-in's neutral face's and speech's not */
    a->reference_neutral = !job->driving && (job->audio || motion_builtin_exists(job->motion));
    motion_track track = {0};       /* whole mode: the raw track; streaming: the video's facts */
    smoothed_track smooth = {0};
    tracking_thread tt;
    memset(&tt, 0, sizeof tt);
    video_reader *driver_reader = NULL;
    video_writer *writer = NULL;
    vv_image result = {0}, frame = {0}, driver_frame = {0}, panel = {0};
    long expected_frames = 0;
    int first = -1;

    /* The driver: the Iris model runs on its frames only when the render reads the gaze.
     * Streaming: the tracker starts before the sources' heads are built (animator_prepare:
     * the person matte and the plate, most of the start-up), so that both cores work. */
    if (!streaming) s = animator_prepare(a);
    const face_mesh *gaze_mesh = s == VV_OK && animator_may_read_gaze(a) ? a->mesh_model : NULL;
    double t0 = time_now();
    /* Streaming: the tracker thread keeps the frames it decoded for the render (mouth
     * interior, --compare), as many as RUN_KEPT_FRAME_BYTES holds up to RUN_AHEAD_FRAMES
     * beyond the lookahead (so that it runs on while the heads are built) and at least a
     * few more than the lookahead; frames it no longer holds (a long face-less start),
     * and all frames when even those few are too large, are decoded here, in step. */
    int keep_frames = 0;
    if (s == VV_OK && job->driving && streaming) {
        s = tracking_probe(job->driving, job->max_frames, &track, &expected_frames);
        size_t frame_bytes = (size_t)(track.width > 0 ? track.width : 0) * (size_t)(track.height > 0 ? track.height : 0) * 3;
        int fewest = p->lookahead + 4, most = p->lookahead + 4 + RUN_AHEAD_FRAMES;
        if (frame_bytes > 0 && frame_bytes * (size_t)fewest <= RUN_KEPT_FRAME_BYTES)
            keep_frames = RUN_KEPT_FRAME_BYTES / frame_bytes < (size_t)most ? (int)(RUN_KEPT_FRAME_BYTES / frame_bytes) : most;
        if (s == VV_OK)
            s = tracking_start(&tt, a->faces, gaze_mesh, job->driving, job->max_frames, keep_frames, cb.abort, cb.user_data);
        double built = time_now();
        if (s == VV_OK) s = animator_prepare(a);
        t0 += time_now() - built; /* reported as the heads' build (seconds_matte), not as tracking */
        if (s == VV_OK && gaze_mesh && !animator_reads_gaze(a)) { /* every head fell back to 2D: tracked again, no Iris */
            tracking_stop(&tt);
            gaze_mesh = NULL;
            s = tracking_start(&tt, a->faces, NULL, job->driving, job->max_frames, keep_frames, cb.abort, cb.user_data);
        }
    }
    bool speech_reference = false;  /* an audio job's reference: the motion's own, not frame `first` */
    float reference[68][2];
    if (s == VV_OK && !streaming) {
        if (job->audio) {
            s = speech_track(job, &cb, &track, reference);
            speech_reference = s == VV_OK;
        } else if (job->driving) { /* tracked whole first */
            s = tracking_collect(a->faces, gaze_mesh, job->driving, job->max_frames, tracking_progress, &cb, cb.abort,
                                 cb.user_data, &track);
        } else if (motion_builtin_exists(job->motion)) {
            s = motion_builtin(&track, job->motion, job->duration > 0 ? job->duration : 5, 25);
        } else {
            s = motion_load(&track, job->motion);
        }
        if (s == VV_OK && job->max_frames > 0 && track.frame_count > job->max_frames) track.frame_count = (int)job->max_frames;
        if (s == VV_OK) {
            first = motion_first_found(&track);
            if (first < 0)
                s = vv_fail(VV_ERR_NO_FACE, "no face found in any frame of %s", job->driving ? job->driving : job->motion);
        }
        if (s == VV_OK) s = animate_smooth_track(&track, p, &smooth);
        if (s == VV_OK) {
            expected_frames = smooth.count;
            animator_set_reference(a, speech_reference ? (const float(*)[2])reference : (const float(*)[2])smooth.points[first]);
            for (int i = 0; speech_reference && i < a->source_count; i++) { /* a mouth open at rest closes too */
                float parted[68][2];
                if (motion_speech_reference((const float(*)[2])reference, (const float(*)[2])a->sources[i].face.landmarks, parted))
                    animator_set_source_reference(a, i, (const float(*)[2])parted);
            }
            animator_set_reference_gaze(a, smooth.gaze && smooth.has_gaze[first] ? (const float(*)[2])smooth.gaze[first] : NULL);
            animator_set_reference_turn(a, smooth.turn && smooth.has_turn[first] ? (const float(*)[3])smooth.turn[first] : NULL);
            rep.reference_frame = first;
            if (p->reference_best) {
                motion_track view = track; /* the smoothed points, for the nearest-shape search */
                view.points = smooth.points;
                for (int i = 0; i < a->source_count; i++) {
                    int best = motion_reference_best(&view, (const float(*)[2])a->sources[i].face.landmarks);
                    animator_set_source_reference(a, i, (const float(*)[2])smooth.points[best]);
                    if (i == 0) rep.reference_frame = best;
                    /* the head's turn counts from the reference too: one per animator, so with
                     * several sources (each its own reference) the 68 points' pose alone */
                    bool one = a->source_count == 1 && smooth.turn && smooth.has_turn[best];
                    animator_set_reference_turn(a, one ? (const float(*)[3])smooth.turn[best] : NULL);
                    run_log(&cb, "animate: %s: reference driver frame %d", a->sources[i].name, best);
                }
            }
        }
    }
    /* Streaming: the timeline, fed from the tracker thread, up to the first face (its frame
     * is the reference; a driver without any face fails before anything is written). */
    long next_push = 0;
    bool tracker_done = false;
    if (s == VV_OK && streaming) {
        s = animator_stream_begin(a, track.fps);
        while (s == VV_OK && a->timeline.first_found < 0 && !tracker_done) s = stream_feed(a, &tt, &next_push, &tracker_done);
        if (s == VV_OK && a->timeline.first_found < 0)
            s = vv_fail(VV_ERR_NO_FACE, "no face found in any frame of %s", job->driving);
        if (s == VV_OK) {
            first = (int)a->timeline.first_found;
            rep.reference_frame = first;
            if (expected_frames < first + 1) expected_frames = first + 1;
        }
    }
    rep.seconds_tracking = time_now() - t0;
    if (s == VV_OK)
        for (int i = 0; i < a->source_count; i++)
            run_log(&cb, "animate: %s: face %.0fx%.0f px, yaw %.0f pitch %.0f roll %.0f", a->sources[i].name,
                    a->sources[i].face.box[2] - a->sources[i].face.box[0], a->sources[i].face.box[3] - a->sources[i].face.box[1],
                    a->sources[i].face.yaw, a->sources[i].face.pitch, a->sources[i].face.roll);

    /* Audio: the driver's (or the template's), mp4 only. */
    const char *audio = NULL;
    if (s == VV_OK && !job->no_audio && track.audio && video_format_for_path(job->output) == VIDEO_FORMAT_MP4) {
        if (file_exists(track.audio)) audio = track.audio;
        else run_log(&cb, "animate: warning: the template's audio %s is missing; the output has no audio", track.audio);
    }
    /* Output geometry. */
    int out_w = a->out_width, out_h = a->out_height, driver_w = 0;
    if (s == VV_OK && job->compare) {
        int dw = track.width > 0 ? track.width : 512, dh = track.height > 0 ? track.height : 512;
        driver_w = panel_width(dw, dh, out_h);
        if ((long)out_w * 2 + driver_w > VV_IMAGE_MAX_SIDE)
            s = vv_fail(VV_ERR_TOO_LARGE, "--compare: %d px wide is too wide", out_w * 2 + driver_w);
    }
    if (s == VV_OK && job->driving && !keep_frames) s = video_reader_open(&driver_reader, job->driving);
    long driver_read = 0; /* frames driver_reader has decoded */
    if (s == VV_OK) s = image_create(&frame, out_w * (job->compare ? 2 : 1) + driver_w, out_h, 3);
    if (s == VV_OK) {
        video_writer_params vp = video_writer_default_params();
        vp.width = frame.width;
        vp.height = frame.height;
        vp.fps = track.fps;
        vp.audio_source = audio;
        vp.audio_duration = streaming ? 0 : track.frame_count / track.fps; /* 0: until the video ends */
        s = video_writer_open(&writer, job->output, &vp);
    }
    bool interrupted = false;
    long frame_count = 0;
    for (long f = 0; s == VV_OK; f++) {
        if (run_aborted(&cb)) {
            interrupted = true;
            break;
        }
        float points[68][2];
        bool has_face = false, found = false;
        long index = f;
        if (streaming) {
            double wait = time_now();
            while (s == VV_OK && !timeline_ready(&a->timeline) && !tracker_done) s = stream_feed(a, &tt, &next_push, &tracker_done);
            rep.seconds_tracking += time_now() - wait;
            if (s != VV_OK || !timeline_ready(&a->timeline)) break;
            animator_take(a, points, &has_face, &found, &index);
        } else {
            if (f >= smooth.count) break;
            memcpy(points, smooth.points[f], sizeof points);
            animator_set_gaze(a, smooth.gaze && smooth.has_gaze[f] ? (const float(*)[2])smooth.gaze[f] : NULL);
            animator_set_turn(a, smooth.turn && smooth.has_turn[f] ? (const float(*)[3])smooth.turn[f] : NULL);
            has_face = smooth.has_face[f];
            found = smooth.found[f];
        }
        frame_count = f + 1;
        rep.faceless_frames += !found;
        bool have_driver_frame = false;
        double t1 = time_now();
        if (job->driving) {
            if (keep_frames) tracking_frame(&tt, index, &driver_frame, &have_driver_frame);
            if (!have_driver_frame && !driver_reader) s = video_reader_open(&driver_reader, job->driving);
            while (s == VV_OK && !have_driver_frame && driver_read <= index) { /* decoded here, up to frame `index` */
                double t = 0;
                bool got = false;
                s = video_reader_next(driver_reader, &driver_frame, &t, &got);
                driver_read++;
                if (!got) break;
                have_driver_frame = driver_read == index + 1;
            }
            if (s != VV_OK) break;
        }
        double t2 = time_now();
        int source = 0;
        long switches = a->switches;
        s = animator_render(a, (const float(*)[2])points, has_face, have_driver_frame ? &driver_frame : NULL, found,
                            &result, &source);
        if (s != VV_OK) break;
        if (cb.verbose && a->source_count > 1 && a->switches != switches)
            run_log(&cb, "animate: frame %ld: source %d (%s)", f, source + 1, a->sources[source].name);
        double t3 = time_now();
        rep.seconds_decode += t2 - t1;
        rep.seconds_render += t3 - t2;
        if (!job->compare) {
            s = video_writer_write(writer, &result);
        } else {
            const animate_source *src = &a->sources[source];
            memset(frame.data, 0, (size_t)frame.width * frame.height * 3);
            if (p->crop_output) panel_blit(&frame, &src->image, 0, panel_width(src->image.width, src->image.height, out_h), out_h);
            else
                for (int y = 0; y < out_h; y++)
                    memcpy(frame.data + (size_t)y * frame.width * 3, a->sources[0].image.data + (size_t)y * a->sources[0].image.width * 3,
                           (size_t)out_w * 3);
            if (job->driving) {
                if (have_driver_frame) panel_blit(&frame, &driver_frame, out_w, driver_w, out_h);
            } else { /* a motion without video: draw its landmarks */
                if (!panel.data) s = image_create(&panel, track.width > 0 ? track.width : 512, track.height > 0 ? track.height : 512, 3);
                if (s != VV_OK) break;
                memset(panel.data, 0, (size_t)panel.width * panel.height * 3);
                landmarks_rasterize(&panel, (const float(*)[2])points, 2);
                panel_blit(&frame, &panel, out_w, driver_w, out_h);
            }
            for (int y = 0; y < out_h; y++)
                memcpy(frame.data + ((size_t)y * frame.width + out_w + driver_w) * 3, result.data + (size_t)y * result.width * 3,
                       (size_t)out_w * 3);
            s = video_writer_write(writer, &frame);
        }
        rep.seconds_encode += time_now() - t3;
        if (s == VV_OK && run_progress(&cb, VV_STAGE_RENDERING, f + 1, expected_frames)) interrupted = true;
        if (interrupted) break;
    }
    /* Stopped by the abort callback (the tracker thread may have stopped first). */
    if (s == VV_ERR_ABORTED) {
        interrupted = true;
        s = VV_OK;
    }
    bool keep = interrupted && job->keep_partial && writer && frame_count > 0;
    if (writer) {
        if (s == VV_OK && (!interrupted || keep)) s = video_writer_finish(writer);
        else video_writer_abort(writer);
    }
    if (s == VV_OK && interrupted)
        s = vv_fail(VV_ERR_ABORTED, "interrupted; %s", keep               ? "the output holds the frames made so far"
                                                    : job->keep_partial ? "no frame was made yet; no output written"
                                                                        : "no output written (--keep-partial keeps the frames made so far)");
    rep.frames = (s == VV_OK || keep) ? frame_count : 0;
    rep.width = frame.width;
    rep.height = frame.height;
    rep.fps = track.fps;
    if (audio) snprintf(rep.audio, sizeof rep.audio, "%s", audio);
    rep.source_switches = a->switches;
    rep.seconds_faces = a->seconds_faces;
    rep.seconds_mesh = a->seconds_mesh;
    rep.seconds_matte = a->seconds_matte;
    rep.seconds = time_now() - start;
    if (report) *report = rep;
    tracking_stop(&tt); /* before the faces go: the thread uses them */
    smoothed_track_free(&smooth);
    image_free(&result);
    image_free(&frame);
    image_free(&driver_frame);
    image_free(&panel);
    video_reader_close(driver_reader);
    motion_track_free(&track);
    return s;
}
