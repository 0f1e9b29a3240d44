/* eval/report: writes an evaluation's report.md, report.json and per-clip line plots
 * (plots/NAME.png) into a folder.
 *
 * Means: a series' mean is over its frames where the metric was measured (NAN values,
 * e.g. no face in the result, are left out); a summary row (engine, K) is the mean of
 * its clips' means, so every clip weighs the same.  JSON: a value not measured is null;
 * an infinite PSNR (identical frames) is the string "inf". */
#ifndef VV_EVAL_REPORT_H
#define VV_EVAL_REPORT_H

#include "eval/protocol.h"

typedef struct eval_report {
    const eval_options *options;
    const eval_series *self;  /* self-reenactment series, clip by clip */
    int self_count;
    const eval_series *cross; /* cross-reenactment series */
    int cross_count;
    bool ran_self, ran_cross; /* which protocols were asked for */
    double seconds;           /* wall time of the evaluation */
} eval_report;

/* Mean of values[i][metric] over the finite (or +inf) values; NAN if none. */
double report_series_mean(const eval_series *series, eval_metric metric);

/* dir must exist; report.md and report.json are written atomically, plots into dir/plots/. */
vv_status report_write(const eval_report *report, const char *dir);

#endif
