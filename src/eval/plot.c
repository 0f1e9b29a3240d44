/* eval/plot: line plots and a 5x7 bitmap font (see plot.h). */
#include "eval/plot.h"

#include "img/image.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* 5x7 glyphs: 7 rows, bit 4 is the leftmost column. */
typedef struct glyph {
    char c;
    uint8_t rows[7];
} glyph;

static const glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},                       {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},              {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {';', {0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08}},        {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},        {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},        {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},  {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},                    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},  {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'\'', {0x0C, 0x04, 0x08, 0, 0, 0, 0}},             {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},  {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},     {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0}},
};

static const uint8_t unknown_glyph[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

static const uint8_t *glyph_rows(char c) {
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c) return font[i].rows;
    return unknown_glyph;
}

static void put_pixel(vv_image *image, int x, int y, const uint8_t colour[3]) {
    if (x < 0 || y < 0 || x >= image->width || y >= image->height) return;
    memcpy(image->data + ((size_t)y * image->width + x) * 3, colour, 3);
}

static void fill_rect(vv_image *image, int x0, int y0, int x1, int y1, const uint8_t colour[3]) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) put_pixel(image, x, y, colour);
}

int plot_text_width(const char *text, int scale) {
    int n = (int)strlen(text);
    return n ? (n * PLOT_GLYPH_WIDTH - 1) * scale : 0;
}

void plot_text(vv_image *image, int x, int y, const char *text, const uint8_t colour[3], int scale) {
    if (scale < 1) scale = 1;
    for (const char *p = text; *p; p++, x += PLOT_GLYPH_WIDTH * scale) {
        const uint8_t *rows = glyph_rows(*p);
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++)
                if (rows[r] & (0x10 >> c)) fill_rect(image, x + c * scale, y + r * scale, x + (c + 1) * scale, y + (r + 1) * scale, colour);
    }
}

double plot_tick_step(double lo, double hi, int target) {
    double span = hi - lo;
    if (!(span > 0) || target < 1) return 1;
    double raw = span / target, power = pow(10, floor(log10(raw)));
    double m = raw / power;
    double step = m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10;
    return step * power;
}

static const uint8_t palette[8][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                      {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207}};

static void format_tick(char *out, size_t size, double value, double step) {
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    if (fabs(value) < step * 1e-6) value = 0;
    snprintf(out, size, "%.*f", decimals, value);
}

