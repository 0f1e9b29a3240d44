/* video/audio_envelope (issue 17, the energy lip-sync): on a synthetic recording whose
 * loudness is known (syllable-like bursts of a voiced buzz, a pause, noise at -70 dB), the
 * mouth is closed in the pause and at the start, open in the bursts, and its opening curve
 * peaks with the loudness (cross-correlation best at a shift of 0 frames); a silent recording
 * is flagged and leaves the mouth closed; under one frame is refused; decoding a WAV file
 * (22050 Hz stereo, resampled to mono) gives ceil(duration x fps) frames; a file without an
 * audio stream is VV_ERR_NO_VIDEO naming it; the cap on length holds.  The talk motion for
 * speech: its mouth follows the openness, its head rests in pauses and nods on an onset. */
#include "face/motion.h"
#include "face/pose.h"
#include "test.h"
#include "video/audio_envelope.h"

#include <stdint.h>

#define RATE 16000

static uint32_t noise_state = 12345;
static double noise(void) { /* uniform in [-1, 1) */
    noise_state = noise_state * 1664525u + 1013904223u;
    return (double)(noise_state >> 8) / 8388608.0 - 1;
}

/* A buzz (120 Hz pulse train's harmonics, in the speech band) under `gain`. */
static double buzz(double t) {
    double v = 0;
    for (int h = 3; h <= 20; h++) v += sin(2 * 3.14159265358979 * 120 * h * t) / h;
    return v * 0.5;
}

/* Loudness of the synthetic speech at t: syllables of 0.2 s (a sine-squared swell) in
 * [0.4, 1.6) and [2.0, 3.0); nothing else. */
static double syllable_gain(double t) {
    bool on = (t >= 0.4 && t < 1.6) || (t >= 2.0 && t < 3.0);
    if (!on) return 0;
    double phase = fmod(t - (t >= 2.0 ? 2.0 : 0.4), 0.2) / 0.2;
    double s = sin(3.14159265358979 * phase);
    return s * s;
}

/* mono in [-1, 1] as 16-bit PCM, the same on every channel */
static void write_wav(const char *path, const float *mono, int count, int rate, int channels) {
    int16_t *pcm = malloc((size_t)count * channels * sizeof *pcm);
    if (!pcm) return;
    for (int i = 0; i < count; i++)
        for (int c = 0; c < channels; c++) {
            double v = mono[i] * 32767;
            pcm[(size_t)i * channels + c] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        }
    test_write_wav(path, pcm, count, channels, rate);
    free(pcm);
}

static double correlation(const float *a, const float *b, int n, int shift) { /* a[f + shift] vs b[f] */
    double ma = 0, mb = 0, m = 0;
    for (int f = 0; f < n; f++)
        if (f + shift >= 0 && f + shift < n) { ma += a[f + shift]; mb += b[f]; m++; }
    ma /= m; mb /= m;
    double sab = 0, saa = 0, sbb = 0;
    for (int f = 0; f < n; f++)
        if (f + shift >= 0 && f + shift < n) {
            double x = a[f + shift] - ma, y = b[f] - mb;
            sab += x * y; saa += x * x; sbb += y * y;
        }
    return sab / sqrt(saa * sbb + 1e-20);
}

