/* fuzz/fuzz_common.h: helpers shared by the fuzz targets.  Loaders that only take a path
 * get the input through a file in this process's own scratch folder (removed at exit). */
#ifndef VV_FUZZ_COMMON_H
#define VV_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_folder[256];

static inline void fuzz_folder_remove(void) {
    if (!fuzz_folder[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_folder);
    if (system(cmd) != 0) { /* nothing more to do at exit */ }
}

/* The scratch folder: $TMPDIR (or /tmp)/vv_fuzz_<pid>, made on first use. */
static inline const char *fuzz_scratch(void) {
    if (fuzz_folder[0]) return fuzz_folder;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0]) tmp = "/tmp";
    snprintf(fuzz_folder, sizeof fuzz_folder, "%s/vv_fuzz_XXXXXX", tmp);
    if (!mkdtemp(fuzz_folder)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_folder_remove);
    return fuzz_folder;
}

/* Writes data to <scratch>/<name>; path receives the full path.  Aborts on I/O errors
 * (those are the harness's, never the library's). */
static inline void fuzz_write_file(const char *name, const uint8_t *data, size_t size, char *path,
                            size_t path_size) {
    snprintf(path, path_size, "%s/%s", fuzz_scratch(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the scratch file");
        abort();
    }
}

/* FUZZ_VERBOSE=1: each load's outcome on stderr (to check that seeds are accepted and
 * to triage corpora). */
static inline vv_status fuzz_status(vv_status s) {
    const char *verbose = getenv("FUZZ_VERBOSE");
    if (verbose && verbose[0] == '1')
        fprintf(stderr, "  load: %s\n", s == VV_OK ? "accepted" : vv_last_error());
    return s;
}

#endif
