/* serve/worker: one job of `vivify serve`, run in a process of its own through the library
 * API (vv_animator_new, vv_animate), as `vivify serve --worker DIR`.
 *
 * It reads DIR/job.json (written by serve/jobs.c: source, driving or motion + duration,
 * output, engine, face and the animation options, max_frames, max_seconds, memory_mb,
 * models_dir; or, for a faces job, "faces": true with source and output, where it writes
 * the portrait's faces as JSON, numbered as `face` numbers them) and writes one JSON object
 * a line to `out_fd`:
 *   {"stage":"searching","done":N,"total":T,"fps":F}   driver frames looked through for
 *                                                       the first face (nothing to render yet)
 *   {"stage":"tracking",...}                           the whole driver tracked first
 *   {"stage":"rendering",...}                          frames rendered and encoded
 *   {"warning":"..."}                                   a note (e.g. a 2D-warp fallback)
 *   {"error":"..."}                                     why it failed (the last line)
 *   {"done":true,"frames":N,"audio":A}                  it finished (the last line); A:
 *                                                       whether the result has sound
 *   {"done":true,"faces":N}                             a faces job finished
 * total is 0 when unknown.  Library code: it never prints to the terminal or exits. */
#ifndef VV_SERVE_WORKER_H
#define VV_SERVE_WORKER_H

#include "base/base.h"

#include <stdint.h>

/* Runs the job in job_dir; VV_OK when the result was written.  The error line is written
 * too (and vv_last_error() holds it). */
vv_status serve_worker_run(const char *job_dir, int out_fd);

/* Caps this process's private writable memory (RLIMIT_DATA: heap, anonymous mappings,
 * thread stacks; not address space merely reserved) at what it holds now plus `bytes`, so
 * an AddressSanitizer build, which maps terabytes of shadow up front, still runs; exposed
 * for tests. */
vv_status serve_worker_limit_memory(uint64_t bytes);

#endif
