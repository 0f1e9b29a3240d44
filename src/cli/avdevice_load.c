/* cli/avdevice_load: libavdevice opened when a command first needs it (avdevice_load.h). */
#include "cli/avdevice_load.h"

#ifdef VV_HAVE_AVDEVICE

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <libavdevice/version.h>
#include <libavutil/macros.h>

/* The libavdevice this build's headers describe; it registers into the libavformat already
 * loaded (same FFmpeg release). */
#define AVDEVICE_SONAME "libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool registered;
static char load_error[512];

static void avdevice_load(void) {
    /* Never closed: libavformat keeps pointers to the devices it registers. */
    void *lib = dlopen(AVDEVICE_SONAME, RTLD_NOW | RTLD_LOCAL);
    void (*register_all)(void) = NULL;
    if (lib) *(void **)&register_all = dlsym(lib, "avdevice_register_all");
    if (!register_all) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "%s", why ? why : AVDEVICE_SONAME " has no avdevice_register_all");
        return;
    }
    register_all();
    registered = true;
}

vv_status cli_avdevice_register(void) {
    pthread_once(&load_once, avdevice_load);
    if (registered) return VV_OK;
    return vv_fail(VV_ERR_UNSUPPORTED, "cameras, lavfi graphs and pipes need libavdevice, which cannot be opened: %s",
                   load_error);
}

#else

vv_status cli_avdevice_register(void) {
    return vv_fail(VV_ERR_UNSUPPORTED, "cameras, lavfi graphs and pipes are not supported in this build (built without libavdevice)");
}

#endif
