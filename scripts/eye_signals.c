/* eye_signals: a driver's eye signals per frame, and its blinks as `vivify eval` counts
 * them, to see whether the openness the 3D head is given reaches 0 on real blinks.
 *
 *   eye_signals VIDEO [--frames N] [--first F] [--last L]
 *
 * Tracks VIDEO as animate and eval do (raw dlib landmarks, tracking_collect), smooths the
 * track as animate does (animate_smooth_track), and prints a TSV, one row per frame:
 * t, the eye aspect ratio of the right and left eye (dlib 36-41, 42-47), and
 * motion_eye_openness against the first face, of the raw and of the smoothed landmarks
 * (what animator_render hands head3d).  Then, to stderr, the blinks of frames F..L (eval's
 * following stretch of a K = 1 series is frames 1..250): runs of frames whose mean EAR is
 * under 0.6 of its open level (the median of the top half), gaps of up to 2 frames
 * bridged, each at its minimum, with the openness minima within +-2 frames of it.
 *
 * Build (after a release build of the library in DIR) and run from the source root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *      scripts/eye_signals.c DIR/libvivify.a $(pkg-config --libs libavformat libavcodec \
 *      libswscale libavutil libswresample libpng libturbojpeg libcjson openblas \
 *      libmicrohttpd pocketsphinx) -lm -lpthread -ldl -o /tmp/eye_signals
 *   /tmp/eye_signals ../shared/data/train/lp_d3.mp4 --frames 260 > lp_d3.tsv
 * Exit codes: 0 done, 1 error (message on stderr), 2 usage. */
#include "animate/animate.h"
#include "animate/tracking.h"
#include "face/faces.h"
#include "face/motion.h"
#include "vivify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *path = NULL;
    long frames = 0, first = 1, last = 250;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames = atol(argv[++i]);
        else if (!strcmp(argv[i], "--first") && i + 1 < argc) first = atol(argv[++i]);
        else if (!strcmp(argv[i], "--last") && i + 1 < argc) last = atol(argv[++i]);
        else if (!path && argv[i][0] != '-') path = argv[i];
        else {
            fprintf(stderr, "usage: eye_signals VIDEO [--frames N] [--first F] [--last L]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: eye_signals VIDEO [--frames N] [--first F] [--last L]\n");
        return 2;
    }
    vv_faces *faces = NULL;
    vv_faces_params fp = vv_faces_default_params();
    motion_track track;
    smoothed_track smooth;
    vv_animate_params ap = vv_animate_default_params();
    if (vv_faces_new(&faces, &fp) != VV_OK ||
        tracking_collect(faces, NULL, path, frames, NULL, NULL, NULL, NULL, &track) != VV_OK ||
        animate_smooth_track(&track, &ap, &smooth) != VV_OK) {
        fprintf(stderr, "eye_signals: %s\n", vv_last_error());
        return 1;
    }
    int n = track.frame_count, ref = motion_first_found(&track);
    if (ref < 0) {
        fprintf(stderr, "eye_signals: no face in %s\n", path);
        return 1;
    }
    float (*row)[6] = malloc((size_t)n * sizeof *row), *sorted = malloc((size_t)n * sizeof *sorted);
    if (!row || !sorted) return 1;
    printf("t\tear_r\tear_l\topen_r\topen_l\tsmooth_open_r\tsmooth_open_l\n");
    for (int t = 0; t < n; t++) {
        for (int k = 0; k < 6; k++) row[t][k] = NAN;
        if (track.found[t]) {
            const float(*p)[2] = (const float(*)[2])track.points[t];
            row[t][0] = motion_eye_aspect(p, 36);
            row[t][1] = motion_eye_aspect(p, 42);
            motion_eye_openness(p, (const float(*)[2])track.points[ref], row[t] + 2);
            motion_eye_openness((const float(*)[2])smooth.points[t], (const float(*)[2])smooth.points[ref], row[t] + 4);
        }
        printf("%d\t%.4f\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\n", t, row[t][0], row[t][1], row[t][2], row[t][3], row[t][4], row[t][5]);
    }
    /* The blinks of frames first..last, as eval/motion_metrics.c's measure_blinks finds them. */
    if (last >= n) last = n - 1;
    int k = 0;
    for (long t = first; t <= last; t++) {
        float eye = (row[t][0] + row[t][1]) / 2;
        if (isfinite(eye)) sorted[k++] = eye;
    }
    if (k == 0) return 0;
    qsort(sorted, (size_t)k, sizeof *sorted, compare_float);
    int half = k / 2, m = k - half;
    float open = m % 2 ? sorted[half + m / 2] : (sorted[half + m / 2 - 1] + sorted[half + m / 2]) / 2;
    float threshold = 0.6f * open;
    fprintf(stderr, "%s: open EAR %.3f, blinks under %.3f in frames %ld..%ld:\n", path, open, threshold, first, last);
    for (long t = first; t <= last;) {
        float eye = (row[t][0] + row[t][1]) / 2;
        if (!(eye < threshold)) {
            t++;
            continue;
        }
        long at = t, end = t;
        for (; t <= last && t - end <= 3; t++) {
            float e = (row[t][0] + row[t][1]) / 2;
            if (!(e < threshold)) continue;
            end = t;
            if (e < (row[at][0] + row[at][1]) / 2) at = t;
        }
        t = end + 1;
        float low[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
        for (long u = at - 2; u <= at + 2; u++)
            for (int j = 0; u >= 0 && u < n && j < 4; j++)
                if (row[u][2 + j] < low[j]) low[j] = row[u][2 + j];
        fprintf(stderr, "  frame %4ld: EAR %.3f (%.2f of open); openness min raw %.2f %.2f, smoothed %.2f %.2f\n", at,
                (row[at][0] + row[at][1]) / 2, (row[at][0] + row[at][1]) / 2 / open, low[0], low[1], low[2], low[3]);
    }
    free(row);
    free(sorted);
    smoothed_track_free(&smooth);
    motion_track_free(&track);
    vv_faces_free(faces);
    return 0;
}
