/* cli/progress: a one-line progress bar with rate and ETA on stderr.  On a terminal it
 * redraws in place; otherwise (logs, CI) it prints a line every ~10%. */
#include "cli/cli.h"

#include <stdio.h>
#include <unistd.h>

void progress_start(progress_bar *bar, const char *label, long total, const char *unit) {
    bar->label = label;
    bar->unit = unit;
    bar->total = total;
    bar->start = time_now();
    bar->last_draw = 0;
    bar->last_decile = -1;
    bar->tty = isatty(2);
    bar->quiet = false;
}

static void format_seconds(char *buf, size_t size, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, size, "--:--");
    else if (s >= 3600) snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else snprintf(buf, size, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void progress_update(progress_bar *bar, long done) {
    if (bar->quiet) return;
    double now = time_now();
    double elapsed = now - bar->start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    if (bar->tty) {
        if (now - bar->last_draw < 0.1 && done != bar->total) return;
        bar->last_draw = now;
        char eta[32], spent[32];
        format_seconds(spent, sizeof spent, elapsed);
        if (bar->total > 0) {
            double frac = (double)done / (double)bar->total;
            if (frac > 1) frac = 1;
            int filled = (int)(frac * 30);
            char bar_text[31];
            for (int i = 0; i < 30; i++) bar_text[i] = i < filled ? '#' : '.';
            bar_text[30] = 0;
            format_seconds(eta, sizeof eta, rate > 0 ? (double)(bar->total - done) / rate : -1);
            fprintf(stderr, "\r%s [%s] %ld/%ld %s  %.1f %s/s  %s elapsed  ETA %s ", bar->label,
                    bar_text, done, bar->total, bar->unit, rate, bar->unit, spent, eta);
        } else {
            fprintf(stderr, "\r%s %ld %s  %.1f %s/s  %s elapsed ", bar->label, done, bar->unit,
                    rate, bar->unit, spent);
        }
        fflush(stderr);
    } else if (bar->total > 0) {
        int decile = (int)(10 * done / bar->total);
        if (decile > bar->last_decile && decile < 10) {
            bar->last_decile = decile;
            fprintf(stderr, "%s: %ld/%ld %s (%.1f %s/s)\n", bar->label, done, bar->total,
                    bar->unit, rate, bar->unit);
        }
    }
}

void progress_finish(progress_bar *bar) {
    if (!bar->quiet && bar->tty) fputc('\n', stderr);
}
