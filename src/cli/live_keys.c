/* cli/live_keys: `vivify live`'s keys (see live_keys.h). */
#include "cli/live_keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define GAIN_STEP 0.1f

const char live_keys_help[] = "keys: n neutral (recalibrate), s next portrait, e/E expression, p/P head motion, "
                              "i/I eyes, l/L lips (lower/upper case: down/up 0.1), 0 gains as started, q or Esc stops";

void live_controls_init(live_controls *c, float expression, float pose, float eyes, float lips, int source_count) {
    memset(c, 0, sizeof *c);
    c->expression = c->start[0] = expression;
    c->pose = c->start[1] = pose;
    c->eyes = c->start[2] = eyes;
    c->lips = c->start[3] = lips;
    c->source = -1;
    c->source_count = source_count;
}

static float step(float value, int direction, float high) {
    float v = value + direction * GAIN_STEP;
    v = roundf(v * 100) / 100; /* 0.1 steps stay 0.1 steps */
    return v < 0 ? 0 : v > high ? high : v;
}

static void describe(const live_controls *c, const char *what, char *message, size_t size) {
    char source[32];
    if (c->source < 0) snprintf(source, sizeof source, "%s", c->source_count > 1 ? "nearest" : "1");
    else snprintf(source, sizeof source, "%d of %d", c->source + 1, c->source_count);
    snprintf(message, size, "live: %s: expression %.2f, head %.2f, eyes %.2f, lips %.2f; portrait %s", what, c->expression,
             c->pose, c->eyes, c->lips, source);
}

bool live_key_apply(vv_animator *a, live_controls *c, int key, char *message, size_t size) {
    const char *what = NULL;
    float *gain = NULL, high = 3;
    switch (key) {
    case 'n':
        if (vv_animator_recalibrate(a) != VV_OK) return false;
        describe(c, "the next face is the neutral", message, size);
        return true;
    case 's':
        if (c->source_count < 2) {
            snprintf(message, size, "live: one portrait: nothing to switch to (give several: vivify live A.jpg B.jpg ...)");
            return true;
        }
        c->source = c->source + 1 >= c->source_count ? -1 : c->source + 1;
        if (vv_animator_set_source(a, c->source) != VV_OK) return false;
        describe(c, c->source < 0 ? "portrait chosen by the face" : "portrait pinned", message, size);
        return true;
    case '0':
        c->expression = c->start[0];
        c->pose = c->start[1];
        c->eyes = c->start[2];
        c->lips = c->start[3];
        what = "gains as started";
        break;
    case 'e': case 'E': gain = &c->expression; what = "expression"; break;
    case 'p': case 'P': gain = &c->pose; what = "head motion"; break;
    case 'i': case 'I': gain = &c->eyes; what = "eyes"; break;
    case 'l': case 'L': gain = &c->lips; what = "lips"; break;
    case 'h': case '?':
        snprintf(message, size, "live: %s", live_keys_help);
        return true;
    default:
        return false;
    }
    if (gain) *gain = step(*gain, key >= 'a' ? -1 : 1, high);
    if (vv_animator_set_gains(a, c->expression, c->pose, c->eyes, c->lips) != VV_OK) return false;
    describe(c, what, message, size);
    return true;
}

struct live_terminal {
    struct termios saved;
};

live_terminal *live_terminal_open(void) {
    /* a terminal, and ours: in the background (vivify live ... &) changing or reading it
     * would stop the process (SIGTTOU, SIGTTIN) */
    if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp()) return NULL;
    live_terminal *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (tcgetattr(STDIN_FILENO, &t->saved) != 0) {
        free(t);
        return NULL;
    }
    struct termios raw = t->saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keys as typed, unseen; ISIG kept: Ctrl-C stops */
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

int live_terminal_key(live_terminal *t) {
    if (!t) return 0;
    unsigned char c = 0;
    ssize_t n = read(STDIN_FILENO, &c, 1);
    return n == 1 ? c : 0;
}

void live_terminal_close(live_terminal *t) {
    if (!t) return;
    tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    free(t);
}