static void draw_panel(vv_image *image, int top, int width, int height, const plot_panel *panel) {
    const uint8_t black[3] = {0, 0, 0}, grey[3] = {225, 225, 225}, dark[3] = {90, 90, 90};
    /* The legend goes in the right margin, so it never hides data. */
    int legend_w = 0;
    for (int s = 0; s < panel->series_count; s++) {
        int w = plot_text_width(panel->series[s].label ? panel->series[s].label : "", 1);
        if (w > legend_w) legend_w = w;
    }
    const int left = 58, head = 22, foot = 34;
    int right = panel->series_count > 0 ? legend_w + 42 : 12;
    if (right > width / 2) right = width / 2;
    int x0 = left, x1 = width - right, y0 = top + head, y1 = top + height - foot;
    if (x1 - x0 < 20 || y1 - y0 < 20) return;
    /* Data ranges. */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < panel->series_count; s++)
        for (int i = 0; i < panel->series[s].count; i++) {
            double x = panel->series[s].x[i], y = panel->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            xmin = fmin(xmin, x); xmax = fmax(xmax, x);
            ymin = fmin(ymin, y); ymax = fmax(ymax, y);
        }
    if (!isfinite(xmin)) { xmin = 0; xmax = 1; }
    if (xmax <= xmin) { xmin -= 1; xmax += 1; }
    if (panel->y_min < panel->y_max) { ymin = panel->y_min; ymax = panel->y_max; }
    else if (!isfinite(ymin)) { ymin = 0; ymax = 1; }
    else {
        double margin = fmax((ymax - ymin) * 0.08, 1e-3);
        ymin -= margin;
        ymax += margin;
    }
    /* Grid and ticks. */
    char label[64];
    double ystep = plot_tick_step(ymin, ymax, 5), xstep = plot_tick_step(xmin, xmax, 8);
    bool integer_x = true; /* e.g. frame numbers: no fractional ticks */
    for (int s = 0; s < panel->series_count; s++)
        for (int i = 0; i < panel->series[s].count; i++)
            if (isfinite(panel->series[s].x[i]) && panel->series[s].x[i] != floor(panel->series[s].x[i])) integer_x = false;
    if (integer_x && xstep < 1) xstep = 1;
    for (double v = ceil(ymin / ystep) * ystep; v <= ymax + ystep * 1e-9; v += ystep) {
        int y = y1 - (int)lround((v - ymin) / (ymax - ymin) * (y1 - y0));
        fill_rect(image, x0 + 1, y, x1, y + 1, grey);
        fill_rect(image, x0 - 4, y, x0, y + 1, black);
        format_tick(label, sizeof label, v, ystep);
        plot_text(image, x0 - 6 - plot_text_width(label, 1), y - 3, label, black, 1);
    }
    for (double v = ceil(xmin / xstep) * xstep; v <= xmax + xstep * 1e-9; v += xstep) {
        int x = x0 + (int)lround((v - xmin) / (xmax - xmin) * (x1 - x0));
        fill_rect(image, x, y0, x + 1, y1, grey);
        fill_rect(image, x, y1, x + 1, y1 + 4, black);
        format_tick(label, sizeof label, v, xstep);
        plot_text(image, x - plot_text_width(label, 1) / 2, y1 + 7, label, black, 1);
    }
    /* Axes, title, labels. */
    fill_rect(image, x0, y0, x0 + 1, y1 + 1, black);
    fill_rect(image, x0, y1, x1, y1 + 1, black);
    if (panel->title) plot_text(image, (width - plot_text_width(panel->title, 1)) / 2, top + 6, panel->title, black, 1);
    if (panel->y_label) plot_text(image, 4, top + 6, panel->y_label, dark, 1);
    if (panel->x_label)
        plot_text(image, (x0 + x1 - plot_text_width(panel->x_label, 1)) / 2, y1 + 20, panel->x_label, dark, 1);
    /* Lines (broken at non-finite values) with a dot per point. */
    for (int s = 0; s < panel->series_count; s++) {
        const plot_series *ps = &panel->series[s];
        const uint8_t *colour = palette[s % 8];
        bool have_prev = false;
        float px = 0, py = 0;
        for (int i = 0; i < ps->count; i++) {
            if (!isfinite(ps->x[i]) || !isfinite(ps->y[i])) { have_prev = false; continue; }
            double yv = fmin(fmax(ps->y[i], ymin), ymax);
            float x = (float)(x0 + (ps->x[i] - xmin) / (xmax - xmin) * (x1 - x0));
            float y = (float)(y1 - (yv - ymin) / (ymax - ymin) * (y1 - y0));
            if (have_prev) image_draw_line(image, px, py, x, y, colour, 2);
            image_draw_circle(image, x, y, 2.5f, colour, true);
            px = x; py = y;
            have_prev = true;
        }
    }
    if (panel->series_count > 0) {
        int lw = legend_w + 30, lh = panel->series_count * 11 + 6;
        int lx = x1 + 8, ly = y0;
        const uint8_t white[3] = {255, 255, 255};
        fill_rect(image, lx, ly, lx + lw, ly + lh, white);
        image_draw_rect(image, (float)lx, (float)ly, (float)(lx + lw - 1), (float)(ly + lh - 1), dark, 1);
        for (int s = 0; s < panel->series_count; s++) {
            int yy = ly + 4 + s * 11;
            fill_rect(image, lx + 4, yy + 2, lx + 20, yy + 5, palette[s % 8]);
            plot_text(image, lx + 24, yy, panel->series[s].label ? panel->series[s].label : "", black, 1);
        }
    }
}

vv_status plot_render(vv_image *out, const plot_panel *panels, int panel_count, int width, int panel_height) {
    if (panel_count < 1 || width < 100 || panel_height < 80 || width > 8192 || panel_height > 8192 || panel_count > 16)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "plot: %d panels of %dx%d is not a plot size", panel_count, width,
                       panel_height);
    vv_status s = image_create(out, width, panel_height * panel_count, 3);
    if (s != VV_OK) return s;
    memset(out->data, 255, (size_t)out->width * out->height * 3);
    for (int p = 0; p < panel_count; p++) draw_panel(out, p * panel_height, width, panel_height, &panels[p]);
    return VV_OK;
}
