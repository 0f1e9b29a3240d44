/* bench_speak: the lip-sync against espeak-ng's own phoneme times (docs/SPEAK.md), on clips
 * made by scripts/speak_corpus.py (BASE.wav + BASE.phones).  For each clip the recording goes
 * through the animate path (audio_envelope_read_lipsync at 25 fps) and is compared with the
 * espeak-ng phonemes:
 *   recogniser recall     espeak-ng m/b/p with a recognised M/B/P overlapping it within 40 ms
 *   recogniser precision  recognised M/B/P with an espeak-ng m/b/p within 40 ms (and, looser,
 *                         any labial: m/b/p/f/v)
 *   closed at m/b/p       a frame whose middle is within 40 ms of the m/b/p with openness < 0.05
 *   closed elsewhere      speech frames (the energy openness > 0.2) closed with no labial
 *                         within 40 ms, of all speech frames
 *   pauses                espeak-ng pauses over 200 ms whose inner frames (one in from each
 *                         end) are all under 0.05
 *   long vowels           vowels of 120 ms or more (the stressed ones) opening over 0.3
 *   lag                   the shift (frames) at which the openness best correlates with the
 *                         energy lip-sync's, per clip
 * and the analysis's CPU time.  Prints one summary line.
 * Usage: bench_speak phonemes|energy BASE...
 *
 * bench_speak real phonemes|energy CLIP.mp4...: real speech, against the speaker's own mouth.
 * Each clip's audio goes through the same analysis at the clip's frame rate; its mouth is the
 * per-frame dlib landmarks in ../reference/NAME.jsonl beside the clip's folder (one JSON line
 * per frame, {"faces":[{"landmarks":[[x,y] x 68]}]}): the inner-lip gap, the mean of the
 * distances 61-67, 62-66, 63-65, over the mouth's width (48-54), then per clip from its 5th
 * (0) to its 95th percentile (1): dlib's inner lips meet on some mouths (lp_d12) and stay
 * 0.1 apart on others whose lips are shut (lp_d10, lp_d11).  A clip whose raw gap is under
 * 0.05 on half its frames is a face that does not speak (lp_d14 pulls faces over a soundtrack,
 * lp_src_s18 stands still): reported, not counted; a clip with no audio track is skipped.  Per
 * clip and summed over the speaking ones:
 *   speech frames         within 3 frames of a frame whose energy opening is over 0.2
 *   real closures         speech frames whose gap is under 0.15 (frames, and runs of them)
 *   met within a frame    our opening under 0.05 on that frame or one either side
 *   voiced frames closed  frames whose energy opening is over 0.2 and ours under 0.05, and of
 *                         them those with the real gap under 0.3 within a frame (right)
 *   r, lag                Pearson r of our opening against the real gap over the frames with
 *                         a face, at lag 0 and at the best shift k in -10..10 (ours[f + k]
 *                         against real[f]: k < 0, the real mouth follows the sound)
 *   the offset            the recordings are not in sync with their pictures (lp_d10 -3
 *                         frames, lp_d20 +7): the shift at which the energy lip-sync fits
 *                         the real gap best; closures are counted at lag 0 and at it, and
 *                         our lag is our best shift less it
 * BENCH_SPEAK_DUMP=DIR writes DIR/NAME.tsv per clip (both modes): frame, the real gap (the
 * scaled one; NAN for espeak-ng clips), ours, the energy opening, the tuck, the recognised
 * phone, the level (dB), espeak-ng's phone (- for real clips); for espeak-ng clips also
 * DIR/NAME.rec, the recognised phones after the cues (start, end, name per line). */
#include "video/audio_envelope.h"
#include "video/video.h"
#include "video/visemes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOLERANCE 0.04 /* seconds */
#define FPS 25.0
#define LAGS 10 /* real clips: the opening against the real gap shifted up to 10 frames either way */

static bool is_one_of(const char *name, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(name, *set)) return true;
    return false;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A recording's lip-sync in `mode` (its CPU added to *cpu) and its energy lip-sync, the same
 * length; false with the error printed. */
static bool read_both(const char *path, double fps, const char *mode, audio_envelope *env, audio_envelope *energy,
                      double *cpu) {
    double c0 = cpu_seconds();
    if (audio_envelope_read_lipsync(env, path, fps, 0, mode) != VV_OK) {
        fprintf(stderr, "bench_speak: %s\n", vv_last_error());
        return false;
    }
    *cpu += cpu_seconds() - c0;
    if (audio_envelope_read_lipsync(energy, path, fps, 0, "energy") != VV_OK || energy->frames != env->frames) {
        fprintf(stderr, "bench_speak: %s\n", vv_last_error());
        return false;
    }
    return true;
}

