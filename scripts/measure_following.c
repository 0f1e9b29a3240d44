/* measure_following: does an animated portrait follow its driver?  Prints lag, mouth,
 * blink, head-pose and jitter following (eval/motion_metrics.h) of OUTPUT against DRIVER
 * as one JSON object.
 *
 *   measure_following OUTPUT.json DRIVER.json [--max-shift N] [--delay K] [--signals OUT.tsv]
 *
 * OUTPUT and DRIVER: `vivify landmarks VIDEO -o X.json` files, or dlib reference
 * .jsonl files (../shared/data/reference/CLIP.jsonl; chosen by the .jsonl extension).
 * Use `vivify landmarks --smooth 0` for both or neither: the tracker's smoothing delays
 * fast motion by about a frame, which would otherwise show as lag.
 * --max-shift N: lags searched, -N..N frames (default 6).
 * --delay K: delays OUTPUT by K frames first (repeats its first frame; K < 0 drops
 *   frames): a check that the reported lag moves by K.
 * --signals F: writes the per-frame signals of both sequences as a TSV (for plots).
 *
 * Build (from the repository root, against a release build of the library):
 *   cmake -S . -B build-mm-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-mm-rel --target vivify
 *   gcc -O2 -std=c11 -Isrc -Iinclude scripts/measure_following.c build-mm-rel/libvivify.a \
 *       $(pkg-config --libs libavformat libavcodec libswscale libavutil libswresample libpng \
 *       libturbojpeg libcjson openblas libmicrohttpd) -lpthread -lm -o /tmp/measure_following
 * Exit codes: 0 measured, 1 error (message on stderr), 2 usage. */
#include "eval/motion_metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vv_status load(landmark_sequence *seq, const char *path) {
    size_t n = strlen(path);
    bool lines = n > 6 && !strcmp(path + n - 6, ".jsonl");
    return lines ? landmark_sequence_load_jsonl(seq, path) : landmark_sequence_load(seq, path);
}

/* Delays seq by k frames in place of a copy: k > 0 repeats the first frame k times. */
static int delay(landmark_sequence *seq, int k) {
    if (k == 0) return 0;
    if (k < 0) {
        if (-k >= seq->count) return -1;
        memmove(seq->points, seq->points - k, (size_t)(seq->count + k) * sizeof *seq->points);
        memmove(seq->valid, seq->valid - k, (size_t)(seq->count + k));
        seq->count += k;
        return 0;
    }
    float (*points)[68][2] = malloc((size_t)(seq->count + k) * sizeof *points);
    uint8_t *valid = malloc((size_t)(seq->count + k));
    if (!points || !valid) {
        free(points), free(valid);
        return -1;
    }
    for (int t = 0; t < seq->count + k; t++) {
        int from = t < k ? 0 : t - k;
        memcpy(points[t], seq->points[from], sizeof points[t]);
        valid[t] = seq->valid[from];
    }
    free(seq->points), free(seq->valid);
    seq->points = points, seq->valid = valid;
    seq->count += k;
    return 0;
}

static void add_number(cJSON *object, const char *name, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(object, name, round(v * 1e4) / 1e4);
    else cJSON_AddNullToObject(object, name);
}

