/* eval/report: report.md, report.json and line plots (see report.h). */
#include "eval/report.h"

#include "eval/metrics.h"
#include "eval/plot.h"
#include "img/image.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const int metric_decimals[METRIC_COUNT] = {3, 2, 4, 3, 4, 2, 3, 2, 2};

#define FRECHET_DESCRIPTION                                                                                             \
    "FD-faceres: Frechet distance between Gaussians fitted to the faceres embeddings (1024-d) of the results and of "  \
    "the real frames, FID's formula on another network's features (not FID), lower is better; self-reenactment only "  \
    "(in cross-reenactment no real frame shows the portrait's person making the driver's motion, and the driver's "    \
    "frames show another person, so it is not measured there); null or - with fewer than 2 frames on either side.  "  \
    "With fewer frames than 1024 dimensions the covariances are singular (rank < frames), so the value is biased and " \
    "depends on the frame count: indicative only, compare rows with the same frames"

/* ---- Following (eval/motion_metrics.h) ------------------------------------------------ */

#define LAG_TRUSTED 0.5 /* lag_confidence below it: the lag is a guess (motion_metrics.h) */

typedef enum follow_column {
    FOLLOW_COL_LAG,
    FOLLOW_COL_SUBFRAME,
    FOLLOW_COL_CONFIDENCE,
    FOLLOW_COL_MOUTH,
    FOLLOW_COL_BLINKS,
    FOLLOW_COL_CLOSURE,
    FOLLOW_COL_LID_CLOSURE,
    FOLLOW_COL_GAP,
    FOLLOW_COL_YAW,
    FOLLOW_COL_PITCH,
    FOLLOW_COL_YAW_RANGE,
    FOLLOW_COL_PITCH_RANGE,
    FOLLOW_COL_JITTER,
    FOLLOW_COL_COUNT
} follow_column;

static const char *const follow_headers[FOLLOW_COL_COUNT] = {
    "Lag (frames)", "Lag (sub-frame)", "Conf ↑", "Mouth r ↑", "Blinks", "Closure drv->out", "Lid closure drv->out",
    "EAR gap", "Yaw r ↑", "Pitch r ↑", "Yaw range", "Pitch range", "Jitter"};

/* report.json's names (as its per-clip "follow" fields). */
static const char *const follow_keys[FOLLOW_COL_COUNT] = {
    "lag_frames", "lag_subframe", "lag_confidence", "mouth_correlation", "blinks", "blink_closure_output",
    "lid_closure_output", "blink_gap",
    "yaw_correlation", "pitch_correlation", "yaw_range_ratio", "pitch_range_ratio", "jitter_ratio"};

static const char *const follow_descriptions[FOLLOW_COL_COUNT] = {
    "Lag (frames): how many frames the output's motion trails the driver's (positive: late; 0 is right), the shift "
    "maximising the weighted mean correlation of the detrended per-frame signals (mouth, eyes, yaw, pitch, roll, brows) "
    "of the output's and the driver's tracked landmarks; `?` marks a lag whose confidence is under 0.5 (a guess); a "
    "mean is over the clips whose lag is trusted, `(n?)` counting those left out",
    "Lag (sub-frame): the lag refined by the parabola through the correlation peak; mean over the trusted clips",
    "Conf: the correlation at the lag (1: a perfect copy, about 0: nothing follows; under 0.5 the lag is not trusted), "
    "higher is better",
    "Mouth r: Pearson correlation of the mouth opening (inner lips / mouth width), output vs driver, at shift 0, higher "
    "is better; - when the driver's mouth does not move",
    "Blinks: the driver's blinks measured, N or N + M: N found by dlib's 68 points (eye aspect ratio under 0.6 of "
    "its open level, one blink until it opens past 0.8 or stays over 0.6 for more than 5 frames: the blinks counted "
    "before the mesh found any), M more found by the face mesh's lids alone "
    "(their gap over the eye's width in 3D, which a turned head does not widen: under 0.6 of its open level for at "
    "least 2 frames, the minimum under 0.45, dlib's eye aspect under 0.85 of open there, over 2 frames from dlib's "
    "blinks: dlib reads shut eyes on a head turned 45 degrees as open); a summary row gives the totals",
    "Closure drv->out: the eye openness at the driver's blinks (all N + M) / the open level, the driver's -> the "
    "output's (0 = shut; the output's should match the driver's, higher means shallower blinks), by dlib's 68 points "
    "(eye aspect ratio)",
    "Lid closure drv->out: the same blinks read by the 478-point face mesh (the mean gap between its upper and lower "
    "lid contours over the eye's width, read on every frame of the driver's tracked face and on the output's near "
    "the driver's blinks and on every 10th frame, the open levels), each sequence against its own lid open level: "
    "dlib's points land on the fold or lash line of a painted shut lid and read it about twice as open; a real blink "
    "reads about 0.3-0.5 here (the mesh's lids do not meet). report.json lists each blink with both readers' "
    "closures (blink_list; frame: of the following stretch, the clip's frame is start + frame)",
    "EAR gap: the output's minimum eye aspect ratio minus the driver's at the driver's blinks, EAR units (0: as deep; "
    "> 0: the output's blinks are shallower)",
    "Yaw r: Pearson correlation of the head's yaw change (from each sequence's first frame), output vs driver, at "
    "shift 0, higher is better; - when the driver does not turn that way (under 1 degree, or noise).  The head's "
    "angles are the face mesh's (the rotation of its rigid points, face/mesh_pose.h: what the 3D head turns by) on "
    "the frames animate measures them (every second), in both; dlib's 68 points read a head turned past 40 degrees "
    "as anything and an open mouth as a look up (their pose stands in where the mesh's is not measured)",
    "Pitch r: the same for pitch (nodding)",
    "Yaw range: the output's 5-95 percentile range of yaw change / the driver's (1: as much head turn; under 1: damped)",
    "Pitch range: the same for pitch",
    "Jitter: the output's frame-to-frame landmark motion on the driver's still frames / the driver's (1: as steady "
    "as the driver; > 1: shakier; the output's tracker noise counts too)"};

#define FOLLOW_INTRO                                                                                                   \
    "Following: a stretch of consecutive output frames (self: from the first driving frame after the sources; cross: " \
    "from the driver's first face frame; --follow-frames long) is tracked with animate's raw tracker and compared "    \
    "with the driver's raw track over the same frames (eval/motion_metrics.h follow_measure; lag searched over up to " \
    "a quarter of the stretch, at most 25 frames)"