int main(void) {
    const double seconds = 3.3, fps = 25;
    int count = (int)(seconds * RATE);
    float *x = malloc((size_t)count * sizeof *x);
    CHECK(x != NULL);
    if (!x) return test_finish("test_speak_envelope");
    for (int i = 0; i < count; i++) {
        double t = (double)i / RATE;
        x[i] = (float)(0.3 * syllable_gain(t) * buzz(t) + 3e-4 * noise());
    }

    audio_envelope env;
    CHECK_OK(audio_envelope_compute(&env, x, count, RATE, fps));
    CHECK(env.frames == (int)ceil(seconds * fps - 1e-9));
    CHECK(!env.silent);
    /* Closed: frames wholly inside [0, 0.4) and the pause [1.6, 2.0), 80 ms in from each end. */
    float closed_max = 0, open_sum = 0;
    int open_n = 0;
    float truth[128] = {0};
    for (int f = 0; f < env.frames && f < 128; f++) {
        double t0 = f / fps, t1 = (f + 1) / fps, mid = (t0 + t1) / 2;
        truth[f] = (float)syllable_gain(mid);
        if (t1 <= 0.4 - 0.08 || (t0 >= 1.6 + 0.08 && t1 <= 2.0 - 0.08) || t0 >= 3.0 + 0.08)
            closed_max = fmaxf(closed_max, env.openness[f]);
        if (truth[f] > 0.5) {
            open_sum += env.openness[f];
            open_n++;
        }
    }
    printf("closed max %.3f, open mean %.3f over %d frames\n", closed_max, open_n ? open_sum / open_n : 0, open_n);
    CHECK_MSG(closed_max < 0.02f, "the mouth opens to %.3f in a pause", closed_max);
    CHECK_MSG(open_n > 10 && open_sum / open_n > 0.5f, "the mouth opens only %.3f on average in speech", open_sum / open_n);
    /* No lag: the best shift of the opening against the loudness is 0 frames. */
    int best = 0;
    double best_r = -2;
    for (int k = -4; k <= 4; k++) {
        double r = correlation(env.openness, truth, env.frames, k);
        printf("shift %+d: r %.3f\n", k, r);
        if (r > best_r) { best_r = r; best = k; }
    }
    CHECK_MSG(best == 0, "the opening is best aligned at a shift of %d frames (r %.3f)", best, best_r);
    CHECK(best_r > 0.8);
    /* Onsets: the strongest ones at the two phrase starts (0.4 s: frame 10, 2.0 s: frame 50). */
    CHECK(env.onset[9] + env.onset[10] + env.onset[8] > 0.45f);
    CHECK(env.onset[49] + env.onset[50] + env.onset[48] > 0.45f);
    float pause_onset = 0;
    for (int f = 41; f < 47; f++) pause_onset = fmaxf(pause_onset, env.onset[f]);
    CHECK(pause_onset < 0.1f);

    /* The talk motion follows it: frame mouths open and close with it (lower lip below the
     * upper one by the opening), and the head moves less in the pause than in speech. */
    motion_track track;
    CHECK_OK(motion_builtin_speech(&track, "talk", env.openness, NULL, NULL, env.onset, env.frames, fps));
    if (track.frame_count == env.frames) {
        float neutral[68][2];
        motion_builtin_neutral(neutral);
        double rest = neutral[66][1] - neutral[62][1], gap_open = 0, gap_closed = 0;
        for (int f = 0; f < env.frames; f++) {
            double gap = track.points[f][66][1] - track.points[f][62][1] - rest;
            if (env.openness[f] > 0.8f) gap_open = fmax(gap_open, gap);
            if (env.openness[f] == 0) gap_closed = fmax(gap_closed, gap);
        }
        CHECK_MSG(gap_open > 20 && gap_closed < 3, "inner-lip gap over the neutral %.1f px open, %.1f px closed", gap_open, gap_closed);
    }
    motion_track_free(&track);
    /* Stillness in pauses: the same talk motion with the mouth shut throughout (a long pause)
     * turns the head (yaw, roll) by under half of what it does with the mouth busy; and a
     * strong onset brings a nod (pitch down by over 1.5 degrees within 0.45 s). */
    int n = 150;
    float *busy = malloc((size_t)n * sizeof *busy), *shut = calloc((size_t)n, sizeof *shut), *kick = calloc((size_t)n, sizeof *kick);
    motion_track busy_track = {0}, shut_track = {0}, kick_track = {0};
    if (busy && shut && kick) {
        for (int f = 0; f < n; f++) busy[f] = (float)(0.5 + 0.5 * sin(f * 1.3));
        kick[100] = 1;
        CHECK_OK(motion_builtin_speech(&busy_track, "talk", busy, NULL, NULL, NULL, n, fps));
        CHECK_OK(motion_builtin_speech(&shut_track, "talk", shut, NULL, NULL, NULL, n, fps));
        CHECK_OK(motion_builtin_speech(&kick_track, "talk", shut, NULL, NULL, kick, n, fps));
    }
    if (busy_track.frame_count == n && shut_track.frame_count == n && kick_track.frame_count == n) {
        double turn_busy = 0, turn_shut = 0, nod = 0;
        for (int f = 25; f < n; f++) {
            head_pose b = head_pose_estimate((const float(*)[2])busy_track.points[f]);
            head_pose q = head_pose_estimate((const float(*)[2])shut_track.points[f]);
            turn_busy += fabs(b.yaw) + fabs(b.roll);
            turn_shut += fabs(q.yaw) + fabs(q.roll);
            if (f >= 100 && f < 112) {
                head_pose k = head_pose_estimate((const float(*)[2])kick_track.points[f]);
                nod = fmax(nod, k.pitch - q.pitch);
            }
        }
        printf("head turn: %.1f busy, %.1f in a pause; nod %.2f degrees\n", turn_busy / (n - 25), turn_shut / (n - 25), nod);
        CHECK_MSG(turn_shut < 0.5 * turn_busy, "the head turns %.2f in a pause, %.2f in speech", turn_shut, turn_busy);
        CHECK_MSG(nod > 1.5 && nod < 4, "the nod after a strong onset is %.2f degrees", nod);
    }
    motion_track_free(&busy_track);
    motion_track_free(&shut_track);
    motion_track_free(&kick_track);
    free(busy);
    free(shut);
    free(kick);
    audio_envelope_free(&env);

    /* Silence (noise at -80 dB): flagged, closed. */
    float *quiet = malloc((size_t)count * sizeof *quiet);
    for (int i = 0; quiet && i < count; i++) quiet[i] = (float)(1e-4 * noise());
    CHECK_OK(audio_envelope_compute(&env, quiet, count, RATE, fps));
    CHECK(env.silent);
    float quiet_max = 0;
    for (int f = 0; f < env.frames; f++) quiet_max = fmaxf(quiet_max, env.openness[f]);
    CHECK(quiet_max == 0);
    audio_envelope_free(&env);

    /* Under one frame: refused. */
    CHECK(audio_envelope_compute(&env, x, RATE / 30, RATE, fps) == VV_ERR_INVALID_ARGUMENT);
    CHECK(audio_envelope_compute(&env, x, RATE / 25, RATE, fps) == VV_OK); /* exactly one frame */
    CHECK(env.frames == 1);
    audio_envelope_free(&env);

    /* A file: 22050 Hz stereo WAV, decoded, downmixed and resampled. */
    char dir[4096], wav[4200];
    snprintf(dir, sizeof dir, "%s", test_tmp_dir("test_speak_envelope"));
    snprintf(wav, sizeof wav, "%s/speech.wav", dir);
    int rate2 = 22050, count2 = (int)(seconds * rate2);
    float *y = malloc((size_t)count2 * sizeof *y);
    for (int i = 0; y && i < count2; i++) {
        double t = (double)i / rate2;
        y[i] = (float)(0.3 * syllable_gain(t) * buzz(t) + 3e-4 * noise());
    }
    if (y) write_wav(wav, y, count2, rate2, 2);
    CHECK_OK(audio_envelope_read(&env, wav, fps, 0));
    CHECK(env.frames == (int)ceil((double)count2 / rate2 * fps - 1e-6));
    CHECK(env.sample_rate == rate2);
    CHECK_NEAR(env.seconds, (double)count2 / rate2, 0.002);
    float file_pause = 0;
    for (int f = 43; f <= 45; f++) file_pause = fmaxf(file_pause, env.openness[f]);
    CHECK(file_pause < 0.02f);
    audio_envelope_free(&env);
    /* The cap: this 3.3 s file is over a 2 s cap. */
    CHECK(audio_envelope_read(&env, wav, fps, 2.0) == VV_ERR_TOO_LARGE);
    CHECK(strstr(vv_last_error(), "speech.wav") != NULL);
    /* No audio stream: the portrait itself. */
    CHECK(audio_envelope_read(&env, VV_SOURCE_DIR "/examples/mona_lisa.png", fps, 0) == VV_ERR_NO_VIDEO);
    CHECK(strstr(vv_last_error(), "mona_lisa.png") != NULL);
    CHECK(audio_envelope_read(&env, "/nonexistent/speech.wav", fps, 0) == VV_ERR_NOT_FOUND);

    free(x);
    free(quiet);
    free(y);
    return test_finish("test_speak_envelope");
}
