/* serve: `vivify serve`, a local web page and JSON API for animating portraits
 * (docs/API.md).  An HTTP server (libmicrohttpd, its own threads) in front of a job queue
 * (serve/jobs.h); the page (web/) is compiled into the binary (serve/assets.h).
 * Library code: it never prints; a log callback receives one line a request/job event. */
#ifndef VV_SERVE_H
#define VV_SERVE_H

#include "base/base.h"

#include <stdint.h>

typedef void (*serve_log_fn)(void *user_data, const char *line);

typedef struct serve_params {
    const char *host;            /* address to bind; default "127.0.0.1" (loopback only) */
    int port;                    /* default 8080; 0 picks a free port (see serve_port) */
    int jobs;                    /* jobs running at once; default 1 */
    int queue;                   /* jobs waiting at most (more get 429); default 16 */
    uint64_t max_upload_bytes;   /* one POST /api/jobs body at most; default 100 MB */
    uint64_t keep_bytes;         /* finished results kept up to; default 2 GB */
    int keep_count;              /* finished jobs kept at most; default 256 */
    int max_frames;              /* frames one job may render; default 9000 (6 min at 25 fps) */
    double max_seconds;          /* longest driving video; default 300 */
    uint64_t max_portrait_pixels;/* largest portrait (width x height); default 30 million */
    uint64_t job_memory_bytes;   /* private memory one job may add; default 4 GB (0: no limit) */
    int job_cpu_seconds;         /* processor time one job may use; default 7200 (0: no limit) */
    int max_client_connections;  /* connections one client address may hold; default 64 */
    double header_timeout_s;     /* a request's headers must be in within this; also the
                                    longest a kept-alive connection waits idle; default 10 */
    double body_timeout_s;       /* an upload's body must be in within this after its
                                    headers; default 300 (100 MB at 1/3 MB/s) */
    const char *allowed_hosts;   /* more names the Host header may give, comma-separated
                                    (this machine's addresses and localhost always may) */
    const char *exe;             /* vivify binary that runs jobs; required */
    const char *models_dir;      /* passed on as animate --models; NULL: animate searches */
    const char *temp_dir;        /* where job files go; NULL: $TMPDIR or /tmp */
    int live_sessions;           /* POST /api/live sessions at once; default 1 (0: none) */
    size_t live_max_frame_bytes; /* one live frame's JPEG at most; 0: 1 MB */
    int live_max_frame_side;     /* a live frame's width and height at most; 0: 1280 */
    double live_max_fps;         /* frames a second one live session may send; 0: 30 */
    double live_idle_s;          /* a live session without a frame this long ends; 0: 15 */
    serve_log_fn log;            /* NULL: quiet */
    void *log_user_data;
} serve_params;

serve_params serve_default_params(void);

typedef struct serve_server serve_server;

/* Binds and starts serving on background threads. */
vv_status serve_start(serve_server **out, const serve_params *params);
int serve_port(const serve_server *server);
/* Stops accepting, kills running jobs, removes every temp file. */
void serve_stop(serve_server *server);

#endif