static bool follow_lag_measured(const follow_metrics *f) { return f->signals_used > 0 && isfinite(f->lag_confidence); }
static bool follow_lag_trusted(const follow_metrics *f) {
    return follow_lag_measured(f) && f->lag_confidence >= LAG_TRUSTED;
}

/* A clip's value of a column for the means (NAN: not measured); the lag columns only when
 * the lag is trusted. */
static double follow_value(const eval_series *s, follow_column c) {
    const follow_metrics *f = &s->follow;
    bool lag = follow_lag_trusted(f);
    switch (c) {
    case FOLLOW_COL_LAG: return lag ? f->lag_frames : NAN;
    case FOLLOW_COL_SUBFRAME: return lag ? f->lag_subframe : NAN;
    case FOLLOW_COL_CONFIDENCE: return follow_lag_measured(f) ? f->lag_confidence : NAN;
    case FOLLOW_COL_MOUTH: return f->mouth_correlation;
    case FOLLOW_COL_BLINKS: return f->blinks;
    case FOLLOW_COL_CLOSURE: return f->blinks ? f->blink_closure_output : NAN;
    case FOLLOW_COL_LID_CLOSURE: return f->lid_blinks ? f->lid_closure_output : NAN;
    case FOLLOW_COL_GAP: return f->blinks ? f->blink_gap : NAN;
    case FOLLOW_COL_YAW: return f->yaw_correlation;
    case FOLLOW_COL_PITCH: return f->pitch_correlation;
    case FOLLOW_COL_YAW_RANGE: return f->yaw_range_ratio;
    case FOLLOW_COL_PITCH_RANGE: return f->pitch_range_ratio;
    case FOLLOW_COL_JITTER: return f->jitter_ratio;
    default: return NAN;
    }
}

/* A summary row's following: means over its clips with a stretch (NAN values skipped). */
typedef struct follow_summary {
    int clips;                    /* with a following stretch */
    long frames;                  /* their stretches' frames */
    int lag_trusted, lag_untrusted;
    int blinks;                   /* total */
    int blinks_mesh_only;         /* of them, found by the face mesh's lids alone */
    double mean[FOLLOW_COL_COUNT]; /* lag columns over the trusted clips; blinks: unused */
    double closure_driver;        /* mean over the clips with blinks */
    int lid_blinks;               /* total read by the mesh */
    double lid_closure_driver;    /* mean over the clips with lid_blinks */
} follow_summary;

static void follow_summarise(const eval_series *series, int count, const char *engine, int shots, follow_summary *out) {
    memset(out, 0, sizeof *out);
    double sum[FOLLOW_COL_COUNT] = {0}, closure_driver = 0, lid_closure_driver = 0;
    int n[FOLLOW_COL_COUNT] = {0}, with_blinks = 0, with_lid_blinks = 0;
    for (int i = 0; i < count; i++) {
        const eval_series *s = &series[i];
        if (!s->available || s->follow_frames <= 0 || strcmp(s->engine, engine) || s->shots != shots) continue;
        out->clips++;
        out->frames += s->follow_frames;
        if (follow_lag_trusted(&s->follow)) out->lag_trusted++;
        else if (follow_lag_measured(&s->follow)) out->lag_untrusted++;
        out->blinks += s->follow.blinks;
        out->blinks_mesh_only += s->follow.blinks_mesh_only;
        if (s->follow.blinks) {
            closure_driver += s->follow.blink_closure_driver;
            with_blinks++;
        }
        out->lid_blinks += s->follow.lid_blinks;
        if (s->follow.lid_blinks) {
            lid_closure_driver += s->follow.lid_closure_driver;
            with_lid_blinks++;
        }
        for (int c = 0; c < FOLLOW_COL_COUNT; c++) {
            double v = follow_value(s, (follow_column)c);
            if (isfinite(v)) sum[c] += v, n[c]++;
        }
    }
    for (int c = 0; c < FOLLOW_COL_COUNT; c++) out->mean[c] = n[c] ? sum[c] / n[c] : NAN;
    out->closure_driver = with_blinks ? closure_driver / with_blinks : NAN;
    out->lid_closure_driver = with_lid_blinks ? lid_closure_driver / with_lid_blinks : NAN;
}

static void md_follow_number(FILE *f, double v, int decimals) {
    if (!isfinite(v)) fprintf(f, " - |");
    else fprintf(f, " %.*f |", decimals, v);
}

static void md_follow_header(FILE *f, const char *first_columns) {
    fprintf(f, "| %s | frames |", first_columns);
    for (int c = 0; c < FOLLOW_COL_COUNT; c++) fprintf(f, " %s |", follow_headers[c]);
    fprintf(f, "\n|");
    int columns = 2;
    for (const char *p = first_columns; *p; p++) columns += *p == '|';
    for (int c = 0; c < columns; c++) fprintf(f, " --- |");
    for (int c = 0; c < FOLLOW_COL_COUNT; c++) fprintf(f, " ---: |");
    fprintf(f, "\n");
}

/* The columns after "frames" of one clip's row. */
/* Blinks: dlib's count (the blinks found before the mesh found any), then + those the
 * mesh's lids alone found. */
static void md_follow_blinks(FILE *f, int blinks, int mesh_only) {
    if (mesh_only) fprintf(f, " %d + %d |", blinks - mesh_only, mesh_only);
    else fprintf(f, " %d |", blinks);
}

static void md_follow_clip(FILE *f, const eval_series *s) {
    const follow_metrics *m = &s->follow;
    if (follow_lag_measured(m))
        fprintf(f, " %d%s | %.2f%s | %.2f |", m->lag_frames, follow_lag_trusted(m) ? "" : "?", m->lag_subframe,
                follow_lag_trusted(m) ? "" : "?", m->lag_confidence);
    else
        fprintf(f, " - | - | - |");
    md_follow_number(f, m->mouth_correlation, 2);
    md_follow_blinks(f, m->blinks, m->blinks_mesh_only);
    if (m->blinks) fprintf(f, " %.2f -> %.2f |", m->blink_closure_driver, m->blink_closure_output);
    else fprintf(f, " - |");
    if (m->lid_blinks) fprintf(f, " %.2f -> %.2f |", m->lid_closure_driver, m->lid_closure_output);
    else fprintf(f, " - |");
    md_follow_number(f, m->blinks ? m->blink_gap : NAN, 3);
    md_follow_number(f, m->yaw_correlation, 2);
    md_follow_number(f, m->pitch_correlation, 2);
    md_follow_number(f, m->yaw_range_ratio, 2);
    md_follow_number(f, m->pitch_range_ratio, 2);
    md_follow_number(f, m->jitter_ratio, 2);
}

