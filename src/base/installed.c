/* base: where an installed vivify keeps its models (cmake --install, ./dev install). */
#define _GNU_SOURCE /* dladdr */
#include "base/base.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Set by CMakeLists.txt from the install layout (GNUInstallDirs); these are its defaults. */
#ifndef VV_LIB_TO_MODELS
#define VV_LIB_TO_MODELS "../share/vivify/models"
#endif
#ifndef VV_BIN_TO_MODELS
#define VV_BIN_TO_MODELS "../share/vivify/models"
#endif

/* `name` in <folder of file>/<relative>/; false when the path does not fit or no file. */
static bool try_beside(const char *file, const char *relative, const char *name, char *out,
                       size_t out_size) {
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (!slash) return false;
    int n = snprintf(out, out_size, "%.*s/%s/%s", (int)(slash - file), file, relative, name);
    return n > 0 && (size_t)n < out_size && file_exists(out);
}

bool models_find_installed(const char *name, bool relative, char *out, size_t out_size) {
    if (relative) {
        /* The object holding this code: libvivify.so in <libdir>, or a program that linked
         * libvivify.a; then the running program, in <bindir>. */
        Dl_info info;
        if (dladdr((void *)&models_find_installed, &info) && info.dli_fname &&
            try_beside(info.dli_fname, VV_LIB_TO_MODELS, name, out, out_size))
            return true;
        char exe[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len > 0) {
            exe[len] = 0;
            if (try_beside(exe, VV_BIN_TO_MODELS, name, out, out_size)) return true;
        }
        return false;
    }
    static const char *const fixed[] = {
#ifdef VV_MODELS_INSTALL_DIR
        VV_MODELS_INSTALL_DIR,
#endif
        "/usr/share/vivify/models"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        int n = snprintf(out, out_size, "%s/%s", fixed[i], name);
        if (n > 0 && (size_t)n < out_size && file_exists(out)) return true;
    }
    return false;
}
