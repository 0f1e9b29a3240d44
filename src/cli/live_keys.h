/* cli/live_keys: the keys of `vivify live` while it runs, typed in its window or, when its
 * standard input is a terminal, there:
 *   n      the next frame with a face is the neutral (recalibrate)
 *   s      the next portrait (with several: 1, 2, ..., then back to the nearest one's choice)
 *   e / E  expression strength down / up 0.1      p / P  head motion down / up
 *   i / I  eyes gain down / up                     l / L  lips gain down / up
 *   0      every gain back to where it started    h, ?   these keys
 * Each change says the controls' state in one line. */
#ifndef VV_CLI_LIVE_KEYS_H
#define VV_CLI_LIVE_KEYS_H

#include "base/base.h"

#include <stddef.h>

typedef struct live_controls {
    float expression, pose, eyes, lips;          /* now */
    float start[4];                              /* as given on the command line */
    int source;                                  /* -1: the nearest portrait; else pinned */
    int source_count;
} live_controls;

void live_controls_init(live_controls *c, float expression, float pose, float eyes, float lips, int source_count);
/* Applies key to the animator; true with a line in message when it meant something. */
bool live_key_apply(vv_animator *animator, live_controls *c, int key, char *message, size_t size);
extern const char live_keys_help[];

/* Terminal keys: the terminal unbuffered and silent (Ctrl-C still stops) while it runs. */
typedef struct live_terminal live_terminal;
live_terminal *live_terminal_open(void); /* NULL: standard input is not a terminal */
int live_terminal_key(live_terminal *t); /* the next key typed, or 0 */
void live_terminal_close(live_terminal *t);

#endif