static void md_follow_summary(FILE *f, const follow_summary *fs) {
    if (fs->lag_trusted) fprintf(f, " %.2f", fs->mean[FOLLOW_COL_LAG]);
    else fprintf(f, " -");
    if (fs->lag_untrusted) fprintf(f, " (%d?)", fs->lag_untrusted);
    fprintf(f, " |");
    md_follow_number(f, fs->mean[FOLLOW_COL_SUBFRAME], 2);
    md_follow_number(f, fs->mean[FOLLOW_COL_CONFIDENCE], 2);
    md_follow_number(f, fs->mean[FOLLOW_COL_MOUTH], 2);
    md_follow_blinks(f, fs->blinks, fs->blinks_mesh_only);
    if (fs->blinks) fprintf(f, " %.2f -> %.2f |", fs->closure_driver, fs->mean[FOLLOW_COL_CLOSURE]);
    else fprintf(f, " - |");
    if (fs->lid_blinks) fprintf(f, " %.2f -> %.2f |", fs->lid_closure_driver, fs->mean[FOLLOW_COL_LID_CLOSURE]);
    else fprintf(f, " - |");
    md_follow_number(f, fs->mean[FOLLOW_COL_GAP], 3);
    md_follow_number(f, fs->mean[FOLLOW_COL_YAW], 2);
    md_follow_number(f, fs->mean[FOLLOW_COL_PITCH], 2);
    md_follow_number(f, fs->mean[FOLLOW_COL_YAW_RANGE], 2);
    md_follow_number(f, fs->mean[FOLLOW_COL_PITCH_RANGE], 2);
    md_follow_number(f, fs->mean[FOLLOW_COL_JITTER], 2);
}

double report_series_mean(const eval_series *series, eval_metric metric) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < series->frame_count; i++) {
        double v = series->values[i][metric];
        if (isnan(v)) continue;
        sum += v;
        n++;
    }
    return n ? sum / n : NAN;
}

/* Summary rows: distinct (engine, shots) pairs in first-seen order. */
typedef struct summary_row {
    const char *engine;
    int shots;
    bool available;
    const char *note;
    int clips, frames;
    double mean[METRIC_COUNT];
    double frechet; /* FD-faceres over all the row's frames; NAN: not measured */
    follow_summary follow;
} summary_row;

#define SUMMARY_CAPACITY 64

/* FD-faceres of one summary row: the faceres features of all its clips' results against
 * those of the real frames they were compared with (one set each, pooled over clips, as
 * FID pools images).  NAN when either set has fewer than 2 features. */
static vv_status row_frechet(const eval_series *series, int count, summary_row *row) {
    row->frechet = NAN;
    if (!row->available) return VV_OK;
    long results = 0, reals = 0;
    for (int i = 0; i < count; i++) {
        const eval_series *s = &series[i];
        if (!s->available || strcmp(s->engine, row->engine) || s->shots != row->shots) continue;
        results += s->result_feature_count;
        reals += s->real_feature_count;
    }
    if (results < 2 || reals < 2) return VV_OK;
    float *a = mem_alloc((size_t)results * IDENTITY_DIM, sizeof(float));
    float *b = mem_alloc((size_t)reals * IDENTITY_DIM, sizeof(float));
    vv_status st = a && b ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "out of memory for FD-faceres of %s K=%d", row->engine, row->shots);
    long na = 0, nb = 0;
    for (int i = 0; st == VV_OK && i < count; i++) {
        const eval_series *s = &series[i];
        if (!s->available || strcmp(s->engine, row->engine) || s->shots != row->shots) continue;
        memcpy(a + (size_t)na * IDENTITY_DIM, s->result_features, (size_t)s->result_feature_count * IDENTITY_DIM * sizeof(float));
        memcpy(b + (size_t)nb * IDENTITY_DIM, s->real_features, (size_t)s->real_feature_count * IDENTITY_DIM * sizeof(float));
        na += s->result_feature_count;
        nb += s->real_feature_count;
    }
    double d = NAN;
    if (st == VV_OK) st = metrics_frechet_distance_sets(a, na, b, nb, IDENTITY_DIM, &d);
    if (st == VV_OK) row->frechet = d;
    free(a);
    free(b);
    return st;
}

static int summarise(const eval_series *series, int count, summary_row *rows, int capacity) {
    int n = 0;
    for (int i = 0; i < count; i++) {
        const eval_series *s = &series[i];
        int r = 0;
        while (r < n && !(strcmp(rows[r].engine, s->engine) == 0 && rows[r].shots == s->shots)) r++;
        if (r == n) {
            if (n == capacity) continue;
            memset(&rows[n], 0, sizeof rows[n]);
            rows[n].engine = s->engine;
            rows[n].shots = s->shots;
            rows[n].note = s->note;
            n++;
        }
        if (!s->available) continue;
        if (!rows[r].available) rows[r].note = "";
        rows[r].available = true;
        rows[r].clips++;
        rows[r].frames += s->frame_count;
    }
    for (int r = 0; r < n; r++)
        for (int m = 0; m < METRIC_COUNT; m++) {
            double sum = 0;
            int k = 0;
            for (int i = 0; i < count; i++) {
                const eval_series *s = &series[i];
                if (!s->available || strcmp(s->engine, rows[r].engine) || s->shots != rows[r].shots) continue;
                double v = report_series_mean(s, (eval_metric)m);
                if (isnan(v)) continue;
                sum += v;
                k++;
            }
            rows[r].mean[m] = k ? sum / k : NAN;
        }
    for (int r = 0; r < n; r++) {
        rows[r].frechet = NAN;
        follow_summarise(series, count, rows[r].engine, rows[r].shots, &rows[r].follow);
    }
    return n;
}

static void md_value(FILE *f, double v, int decimals) {
    if (isnan(v)) fprintf(f, " - |");
    else if (isinf(v)) fprintf(f, " %sinf |", v < 0 ? "-" : "");
    else fprintf(f, " %.*f |", decimals, v);
}

/* Which metrics a protocol reports. */
static bool protocol_has(eval_protocol_kind kind, eval_metric m) {
    if (kind == PROTOCOL_SELF) return true;
    return m == METRIC_CSIM || m == METRIC_EXPRESSION || m == METRIC_POSE || m == METRIC_FACE;
}