static int real_main(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "real")) return real_main(argc - 1, argv + 1);
    if (argc < 3) {
        fprintf(stderr, "usage: bench_speak phonemes|energy BASE... (BASE.wav, BASE.phones: scripts/speak_corpus.py)\n");
        return 2;
    }
    const char *mode = argv[1];
    static const char *const bilabial[] = {"m", "b", "p", NULL}, *const labial[] = {"m", "b", "p", "f", "v", NULL};
    static const char *const labiodental[] = {"f", "v", NULL};
    int total = 0, heard = 0, recognised = 0, right = 0, right_labial = 0, closed = 0, pauses = 0, pauses_closed = 0;
    int vowels = 0, vowels_open = 0, lags[7] = {0}, fv = 0, fv_heard = 0, fv_tucked = 0, fv_recognised = 0, fv_right = 0;
    long tucked_elsewhere = 0;
    long speech_frames = 0, closed_elsewhere = 0;
    double cpu = 0, seconds = 0, r_sum = 0;
    for (int a = 2; a < argc; a++) {
        char wav[1024], list[1024];
        snprintf(wav, sizeof wav, "%s.wav", argv[a]);
        snprintf(list, sizeof list, "%s.phones", argv[a]);
        static char names[1024][8];
        static double starts[1024];
        int n = 0;
        FILE *f = fopen(list, "r");
        if (!f) {
            fprintf(stderr, "bench_speak: cannot read %s\n", list);
            return 1;
        }
        while (n < 1024 && fscanf(f, "%lf %7s", &starts[n], names[n]) == 2) n++;
        fclose(f);
        audio_envelope env, energy;
        if (!read_both(wav, FPS, mode, &env, &energy, &cpu)) return 1;
        seconds += env.seconds;
        int frames = env.frames;
        const phone_segment *rec = env.phone_list;
        for (int i = 0; i < n; i++) {
            double s = starts[i], e = i + 1 < n ? starts[i + 1] : env.seconds;
            if (e <= s) continue;
            if (is_one_of(names[i], bilabial)) {
                total++;
                bool found = false, shut = false;
                for (int k = 0; k < env.phones; k++)
                    found |= viseme_of_phone(rec[k].name) == VISEME_CLOSED && rec[k].start < e + TOLERANCE && rec[k].end > s - TOLERANCE;
                for (int fr = 0; fr < frames; fr++) {
                    double t = (fr + 0.5) / FPS;
                    shut |= t >= s - TOLERANCE && t <= e + TOLERANCE && env.openness[fr] < 0.05f;
                }
                heard += found;
                closed += shut;
            } else if (is_one_of(names[i], labiodental)) {
                fv++;
                bool found = false, tucked = false;
                for (int k = 0; k < env.phones; k++)
                    found |= viseme_of_phone(rec[k].name) == VISEME_LIP_TEETH && rec[k].start < e + TOLERANCE && rec[k].end > s - TOLERANCE;
                for (int fr = 0; fr < frames && env.tuck; fr++) {
                    double t = (fr + 0.5) / FPS;
                    tucked |= t >= s - TOLERANCE && t <= e + TOLERANCE && env.tuck[fr] >= 0.5f;
                }
                fv_heard += found;
                fv_tucked += tucked;
            } else if (names[i][0] == '_' && e - s > 0.2) {
                pauses++;
                bool shut = true;
                for (int fr = 0; fr < frames; fr++)
                    if (fr / FPS >= s + 1 / FPS && (fr + 1) / FPS <= e - 1 / FPS) shut &= env.openness[fr] < 0.05f;
                pauses_closed += shut;
            } else if (strchr("aAeEiIoOuUV03@", names[i][0]) && e - s >= 0.12) {
                vowels++;
                float most = 0;
                for (int fr = 0; fr < frames; fr++)
                    if ((fr + 0.5) / FPS >= s && (fr + 0.5) / FPS < e) most = fmaxf(most, env.openness[fr]);
                vowels_open += most > 0.3f;
            }
        }
        for (int k = 0; k < env.phones; k++) {
            if (viseme_of_phone(rec[k].name) != VISEME_CLOSED) continue;
            recognised++;
            bool near = false, near_labial = false;
            for (int i = 0; i < n; i++) {
                double s = starts[i], e = i + 1 < n ? starts[i + 1] : env.seconds;
                if (!(rec[k].start < e + TOLERANCE && rec[k].end > s - TOLERANCE)) continue;
                near |= is_one_of(names[i], bilabial);
                near_labial |= is_one_of(names[i], labial);
            }
            right += near;
            right_labial += near_labial;
        }
        for (int k = 0; k < env.phones; k++) {
            if (viseme_of_phone(rec[k].name) != VISEME_LIP_TEETH) continue;
            fv_recognised++;
            bool near = false;
            for (int i = 0; i < n; i++) {
                double s = starts[i], e = i + 1 < n ? starts[i + 1] : env.seconds;
                near |= is_one_of(names[i], labiodental) && rec[k].start < e + TOLERANCE && rec[k].end > s - TOLERANCE;
            }
            fv_right += near;
        }
        for (int fr = 0; fr < frames && env.tuck; fr++) {
            if (energy.openness[fr] <= 0.0f || env.tuck[fr] < 0.5f) continue;
            double t = (fr + 0.5) / FPS;
            bool near = false;
            for (int i = 0; i < n; i++) {
                double s = starts[i], e = i + 1 < n ? starts[i + 1] : env.seconds;
                near |= is_one_of(names[i], labiodental) && t >= s - TOLERANCE && t <= e + TOLERANCE;
            }
            tucked_elsewhere += !near;
        }
        for (int fr = 0; fr < frames; fr++) {
            if (energy.openness[fr] <= 0.2f) continue;
            speech_frames++;
            if (env.openness[fr] >= 0.05f) continue;
            double t = (fr + 0.5) / FPS;
            bool near = false;
            for (int i = 0; i < n; i++) {
                double s = starts[i], e = i + 1 < n ? starts[i + 1] : env.seconds;
                near |= is_one_of(names[i], labial) && t >= s - TOLERANCE && t <= e + TOLERANCE;
            }
            closed_elsewhere += !near;
        }
        double best = -2;
        int best_shift = 0;
        for (int k = -3; k <= 3; k++) { /* env.openness[f + k] against energy.openness[f] */
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            int m = 0;
            for (int fr = 0; fr < frames; fr++) {
                if (fr + k < 0 || fr + k >= frames) continue;
                double x = env.openness[fr + k], y = energy.openness[fr];
                sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
                m++;
            }
            double r = m > 1 ? (sab - sa * sb / m) / sqrt((saa - sa * sa / m) * (sbb - sb * sb / m) + 1e-20) : 0;
            if (r > best) {
                best = r;
                best_shift = k;
            }
        }
        const char *dump = getenv("BENCH_SPEAK_DUMP");
        if (dump) {
            char path[2048];
            const char *slash = strrchr(argv[a], '/');
            snprintf(path, sizeof path, "%s/%s.tsv", dump, slash ? slash + 1 : argv[a]);
            FILE *o = fopen(path, "w");
            for (int fr = 0; o && fr < frames; fr++) {
                double t = (fr + 0.5) / FPS;
                const char *ph = "-", *truth = "-";
                for (int k = 0; k < env.phones; k++)
                    if (rec[k].start <= t && rec[k].end > t) ph = rec[k].name;
                for (int i = 0; i < n; i++)
                    if (starts[i] <= t) truth = names[i];
                fprintf(o, "%d\tnan\t%.4f\t%.4f\t%.3f\t%s\t%.1f\t%s\n", fr, env.openness[fr], energy.openness[fr],
                        env.tuck ? env.tuck[fr] : 0.0f, ph, energy.level_db[fr], truth);
            }
            if (o) fclose(o);
            snprintf(path, sizeof path, "%s/%s.rec", dump, slash ? slash + 1 : argv[a]);
            o = fopen(path, "w");
            for (int k = 0; o && k < env.phones; k++) fprintf(o, "%.3f\t%.3f\t%s\n", rec[k].start, rec[k].end, rec[k].name);
            if (o) fclose(o);
        }
        lags[best_shift + 3]++;
        r_sum += best;
        audio_envelope_free(&env);
        audio_envelope_free(&energy);
    }
    int clips = argc - 2;
    printf("bench_speak %s: %d clips, %.1f s; recogniser m/b/p recall %d/%d = %.3f, precision %d/%d = %.3f (any labial %.3f); "
           "the mouth closed within 40 ms of m/b/p %d/%d = %.3f; speech frames closed away from labials %ld/%ld = %.3f; "
           "pauses over 200 ms closed %d/%d; long vowels open over 0.3 %d/%d; best lag vs energy (frames -3..3) %d %d %d %d %d "
           "%d %d, mean r %.3f; analysis CPU %.2f s (%.3f s per s of audio)\n",
           mode, clips, seconds, heard, total, total ? (double)heard / total : 0, right, recognised,
           recognised ? (double)right / recognised : 0, recognised ? (double)right_labial / recognised : 0, closed, total,
           total ? (double)closed / total : 0, closed_elsewhere, speech_frames,
           speech_frames ? (double)closed_elsewhere / speech_frames : 0, pauses_closed, pauses, vowels_open, vowels, lags[0],
           lags[1], lags[2], lags[3], lags[4], lags[5], lags[6], r_sum / clips, cpu, seconds > 0 ? cpu / seconds : 0);
    printf("bench_speak %s f/v: recognised F/V within 40 ms %d/%d = %.3f, precision %d/%d = %.3f; the lip tuck over 0.5 within 40 ms "
           "%d/%d = %.3f; frames tucked over 0.5 away from f/v %ld\n",
           mode, fv_heard, fv, fv ? (double)fv_heard / fv : 0, fv_right, fv_recognised,
           fv_recognised ? (double)fv_right / fv_recognised : 0, fv_tucked, fv, fv ? (double)fv_tucked / fv : 0, tucked_elsewhere);
    return 0;
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* One clip's reference mouth: the inner-lip gap per frame, NAN where no face. */
static float *read_gaps(const char *clip, int *count) {
    char path[2048];
    const char *slash = strrchr(clip, '/');
    const char *name = slash ? slash + 1 : clip;
    int dir = slash ? (int)(slash - clip) : 0;
    int stem = (int)strcspn(name, ".");
    snprintf(path, sizeof path, "%.*s%s../reference/%.*s.jsonl", dir, clip, dir ? "/" : "", stem, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_speak: cannot read %s\n", path);
        return NULL;
    }
    float *gaps = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t size = 0;
    while (getline(&line, &size, f) > 0) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            gaps = realloc(gaps, (size_t)cap * sizeof *gaps);
        }
        gaps[n] = NAN;
        char *p = strstr(line, "\"landmarks\"");
        double pt[68][2];
        int k = 0;
        if (p) {
            p = strchr(p, '[');
            while (p && *p && k < 136) {
                while (*p && (*p == '[' || *p == ']' || *p == ',' || *p == ' ')) p++;
                char *end;
                double v = strtod(p, &end);
                if (end == p) break;
                pt[k / 2][k % 2] = v;
                k++;
                p = end;
            }
        }
        if (k == 136) {
            double width = hypot(pt[54][0] - pt[48][0], pt[54][1] - pt[48][1]), gap = 0;
            static const int pairs[3][2] = {{61, 67}, {62, 66}, {63, 65}};
            for (int i = 0; i < 3; i++)
                gap += hypot(pt[pairs[i][0]][0] - pt[pairs[i][1]][0], pt[pairs[i][0]][1] - pt[pairs[i][1]][1]) / 3;
            if (width > 1) gaps[n] = (float)(gap / width);
        }
        n++;
    }
    free(line);
    fclose(f);
    *count = n;
    return gaps;
}