static int write_signals(const char *path, const landmark_sequence *a, const landmark_sequence *b) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("frame", f);
    for (int side = 0; side < 2; side++)
        for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++)
            fprintf(f, "\t%s_%s", side ? "driver" : "output", follow_signal_name((follow_signal)j));
    fputc('\n', f);
    int n = a->count > b->count ? a->count : b->count;
    for (int t = 0; t < n; t++) {
        fprintf(f, "%d", t);
        for (int side = 0; side < 2; side++) {
            const landmark_sequence *s = side ? b : a;
            float v[FOLLOW_SIGNAL_COUNT];
            for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) v[j] = NAN;
            if (t < s->count && s->valid[t]) follow_signals_all((const float(*)[2])s->points[t], v);
            for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++) {
                if (isfinite(v[j])) fprintf(f, "\t%.5f", v[j]);
                else fputs("\t", f);
            }
        }
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *signals = NULL;
    int max_shift = 6, delay_frames = 0, npaths = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-shift") && i + 1 < argc) max_shift = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--delay") && i + 1 < argc) delay_frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--signals") && i + 1 < argc) signals = argv[++i];
        else if (argv[i][0] != '-' && npaths < 2) paths[npaths++] = argv[i];
        else npaths = 3;
    }
    if (npaths != 2 || max_shift < 0 || max_shift > FOLLOW_MAX_SHIFT || abs(delay_frames) > 1000) {
        fprintf(stderr, "usage: measure_following OUTPUT.json DRIVER.json [--max-shift N (0..%d)] [--delay K] "
                        "[--signals OUT.tsv]\n", FOLLOW_MAX_SHIFT);
        return 2;
    }
    landmark_sequence a, b;
    vv_status s = load(&a, paths[0]);
    if (s != VV_OK) {
        fprintf(stderr, "measure_following: %s\n", vv_last_error());
        return 1;
    }
    s = load(&b, paths[1]);
    if (s != VV_OK) {
        fprintf(stderr, "measure_following: %s\n", vv_last_error());
        landmark_sequence_free(&a);
        return 1;
    }
    if (delay(&a, delay_frames) != 0) {
        fprintf(stderr, "measure_following: cannot delay %s by %d frames\n", paths[0], delay_frames);
        landmark_sequence_free(&a), landmark_sequence_free(&b);
        return 1;
    }
    follow_metrics m;
    s = follow_measure((const float(*)[68][2])a.points, a.valid, a.count, (const float(*)[68][2])b.points, b.valid,
                       b.count, max_shift, &m);
    if (s != VV_OK) {
        fprintf(stderr, "measure_following: %s\n", vv_last_error());
        landmark_sequence_free(&a), landmark_sequence_free(&b);
        return 1;
    }
    if (signals && write_signals(signals, &a, &b) != 0)
        fprintf(stderr, "measure_following: cannot write %s\n", signals);

    int a_valid = 0, b_valid = 0;
    for (int t = 0; t < a.count; t++) a_valid += a.valid[t];
    for (int t = 0; t < b.count; t++) b_valid += b.valid[t];
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "output", paths[0]);
    cJSON_AddStringToObject(root, "driver", paths[1]);
    cJSON_AddNumberToObject(root, "output_frames", a.count);
    cJSON_AddNumberToObject(root, "output_faces", a_valid);
    cJSON_AddNumberToObject(root, "driver_frames", b.count);
    cJSON_AddNumberToObject(root, "driver_faces", b_valid);
    cJSON_AddNumberToObject(root, "frames_compared", m.frames);
    cJSON_AddNumberToObject(root, "delay_applied", delay_frames);
    cJSON *lag = cJSON_AddObjectToObject(root, "lag");
    cJSON_AddNumberToObject(lag, "max_shift", max_shift);
    if (m.signals_used) cJSON_AddNumberToObject(lag, "frames", m.lag_frames);
    else cJSON_AddNullToObject(lag, "frames");
    add_number(lag, "subframe", m.lag_subframe);
    add_number(lag, "confidence", m.lag_confidence);
    add_number(lag, "margin", m.lag_margin);
    cJSON *weights = cJSON_AddObjectToObject(lag, "signal_weights");
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++)
        add_number(weights, follow_signal_name((follow_signal)j), m.signal_weight[j]);
    add_number(root, "mouth_correlation", m.mouth_correlation);
    cJSON *blink = cJSON_AddObjectToObject(root, "blinks");
    cJSON_AddNumberToObject(blink, "count", m.blinks);
    add_number(blink, "closure_driver", m.blink_closure_driver);
    add_number(blink, "closure_output", m.blink_closure_output);
    add_number(blink, "gap_ear", m.blink_gap);
    cJSON *pose = cJSON_AddObjectToObject(root, "pose");
    add_number(pose, "yaw_correlation", m.yaw_correlation);
    add_number(pose, "pitch_correlation", m.pitch_correlation);
    add_number(pose, "roll_correlation", m.roll_correlation);
    add_number(pose, "yaw_range_ratio", m.yaw_range_ratio);
    add_number(pose, "pitch_range_ratio", m.pitch_range_ratio);
    add_number(pose, "roll_range_ratio", m.roll_range_ratio);
    cJSON *jitter = cJSON_AddObjectToObject(root, "jitter");
    cJSON_AddNumberToObject(jitter, "still_frames", m.still_frames);
    add_number(jitter, "ratio", m.jitter_ratio);
    add_number(jitter, "driver", m.jitter_driver);
    add_number(jitter, "output", m.jitter_output);
    char *text = cJSON_Print(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
    landmark_sequence_free(&a), landmark_sequence_free(&b);
    return text ? 0 : 1;
}