static void md_header(FILE *f, eval_protocol_kind kind, const char *first_columns, bool frechet) {
    fprintf(f, "| %s |", first_columns);
    for (int m = 0; m < METRIC_COUNT; m++)
        if (protocol_has(kind, (eval_metric)m))
            fprintf(f, " %s %s |", eval_metric_name((eval_metric)m), eval_metric_higher_is_better((eval_metric)m) ? "↑" : "↓");
    if (frechet) fprintf(f, " FD-faceres ↓ |");
    fprintf(f, " note |\n|");
    int columns = 1;
    for (const char *p = first_columns; *p; p++) columns += *p == '|';
    for (int c = 0; c < columns; c++) fprintf(f, " --- |");
    for (int m = 0; m < METRIC_COUNT; m++)
        if (protocol_has(kind, (eval_metric)m)) fprintf(f, " ---: |");
    if (frechet) fprintf(f, " ---: |");
    fprintf(f, " --- |\n");
}

static void plot_name(const eval_series *s, eval_protocol_kind kind, char *out, size_t size) {
    /* "portrait <- driver" -> "portrait_from_driver", as the sample grids are named. */
    char clean[300];
    const char *arrow = strstr(s->clip, " <- ");
    if (arrow) snprintf(clean, sizeof clean, "%.*s_from_%s", (int)(arrow - s->clip), s->clip, arrow + 4);
    else snprintf(clean, sizeof clean, "%s", s->clip);
    for (char *p = clean; *p; p++)
        if (*p == ' ' || *p == '<' || *p == '/') *p = '_';
    snprintf(out, size, "plots/%s_%s.png", kind == PROTOCOL_SELF ? "self" : "cross", clean);
}

static void follow_plot_name(const eval_series *s, eval_protocol_kind kind, char *out, size_t size) {
    char name[512];
    plot_name(s, kind, name, sizeof name);
    snprintf(out, size, "plots/follow_%s", name + strlen("plots/"));
}

