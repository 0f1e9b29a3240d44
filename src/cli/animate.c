/* cli/animate: `vivify animate SOURCE... (--driving VIDEO | --motion NAME|FILE) -o OUT` and
 * `vivify motion extract VIDEO -o M.json`.
 *
 * Option parsing, the progress bar and Ctrl-C; the pipeline itself is the library's
 * vv_animate (src/animate/). */
#include "animate/animate.h"
#include "animate/tracking.h"
#include "cli/cli.h"
#include "cli/device.h"
#include "eval/identity.h"
#include "eval/metrics.h"
#include "face/motion.h"
#include "img/image.h"
#include "video/audio_envelope.h"
#include "video/phonemes.h"
#include "video/video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SOURCES 16
#define MAX_FACES 32

/* Ctrl-C / SIGTERM during animate (cli_interrupt_catch): the library polls the flag through
 * the abort callback (from its tracker thread too) and stops, then the output is removed
 * or, with --keep-partial, finished as a shorter video. */
static int progress_callback(void *data, long done, long total) {
    (void)total;
    progress_update(data, done);
    return cli_interrupted(); /* non-zero stops the tracker with VV_ERR_ABORTED */
}

/* Tracks a driver video into `track` (at most max_frames, 0 = all) with a progress bar, as
 * vivify animate tracks a driver (raw landmarks; animate smooths a template as it smooths
 * a video, so a template drives as its video does). */
static vv_status track_video(vv_faces *faces, const char *path, long max_frames, motion_track *track,
                             const char *label) {
    motion_track facts = {0};
    long total = 0;
    if (tracking_probe(path, max_frames, &facts, &total) != VV_OK) total = 0;
    motion_track_free(&facts);
    progress_bar bar;
    progress_start(&bar, label, total, "frames");
    vv_status s = tracking_collect(faces, NULL, path, max_frames, progress_callback, &bar, NULL, NULL, track);
    progress_finish(&bar);
    if (s == VV_OK && motion_first_found(track) < 0) {
        motion_track_free(track);
        s = vv_fail(VV_ERR_NO_FACE, "no face found in any frame of %s", path);
    }
    return s;
}

/* Several sources should be one person (the nearest is chosen per frame): a warning when
 * faceres says one of them is someone else than the first (CSIM under SAME_PERSON; the same
 * person's photos score about 0.6-0.9, different people under 0.35 on eval's pairs). */
#define SAME_PERSON 0.45
static void sources_identity_check(const vv_animator *animator, const vv_image *images, const char *const *names, int count,
                                   const char *models) {
    if (count < 2) return;
    identity_model *model = NULL;
    if (identity_model_load(&model, models) != VV_OK) return; /* a warning only: no model, no check */
    float first[IDENTITY_DIM], other[IDENTITY_DIM];
    vv_face face;
    if (vv_animator_source_face(animator, 0, &face) == VV_OK &&
        identity_embed(model, &images[0], (const float(*)[2])face.landmarks, first) == VV_OK)
        for (int i = 1; i < count; i++) {
            double similarity = 0;
            if (vv_animator_source_face(animator, i, &face) != VV_OK ||
                identity_embed(model, &images[i], (const float(*)[2])face.landmarks, other) != VV_OK ||
                metrics_cosine_similarity(first, other, IDENTITY_DIM, &similarity) != VV_OK)
                continue;
            if (similarity < SAME_PERSON)
                fprintf(stderr, "animate: warning: %s and %s look like different people (identity similarity %.2f); "
                                "the sources should be one person\n", names[0], names[i], similarity);
        }
    identity_model_free(model);
}

/* The library's callbacks: one progress bar per stage, Ctrl-C as abort, log lines to stderr. */
typedef struct animate_ui {
    progress_bar bar;
    bool bar_open;
    vv_animate_stage stage;
    bool verbose;
} animate_ui;

static int ui_progress(void *data, vv_animate_stage stage, long done, long total) {
    animate_ui *ui = data;
    if (!ui->bar_open || ui->stage != stage) {
        if (ui->bar_open) progress_finish(&ui->bar);
        progress_start(&ui->bar, stage == VV_STAGE_TRACKING ? "tracking" : "animate", total, "frames");
        ui->bar_open = true;
        ui->stage = stage;
    }
    progress_update(&ui->bar, done);
    return cli_interrupted();
}

static int ui_abort(void *data) {
    (void)data;
    return cli_interrupted();
}

