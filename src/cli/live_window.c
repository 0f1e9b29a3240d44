/* cli/live_window: SDL2 window for `vivify live --window` (see live_window.h). */
#include "cli/live_window.h"

#ifndef VV_HAVE_SDL2

bool live_window_built(void) { return false; }
vv_status live_window_available(void) {
    return vv_fail(VV_ERR_UNSUPPORTED, "live --window is not supported in this build (built without SDL2): use --output OUT.mp4");
}
vv_status live_window_open(live_window **out, int driver_width, int driver_height, int result_width, int result_height) {
    (void)driver_width, (void)driver_height, (void)result_width, (void)result_height;
    *out = NULL;
    return vv_fail(VV_ERR_UNSUPPORTED, "live --window is not supported in this build (built without SDL2): use --output OUT.mp4");
}
vv_status live_window_show(live_window *window, const vv_image *driver, const vv_image *result, const char *title) {
    (void)window, (void)driver, (void)result, (void)title;
    return vv_fail(VV_ERR_UNSUPPORTED, "live: no window in this build");
}
bool live_window_poll(live_window *window) {
    (void)window;
    return true;
}
int live_window_key(live_window *window) {
    (void)window;
    return 0;
}
void live_window_close(live_window *window) { (void)window; }

#else

#include <SDL.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_MAX_HEIGHT 720

struct live_window {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *driver, *result;
    int driver_width, driver_height, result_width, result_height;
    int keys[16], key_count; /* typed, not yet taken (live_window_key) */
    SDL_Rect driver_rect, result_rect; /* in the logical (unscaled) layout */
    bool closed;
};

bool live_window_built(void) { return true; }

vv_status live_window_available(void) {
    const char *names[] = {"DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"};
    for (int i = 0; i < 3; i++)
        if (SDL_getenv(names[i]) && SDL_getenv(names[i])[0]) return VV_OK;
    return vv_fail(VV_ERR_UNSUPPORTED, "cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are unset)");
}

void live_window_close(live_window *w) {
    if (!w) return;
    if (w->driver) SDL_DestroyTexture(w->driver);
    if (w->result) SDL_DestroyTexture(w->result);
    if (w->renderer) SDL_DestroyRenderer(w->renderer);
    if (w->window) SDL_DestroyWindow(w->window);
    free(w);
    SDL_Quit();
}

vv_status live_window_open(live_window **out, int driver_width, int driver_height, int result_width, int result_height) {
    *out = NULL;
    if (driver_width <= 0 || driver_height <= 0 || result_width <= 0 || result_height <= 0)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "live: bad window layout %dx%d beside %dx%d", driver_width, driver_height,
                       result_width, result_height);
    /* Ctrl-C and SIGTERM stay ours (they stop the run and keep the recording). */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    if (SDL_Init(SDL_INIT_VIDEO) != 0)
        return vv_fail(VV_ERR_UNSUPPORTED, "cannot open a window (no display?): %s", SDL_GetError());
    /* Without a display SDL falls back to drivers that show nothing: refuse those unless asked
     * for by name (SDL_VIDEODRIVER=dummy runs the tests). */
    const char *driver = SDL_GetCurrentVideoDriver(), *asked = SDL_getenv("SDL_VIDEODRIVER");
    if (driver && (!strcmp(driver, "offscreen") || !strcmp(driver, "dummy")) && !(asked && !strcmp(asked, driver))) {
        SDL_Quit();
        return vv_fail(VV_ERR_UNSUPPORTED, "cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are unset)");
    }
    live_window *w = calloc(1, sizeof *w);
    if (!w) {
        SDL_Quit();
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory opening the window");
    }
    w->driver_width = driver_width;
    w->driver_height = driver_height;
    w->result_width = result_width;
    w->result_height = result_height;
    /* Both at the result's height (the driver scaled to it): one logical canvas that the
     * renderer scales to the window, keeping the aspect. */
    int height = result_height;
    int driver_shown = (int)((long long)driver_width * height / driver_height);
    if (driver_shown < 1) driver_shown = 1;
    w->driver_rect = (SDL_Rect){0, 0, driver_shown, height};
    w->result_rect = (SDL_Rect){driver_shown, 0, result_width, height};
    int canvas_width = driver_shown + result_width;
    int window_height = height > WINDOW_MAX_HEIGHT ? WINDOW_MAX_HEIGHT : height;
    int window_width = (int)((long long)canvas_width * window_height / height);
    vv_status s = VV_OK;
    if (!(w->window = SDL_CreateWindow("vivify live", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, window_width,
                                       window_height, SDL_WINDOW_RESIZABLE)) ||
        !(w->renderer = SDL_CreateRenderer(w->window, -1, 0)) || /* no vsync: a frame is shown at once */
        SDL_RenderSetLogicalSize(w->renderer, canvas_width, height) != 0 ||
        !(w->driver = SDL_CreateTexture(w->renderer, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING, driver_width,
                                        driver_height)) ||
        !(w->result = SDL_CreateTexture(w->renderer, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING, result_width,
                                        result_height)))
        s = vv_fail(VV_ERR_UNSUPPORTED, "cannot open a window: %s", SDL_GetError());
    if (s != VV_OK) {
        live_window_close(w);
        return s;
    }
    SDL_StartTextInput(); /* typed characters for the live controls */
    *out = w;
    return VV_OK;
}

static bool texture_update(SDL_Texture *texture, const vv_image *image, int width, int height) {
    if (!image || !image->data || image->channels != 3 || image->width < width || image->height < height) return false;
    SDL_Rect area = {0, 0, width, height};
    return SDL_UpdateTexture(texture, &area, image->data, image->width * 3) == 0;
}

vv_status live_window_show(live_window *w, const vv_image *driver, const vv_image *result, const char *title) {
    if (title) SDL_SetWindowTitle(w->window, title);
    SDL_SetRenderDrawColor(w->renderer, 0, 0, 0, 255);
    SDL_RenderClear(w->renderer);
    if (texture_update(w->driver, driver, w->driver_width, w->driver_height))
        SDL_RenderCopy(w->renderer, w->driver, NULL, &w->driver_rect);
    if (texture_update(w->result, result, w->result_width, w->result_height))
        SDL_RenderCopy(w->renderer, w->result, NULL, &w->result_rect);
    SDL_RenderPresent(w->renderer);
    return VV_OK;
}

bool live_window_poll(live_window *w) {
    SDL_Event event;
    while (SDL_PollEvent(&event)) {
        /* typed characters (with Shift: 'E' is not 'e') for the live controls (cli/live_keys.h) */
        if (event.type == SDL_TEXTINPUT && event.text.text[0] > ' ' && event.text.text[0] < 127 && event.text.text[1] == 0 &&
            event.text.text[0] != 'q' && w->key_count < (int)(sizeof w->keys / sizeof w->keys[0]))
            w->keys[w->key_count++] = event.text.text[0];
        if (event.type == SDL_QUIT) w->closed = true;
        if (event.type == SDL_WINDOWEVENT && event.window.event == SDL_WINDOWEVENT_CLOSE) w->closed = true;
        if (event.type == SDL_KEYDOWN && (event.key.keysym.sym == SDLK_ESCAPE || event.key.keysym.sym == SDLK_q))
            w->closed = true;
    }
    return w->closed;
}

int live_window_key(live_window *w) {
    if (!w || w->key_count == 0) return 0;
    int key = w->keys[0];
    memmove(w->keys, w->keys + 1, (size_t)(--w->key_count) * sizeof w->keys[0]);
    return key;
}

#endif