static void md_protocol(FILE *f, const char *title, eval_protocol_kind kind, const eval_series *series, int count,
                        const summary_row *rows, int n) {
    fprintf(f, "## %s\n\n", title);
    if (count == 0) {
        fprintf(f, "Not run (no %s given).\n\n", kind == PROTOCOL_SELF ? "clips" : "portraits");
        return;
    }
    bool self = kind == PROTOCOL_SELF;
    fprintf(f, "Mean over clips (each clip's mean over its sampled frames)%s:\n\n",
            self ? "; FD-faceres over all the row's frames pooled" : "");
    md_header(f, kind, "engine | K | clips | frames", self);
    for (int r = 0; r < n; r++) {
        fprintf(f, "| %s | %d |", rows[r].engine, rows[r].shots);
        if (!rows[r].available) {
            fprintf(f, " - | - |");
            for (int m = 0; m < METRIC_COUNT; m++)
                if (protocol_has(kind, (eval_metric)m)) fprintf(f, " - |");
            if (self) fprintf(f, " - |");
            fprintf(f, " unavailable: %s |\n", rows[r].note);
            continue;
        }
        fprintf(f, " %d | %d |", rows[r].clips, rows[r].frames);
        for (int m = 0; m < METRIC_COUNT; m++)
            if (protocol_has(kind, (eval_metric)m)) md_value(f, rows[r].mean[m], metric_decimals[m]);
        if (self) md_value(f, rows[r].frechet, 2);
        fprintf(f, " |\n");
    }
    fprintf(f, "\nPer clip:\n\n");
    md_header(f, kind, "clip | engine | K | frames", false);
    for (int i = 0; i < count; i++) {
        const eval_series *s = &series[i];
        if (!s->available && !eval_engine_available(s->engine)) continue; /* said once above */
        fprintf(f, "| %s | %s | %d |", s->clip, s->engine, s->shots);
        if (!s->available) {
            fprintf(f, " - |");
            for (int m = 0; m < METRIC_COUNT; m++)
                if (protocol_has(kind, (eval_metric)m)) fprintf(f, " - |");
            fprintf(f, " unavailable: %s |\n", s->note);
            continue;
        }
        fprintf(f, " %d |", s->frame_count);
        for (int m = 0; m < METRIC_COUNT; m++)
            if (protocol_has(kind, (eval_metric)m)) md_value(f, report_series_mean(s, (eval_metric)m), metric_decimals[m]);
        fprintf(f, " %s |\n", s->note);
    }
    bool any_follow = false;
    for (int r = 0; r < n; r++) any_follow |= rows[r].follow.clips > 0;
    if (any_follow) {
        fprintf(f, "\nFollowing (mean over clips; lag over the clips whose lag is trusted, (n?) clips left out):\n\n");
        md_follow_header(f, "engine | K | clips");
        for (int r = 0; r < n; r++) {
            if (!rows[r].available || rows[r].follow.clips == 0) continue;
            fprintf(f, "| %s | %d | %d | %ld |", rows[r].engine, rows[r].shots, rows[r].follow.clips, rows[r].follow.frames);
            md_follow_summary(f, &rows[r].follow);
            fprintf(f, "\n");
        }
        fprintf(f, "\nFollowing per clip (? : lag confidence under 0.5, a guess):\n\n");
        md_follow_header(f, "clip | engine | K");
        for (int i = 0; i < count; i++) {
            const eval_series *s = &series[i];
            if (!s->available || s->follow_frames <= 0) continue;
            fprintf(f, "| %s | %s | %d | %d |", s->clip, s->engine, s->shots, s->follow_frames);
            md_follow_clip(f, s);
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\nSample grids (source | driver | result | real) and per-frame plots:\n\n");
    const char *last_clip = "";
    for (int i = 0; i < count; i++) {
        const eval_series *s = &series[i];
        if (strcmp(s->clip, last_clip)) {
            char plot[1024];
            plot_name(s, kind, plot, sizeof plot);
            fprintf(f, "- %s: [plot](%s)", s->clip, plot);
            last_clip = s->clip;
            bool followed = false;
            for (int j = i; j < count && !strcmp(series[j].clip, s->clip); j++)
                followed |= series[j].available && series[j].follow_frames > 0;
            if (followed) {
                follow_plot_name(s, kind, plot, sizeof plot);
                fprintf(f, ", [following](%s)", plot);
            }
            for (int j = i; j < count && !strcmp(series[j].clip, s->clip); j++)
                if (series[j].grid[0]) fprintf(f, ", [%s K=%d](%s)", series[j].engine, series[j].shots, series[j].grid);
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n");
}

static cJSON *json_value(double v) {
    if (isnan(v)) return cJSON_CreateNull();
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
    return cJSON_CreateNumber(v);
}

static cJSON *json_means(const double *means, eval_protocol_kind kind) {
    cJSON *o = cJSON_CreateObject();
    for (int m = 0; m < METRIC_COUNT; m++)
        if (protocol_has(kind, (eval_metric)m)) cJSON_AddItemToObject(o, eval_metric_name((eval_metric)m), json_value(means[m]));
    return o;
}

static cJSON *json_follow(const eval_series *s) {
    const follow_metrics *m = &s->follow;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "start", s->follow_start);
    cJSON_AddNumberToObject(o, "frames", s->follow_frames);
    cJSON_AddNumberToObject(o, "output_faces", s->follow_output_faces);
    cJSON_AddNumberToObject(o, "pairs", m->frames);
    cJSON_AddNumberToObject(o, "signals_used", m->signals_used);
    bool lag = follow_lag_measured(m);
    cJSON_AddItemToObject(o, "lag_frames", lag ? cJSON_CreateNumber(m->lag_frames) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "lag_subframe", json_value(m->lag_subframe));
    cJSON_AddItemToObject(o, "lag_confidence", json_value(m->lag_confidence));
    cJSON_AddItemToObject(o, "lag_margin", json_value(m->lag_margin));
    cJSON_AddBoolToObject(o, "lag_trusted", follow_lag_trusted(m));
    cJSON *weights = cJSON_AddObjectToObject(o, "signal_weight");
    for (int j = 0; j < FOLLOW_SIGNAL_COUNT; j++)
        cJSON_AddNumberToObject(weights, follow_signal_name((follow_signal)j), m->signal_weight[j]);
    cJSON_AddItemToObject(o, "mouth_correlation", json_value(m->mouth_correlation));
    cJSON_AddNumberToObject(o, "blinks", m->blinks);
    cJSON_AddItemToObject(o, "blink_closure_driver", json_value(m->blink_closure_driver));
    cJSON_AddItemToObject(o, "blink_closure_output", json_value(m->blink_closure_output));
    cJSON_AddItemToObject(o, "blink_gap", json_value(m->blink_gap));
    cJSON_AddNumberToObject(o, "blinks_mesh_only", m->blinks_mesh_only);
    cJSON_AddNumberToObject(o, "lid_blinks", m->lid_blinks);
    cJSON *list = cJSON_AddArrayToObject(o, "blink_list");
    for (int k = 0; list && k < m->blink_listed; k++) {
        const struct follow_blink *b = &m->blink_list[k];
        cJSON *one = cJSON_CreateObject();
        if (!one) break;
        cJSON_AddNumberToObject(one, "frame", b->frame);
        cJSON_AddStringToObject(one, "found_by", b->mesh_only ? "mesh" : "dlib");
        cJSON_AddItemToObject(one, "closure_driver", json_value(b->closure_driver));
        cJSON_AddItemToObject(one, "closure_output", json_value(b->closure_output));
        cJSON_AddItemToObject(one, "lid_closure_driver", json_value(b->lid_closure_driver));
        cJSON_AddItemToObject(one, "lid_closure_output", json_value(b->lid_closure_output));
        cJSON_AddItemToArray(list, one);
    }
    cJSON_AddItemToObject(o, "lid_closure_driver", json_value(m->lid_closure_driver));
    cJSON_AddItemToObject(o, "lid_closure_output", json_value(m->lid_closure_output));
    cJSON_AddItemToObject(o, "yaw_correlation", json_value(m->yaw_correlation));
    cJSON_AddItemToObject(o, "pitch_correlation", json_value(m->pitch_correlation));
    cJSON_AddItemToObject(o, "roll_correlation", json_value(m->roll_correlation));
    cJSON_AddItemToObject(o, "yaw_range_ratio", json_value(m->yaw_range_ratio));
    cJSON_AddItemToObject(o, "pitch_range_ratio", json_value(m->pitch_range_ratio));
    cJSON_AddItemToObject(o, "roll_range_ratio", json_value(m->roll_range_ratio));
    cJSON_AddItemToObject(o, "jitter_ratio", json_value(m->jitter_ratio));
    cJSON_AddItemToObject(o, "jitter_driver", json_value(m->jitter_driver));
    cJSON_AddItemToObject(o, "jitter_output", json_value(m->jitter_output));
    cJSON_AddNumberToObject(o, "still_frames", m->still_frames);
    return o;
}

static cJSON *json_follow_summary(const follow_summary *fs) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "clips", fs->clips);
    cJSON_AddNumberToObject(o, "frames", (double)fs->frames);
    cJSON_AddNumberToObject(o, "lag_trusted_clips", fs->lag_trusted);
    cJSON_AddNumberToObject(o, "lag_untrusted_clips", fs->lag_untrusted);
    cJSON_AddItemToObject(o, "lag_frames", json_value(fs->mean[FOLLOW_COL_LAG]));
    cJSON_AddItemToObject(o, "lag_subframe", json_value(fs->mean[FOLLOW_COL_SUBFRAME]));
    cJSON_AddItemToObject(o, "lag_confidence", json_value(fs->mean[FOLLOW_COL_CONFIDENCE]));
    cJSON_AddItemToObject(o, "mouth_correlation", json_value(fs->mean[FOLLOW_COL_MOUTH]));
    cJSON_AddNumberToObject(o, "blinks", fs->blinks);
    cJSON_AddNumberToObject(o, "blinks_mesh_only", fs->blinks_mesh_only);
    cJSON_AddItemToObject(o, "blink_closure_driver", json_value(fs->closure_driver));
    cJSON_AddItemToObject(o, "blink_closure_output", json_value(fs->mean[FOLLOW_COL_CLOSURE]));
    cJSON_AddItemToObject(o, "blink_gap", json_value(fs->mean[FOLLOW_COL_GAP]));
    cJSON_AddNumberToObject(o, "lid_blinks", fs->lid_blinks);
    cJSON_AddItemToObject(o, "lid_closure_driver", json_value(fs->lid_closure_driver));
    cJSON_AddItemToObject(o, "lid_closure_output", json_value(fs->mean[FOLLOW_COL_LID_CLOSURE]));
    cJSON_AddItemToObject(o, "yaw_correlation", json_value(fs->mean[FOLLOW_COL_YAW]));
    cJSON_AddItemToObject(o, "pitch_correlation", json_value(fs->mean[FOLLOW_COL_PITCH]));
    cJSON_AddItemToObject(o, "yaw_range_ratio", json_value(fs->mean[FOLLOW_COL_YAW_RANGE]));
    cJSON_AddItemToObject(o, "pitch_range_ratio", json_value(fs->mean[FOLLOW_COL_PITCH_RANGE]));
    cJSON_AddItemToObject(o, "jitter_ratio", json_value(fs->mean[FOLLOW_COL_JITTER]));
    return o;
}

static cJSON *json_protocol(eval_protocol_kind kind, const eval_series *series, int count, const summary_row *rows,
                            int n) {
    cJSON *p = cJSON_CreateObject();
    cJSON *summary = cJSON_AddArrayToObject(p, "summary");
    for (int r = 0; r < n; r++) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "engine", rows[r].engine);
        cJSON_AddNumberToObject(row, "shots", rows[r].shots);
        cJSON_AddBoolToObject(row, "available", rows[r].available);
        if (rows[r].available) {
            cJSON_AddNumberToObject(row, "clips", rows[r].clips);
            cJSON_AddNumberToObject(row, "frames", rows[r].frames);
            cJSON_AddItemToObject(row, "mean", json_means(rows[r].mean, kind));
            if (kind == PROTOCOL_SELF) cJSON_AddItemToObject(row, "FD-faceres", json_value(rows[r].frechet));
            if (rows[r].follow.clips) cJSON_AddItemToObject(row, "follow_mean", json_follow_summary(&rows[r].follow));
        } else {
            cJSON_AddStringToObject(row, "note", rows[r].note);
        }
        cJSON_AddItemToArray(summary, row);
    }
    cJSON *clips = cJSON_AddArrayToObject(p, "clips");
    for (int i = 0; i < count; i++) {
        const eval_series *s = &series[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "clip", s->clip);
        cJSON_AddStringToObject(c, "engine", s->engine);
        cJSON_AddNumberToObject(c, "shots", s->shots);
        cJSON_AddBoolToObject(c, "available", s->available);
        if (s->note[0]) cJSON_AddStringToObject(c, "note", s->note);
        if (s->available) {
            double means[METRIC_COUNT];
            for (int m = 0; m < METRIC_COUNT; m++) means[m] = report_series_mean(s, (eval_metric)m);
            cJSON_AddItemToObject(c, "mean", json_means(means, kind));
            cJSON *frames = cJSON_AddArrayToObject(c, "frames");
            for (int j = 0; j < s->frame_count; j++) cJSON_AddItemToArray(frames, cJSON_CreateNumber(s->frames[j]));
            cJSON *per = cJSON_AddObjectToObject(c, "per_frame");
            for (int m = 0; m < METRIC_COUNT; m++) {
                if (!protocol_has(kind, (eval_metric)m)) continue;
                cJSON *a = cJSON_AddArrayToObject(per, eval_metric_name((eval_metric)m));
                for (int j = 0; j < s->frame_count; j++) cJSON_AddItemToArray(a, json_value(s->values[j][m]));
            }
            char plot[1024];
            plot_name(s, kind, plot, sizeof plot);
            cJSON_AddStringToObject(c, "plot", plot);
            if (s->grid[0]) cJSON_AddStringToObject(c, "grid", s->grid);
            if (s->follow_frames > 0) {
                cJSON_AddItemToObject(c, "follow", json_follow(s));
                follow_plot_name(s, kind, plot, sizeof plot);
                cJSON_AddStringToObject(c, "follow_plot", plot);
            }
        }
        cJSON_AddItemToArray(clips, c);
    }
    return p;
}

