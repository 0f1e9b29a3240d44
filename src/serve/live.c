/* serve/live: live sessions, the server's side (see live.h). */
#define _GNU_SOURCE /* close_range */
#include "serve/live.h"
#include "serve/jobs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct live_session {
    struct live_session *next;
    char id[LIVE_ID_LENGTH + 1];
    char dir[PATH_MAX];
    pid_t pid;
    int fd;                /* our end of the socket pair */
    bool in_flight;        /* a frame is on its way (the socket is that request's) */
    bool stopped;          /* ended while a frame was in flight: that request tears it down */
    double last_frame;     /* time_now() of the last frame (or the start) */
    double tokens, tokens_time; /* the rate limit's bucket */
    long frames;
} live_session;

struct live_manager {
    live_params params;
    void (*release)(void *user, const char *dir);
    void *user;
    pthread_mutex_t lock;
    pthread_cond_t turn;   /* broadcast when a session's exchange ends (a command waits on it) */
    live_session *sessions;
    int count;             /* sessions holding a place (starting ones too) */
    int random_fd;
};

live_params live_default_params(void) {
    live_params p = {0};
    p.sessions = 1;
    p.max_frame_bytes = 1u << 20;
    p.max_frame_side = 1280;
    p.max_fps = 30;
    p.max_output_side = 1024;
    p.idle_s = 15;
    p.start_timeout_s = 120;
    p.frame_timeout_s = 10;
    return p;
}

vv_status live_manager_new(live_manager **out, const live_params *params, void (*release)(void *user, const char *dir),
                           void *user) {
    *out = NULL;
    if (!params->exe) return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve live: no vivify binary to run sessions with");
    live_manager *m = calloc(1, sizeof *m);
    if (!m) return vv_fail(VV_ERR_NO_MEMORY, "serve live: out of memory");
    m->params = *params;
    m->release = release;
    m->user = user;
    m->random_fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (m->random_fd < 0) {
        free(m);
        return vv_fail(VV_ERR_IO, "serve live: cannot open /dev/urandom: %s", strerror(errno));
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->turn, NULL);
    *out = m;
    return VV_OK;
}

/* Closes the socket (the worker sees its end and exits), kills the worker when it has not
 * within WORKER_GRACE_S, reaps it, gives the folder back, frees s (unlinked already; its
 * place in count given back by the caller). */
#define WORKER_GRACE_S 0.3
static void session_destroy(live_manager *m, live_session *s) {
    if (s->fd >= 0) close(s->fd);
    if (s->pid > 0) {
        double until = time_now() + WORKER_GRACE_S;
        pid_t done = 0;
        while ((done = waitpid(s->pid, NULL, WNOHANG)) == 0 && time_now() < until) usleep(5000);
        if (done != s->pid) {
            kill(-s->pid, SIGKILL);
            while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {}
        } else {
            kill(-s->pid, SIGKILL); /* anything it left in its group */
        }
    }
    if (s->dir[0] && m->release) m->release(m->user, s->dir);
    free(s);
}

static void session_unlink(live_manager *m, live_session *s) {
    for (live_session **link = &m->sessions; *link; link = &(*link)->next)
        if (*link == s) {
            *link = s->next;
            break;
        }
}

void live_manager_free(live_manager *m) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    while (m->sessions) {
        live_session *s = m->sessions;
        m->sessions = s->next;
        session_destroy(m, s);
    }
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->turn);
    close(m->random_fd);
    free(m);
}