/* Detail lines with -v; warnings ("animate: warning: ...", e.g. a template's missing audio)
 * always. */
static void ui_log(void *data, const char *line) {
    const animate_ui *ui = data;
    if (ui->verbose || strstr(line, "warning:")) fprintf(stderr, "%s\n", line);
}

int cli_animate(int argc, char **argv) {
    const char *output = NULL, *driving = NULL, *motion = NULL, *reference = "first", *models = NULL;
    const char *engine = "warp", *model_path = NULL, *background = "still", *audio = NULL, *lipsync = NULL;
    const char *device = "cpu";
    bool compare = false, crop = false, absolute = false, no_audio = false, verbose = false, keep_partial = false;
    int frames_limit = 0, size = 512, face_index = 1, lookahead = 3;
    float expression_scale = 1, pose_scale = 1, duration = -1, smoothing = 1; /* duration -1: not given (5 s) */
    float eyes = 1, lips = 1, fps = 0;
    char lipsync_help[512];
    snprintf(lipsync_help, sizeof lipsync_help,
             "with --audio: how the mouth follows the speech: phonemes (mouth shapes from phones PocketSphinx "
             "recognises: closed on m/b/p, lip-teeth on f/v, rounded on oo/w, wide on ee, open on a; the loudness as "
             "their gain) or energy (the opening from the speech-band loudness, any language).  Default here: %s%s",
             audio_lipsync_resolve(NULL), phonemes_available() ? "" : " (no phoneme recogniser in this build or install)");
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "OUT", "output: .mp4 (H.264 + the driver's audio), .gif, or a folder of PNGs; "
                                                    ".png or .jpg with a still driver", 0, 0},
        {"driving", 'd', OPT_STRING, &driving, "VIDEO|IMAGE", "driving video, or an image: its expression and pose (against "
                                                              "a neutral face) as a still (-o .png/.jpg) or a 1 s video", 0, 0},
        {"motion", 'm', OPT_STRING, &motion, "NAME|FILE", "built-in motion (talk, blink, nod, smile, surprise) or a .json template", 0, 0},
        {"audio", 'a', OPT_STRING, &audio, "SPEECH", "a speech recording (any file FFmpeg reads; a video's audio track; at "
                                                    "most 10 minutes): the output lasts as long as it and carries it, the "
                                                    "mouth follows it; the rest from --motion (default talk, which rests in "
                                                    "pauses and nods on strong onsets)", 0, 0},
        {"lipsync", 0, OPT_STRING, &lipsync, "MODE", lipsync_help, 0, 0},
        {"fps", 0, OPT_FLOAT, &fps, "N", "with --audio: output frame rate (default 25)", 1, 240},
        {"compare", 0, OPT_FLAG, &compare, NULL, "write source | driver | result side by side", 0, 0},
        {"frames", 0, OPT_INT, &frames_limit, "N", "animate at most N frames (default: all)", 1, MOTION_MAX_FRAMES},
        {"size", 0, OPT_INT, &size, "N", "working resolution of the face crop (default 512)", 64, 4096},
        {"crop", 0, OPT_FLAG, &crop, NULL, "output only the face crop instead of pasting it back (warp: with the 2D warp)", 0, 0},
        {"absolute", 0, OPT_FLAG, &absolute, NULL, "use the driver's landmarks directly (aligned), not relative changes "
                                                   "(warp: with the 2D warp, as warp2d)", 0, 0},
        {"reference", 0, OPT_STRING, &reference, "first|best", "driver frame the motion is relative to (default first)", 0, 0},
        {"expression-scale", 0, OPT_FLOAT, &expression_scale, "S", "scale the expression changes (0 turns them off)", 0, 10},
        {"pose-scale", 0, OPT_FLOAT, &pose_scale, "S", "scale the head motion (0 keeps the head still)", 0, 10},
        {"eyes", 0, OPT_FLOAT, &eyes, "S", "eye-openness gain (warp): 1 blinks as the driver, 0 keeps the portrait's eyes, "
                                           "above 1 exaggerates (default 1)", 0, 3},
        {"lips", 0, OPT_FLOAT, &lips, "S", "lip-motion gain (warp): 1 as the driver (default), 0 keeps the mouth still", 0, 3},
        {"background", 0, OPT_STRING, &background, "still|move", "warp: keep the background still behind the person (default; "
                                                                 "a person matte) or let it move with the head", 0, 0},
        {"smoothing", 0, OPT_FLOAT, &smoothing, "S", "landmark smoothing strength, centred so the output does not lag "
                                                     "(0 off, default 1)", 0, 10},
        {"lookahead", 0, OPT_INT, &lookahead, "N", "driver frames the centred smoothing looks ahead (default 3)", 0, 64},
        {"no-audio", 0, OPT_FLAG, &no_audio, NULL, "do not copy the driver's audio", 0, 0},
        {"face", 0, OPT_INT, &face_index, "N", "animate the N-th largest face (default 1)", 1, MAX_FACES},
        {"duration", 0, OPT_FLOAT, &duration, "S", "length of a built-in motion in seconds (default 5, at 25 fps)", 0.04, 3600},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
        {"engine", 'e', OPT_STRING, &engine, "warp|warp2d|fsth|hybrid", "warp (default: the 3D head), warp2d (the 2D landmark warp), "
                                                                      "fsth (the few-shot network) or hybrid (warp + network)", 0, 0},
        {"model", 0, OPT_STRING, &model_path, "M.safetensors", "model for fsth / hybrid (default: the shipped models/fsth128 or hybrid128); "
                                                               "a fine-tuned person file renders its person", 0, 0},
        {"keep-partial", 0, OPT_FLAG, &keep_partial, NULL, "on Ctrl-C / SIGTERM keep the frames made so far as a shorter "
                                                           "valid output (default: remove it); exit code 130 either way", 0, 0},
        {"verbose", 'v', OPT_FLAG, &verbose, NULL, "say which source each frame uses, and more", 0, 0},
        {"device", 0, OPT_STRING, &device, "cpu|cuda", CLI_DEVICE_HELP " (fsth and hybrid engines)", 0, 0},
    };
    const char *positional[MAX_SOURCES];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, MAX_SOURCES, &npos,
                      "usage: vivify animate SOURCE [SOURCE...] (--driving VIDEO|IMAGE | --motion NAME|FILE | --audio SPEECH\n"
                      "                      [--motion NAME|FILE]) -o OUT\n\n"
                      "Animates a portrait with a driving video or a motion; the output keeps the portrait's\n"
                      "resolution, the driver's frame rate and audio.  A driving image gives its expression and\n"
                      "pose to the portrait: a still with -o OUT.png|OUT.jpg.  Several SOURCE images of one person:\n"
                      "each frame uses the one closest to the target (warp), or they are the K shots of the\n"
                      "person (fsth, hybrid); the output takes the first one's size.  --audio SPEECH: the portrait\n"
                      "says it (--lipsync: mouth shapes from recognised phonemes, or the opening from the loudness).");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if ((r = cli_device_use(device))) return r;
    if (npos < 1) {
        fprintf(stderr, "vivify: animate needs a SOURCE image (see vivify animate --help)\n");
        return EXIT_USAGE;
    }
    if (driving && motion) {
        fprintf(stderr, "vivify: animate takes --driving VIDEO or --motion NAME|FILE, not both\n");
        return EXIT_USAGE;
    }
    if (audio && driving) {
        fprintf(stderr, "vivify: --audio takes --motion NAME|FILE (or nothing: talk), not --driving (a driver's own audio is copied)\n");
        return EXIT_USAGE;
    }
    if (!audio && (lipsync || fps > 0)) {
        fprintf(stderr, "vivify: --lipsync and --fps are for --audio SPEECH\n");
        return EXIT_USAGE;
    }
    if (lipsync && !audio_lipsync_resolve(lipsync)) {
        fprintf(stderr, "vivify: --lipsync must be phonemes or energy, not '%s'\n", lipsync);
        return EXIT_USAGE;
    }
    if (lipsync && !strcmp(lipsync, "phonemes")) {
        vv_status ps = phonemes_check();
        if (ps != VV_OK) return cli_fail(ps);
    }
    if (audio && duration > 0) {
        fprintf(stderr, "vivify: --duration is not for --audio (the output lasts as long as the audio)\n");
        return EXIT_USAGE;
    }
    if (!driving && !motion && !audio) {
        fprintf(stderr, "vivify: animate needs one of --driving VIDEO, --motion NAME|FILE or --audio SPEECH\n");
        return EXIT_USAGE;
    }
    if (!output) {
        fprintf(stderr, "vivify: animate needs -o OUT (.mp4, .gif or a folder)\n");
        return EXIT_USAGE;
    }
    if (duration > 0 && !audio && (driving || !motion_builtin_exists(motion))) {
        fprintf(stderr, "vivify: --duration is for the built-in motions (a driver or template has its own length)\n");
        return EXIT_USAGE;
    }
    if (strcmp(reference, "first") && strcmp(reference, "best")) {
        fprintf(stderr, "vivify: --reference must be first or best, not '%s'\n", reference);
        return EXIT_USAGE;
    }
    if (!animate_engine_known(engine)) {
        fprintf(stderr, "vivify: --engine must be warp, warp2d, fsth or hybrid, not '%s'\n", engine);
        return EXIT_USAGE;
    }
    if (strcmp(background, "still") && strcmp(background, "move")) {
        fprintf(stderr, "vivify: --background must be still or move, not '%s'\n", background);
        return EXIT_USAGE;
    }
    if (!strncmp(engine, "warp", 4) && model_path) {
        fprintf(stderr, "vivify: --model is for --engine fsth or hybrid\n");
        return EXIT_USAGE;
    }
    vv_animate_job job = {0};
    job.driving = driving;
    job.motion = motion;
    job.duration = duration > 0 ? duration : 0;
    job.max_frames = frames_limit;
    job.output = output;
    job.compare = compare;
    job.no_audio = no_audio;
    job.keep_partial = keep_partial;
    job.audio = audio;
    job.lipsync = lipsync;
    job.fps = fps;
    /* Cheap checks first (output kind, files), so a mistake costs no model loading. */
    char ext[16];
    path_extension(output, ext, sizeof ext);
    if (!strcmp(ext, "webm") || !strcmp(ext, "avi"))
        return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "-o %s: write .mp4, .gif or a folder for PNG frames", output));
    for (int i = 0; i < npos; i++)
        if (!file_exists(positional[i])) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", positional[i]));
    if (driving && !file_exists(driving)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", driving));
    bool still_driver = driving && animate_driver_is_still(driving);
    if ((!strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg")) && !still_driver)
        return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "-o %s: a still image is made from a still driver (--driving IMAGE); "
                                "for a video or a motion write .mp4, .gif or a folder for PNG frames", output));
    if (still_driver && (strcmp(reference, "first") || frames_limit > 0))
        return cli_fail(vv_fail(VV_ERR_INVALID_ARGUMENT, "--driving %s is a still image: --reference and --frames are for "
                                "a driving video", driving));
    if (motion && !motion_builtin_exists(motion)) {
        char mext[16];
        path_extension(motion, mext, sizeof mext);
        if (strcmp(mext, "json") && !file_exists(motion))
            return cli_fail(vv_fail(VV_ERR_INVALID_ARGUMENT, "unknown motion '%s' (built-in: %s, or a .json template)", motion,
                                    motion_builtin_names()));
        if (!file_exists(motion)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", motion));
    }
    if (audio) { /* read once before the models load, so a bad recording costs nothing */
        audio_envelope env;
        vv_status as = audio_envelope_read(&env, audio, fps, 0);
        audio_envelope_free(&env);
        if (as != VV_OK) return cli_fail(as);
    }

    vv_animate_params params = vv_animate_default_params();
    params.engine = engine;
    params.model = model_path;
    params.models_dir = models;
    params.face_index = face_index;
    params.crop_size = size;
    params.crop_output = crop;
    params.absolute = absolute;
    params.reference_best = !strcmp(reference, "best");
    params.expression_scale = expression_scale;
    params.pose_scale = pose_scale;
    params.smoothing = smoothing;
    params.lookahead = lookahead;
    params.eyes = eyes;
    params.lips = lips;
    params.background_move = !strcmp(background, "move");

    vv_image images[MAX_SOURCES];
    memset(images, 0, sizeof images);
    vv_status s = VV_OK;
    for (int i = 0; i < npos && s == VV_OK; i++) s = image_load(&images[i], positional[i]);
    cli_interrupt_catch(true);
    vv_animator *animator = NULL;
    if (s == VV_OK) s = vv_animator_new(&animator, images, positional, npos, &params);
    if (s == VV_OK) sources_identity_check(animator, images, positional, npos, models);
    for (int i = 0; i < npos; i++) image_free(&images[i]);
    animate_ui ui;
    memset(&ui, 0, sizeof ui);
    ui.verbose = verbose;
    vv_animate_callbacks callbacks = {ui_progress, ui_abort, ui_log, verbose, &ui};
    vv_animate_report report;
    memset(&report, 0, sizeof report);
    if (s == VV_OK && audio) /* the recognition comes before the first frame: say what runs */
        fprintf(stderr, "animate: lip-sync %s%s\n", audio_lipsync_resolve(lipsync),
                !strcmp(audio_lipsync_resolve(lipsync), "phonemes") ? " (recognising the phonemes of the recording first)" : "");
    if (s == VV_OK) s = vv_animate(animator, &job, &callbacks, &report);
    if (ui.bar_open) progress_finish(&ui.bar);
    if (s == VV_ERR_ABORTED && keep_partial && report.frames > 0)
        fprintf(stderr, "animate: interrupted; kept %ld frames in %s\n", report.frames, output);
    /* Warnings (a source animated with the 2D warp) with the result; a failure stays one line. */
    for (int i = 0; s == VV_OK && vv_animator_warning(animator, i); i++) fprintf(stderr, "%s\n", vv_animator_warning(animator, i));
    if (s == VV_OK && report.fps == 0) { /* a still driver to an image */
        fprintf(stderr, "animate: still %dx%d (the expression and pose of %s) -> %s in %.1f s\n", report.width, report.height,
                driving, output, report.seconds);
    } else if (s == VV_OK) {
        fprintf(stderr, "animate: %ld frames %dx%d at %.4g fps -> %s%s%s in %.1f s (%.1f frames/s)", report.frames,
                report.width, report.height, report.fps, output, report.audio[0] ? " with audio from " : "", report.audio,
                report.seconds, report.seconds > 0 ? report.frames / report.seconds : 0.0);
        if (audio) fprintf(stderr, "; lip-sync %s", audio_lipsync_resolve(lipsync));
        if (report.faceless_frames) fprintf(stderr, "; %ld driver frames without a face held/eased", report.faceless_frames);
        if (npos > 1) fprintf(stderr, "; %ld source switches", report.source_switches);
        if (verbose)
            fprintf(stderr, "; reference driver frame %d; wall s: source faces %.3f, mesh %.3f, matte %.3f, "
                            "tracking %.2f, decode %.2f, render %.2f, encode %.2f",
                    report.reference_frame, report.seconds_faces, report.seconds_mesh, report.seconds_matte,
                    report.seconds_tracking, report.seconds_decode, report.seconds_render, report.seconds_encode);
        fputc('\n', stderr);
    }
    vv_animator_free(animator);
    cli_interrupt_catch(false);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}

int cli_motion(int argc, char **argv) {
    const char *output = NULL, *models = NULL;
    int frames_limit = 0;
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &output, "M.json", "write the motion template here", 0, 0},
        {"frames", 0, OPT_INT, &frames_limit, "N", "at most N frames (default: all)", 1, MOTION_MAX_FRAMES},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
    };
    const char *positional[2];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 2, &npos,
                      "usage: vivify motion extract VIDEO -o M.json\n\n"
                      "Saves a driving video's motion (landmark track, fps, audio path) as a template for\n"
                      "vivify animate --motion M.json.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (npos != 2 || strcmp(positional[0], "extract")) {
        fprintf(stderr, "vivify: usage: vivify motion extract VIDEO -o M.json\n");
        return EXIT_USAGE;
    }
    if (!output) {
        fprintf(stderr, "vivify: motion extract needs -o M.json\n");
        return EXIT_USAGE;
    }
    const char *input = positional[1];
    if (!file_exists(input)) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", input));
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models;
    vv_faces *faces = NULL;
    vv_status s = vv_faces_new(&faces, &fp);
    if (s != VV_OK) return cli_fail(s);
    double start = time_now();
    motion_track track = {0};
    s = track_video(faces, input, frames_limit, &track, "motion");
    if (s == VV_OK) s = motion_save(&track, output);
    if (s == VV_OK) {
        int found = 0;
        for (int i = 0; i < track.frame_count; i++) found += track.found[i];
        fprintf(stderr, "motion: %d frames at %.4g fps, face in %d, %s%s%s -> %s in %.1f s\n", track.frame_count, track.fps,
                found, track.audio ? "audio from " : "no audio", track.audio ? input : "",
                track.audio ? " (kept relative to the template: move them together)" : "", output, time_now() - start);
    }
    motion_track_free(&track);
    vv_faces_free(faces);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