/* One PNG per clip: per-frame SSIM and CSIM (self) or CSIM and Expr (cross), a line per
 * available (engine, K). */
static vv_status write_plots(const char *dir, eval_protocol_kind kind, const eval_series *series, int count) {
    vv_status s = VV_OK;
    for (int i = 0; i < count && s == VV_OK;) {
        int j = i;
        while (j < count && !strcmp(series[j].clip, series[i].clip)) j++;
        plot_series lines[2][32];
        char labels[32][64];
        double *xs[32] = {0}, *ys[2][32] = {{0}};
        int n = 0;
        for (int k = i; k < j && n < 32; k++) {
            const eval_series *e = &series[k];
            if (!e->available || e->frame_count == 0) continue;
            snprintf(labels[n], sizeof labels[n], "%s K=%d", e->engine, e->shots);
            xs[n] = mem_alloc((size_t)e->frame_count, sizeof(double));
            ys[0][n] = mem_alloc((size_t)e->frame_count, sizeof(double));
            ys[1][n] = mem_alloc((size_t)e->frame_count, sizeof(double));
            if (!xs[n] || !ys[0][n] || !ys[1][n]) { s = vv_fail(VV_ERR_NO_MEMORY, "out of memory plotting"); n++; break; }
            eval_metric metrics[2] = {kind == PROTOCOL_SELF ? METRIC_SSIM : METRIC_CSIM,
                                      kind == PROTOCOL_SELF ? METRIC_CSIM : METRIC_EXPRESSION};
            for (int f = 0; f < e->frame_count; f++) {
                xs[n][f] = e->frames[f];
                ys[0][n][f] = e->values[f][metrics[0]];
                ys[1][n][f] = e->values[f][metrics[1]];
            }
            for (int p = 0; p < 2; p++)
                lines[p][n] = (plot_series){labels[n], xs[n], ys[p][n], e->frame_count};
            n++;
        }
        if (s == VV_OK && n > 0) {
            char title[2][320], path[1024], name[512];
            bool self = kind == PROTOCOL_SELF;
            snprintf(title[0], sizeof title[0], "%s: %s PER FRAME", series[i].clip, self ? "SSIM" : "CSIM TO THE SOURCE");
            snprintf(title[1], sizeof title[1], "%s: %s PER FRAME", series[i].clip, self ? "CSIM" : "EXPRESSION DISTANCE TO THE DRIVER");
            plot_panel panels[2] = {
                {title[0], "DRIVING FRAME", self ? "SSIM" : "CSIM", lines[0], n, 0, 0},
                {title[1], "DRIVING FRAME", self ? "CSIM" : "EXPR", lines[1], n, 0, 0},
            };
            vv_image image = {0};
            s = plot_render(&image, panels, 2, 720, 300);
            plot_name(&series[i], kind, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (s == VV_OK) s = image_save(&image, path);
            image_free(&image);
        }
        for (int k = 0; k < n; k++) {
            free(xs[k]);
            free(ys[0][k]);
            free(ys[1][k]);
        }
        i = j;
    }
    return s;
}

/* One line of a following plot: a signal of a landmark sequence per frame (NAN where no
 * face); angles relative to the sequence's first valid frame. */
static vv_status follow_line(const float (*points)[68][2], const uint8_t *valid, int count, int start,
                             follow_signal signal, const float (*turn)[3][3], const uint8_t *has_turn, double **x,
                             double **y) {
    *x = mem_alloc((size_t)count, sizeof(double));
    *y = mem_alloc((size_t)count, sizeof(double));
    if (!*x || !*y) return vv_fail(VV_ERR_NO_MEMORY, "out of memory plotting");
    bool angle = signal == FOLLOW_YAW || signal == FOLLOW_PITCH || signal == FOLLOW_ROLL;
    bool turns = false; /* the face mesh's turns, as follow_measure takes them */
    for (int t = 0; angle && turn && has_turn && t < count && !turns; t++) turns = has_turn[t];
    if (turns) {
        double *angles[3] = {NULL, NULL, NULL};
        for (int j = 0; j < 3; j++) angles[j] = mem_alloc((size_t)count, sizeof(double));
        if (angles[0] && angles[1] && angles[2]) {
            follow_turns ft = {turn, has_turn};
            follow_turn_angles(&ft, valid, count, angles);
            for (int t = 0; t < count; t++) (*x)[t] = start + t, (*y)[t] = angles[signal - FOLLOW_YAW][t];
        }
        bool ok = angles[0] && angles[1] && angles[2];
        for (int j = 0; j < 3; j++) free(angles[j]);
        return ok ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "out of memory plotting");
    }
    double origin = NAN;
    for (int t = 0; t < count; t++) {
        float v[FOLLOW_SIGNAL_COUNT];
        (*x)[t] = start + t;
        (*y)[t] = NAN;
        if (!valid[t]) continue;
        follow_signals_all(points[t], v);
        double value = v[signal];
        if (angle && isfinite(value)) {
            if (isnan(origin)) origin = value;
            value -= origin;
        }
        (*y)[t] = value;
    }
    return VV_OK;
}

