/* serve/jobs: a bounded queue of animation jobs for `vivify serve`.
 *
 * Each job runs in a worker process: this same binary as `vivify serve --worker DIR`
 * (serve/worker.h), which reads the job from DIR/job.json and runs it through the library
 * API (vv_animator_new, vv_animate), writing its progress as JSON lines to a pipe.  A
 * crash or runaway job cannot take the server down, cancelling is a kill of its process
 * group, it dies with the server (parent-death signal), and it runs under limits (CPU
 * time here, private writable memory in the worker).  Jobs live in folders under one
 * private temp folder (mode 0700, locked while the queue lives, so a later queue removes
 * the folders of a server that was killed) that the queue removes when a job is deleted or
 * evicted and when the queue is freed.  Folders for uploads still arriving count against the queue's
 * capacity, so the disk held is bounded by it. */
#ifndef VV_SERVE_JOBS_H
#define VV_SERVE_JOBS_H

#include "base/base.h"

#include <limits.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define JOB_ID_LENGTH 32 /* hex digits: 128 bits from /dev/urandom */

/* `digits` (even, at most 128) lowercase hex digits from random_fd (/dev/urandom) into id,
 * NUL-terminated (digits + 1 bytes): job and live-session ids.  false when the read fails. */
bool serve_random_id(int random_fd, char *id, size_t digits);
/* In a forked worker, before anything else: its own process group, killed with the
 * server (parent), a CPU limit (0: none), default signals, in_fd as stdin (-1: /dev/null)
 * and out_fd as stdout, nothing else of the server's; then execs exe.  Never returns. */
void serve_child_exec(const char *exe, char *const argv[], int in_fd, int out_fd, pid_t parent, rlim_t cpu_seconds);

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;
const char *job_state_name(job_state state);

/* What an upload asked for, already validated by the server. */
typedef struct job_request {
    bool faces;             /* list the portrait's faces (POST /api/faces: result.json),
                               not an animation; only source and filename count */
    char source[PATH_MAX];  /* the stored portrait, inside the job's folder */
    char driving[PATH_MAX]; /* the stored driving video, or "" */
    char motion[40];        /* a built-in motion, or "" */
    char audio[PATH_MAX];   /* the stored speech recording (animate --audio: the mouth
                               follows it, the motion is `motion` or talk), or "" */
    char engine[8];         /* animate --engine (warp, warp2d; the server always names
                               one), or "": none passed, animate's default */
    bool absolute, compare, gif;
    bool background_move;   /* animate --background move (default still) */
    float expression_scale, pose_scale, duration; /* duration: built-in motions only */
    float eyes, lips;       /* animate --eyes / --lips gains, 0..3 */
    int face;               /* animate the N-th face (1 = the largest, numbered as a faces
                               job lists them); 0: not given (the library's default, 1) */
    char filename[128];     /* the result's download name (UTF-8, safe as a file name: server.c name_stem) */
} job_request;

typedef struct job_status {
    job_state state;
    double progress;  /* 0..1 */
    double fps;       /* frames a second of the current phase, 0 when unknown */
    double eta_s;     /* seconds left, -1 when unknown */
    char error[320];  /* "" unless failed */
    uint64_t result_bytes;
    bool gif;
    bool searching;   /* running, and still looking for the driver's first face */
    bool faces;       /* a faces job (its result is JSON) */
    bool audio;       /* done, and the result carries sound (the driver's) */
    char filename[128]; /* the result's download name */
} job_status;

typedef struct job_queue_params {
    const char *exe;        /* the vivify binary that runs jobs (required) */
    const char *models_dir; /* passed as --models, or NULL */
    const char *temp_dir;   /* parent of the queue's folder; NULL: $TMPDIR or /tmp */
    int workers;            /* jobs running at once (>= 1) */
    int capacity;           /* jobs waiting at most; more are refused */
    uint64_t keep_bytes;    /* finished results kept up to this many bytes (oldest go first) */
    int keep_count;         /* and at most this many finished jobs */
    int max_frames;         /* frames a job may render */
    double max_seconds;     /* longest driving video a job takes (0: any) */
    uint64_t memory_bytes;  /* private memory a worker may add to what it starts with (0: no limit) */
    int cpu_seconds;        /* processor time a worker may use (0: no limit) */
} job_queue_params;
/* Besides the `workers` threads for animations, one more runs faces jobs only, so listing a
 * portrait's faces never waits behind an animation (nor an animation behind it). */

typedef struct job_queue job_queue;

vv_status job_queue_new(job_queue **out, const job_queue_params *params);
/* Kills running jobs, waits for the workers, removes every job's files. */
void job_queue_free(job_queue *queue);

/* A fresh private folder for one job's uploads (dir_size >= PATH_MAX); it holds a place in
 * the queue until submitted or discarded: VV_ERR_TOO_LARGE when none is left. */
vv_status job_queue_make_folder(job_queue *queue, char *dir, size_t dir_size);
/* Removes a folder made above that never became a job (and frees its place). */
void job_queue_discard_folder(job_queue *queue, const char *dir);

/* Queues a job in a folder from job_queue_make_folder; on VV_OK the queue owns `dir` and
 * writes the new id (JOB_ID_LENGTH + 1 bytes).  VV_ERR_TOO_LARGE when `capacity` jobs are
 * already waiting. */
vv_status job_queue_submit(job_queue *queue, const char *dir, const job_request *request, char *id);
bool job_queue_full(job_queue *queue);
/* false: no such job. */
bool job_queue_status(job_queue *queue, const char *id, job_status *status);
/* Opens a finished job's result for reading; -1 when the job is unknown or not done
 * (status says which when found is set). */
int job_queue_open_result(job_queue *queue, const char *id, job_status *status, bool *found);
/* Cancels (kills) or forgets a job and removes its files; false: no such job. */
bool job_queue_delete(job_queue *queue, const char *id);
/* Counts for logs and tests. */
void job_queue_counts(job_queue *queue, int *queued, int *running, int *finished);

/* One JSON line of a worker (serve/worker.h), parsed; exposed for tests.  Returns 0 for
 * anything else, else the kind. */
enum { JOB_LINE_ERROR = 1, JOB_LINE_SEARCHING, JOB_LINE_TRACKING, JOB_LINE_RENDERING, JOB_LINE_DONE };
typedef struct job_line {
    long done, total;
    double fps;
    bool audio; /* JOB_LINE_DONE: the result has sound */
    char error[320];
} job_line;
int job_parse_line(const char *line, job_line *out);

#endif