int live_manager_active(live_manager *m) {
    pthread_mutex_lock(&m->lock);
    int n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* ---- the socket ------------------------------------------------------------------------ */

/* Sends all of it, or false (the worker is gone). */
static bool send_all(int fd, const void *data, size_t size) {
    const uint8_t *p = data;
    while (size) {
        ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

/* Reads exactly size bytes by the deadline (time_now()), or false. */
static bool receive_all(int fd, void *data, size_t size, double deadline) {
    uint8_t *p = data;
    while (size) {
        double left = deadline - time_now();
        if (left <= 0) return false;
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return false;
        ssize_t n = recv(fd, p, size, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

typedef struct message {
    char kind;
    bool face;
    unsigned status;
    uint8_t *payload; /* NUL-terminated (for text) */
    size_t size;
} message;

#define MESSAGE_MAX (64u << 20)

/* The worker's next message; false when it broke off, timed out or sent nonsense. */
static bool message_read(int fd, double deadline, message *out) {
    uint8_t header[8];
    memset(out, 0, sizeof *out);
    if (!receive_all(fd, header, sizeof header, deadline)) return false;
    out->kind = (char)header[0];
    out->face = header[1] != 0;
    out->status = (unsigned)header[2] | (unsigned)header[3] << 8;
    out->size = (size_t)header[4] | (size_t)header[5] << 8 | (size_t)header[6] << 16 | (size_t)header[7] << 24;
    if ((out->kind != 'R' && out->kind != 'F' && out->kind != 'K' && out->kind != 'E') || out->size > MESSAGE_MAX) return false;
    out->payload = malloc(out->size + 1);
    if (!out->payload) return false;
    if (!receive_all(fd, out->payload, out->size, deadline)) {
        free(out->payload);
        out->payload = NULL;
        return false;
    }
    out->payload[out->size] = 0;
    return true;
}

/* ---- starting ---------------------------------------------------------------------------- */

static vv_status write_spec(const live_manager *m, const char *dir, const live_request *r) {
    cJSON *json = cJSON_CreateObject();
    if (!json) return vv_fail(VV_ERR_NO_MEMORY, "serve live: out of memory");
    cJSON_AddStringToObject(json, "source", r->source);
    cJSON_AddStringToObject(json, "engine", r->engine[0] ? r->engine : "warp");
    cJSON_AddNumberToObject(json, "face", r->face > 0 ? r->face : 1);
    cJSON_AddBoolToObject(json, "background_move", r->background_move);
    cJSON_AddNumberToObject(json, "expression_scale", r->expression_scale);
    cJSON_AddNumberToObject(json, "pose_scale", r->pose_scale);
    cJSON_AddNumberToObject(json, "eyes", r->eyes);
    cJSON_AddNumberToObject(json, "lips", r->lips);
    cJSON_AddNumberToObject(json, "max_frame_bytes", (double)m->params.max_frame_bytes);
    cJSON_AddNumberToObject(json, "max_frame_side", m->params.max_frame_side);
    cJSON_AddNumberToObject(json, "max_output_side", m->params.max_output_side);
    if (m->params.memory_bytes) cJSON_AddNumberToObject(json, "memory_mb", (double)(m->params.memory_bytes >> 20));
    if (m->params.models_dir) cJSON_AddStringToObject(json, "models_dir", m->params.models_dir);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) return vv_fail(VV_ERR_NO_MEMORY, "serve live: out of memory");
    char path[PATH_MAX];
    vv_status s = VV_OK;
    if (snprintf(path, sizeof path, "%s/live.json", dir) >= (int)sizeof path) s = vv_fail(VV_ERR_WRITE, "serve live: path too long");
    FILE *f = s == VV_OK ? fopen(path, "wex") : NULL;
    if (s == VV_OK && !f) s = vv_fail(VV_ERR_WRITE, "serve live: cannot write %s: %s", path, strerror(errno));
    if (f) {
        bool ok = fputs(text, f) >= 0;
        if (fclose(f) != 0 || !ok) s = vv_fail(VV_ERR_WRITE, "serve live: cannot write %s", path);
    }
    free(text);
    return s;
}

vv_status live_session_start(live_manager *m, const char *dir, const live_request *request, char *id, int *width,
                             int *height) {
    live_session *s = calloc(1, sizeof *s);
    if (!s) {
        if (m->release) m->release(m->user, dir);
        return vv_fail(VV_ERR_NO_MEMORY, "serve live: out of memory");
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->fd = -1;
    pthread_mutex_lock(&m->lock);
    if (m->count >= m->params.sessions) {
        int places = m->params.sessions;
        pthread_mutex_unlock(&m->lock);
        session_destroy(m, s);
        if (places <= 0) return vv_fail(VV_ERR_UNSUPPORTED, "live sessions are turned off on this server");
        return vv_fail(VV_ERR_UNSUPPORTED, "busy: %s live session%s already running on this server (%d at a time); "
                                           "try again when it ends", places == 1 ? "another" : "every", places == 1 ? " is" : "s are",
                       places);
    }
    m->count++; /* the place is held while the worker starts */
    bool got_id = serve_random_id(m->random_fd, s->id, LIVE_ID_LENGTH);
    pthread_mutex_unlock(&m->lock);

    vv_status st = got_id ? write_spec(m, dir, request) : vv_fail(VV_ERR_IO, "serve live: no random bytes for an id");
    int pair[2] = {-1, -1};
    if (st == VV_OK && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        st = vv_fail(VV_ERR_IO, "serve live: socketpair: %s", strerror(errno));
    if (st == VV_OK) {
        char *argv[] = {(char *)m->params.exe, "serve", "--live-worker", s->dir, NULL};
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) serve_child_exec(m->params.exe, argv, pair[1], pair[1], parent, (rlim_t)m->params.cpu_seconds);
        if (pid < 0) st = vv_fail(VV_ERR_IO, "could not start the live session: %s", strerror(errno));
        else setpgid(pid, pid);
        s->pid = pid > 0 ? pid : 0;
        close(pair[1]);
        s->fd = pair[0];
    }
    message ready = {0};
    if (st == VV_OK && !message_read(s->fd, time_now() + m->params.start_timeout_s, &ready))
        st = vv_fail(VV_ERR_INTERNAL, "the live session did not start (its process stopped or took over %g s)",
                     m->params.start_timeout_s);
    if (st == VV_OK && ready.kind == 'E')
        st = vv_fail(ready.status > 0 && ready.status < VV_STATUS_COUNT ? (vv_status)ready.status : VV_ERR_INTERNAL, "%s",
                     (const char *)ready.payload);
    else if (st == VV_OK && ready.kind != 'R')
        st = vv_fail(VV_ERR_INTERNAL, "the live session did not start (it answered out of turn)");
    if (st == VV_OK) {
        cJSON *json = cJSON_Parse((const char *)ready.payload);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(json, "width"), *h = cJSON_GetObjectItemCaseSensitive(json, "height");
        *width = cJSON_IsNumber(w) ? w->valueint : 0;
        *height = cJSON_IsNumber(h) ? h->valueint : 0;
        cJSON_Delete(json);
    }
    free(ready.payload);
    if (st != VV_OK) {
        char why[400];
        snprintf(why, sizeof why, "%s", vv_last_error());
        session_destroy(m, s);
        pthread_mutex_lock(&m->lock);
        m->count--;
        pthread_mutex_unlock(&m->lock);
        return vv_fail(st, "%s", why);
    }
    double now = time_now();
    s->last_frame = now;
    s->tokens_time = now;
    s->tokens = 2;
    pthread_mutex_lock(&m->lock);
    s->next = m->sessions;
    m->sessions = s;
    pthread_mutex_unlock(&m->lock);
    memcpy(id, s->id, LIVE_ID_LENGTH + 1);
    return VV_OK;
}

/* ---- frames ------------------------------------------------------------------------------ */

static live_session *session_find(live_manager *m, const char *id) {
    for (live_session *s = m->sessions; s; s = s->next)
        if (!s->stopped && !strcmp(s->id, id)) return s;
    return NULL;
}

static void answer_error(live_answer *out, unsigned code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void answer_error(live_answer *out, unsigned code, const char *fmt, ...) {
    out->code = code;
    va_list args;
    va_start(args, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, args);
    va_end(args);
}

/* The HTTP status for a worker's refusal of one frame. */
static unsigned frame_error_code(unsigned status) {
    switch (status) {
    case VV_ERR_TOO_LARGE: return 413;
    case VV_ERR_FORMAT: return 415;
    case VV_ERR_CORRUPT:
    case VV_ERR_INVALID_ARGUMENT: return 400;
    default: return 500;
    }
}

/* One exchange with the worker: a frame (data, size) or a command (data NULL, size the
 * command); the session is ended when the worker is gone. */
static void session_exchange(live_manager *m, const char *id, const uint8_t *data, size_t size, live_answer *out);

void live_session_frame(live_manager *m, const char *id, const uint8_t *data, size_t size, live_answer *out) {
    session_exchange(m, id, data, size, out);
}

void live_session_recalibrate(live_manager *m, const char *id, live_answer *out) {
    session_exchange(m, id, NULL, LIVE_RECALIBRATE, out);
}

static void session_exchange(live_manager *m, const char *id, const uint8_t *data, size_t size, live_answer *out) {
    bool command = data == NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->lock);
    /* A command (the page's "Face now neutral" while its camera streams) waits for the
     * frame on its way; a second frame is refused. */
    double give_up = time_now() + m->params.frame_timeout_s;
    live_session *s;
    for (;;) {
        s = session_find(m, id); /* again after a wait: the session may have ended */
        if (!s) {
            pthread_mutex_unlock(&m->lock);
            answer_error(out, 404, "no such live session (it ended: stopped, idle for over %g s, or the server restarted)",
                         m->params.idle_s);
            return;
        }
        if (!s->in_flight) break;
        if (!command || time_now() >= give_up) {
            pthread_mutex_unlock(&m->lock);
            answer_error(out, 429, "too many frames: one at a time (send the next frame once this one's answer is in)");
            return;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&m->turn, &m->lock, &until);
    }
    double now = time_now();
    double burst = m->params.max_fps / 5 > 2 ? m->params.max_fps / 5 : 2;
    s->tokens += (now - s->tokens_time) * m->params.max_fps;
    if (s->tokens > burst) s->tokens = burst;
    s->tokens_time = now;
    if (s->tokens < 1 && !command) {
        pthread_mutex_unlock(&m->lock);
        answer_error(out, 429, "too many frames: at most %g a second", m->params.max_fps);
        return;
    }
    if (!command) s->tokens -= 1;
    s->last_frame = now;
    s->in_flight = true;
    int fd = s->fd;
    pthread_mutex_unlock(&m->lock);

    bool broken = false;
    if (command) {
        uint8_t header[4] = {(uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16), (uint8_t)(size >> 24)};
        message reply = {0};
        if (!send_all(fd, header, 4) || !message_read(fd, time_now() + m->params.frame_timeout_s, &reply)) {
            broken = true;
            answer_error(out, 500, "the live session stopped (its process ended); start it again");
        } else if (reply.kind == 'K') {
            out->code = 204;
        } else {
            answer_error(out, 500, "%s", reply.kind == 'E' ? (const char *)reply.payload : "the live session answered out of turn");
        }
        free(reply.payload);
    } else if (size == 0) {
        answer_error(out, 400, "an empty frame: send the camera's frame as a JPEG image");
    } else if (size > m->params.max_frame_bytes) {
        answer_error(out, 413, "too large: a live frame is at most %zu KB of JPEG", m->params.max_frame_bytes >> 10);
    } else if (size < 3 || data[0] != 0xff || data[1] != 0xd8 || data[2] != 0xff) {
        answer_error(out, 415, "a live frame must be a JPEG image");
    } else {
        uint8_t header[4] = {(uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16), (uint8_t)(size >> 24)};
        double start = time_now();
        message reply = {0};
        if (!send_all(fd, header, 4) || !send_all(fd, data, size) ||
            !message_read(fd, start + m->params.frame_timeout_s, &reply)) {
            broken = true;
            answer_error(out, 500, "the live session stopped (its process ended or took over %g s for a frame); start it again",
                         m->params.frame_timeout_s);
        } else if (reply.kind == 'F') {
            out->code = 200;
            out->jpeg = reply.payload;
            out->size = reply.size;
            out->face = reply.face;
            out->worker_ms = (time_now() - start) * 1000;
            reply.payload = NULL;
        } else if (reply.kind == 'E') {
            answer_error(out, frame_error_code(reply.status), "%s", (const char *)reply.payload);
        } else {
            broken = true;
            answer_error(out, 500, "the live session stopped (it answered out of turn)");
        }
        free(reply.payload);
    }

    pthread_mutex_lock(&m->lock);
    s->in_flight = false;
    pthread_cond_broadcast(&m->turn);
    s->frames += out->code == 200 && !command;
    bool destroy = broken || s->stopped;
    if (destroy) {
        session_unlink(m, s);
        m->count--;
    }
    pthread_mutex_unlock(&m->lock);
    if (destroy) session_destroy(m, s);
}

bool live_session_stop(live_manager *m, const char *id) {
    pthread_mutex_lock(&m->lock);
    live_session *s = session_find(m, id);
    if (!s) {
        pthread_mutex_unlock(&m->lock);
        return false;
    }
    if (s->in_flight) { /* its frame's request ends it: the kill makes that frame fail now */
        s->stopped = true;
        kill(-s->pid, SIGKILL);
        pthread_mutex_unlock(&m->lock);
        return true;
    }
    session_unlink(m, s);
    m->count--;
    pthread_mutex_unlock(&m->lock);
    session_destroy(m, s);
    return true;
}

void live_manager_reap(live_manager *m) {
    for (;;) {
        pthread_mutex_lock(&m->lock);
        double now = time_now();
        live_session *idle = NULL;
        for (live_session *s = m->sessions; s && !idle; s = s->next)
            if (!s->in_flight && !s->stopped && now - s->last_frame > m->params.idle_s) idle = s;
        if (idle) {
            session_unlink(m, idle);
            m->count--;
        }
        pthread_mutex_unlock(&m->lock);
        if (!idle) return;
        session_destroy(m, idle);
    }
}