/* One PNG per clip with a following stretch: mouth opening, eye openness and yaw change of
 * the driver and of each available series' output, frame by frame. */
static vv_status write_follow_plots(const char *dir, eval_protocol_kind kind, const eval_series *series, int count) {
    static const follow_signal signals[3] = {FOLLOW_MOUTH, FOLLOW_EYE_LEFT, FOLLOW_YAW};
    static const char *const titles[3] = {"MOUTH OPENING", "EYE OPENNESS (LEFT EAR)", "YAW CHANGE, DEGREES"};
    static const char *const y_labels[3] = {"MOUTH", "EAR", "YAW"};
    vv_status s = VV_OK;
    for (int i = 0; i < count && s == VV_OK;) {
        int j = i;
        while (j < count && !strcmp(series[j].clip, series[i].clip)) j++;
        enum { MAX_LINES = 17 };
        plot_series lines[3][MAX_LINES];
        char labels[MAX_LINES][64];
        double *xs[3][MAX_LINES] = {{0}}, *ys[3][MAX_LINES] = {{0}};
        int n = 0;
        for (int k = i; k < j && n < MAX_LINES && s == VV_OK; k++) {
            const eval_series *e = &series[k];
            if (!e->available || e->follow_frames <= 0) continue;
            if (n == 0) { /* the driver, from the first series (every series has the same) */
                snprintf(labels[n], sizeof labels[n], "DRIVER");
                for (int p = 0; p < 3 && s == VV_OK; p++) {
                    s = follow_line((const float(*)[68][2])e->follow_driver, e->follow_driver_valid, e->follow_frames,
                                    e->follow_start, signals[p], (const float(*)[3][3])e->follow_driver_turn,
                                    e->follow_driver_has_turn, &xs[p][n], &ys[p][n]);
                    lines[p][n] = (plot_series){labels[n], xs[p][n], ys[p][n], e->follow_frames};
                }
                n++;
            }
            if (n == MAX_LINES || s != VV_OK) break;
            snprintf(labels[n], sizeof labels[n], "%s K=%d", e->engine, e->shots);
            for (int p = 0; p < 3 && s == VV_OK; p++) {
                s = follow_line((const float(*)[68][2])e->follow_output, e->follow_output_valid, e->follow_frames,
                                e->follow_start, signals[p], (const float(*)[3][3])e->follow_output_turn,
                                e->follow_output_has_turn, &xs[p][n], &ys[p][n]);
                lines[p][n] = (plot_series){labels[n], xs[p][n], ys[p][n], e->follow_frames};
            }
            n++;
        }
        if (s == VV_OK && n > 0) {
            char title[3][400], path[2048], name[1024];
            plot_panel panels[3];
            for (int p = 0; p < 3; p++) {
                snprintf(title[p], sizeof title[p], "%s: %s", series[i].clip, titles[p]);
                panels[p] = (plot_panel){title[p], "FRAME", y_labels[p], lines[p], n, 0, 0};
            }
            vv_image image = {0};
            s = plot_render(&image, panels, 3, 900, 260);
            follow_plot_name(&series[i], kind, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (s == VV_OK) s = image_save(&image, path);
            image_free(&image);
        }
        for (int p = 0; p < 3; p++)
            for (int k = 0; k < MAX_LINES; k++) {
                free(xs[p][k]);
                free(ys[p][k]);
            }
        i = j;
    }
    return s;
}

static vv_status write_text(const char *path, const char *text) {
    char temp[1100];
    vv_status s = file_temp_path(path, temp, sizeof temp);
    if (s != VV_OK) return s;
    FILE *f = fopen(temp, "w");
    if (!f) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        remove(temp);
        return vv_fail(VV_ERR_WRITE, "cannot write %s", path);
    }
    return file_commit(temp, path);
}

