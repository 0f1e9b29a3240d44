/* eval/plot: line plots drawn into images by our own code (axes, ticks, grid, legend)
 * and text in a built-in 5x7 bitmap font (digits, letters shown upper-case, and
 * " .,:;-+=/()%_<>#'[]!?*"; other characters draw as a box). */
#ifndef VV_EVAL_PLOT_H
#define VV_EVAL_PLOT_H

#include "base/base.h"

#define PLOT_GLYPH_WIDTH 6  /* advance per character at scale 1 (5 + 1 spacing) */
#define PLOT_GLYPH_HEIGHT 7

/* Draws text with its top-left corner at (x, y), clipped to the image (RGB). */
void plot_text(vv_image *image, int x, int y, const char *text, const uint8_t colour[3], int scale);
int plot_text_width(const char *text, int scale);

typedef struct plot_series {
    const char *label;
    const double *x, *y; /* count points; non-finite y values break the line */
    int count;
} plot_series;

typedef struct plot_panel {
    const char *title, *x_label, *y_label;
    const plot_series *series;
    int series_count;
    double y_min, y_max;  /* y_min >= y_max: from the data (with a margin) */
} plot_panel;

/* Draws the panels stacked vertically, each width x panel_height, into *out (allocated,
 * white background).  Series colours cycle through 8 distinct colours, the same index
 * in every panel; the legend lists each panel's series. */
vv_status plot_render(vv_image *out, const plot_panel *panels, int panel_count, int width, int panel_height);

/* Axis ticks: "nice" step (1, 2 or 5 x 10^n) giving about `target` ticks over [lo, hi]. */
double plot_tick_step(double lo, double hi, int target);

#endif