static double pearson(const float *ours, const float *real, int frames, int k) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    int m = 0;
    for (int fr = 0; fr < frames; fr++) {
        if (fr + k < 0 || fr + k >= frames || isnan(real[fr])) continue;
        double x = ours[fr + k], y = real[fr];
        sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
        m++;
    }
    return m > 1 ? (sab - sa * sb / m) / sqrt((saa - sa * sa / m) * (sbb - sb * sb / m) + 1e-20) : 0;
}

typedef struct real_counts {
    long closed, met, runs, runs_met, ours, ours_near;
} real_counts;

static void counts_add(real_counts *to, const real_counts *c) {
    to->closed += c->closed, to->met += c->met, to->runs += c->runs;
    to->runs_met += c->runs_met, to->ours += c->ours, to->ours_near += c->ours_near;
}

/* Real closures (speech frames with the gap under 0.15) and whether ours is closed (under
 * 0.05) within a frame, our frame f + shift against the real frame f; ours closed on voiced
 * frames and whether the real gap is under 0.3 within a frame there (frames whose
 * counterparts the shift puts outside the clip are not counted). */
static real_counts real_closures(const float *ours, const float *energy, const float *real, const bool *speech, int frames,
                                 int shift) {
    real_counts c = {0};
    bool run_open = false, run_met = false;
    for (int fr = 0; fr <= frames; fr++) {
        bool inside = fr + shift - 1 >= 0 && fr + shift + 1 < frames; /* ours there to compare */
        bool shut = fr < frames && inside && speech[fr] && !isnan(real[fr]) && real[fr] < 0.15f;
        bool near_ours = false;
        for (int k = -1; k <= 1 && fr < frames; k++)
            near_ours |= fr + shift + k >= 0 && fr + shift + k < frames && ours[fr + shift + k] < 0.05f;
        if (shut) {
            c.closed++;
            c.met += near_ours;
            if (!run_open) c.runs++, run_met = false;
            run_open = true;
            run_met |= near_ours;
        } else if (run_open) {
            c.runs_met += run_met;
            run_open = false;
        }
        if (fr < frames && fr - shift - 1 >= 0 && fr - shift + 1 < frames && energy[fr] > 0.2f && ours[fr] < 0.05f) {
            bool near_real = false;
            for (int k = -1; k <= 1; k++)
                near_real |= fr - shift + k >= 0 && fr - shift + k < frames && !isnan(real[fr - shift + k]) &&
                             real[fr - shift + k] < 0.3f;
            c.ours++;
            c.ours_near += near_real;
        }
    }
    return c;
}