vv_status report_write(const eval_report *report, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/plots", dir);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return vv_fail(VV_ERR_WRITE, "cannot create %s: %s", path, strerror(errno));
    vv_status s = write_plots(dir, PROTOCOL_SELF, report->self, report->self_count);
    if (s == VV_OK) s = write_plots(dir, PROTOCOL_CROSS, report->cross, report->cross_count);
    if (s == VV_OK) s = write_follow_plots(dir, PROTOCOL_SELF, report->self, report->self_count);
    if (s == VV_OK) s = write_follow_plots(dir, PROTOCOL_CROSS, report->cross, report->cross_count);
    if (s != VV_OK) return s;
    summary_row self_rows[SUMMARY_CAPACITY], cross_rows[SUMMARY_CAPACITY];
    int self_rows_n = summarise(report->self, report->self_count, self_rows, SUMMARY_CAPACITY);
    int cross_rows_n = summarise(report->cross, report->cross_count, cross_rows, SUMMARY_CAPACITY);
    for (int r = 0; s == VV_OK && r < self_rows_n; r++) s = row_frechet(report->self, report->self_count, &self_rows[r]);
    if (s != VV_OK) return s;
    const eval_options *o = report->options;
    /* Markdown. */
    char *md = NULL;
    size_t md_size = 0;
    FILE *f = open_memstream(&md, &md_size);
    if (!f) return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the report");
    fprintf(f, "# vivify evaluation\n\n");
    fprintf(f, "Engines:");
    for (int e = 0; e < o->engine_count; e++)
    {
        const char *name = o->engines[e];
        bool learned = eval_engine_learned(name);
        const char *note = eval_engine_available(name) || (learned && o->model) ? ""
                           : learned ? " (unavailable: needs --model)" : " (unavailable: unknown engine)";
        fprintf(f, " %s%s", name, note);
    }
    fprintf(f, ". Shots K:");
    for (int k = 0; k < o->shot_count; k++) fprintf(f, " %d", o->shots[k]);
    fprintf(f, ". At most %d driving frames per clip, seed %llu. Following: %d frames%s. Model: %s. Took %.1f s.\n\n",
            o->max_frames, (unsigned long long)o->seed, o->follow_frames, o->follow_frames ? "" : " (off)",
            o->model ? o->model : "none", report->seconds);
    if (o->delay_frames)
        fprintf(f, "**Testing: every output frame t is rendered from driver frame t - %d (--delay): a deliberately late "
                   "output.**\n\n", o->delay_frames);
    fprintf(f, "Every result comes through the pipeline of `vivify animate`: the driver clip tracked with animate's "
               "tracker (raw landmarks), smoothed by its centred timeline, motion relative to the driver's reference "
               "frame, rendered by the animator (the driver's frame for the mouth interior). "
               "Self-reenactment: the first K frames of a clip are the sources (each with its own frame as the "
               "reference); driving frames are sampled from "
               "the rest (after the largest K that fits the clip), and each result is compared with the real frame. "
               "Cross-reenactment: each portrait driven by each clip; CSIM to the portrait, expression distance to "
               "the driver (each relative to its own neutral: the portrait and the driver's first face frame), pose "
               "distance between the result's head-pose change (from the portrait) and the driver's (from its first "
               "face frame). Engine `freeze` is the do-nothing baseline (the nearest source shown unchanged).\n\n");
    fprintf(f, "%s:\n\n", FOLLOW_INTRO);
    for (int c = 0; c < FOLLOW_COL_COUNT; c++) fprintf(f, "- %s\n", follow_descriptions[c]);
    fprintf(f, "\n");
    fprintf(f, "Metrics:\n\n");
    for (int m = 0; m < METRIC_COUNT; m++) fprintf(f, "- %s\n", eval_metric_description((eval_metric)m));
    fprintf(f, "- %s\n\n", FRECHET_DESCRIPTION);
    if (report->ran_self)
        md_protocol(f, "Self-reenactment", PROTOCOL_SELF, report->self, report->self_count, self_rows, self_rows_n);
    if (report->ran_cross)
        md_protocol(f, "Cross-reenactment", PROTOCOL_CROSS, report->cross, report->cross_count, cross_rows, cross_rows_n);
    if (fclose(f) != 0) {
        free(md);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing the report");
    }
    snprintf(path, sizeof path, "%s/report.md", dir);
    s = write_text(path, md);
    free(md);
    if (s != VV_OK) return s;
    /* JSON. */
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "vivify-eval");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON *settings = cJSON_AddObjectToObject(root, "settings");
    cJSON *engines = cJSON_AddArrayToObject(settings, "engines");
    for (int e = 0; e < o->engine_count; e++) cJSON_AddItemToArray(engines, cJSON_CreateString(o->engines[e]));
    cJSON *shots = cJSON_AddArrayToObject(settings, "shots");
    for (int k = 0; k < o->shot_count; k++) cJSON_AddItemToArray(shots, cJSON_CreateNumber(o->shots[k]));
    cJSON_AddNumberToObject(settings, "max_frames", o->max_frames);
    cJSON_AddNumberToObject(settings, "seed", (double)o->seed);
    cJSON_AddNumberToObject(settings, "follow_frames", o->follow_frames);
    cJSON_AddNumberToObject(settings, "delay_frames", o->delay_frames);
    if (o->model) cJSON_AddStringToObject(settings, "model", o->model);
    else cJSON_AddNullToObject(settings, "model");
    cJSON_AddNumberToObject(root, "seconds", report->seconds);
    cJSON *metrics = cJSON_AddObjectToObject(root, "metrics");
    for (int m = 0; m < METRIC_COUNT; m++)
        cJSON_AddStringToObject(metrics, eval_metric_name((eval_metric)m), eval_metric_description((eval_metric)m));
    cJSON_AddStringToObject(metrics, "FD-faceres", FRECHET_DESCRIPTION);
    cJSON *follow = cJSON_AddObjectToObject(root, "follow_metrics");
    cJSON_AddStringToObject(follow, "about", FOLLOW_INTRO);
    for (int c = 0; c < FOLLOW_COL_COUNT; c++) cJSON_AddStringToObject(follow, follow_keys[c], follow_descriptions[c]);
    cJSON *protocols = cJSON_AddObjectToObject(root, "protocols");
    if (report->ran_self)
        cJSON_AddItemToObject(protocols, "self_reenactment", json_protocol(PROTOCOL_SELF, report->self, report->self_count, self_rows, self_rows_n));
    if (report->ran_cross)
        cJSON_AddItemToObject(protocols, "cross_reenactment", json_protocol(PROTOCOL_CROSS, report->cross, report->cross_count, cross_rows, cross_rows_n));
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    if (!json) return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing report.json");
    snprintf(path, sizeof path, "%s/report.json", dir);
    size_t len = strlen(json);
    char *with_newline = malloc(len + 2);
    if (!with_newline) {
        free(json);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory writing report.json");
    }
    memcpy(with_newline, json, len);
    memcpy(with_newline + len, "\n", 2);
    free(json);
    s = write_text(path, with_newline);
    free(with_newline);
    return s;
}
