/* serve/live: live sessions of `vivify serve` (POST /api/live, docs/API.md): a browser's
 * camera frames, one JPEG at a time, animated as they arrive and answered with the
 * animated frame as a JPEG.
 *
 * Each session runs in a worker process of its own, this same binary as
 * `vivify serve --live-worker DIR` (its own process group, killed with the server, under the
 * jobs' memory and CPU limits), which loads the portrait once and then keeps one animator
 * open through the library's streaming API (vv_animator_push / vv_animator_pull with
 * lookahead 0: causal, one frame in, one frame out).  It decodes the client's frames (hostile
 * input) in that process, never in the server.  The server and the worker talk over a
 * socket pair (so a dead worker is an error, not a SIGPIPE):
 *   server -> worker: u32 length (little-endian), then that many bytes of JPEG; length 0: stop;
 *                     LIVE_RECALIBRATE (no bytes): the next face is the neutral, answered 'K'
 *   worker -> server: 8 bytes: kind ('R' ready, 'F' a frame, 'K' done, 'E' an error), u8 face (F: the
 *                     driver frame had a face), u16 vv_status (E), u32 length; then the
 *                     payload: R a JSON object {"width", "height"}, F the animated frame as
 *                     JPEG, E the message.  An E answering a frame leaves the session
 *                     running (a bad frame); an E instead of R ends it (no face in the
 *                     portrait, ...).
 * Sessions are few (one by default): a second is refused as busy.  One frame is in flight
 * per session; frames beyond the rate limit (a token bucket) are refused; a session without a
 * frame for idle_s ends by itself (a closed tab frees the place). */
#ifndef VV_SERVE_LIVE_H
#define VV_SERVE_LIVE_H

#include "base/base.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define LIVE_ID_LENGTH 32 /* hex digits: 128 bits from /dev/urandom */
#define LIVE_RECALIBRATE 0xffffffffu /* a length that is a command */

typedef struct live_params {
    const char *exe;          /* the vivify binary that runs the worker (required) */
    const char *models_dir;   /* passed on, or NULL */
    int sessions;             /* sessions at once; default 1 (0: live refused) */
    size_t max_frame_bytes;   /* one frame's JPEG at most; default 1 MB */
    int max_frame_side;       /* a frame's width and height at most; default 1280 */
    double max_fps;           /* frames a second one session may send; default 30 */
    int max_output_side;      /* the answer is scaled down to this (longer side); default 1024 */
    double idle_s;            /* a session without a frame this long ends; default 15 */
    double start_timeout_s;   /* the worker must have the portrait ready in; default 120 */
    double frame_timeout_s;   /* one frame must come back in; default 10 */
    uint64_t memory_bytes;    /* a worker's private memory cap (0: none) */
    int cpu_seconds;          /* a worker's processor time (0: none) */
} live_params;

live_params live_default_params(void);

/* What a session animates, validated by the server. */
typedef struct live_request {
    char source[PATH_MAX];    /* the stored portrait (in dir) */
    char engine[8];           /* warp or warp2d */
    int face;                 /* 1.. */
    bool background_move;
    float expression_scale, pose_scale, eyes, lips;
} live_request;

typedef struct live_manager live_manager;

/* release(user, dir) is called once a session's folder is no longer needed. */
vv_status live_manager_new(live_manager **out, const live_params *params, void (*release)(void *user, const char *dir),
                           void *user);
/* Ends every session (their workers killed, their folders released). */
void live_manager_free(live_manager *manager);

/* Starts a session animating request->source; dir (the folder holding it) belongs to the
 * session from the call on, whatever the outcome.  On VV_OK: its id (LIVE_ID_LENGTH + 1
 * bytes) and output size.  VV_ERR_UNSUPPORTED: every place is taken (busy); others: the
 * worker's failure (VV_ERR_NO_FACE, ...) with vv_last_error() saying why. */
vv_status live_session_start(live_manager *manager, const char *dir, const live_request *request, char *id,
                             int *width, int *height);

typedef struct live_answer {
    unsigned code;            /* 200, or the HTTP status of the refusal */
    uint8_t *jpeg;            /* 200: the animated frame (malloc'd: the caller frees) */
    size_t size;
    bool face;                /* the frame had a face */
    double worker_ms;         /* the worker's part: sent to answered */
    char error[320];          /* else why */
} live_answer;

/* One frame (JPEG bytes, size <= max_frame_bytes checked by the caller or here). */
void live_session_frame(live_manager *manager, const char *id, const uint8_t *data, size_t size, live_answer *out);
/* The session's next frame with a face becomes the neutral (vv_animator_recalibrate): out->code
 * 204, or a refusal as for a frame. */
void live_session_recalibrate(live_manager *manager, const char *id, live_answer *out);
/* Ends a session; false: no such session. */
bool live_session_stop(live_manager *manager, const char *id);
/* Ends sessions idle past idle_s; cheap, called a few times a second. */
void live_manager_reap(live_manager *manager);
int live_manager_active(live_manager *manager);

/* The worker: `vivify serve --live-worker DIR` (DIR/live.json), talking on fd. */
vv_status serve_live_worker_run(const char *dir, int fd);

#endif