static int real_main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_speak real phonemes|energy CLIP.mp4... (landmarks in CLIP's ../reference/NAME.jsonl)\n");
        return 2;
    }
    const char *mode = argv[1], *dump = getenv("BENCH_SPEAK_DUMP");
    real_counts all = {0}, all_shifted = {0};
    long all_speech = 0;
    int with_speech = 0, no_audio = 0, lags[2 * LAGS + 1] = {0};
    double r0_sum = 0, rbest_sum = 0, r_offset_sum = 0, cpu = 0, seconds = 0;
    for (int a = 2; a < argc; a++) {
        const char *clip = argv[a];
        video_reader *reader;
        if (video_reader_open(&reader, clip) != VV_OK) {
            fprintf(stderr, "bench_speak: %s\n", vv_last_error());
            return 1;
        }
        double fps = video_reader_info(reader)->fps;
        bool has_audio = video_reader_info(reader)->has_audio;
        video_reader_close(reader);
        if (!has_audio) {
            no_audio++;
            continue;
        }
        int count = 0;
        float *real = read_gaps(clip, &count);
        if (!real) return 1;
        float *sorted = malloc((size_t)count * sizeof *sorted), lo = 0, hi = 0, median = 0;
        int faces = 0;
        for (int fr = 0; fr < count; fr++)
            if (!isnan(real[fr])) sorted[faces++] = real[fr];
        if (faces > 0) {
            qsort(sorted, (size_t)faces, sizeof *sorted, compare_float);
            lo = sorted[(int)(0.05 * (faces - 1))];
            hi = sorted[(int)(0.95 * (faces - 1))];
            median = sorted[(faces - 1) / 2];
        }
        free(sorted);
        for (int fr = 0; fr < count && hi > lo; fr++) real[fr] = (real[fr] - lo) / (hi - lo);
        audio_envelope env, energy;
        if (!read_both(clip, fps, mode, &env, &energy, &cpu)) return 1;
        seconds += env.seconds;
        int frames = env.frames < count ? env.frames : count;
        bool *speech = calloc((size_t)frames + 1, 1);
        long speech_frames = 0;
        for (int fr = 0; fr < frames; fr++) {
            for (int k = -3; k <= 3; k++)
                speech[fr] |= fr + k >= 0 && fr + k < frames && energy.openness[fr + k] > 0.2f;
            speech_frames += speech[fr];
        }
        const char *slash = strrchr(clip, '/');
        const char *name = slash ? slash + 1 : clip;
        if (env.silent || speech_frames < fps || median < 0.05f) { /* under a second of speech: nothing to measure */
            printf("  %-14s %5.1f s at %g fps: %s\n", name, env.seconds, fps,
                   env.silent ? "silent" : speech_frames < fps ? "no speech heard" : "sound, but the face does not speak");
            free(speech);
            free(real);
            audio_envelope_free(&env);
            audio_envelope_free(&energy);
            continue;
        }
        with_speech++;
        int offset = 0; /* the recording's own offset: where the energy lip-sync fits the real mouth best */
        double offset_r = -2;
        for (int k = -LAGS; k <= LAGS; k++) {
            double r = pearson(energy.openness, real, frames, k);
            if (r > offset_r) offset_r = r, offset = k;
        }
        real_counts at0 = real_closures(env.openness, energy.openness, real, speech, frames, 0);
        real_counts shifted = real_closures(env.openness, energy.openness, real, speech, frames, offset);
        double r0 = pearson(env.openness, real, frames, 0), best = -2;
        int best_k = 0;
        for (int k = -LAGS; k <= LAGS; k++) {
            double r = pearson(env.openness, real, frames, k);
            if (r > best) best = r, best_k = k;
        }
        lags[best_k - offset + LAGS < 0 ? 0 : best_k - offset > LAGS ? 2 * LAGS : best_k - offset + LAGS]++;
        r0_sum += r0;
        rbest_sum += best;
        r_offset_sum += pearson(env.openness, real, frames, offset);
        printf("  %-14s %5.1f s at %g fps, %ld speech frames: real closures met within a frame %ld/%ld (runs %ld/%ld), "
               "at the recording's offset %+d %ld/%ld (runs %ld/%ld); voiced frames closed %ld, right %ld (at the offset %ld/%ld); r "
               "%.3f at "
               "lag 0, %.3f at %+d\n",
               name, env.seconds, fps, speech_frames, at0.met, at0.closed, at0.runs_met, at0.runs, offset, shifted.met,
               shifted.closed, shifted.runs_met, shifted.runs, at0.ours, at0.ours_near, shifted.ours_near, shifted.ours, r0, best,
               best_k);
        counts_add(&all, &at0);
        counts_add(&all_shifted, &shifted);
        all_speech += speech_frames;
        if (dump) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%.*s.tsv", dump, (int)strcspn(name, "."), name);
            FILE *o = fopen(path, "w");
            for (int fr = 0; o && fr < frames; fr++) {
                double t = (fr + 0.5) / fps;
                const char *ph = "-";
                for (int k = 0; k < env.phones; k++)
                    if (env.phone_list[k].start <= t && env.phone_list[k].end > t) ph = env.phone_list[k].name;
                fprintf(o, "%d\t%.4f\t%.4f\t%.4f\t%.3f\t%s\t%.1f\t-\n", fr, real[fr], env.openness[fr], energy.openness[fr],
                        env.tuck ? env.tuck[fr] : 0.0f, ph, energy.level_db[fr]);
            }
            if (o) fclose(o);
        }
        free(speech);
        free(real);
        audio_envelope_free(&env);
        audio_envelope_free(&energy);
    }
    printf("bench_speak real %s: %d clips, %d with audio, %d with a speaking face, %.1f s, %ld speech frames; real closures met within a "
           "frame %ld/%ld = %.3f (runs %ld/%ld = %.3f), at each recording's offset %ld/%ld = %.3f (runs %ld/%ld = %.3f); "
           "voiced frames closed %ld, on a real near-closure %ld = %.3f (at the offset %ld/%ld = %.3f); mean r %.3f at lag 0, %.3f at the "
           "offset, %.3f at the best lag; analysis CPU %.2f s (%.3f s per s)\n",
           mode, argc - 2, argc - 2 - no_audio, with_speech, seconds, all_speech, all.met, all.closed, all.closed ? (double)all.met / all.closed : 0,
           all.runs_met, all.runs, all.runs ? (double)all.runs_met / all.runs : 0, all_shifted.met, all_shifted.closed,
           all_shifted.closed ? (double)all_shifted.met / all_shifted.closed : 0, all_shifted.runs_met, all_shifted.runs,
           all_shifted.runs ? (double)all_shifted.runs_met / all_shifted.runs : 0, all.ours, all.ours_near,
           all.ours ? (double)all.ours_near / all.ours : 0, all_shifted.ours_near, all_shifted.ours,
           all_shifted.ours ? (double)all_shifted.ours_near / all_shifted.ours : 0, with_speech ? r0_sum / with_speech : 0,
           with_speech ? r_offset_sum / with_speech : 0, with_speech ? rbest_sum / with_speech : 0, cpu,
           seconds > 0 ? cpu / seconds : 0);
    printf("bench_speak real %s lag (frames: where ours fits the real gap best, less the recording's offset):", mode);
    for (int k = 0; k <= 2 * LAGS; k++)
        if (lags[k]) printf(" %+d x%d", k - LAGS, lags[k]);
    printf("\n");
    return 0;
}
