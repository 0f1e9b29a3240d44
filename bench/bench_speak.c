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
 * Usage: bench_speak phonemes|energy BASE... */
#include "video/audio_envelope.h"
#include "video/visemes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOLERANCE 0.04 /* seconds */
#define FPS 25.0

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

int main(int argc, char **argv) {
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
        double c0 = cpu_seconds();
        if (audio_envelope_read_lipsync(&env, wav, FPS, 0, mode) != VV_OK) {
            fprintf(stderr, "bench_speak: %s\n", vv_last_error());
            return 1;
        }
        cpu += cpu_seconds() - c0;
        if (audio_envelope_read_lipsync(&energy, wav, FPS, 0, "energy") != VV_OK || energy.frames != env.frames) {
            fprintf(stderr, "bench_speak: %s\n", vv_last_error());
            return 1;
        }
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
