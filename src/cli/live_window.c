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
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SDL2 is opened when a window is first asked for, not linked: its libraries cost every
 * command start-up time (as libavdevice's, cli/avdevice_load.h).  Linked under the
 * sanitizers (CMakeLists.txt), where the same code finds it already open.  The rest of this
 * file calls SDL by its own names, through these pointers. */
#define SDL_FUNCTIONS(X)                                                                            \
    X(SDL_CreateRenderer) X(SDL_CreateTexture) X(SDL_CreateWindow) X(SDL_DestroyRenderer)          \
    X(SDL_DestroyTexture) X(SDL_DestroyWindow) X(SDL_GetCurrentVideoDriver) X(SDL_GetError)        \
    X(SDL_Init) X(SDL_PollEvent) X(SDL_Quit) X(SDL_RenderClear) X(SDL_RenderCopy)                  \
    X(SDL_RenderPresent) X(SDL_RenderSetLogicalSize) X(SDL_SetHint) X(SDL_SetRenderDrawColor)      \
    X(SDL_SetWindowTitle) X(SDL_StartTextInput) X(SDL_UpdateTexture) X(SDL_getenv)
#define SDL_POINTER(name) static __typeof__(&name) p_##name;
SDL_FUNCTIONS(SDL_POINTER)
static bool sdl_loaded;
static char sdl_error[512];
static pthread_once_t sdl_once = PTHREAD_ONCE_INIT;

static void sdl_load(void) {
    void *lib = dlopen("libSDL2-2.0.so.0", RTLD_NOW | RTLD_LOCAL); /* never closed */
    bool ok = lib != NULL;
#define SDL_RESOLVE(name) ok = ok && (*(void **)&p_##name = dlsym(lib, #name)) != NULL;
    SDL_FUNCTIONS(SDL_RESOLVE)
    if (!ok) {
        const char *why = dlerror();
        snprintf(sdl_error, sizeof sdl_error, "%s", why ? why : "libSDL2-2.0.so.0 lacks a function");
    }
    sdl_loaded = ok;
}

static vv_status sdl_open(void) {
    pthread_once(&sdl_once, sdl_load);
    return sdl_loaded ? VV_OK : vv_fail(VV_ERR_UNSUPPORTED, "live --window needs SDL2, which cannot be opened: %s", sdl_error);
}

#define SDL_CreateRenderer (*p_SDL_CreateRenderer)
#define SDL_CreateTexture (*p_SDL_CreateTexture)
#define SDL_CreateWindow (*p_SDL_CreateWindow)
#define SDL_DestroyRenderer (*p_SDL_DestroyRenderer)
#define SDL_DestroyTexture (*p_SDL_DestroyTexture)
#define SDL_DestroyWindow (*p_SDL_DestroyWindow)
#define SDL_GetCurrentVideoDriver (*p_SDL_GetCurrentVideoDriver)
#define SDL_GetError (*p_SDL_GetError)
#define SDL_Init (*p_SDL_Init)
#define SDL_PollEvent (*p_SDL_PollEvent)
#define SDL_Quit (*p_SDL_Quit)
#define SDL_RenderClear (*p_SDL_RenderClear)
#define SDL_RenderCopy (*p_SDL_RenderCopy)
#define SDL_RenderPresent (*p_SDL_RenderPresent)
#define SDL_RenderSetLogicalSize (*p_SDL_RenderSetLogicalSize)
#define SDL_SetHint (*p_SDL_SetHint)
#define SDL_SetRenderDrawColor (*p_SDL_SetRenderDrawColor)
#define SDL_SetWindowTitle (*p_SDL_SetWindowTitle)
#define SDL_StartTextInput (*p_SDL_StartTextInput)
#define SDL_UpdateTexture (*p_SDL_UpdateTexture)
#define SDL_getenv (*p_SDL_getenv)

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
    vv_status loaded = sdl_open();
    if (loaded != VV_OK) return loaded;
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
    vv_status loaded = sdl_open();
    if (loaded != VV_OK) return loaded;
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
