/* base: status messages, checked allocation, timers, thread pool, paths.
 * Everything else in src/ may include this; it includes nothing of ours but vivify.h. */
#ifndef VV_BASE_H
#define VV_BASE_H

#include "vivify.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Records a detailed message for vv_last_error() and returns status, so callers write
 *   return vv_fail(VV_ERR_CORRUPT, "truncated PNG in %s", path); */
vv_status vv_fail(vv_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Overflow-checked size arithmetic: false on overflow. */
bool size_mul(size_t a, size_t b, size_t *out);
bool size_mul3(size_t a, size_t b, size_t c, size_t *out);
bool size_add(size_t a, size_t b, size_t *out);

/* malloc/calloc wrappers that return NULL on zero or overflowing sizes. */
void *mem_alloc(size_t count, size_t elem_size);
void *mem_calloc(size_t count, size_t elem_size);
/* 64-byte aligned; free with mem_free_aligned. */
void *mem_alloc_aligned(size_t bytes);
void mem_free_aligned(void *p);

double time_now(void); /* monotonic seconds */

/* Reads a whole (small) file, e.g. model JSON. Caps at max_bytes. */
vv_status file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *size);
bool file_exists(const char *path);
/* Atomic output: temp name next to final path; rename on commit. */
vv_status file_temp_path(const char *final_path, char *temp, size_t temp_size);
vv_status file_commit(const char *temp_path, const char *final_path);
/* Lowercase extension without dot ("png"), "" if none. */
const char *path_extension(const char *path, char *buf, size_t buf_size);

/* Finds a model file by name: $VIVIFY_MODELS, an installed copy beside the library or the
 * program (<libdir>/../share/vivify/models, <bindir>/../share/vivify/models), <source>/.cache/models,
 * ./.cache/models, <exe dir>/../.cache/models, the configured install folder
 * (<prefix>/share/vivify/models), /usr/share/vivify/models. */
vv_status models_find(const char *name, char *out, size_t out_size);
/* The installed models only (base/installed.c): relative, beside the library or the program;
 * else the configured install folder and /usr/share/vivify/models.  Sets no error. */
bool models_find_installed(const char *name, bool relative, char *out, size_t out_size);

/* Thread pool: runs fn(ctx, i) for i in [0, count) across up to `threads` threads
 * (0 = all cores); returns when all done.  Nested calls run serially. */
typedef void (*parallel_fn)(void *ctx, int index);
void parallel_for(int count, int threads, parallel_fn fn, void *ctx);
int cpu_count(void);

#endif
