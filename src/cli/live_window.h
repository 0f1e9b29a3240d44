/* cli/live_window: the window of `vivify live --window` (SDL2): the driver beside the result,
 * the figures in the title.  Without SDL2 at build time, opening it is refused as not
 * supported in this build. */
#ifndef VV_CLI_LIVE_WINDOW_H
#define VV_CLI_LIVE_WINDOW_H

#include "base/base.h"

typedef struct live_window live_window;

bool live_window_built(void);
/* Cheap check before anything loads: VV_ERR_UNSUPPORTED when this build has no SDL2 or there
 * is no display to show a window on (neither DISPLAY nor WAYLAND_DISPLAY, and no
 * SDL_VIDEODRIVER chosen). */
vv_status live_window_available(void);
/* A window for a driver_width x driver_height driver beside a result_width x result_height
 * result, both shown at one height (at most 720 px; the window can be resized).
 * VV_ERR_UNSUPPORTED when there is no display or no SDL2 in this build. */
vv_status live_window_open(live_window **out, int driver_width, int driver_height, int result_width, int result_height);
/* Shows the pair now (no vsync wait); title: NULL keeps the current one. */
vv_status live_window_show(live_window *window, const vv_image *driver, const vv_image *result, const char *title);
/* Handles pending events; true once the user closed the window (or pressed Esc or q). */
bool live_window_poll(live_window *window);
/* The next character typed in the window since (by live_window_poll), or 0. */
int live_window_key(live_window *window);
void live_window_close(live_window *window);

#endif
