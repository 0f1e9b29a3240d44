/* serve/server: routes, uploads and responses of `vivify serve` (docs/API.md).
 *
 * Routing is by exact path only (no file system lookups), so no URL can reach a file
 * other than the embedded page and a job's own result.  Uploads stream to a private job
 * folder as they arrive; a file is classified by its first bytes (serve/sniff.h) and
 * stored under a fixed name (source.png, driving.mp4, ...), never the client's name.
 *
 * Abuse (docs/HARDENING.md): one client address holds at most max_client_connections; a
 * watchdog thread cuts a connection whose headers or upload body miss their absolute
 * deadline; a body past the upload cap, or a body on any other route, is answered before
 * it is read on; the Host header must be on an allow-list, also on a wildcard address. */
#define _GNU_SOURCE /* strcasestr */
#include "serve/serve.h"
#include "animate/animate.h"
#include "face/motion.h"
#include "serve/assets.h"
#include "serve/jobs.h"
#include "serve/live.h"
#include "serve/sniff.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOTION_PREVIEW_SECONDS 2.0
#define MOTION_PREVIEW_FPS 12.5
#define FIELD_MAX 32 /* longest text field value (a motion name, a number) */
#define STEM_MAX 40  /* longest part of a download name taken from an upload's file name */
#define MAX_FACE_INDEX 32 /* the `face` field: 1..this, as animate --face */

/* One open connection, for the watchdog that holds deadlines (libmicrohttpd's own timeout
 * restarts with every byte, so a client trickling a byte at a time would hold a connection
 * forever).  fd is our own duplicate of the socket: shutting it down ends the connection
 * for libmicrohttpd too, and the number stays ours until the connection is gone. */
typedef struct client {
    struct client *next;
    int fd;
    double deadline; /* time_now() by which the current phase must end; 0: none */
} client;

struct serve_server {
    serve_params params;
    pthread_mutex_t clients_lock;
    pthread_cond_t watchdog_wake;
    pthread_t watchdog;
    bool watchdog_running, stopping;
    client *clients;
    struct MHD_Daemon *daemon;
    job_queue *queue;
    live_manager *live; /* POST /api/live sessions (serve/live.h) */
    char *motions_json; /* GET /api/motions, built once */
    char *config_json;  /* GET /api/config */
    int port;
    bool any_host;      /* bound to a wildcard address */
    char host[256];
    char *allowed;      /* the names a Host header may give, one a line */
    const char *engines[4]; /* what jobs may ask for: warp, warp2d, and fsth / hybrid where
                               their shipped model is found */
    int engine_count;
};

serve_params serve_default_params(void) {
    serve_params p = {0};
    p.host = "127.0.0.1";
    p.port = 8080;
    p.jobs = 1;
    p.queue = 16;
    p.max_upload_bytes = 100ull << 20;
    p.keep_bytes = 2048ull << 20;
    p.keep_count = 256;
    p.max_frames = 9000;
    p.max_seconds = 300;
    p.max_portrait_pixels = 30000000;
    p.job_memory_bytes = 4096ull << 20;
    p.job_cpu_seconds = 7200;
    p.max_client_connections = 64;
    p.header_timeout_s = 10;
    p.body_timeout_s = 300;
    p.live_sessions = 1;
    p.live_max_fps = 30;
    p.live_idle_s = 15;
    return p;
}

static void server_log(const serve_server *server, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void server_log(const serve_server *server, const char *fmt, ...) {
    if (!server->params.log) return;
    char line[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    server->params.log(server->params.log_user_data, line);
}

/* ------------------------------------------------------------------ deadlines */

static void connection_deadline(serve_server *server, struct MHD_Connection *connection, double seconds) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    client *c = info ? info->socket_context : NULL;
    if (!c) return;
    pthread_mutex_lock(&server->clients_lock);
    c->deadline = seconds > 0 ? time_now() + seconds : 0;
    pthread_mutex_unlock(&server->clients_lock);
}

/* Answers on the socket itself, outside libmicrohttpd (which answers only once a body is
 * whole), and ends the sending side; the caller then returns MHD_NO to close. */
static void connection_refuse_now(struct MHD_Connection *connection, unsigned code, const char *reason,
                                  const char *message) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    client *c = info ? info->socket_context : NULL;
    if (!c) return;
    cJSON *json = cJSON_CreateObject();
    if (json) cJSON_AddStringToObject(json, "error", message);
    char *body = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    char answer[1024];
    int n = snprintf(answer, sizeof answer, "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                            "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n%s",
                     code, reason, body ? strlen(body) : 0, body ? body : "");
    free(body);
    if (n > 0 && (size_t)n < sizeof answer) {
        ssize_t sent = send(c->fd, answer, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)sent; /* best effort: the connection closes either way */
    }
    shutdown(c->fd, SHUT_WR);
}

/* Connections come and go: a new one must send its headers within header_timeout_s. */
static void connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
    serve_server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        client *c = calloc(1, sizeof *c);
        if (!c) return;
        c->fd = info ? fcntl(info->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        if (c->fd < 0) {
            free(c);
            return; /* no deadline for this one; libmicrohttpd's idle timeout still holds */
        }
        c->deadline = time_now() + server->params.header_timeout_s;
        pthread_mutex_lock(&server->clients_lock);
        c->next = server->clients;
        server->clients = c;
        pthread_mutex_unlock(&server->clients_lock);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        client *c = *socket_context;
        pthread_mutex_lock(&server->clients_lock);
        for (client **link = &server->clients; *link; link = &(*link)->next)
            if (*link == c) {
                *link = c->next;
                break;
            }
        pthread_mutex_unlock(&server->clients_lock);
        close(c->fd);
        free(c);
        *socket_context = NULL;
    }
}

/* Cuts every connection past its deadline (a few times a second). */
static void *watchdog_main(void *arg) {
    serve_server *server = arg;
    pthread_mutex_lock(&server->clients_lock);
    while (!server->stopping) {
        double now = time_now();
        for (client *c = server->clients; c; c = c->next)
            if (c->deadline > 0 && now > c->deadline) {
                shutdown(c->fd, SHUT_RDWR);
                c->deadline = 0;
            }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&server->watchdog_wake, &server->clients_lock, &until);
        if (server->live && !server->stopping) { /* idle live sessions end (outside the lock: it reaps a process) */
            pthread_mutex_unlock(&server->clients_lock);
            live_manager_reap(server->live);
            pthread_mutex_lock(&server->clients_lock);
        }
    }
    pthread_mutex_unlock(&server->clients_lock);
    return NULL;
}

/* ------------------------------------------------------------------ responses */

static enum MHD_Result send_buffer(struct MHD_Connection *connection, unsigned code, const char *type, const void *data,
                                   size_t size, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *response = MHD_create_response_from_buffer(size, (void *)data, mode);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (!strncmp(type, "text/html", 9)) {
        /* the page loads nothing from other hosts and cannot be framed */
        MHD_add_response_header(response, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
        MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    }
    enum MHD_Result result = MHD_queue_response(connection, code, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result send_json(struct MHD_Connection *connection, unsigned code, cJSON *json) {
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) return send_buffer(connection, 500, "application/json", "{\"error\":\"out of memory\"}", 25, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result result = send_buffer(connection, code, "application/json", text, strlen(text), MHD_RESPMEM_MUST_COPY);
    free(text);
    return result;
}

static enum MHD_Result send_error(serve_server *server, struct MHD_Connection *connection, unsigned code,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(serve_server *server, struct MHD_Connection *connection, unsigned code,
                                  const char *fmt, ...) {
    char message[400];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    server_log(server, "%u %s", code, message);
    cJSON *json = cJSON_CreateObject();
    if (json) cJSON_AddStringToObject(json, "error", message);
    return send_json(connection, code, json);
}

/* ------------------------------------------------------------------ uploads */

enum { FILE_SOURCE, FILE_DRIVING, FILE_AUDIO, FILE_COUNT };
static const char *const file_fields[FILE_COUNT] = {"source", "driving", "audio"};
enum { FIELD_MOTION, FIELD_ENGINE, FIELD_MODE, FIELD_EXPRESSION, FIELD_POSE, FIELD_COMPARE, FIELD_FORMAT,
       FIELD_DURATION, FIELD_EYES, FIELD_LIPS, FIELD_BACKGROUND, FIELD_FACE, FIELD_COUNT };
static const char *const text_fields[FIELD_COUNT] = {"motion", "engine", "mode", "expression_scale", "pose_scale",
                                                     "compare", "format", "duration", "eyes", "lips", "background",
                                                     "face"};
/* The engines a job may name, in the order offered: fsth and hybrid only where the shipped
 * model is found (the API takes no model file). */
static const char *const all_engines[] = {"warp", "warp2d", "fsth", "hybrid"};
static const char *const engine_models[] = {NULL, NULL, "fsth128.safetensors", "hybrid128.safetensors"};

typedef struct upload_file {
    int fd;
    int parts;        /* how many parts carried this field */
    uint64_t size;
    uint8_t head[SNIFF_HEAD_BYTES];
    size_t head_size;
    char path[PATH_MAX];
} upload_file;

/* One request's state, kept across libmicrohttpd's calls for it. */
typedef struct request {
    bool started;       /* the handler has seen it */
    const char *uri;    /* the raw path as the request line came in (libmicrohttpd's buffer) */
    size_t uri_length;
    bool post_job;
    bool post_faces;    /* POST /api/faces: a portrait only, to list its faces */
    bool post_live;     /* POST /api/live: a portrait and its options, to start a live session */
    bool live_frame;    /* POST /api/live/ID/frame: one camera frame (a JPEG body) */
    char live_id[LIVE_ID_LENGTH + 1];
    uint8_t *frame;     /* that frame's bytes so far */
    size_t frame_size;
    struct MHD_PostProcessor *post;
    char dir[PATH_MAX]; /* the job folder, "" until made; removed unless a job took it */
    upload_file files[FILE_COUNT];
    char stems[FILE_COUNT][STEM_MAX + 1]; /* the uploads' file names, made safe (name_stem) */
    char fields[FIELD_COUNT][FIELD_MAX + 1];
    bool field_set[FIELD_COUNT];
    uint64_t received;
    int part;           /* the field the last callback was for (-1: none yet) */
    uint64_t part_bytes; /* bytes of that part's value so far */
    unsigned error_code; /* first problem found while receiving; answered at the end */
    char error[300];
    serve_server *server;
} request;

static request *request_new(serve_server *server, const char *uri) {
    request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->server = server;
    r->part = -1;
    for (int f = 0; f < FILE_COUNT; f++) r->files[f].fd = -1;
    if (uri) {
        r->uri = uri;
        r->uri_length = strlen(uri);
    }
    return r;
}

/* Called as the request line comes in, before the path is split or unescaped: the request's
 * state starts here, with where the path lies in libmicrohttpd's buffer. */
static void *request_begin(void *cls, const char *uri, struct MHD_Connection *connection) {
    (void)connection;
    return request_new(cls, uri);
}

static void request_error(request *r, unsigned code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void request_error(request *r, unsigned code, const char *fmt, ...) {
    if (r->error_code) return;
    r->error_code = code;
    va_list args;
    va_start(args, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, args);
    va_end(args);
}

static void format_megabytes(char *out, size_t size, uint64_t bytes) {
    snprintf(out, size, "%.0f MB", (double)bytes / (1 << 20));
}

/* The length (2..4) of the UTF-8 character at s, of at most `left` bytes, when it is valid
 * (no overlong form, no surrogate) and visible in a file name: not a C1 control, nor a
 * zero-width, bidirectional or other format character (U+202E would show "photo<U+202E>gnp.exe"
 * as "photoexe.png"); else 0. */
static int utf8_visible(const unsigned char *s, size_t left) {
    int n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (!n || (size_t)n > left) return 0;
    uint32_t cp = s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp < 0xa0 || cp == 0xad || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
        (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff0 && cp <= 0xffff) || (cp >= 0xe0000 && cp <= 0xe007f))
        return 0;
    return n;
}

/* A client's file name as part of a download name: the last path component without its
 * extension; ASCII letters, digits, '-' and '_' and visible non-ASCII characters (valid
 * UTF-8) kept; every other run of bytes (spaces, dots, quotes, controls, broken UTF-8) one
 * '_'; no '_' or '-' at either end; at most STEM_MAX bytes of whole characters; "" when
 * nothing is left.  Safe as a file name anywhere; headers carry it as filename* (RFC 6266). */
static void name_stem(const char *filename, char *out, size_t size) {
    out[0] = 0;
    if (!filename || size < 2) return;
    const char *base = filename;
    for (const char *c = filename; *c; c++)
        if (*c == '/' || *c == '\\') base = c + 1;
    const char *dot = strrchr(base, '.');
    size_t length = dot && dot > base ? (size_t)(dot - base) : strlen(base);
    size_t n = 0, limit = size - 1 < STEM_MAX ? size - 1 : STEM_MAX;
    for (size_t i = 0; i < length && n < limit;) {
        const unsigned char *c = (const unsigned char *)base + i;
        bool keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_';
        int wide = *c >= 0x80 ? utf8_visible(c, length - i) : 0;
        if (keep) out[n++] = (char)*c;
        else if (wide && n + (size_t)wide > limit) break;
        else if (wide) {
            memcpy(out + n, c, (size_t)wide);
            n += (size_t)wide;
        } else if (n > 0 && out[n - 1] != '_') out[n++] = '_';
        i += wide ? (size_t)wide : 1;
    }
    while (n > 0 && (out[n - 1] == '_' || out[n - 1] == '-')) n--;
    out[n] = 0;
    size_t skip = strspn(out, "_-");
    memmove(out, out + skip, n - skip + 1);
}

/* Content-Disposition for a download name from download_name: filename= in ASCII (each
 * non-ASCII character '_'), and filename*= in UTF-8, percent-encoded, when it has any. */
static void content_disposition(const char *name, char *out, size_t size) {
    char ascii[160], encoded[480];
    size_t a = 0, e = 0;
    bool wide = false;
    for (const unsigned char *c = (const unsigned char *)name; *c && a + 1 < sizeof ascii && e + 4 < sizeof encoded; c++) {
        if (*c < 0x80) {
            ascii[a++] = (char)*c;
            encoded[e++] = (char)*c;
            continue;
        }
        wide = true;
        if ((*c & 0xc0) != 0x80 && !(a > 0 && ascii[a - 1] == '_')) ascii[a++] = '_'; /* one per character */
        e += (size_t)snprintf(encoded + e, sizeof encoded - e, "%%%02X", *c);
    }
    ascii[a] = 0;
    encoded[e] = 0;
    if (wide) snprintf(out, size, "inline; filename=\"%s\"; filename*=UTF-8''%s", ascii, encoded);
    else snprintf(out, size, "inline; filename=\"%s\"", ascii);
}

static enum MHD_Result upload_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                   const char *content_type, const char *transfer_encoding, const char *data,
                                   uint64_t offset, size_t size) {
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    (void)filename;
    request *r = cls;
    if (r->error_code) return MHD_NO;
    /* A new part starts at a new field, or at offset 0 of the same field once its value
     * has bytes.  Not at every offset 0: when a read ends a few bytes into a value,
     * libmicrohttpd calls twice at offset 0, first with no data (issue 18.1). */
    int id = -1;
    for (int f = 0; f < FILE_COUNT && id < 0; f++)
        if (!strcmp(key, file_fields[f])) id = f;
    for (int f = 0; f < FIELD_COUNT && id < 0; f++)
        if (!strcmp(key, text_fields[f])) id = FILE_COUNT + f;
    bool new_part = id != r->part || (offset == 0 && r->part_bytes > 0);
    if (new_part) {
        r->part = id;
        r->part_bytes = 0;
    } else if (offset != r->part_bytes) {
        request_error(r, 400, "the '%s' part arrived out of order", key);
        return MHD_NO;
    }
    r->part_bytes += size;
    if (r->post_live && (!strcmp(key, file_fields[FILE_DRIVING]) || !strcmp(key, file_fields[FILE_AUDIO]))) {
        request_error(r, 400, "POST /api/live takes a portrait ('source'); the camera is the driver, not a '%s' file", key);
        return MHD_NO;
    }
    if (r->post_faces && strcmp(key, file_fields[FILE_SOURCE])) {
        request_error(r, 400, "POST /api/faces takes the portrait alone, as the 'source' file (not '%.40s')", key);
        return MHD_NO;
    }
    for (int f = 0; f < FILE_COUNT; f++) {
        if (strcmp(key, file_fields[f])) continue;
        upload_file *file = &r->files[f];
        if (new_part) {
            name_stem(filename, r->stems[f], sizeof r->stems[f]);
            if (file->parts++ > 0 || file->fd >= 0) {
                request_error(r, 400, "more than one '%s' file", key);
                return MHD_NO;
            }
            int n = snprintf(file->path, sizeof file->path, "%s/%s.upload", r->dir, key);
            if (n < 0 || (size_t)n >= sizeof file->path) {
                request_error(r, 500, "temp path too long");
                return MHD_NO;
            }
            file->fd = open(file->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (file->fd < 0) {
                request_error(r, 500, "cannot store the upload: %s", strerror(errno));
                return MHD_NO;
            }
        }
        if (!size) return MHD_YES;
        if (file->fd < 0) {
            request_error(r, 400, "a '%s' part without its start", key);
            return MHD_NO;
        }
        if (file->head_size < SNIFF_HEAD_BYTES) {
            size_t take = SNIFF_HEAD_BYTES - file->head_size < size ? SNIFF_HEAD_BYTES - file->head_size : size;
            memcpy(file->head + file->head_size, data, take);
            file->head_size += take;
        }
        for (size_t written = 0; written < size;) {
            ssize_t n = write(file->fd, data + written, size - written);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                request_error(r, 507, "cannot store the upload: %s", n < 0 ? strerror(errno) : "disk full");
                return MHD_NO;
            }
            written += (size_t)n;
        }
        file->size += size;
        return MHD_YES;
    }
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (strcmp(key, text_fields[f])) continue;
        if (new_part && r->field_set[f]) {
            request_error(r, 400, "more than one '%s' field", key);
            return MHD_NO;
        }
        r->field_set[f] = true;
        size_t have = strlen(r->fields[f]);
        if (have + size > FIELD_MAX) {
            request_error(r, 400, "the '%s' field is too long", key);
            return MHD_NO;
        }
        memcpy(r->fields[f] + have, data, size);
        r->fields[f][have + size] = 0;
        return MHD_YES;
    }
    request_error(r, 400, "unknown field '%.40s' (fields: source, driving, audio, motion, engine, face, mode, expression_scale, "
                          "pose_scale, eyes, lips, background, compare, format, duration)", key);
    return MHD_NO;
}

static void request_close_files(request *r) {
    for (int f = 0; f < FILE_COUNT; f++)
        if (r->files[f].fd >= 0) {
            close(r->files[f].fd);
            r->files[f].fd = -1;
        }
}

/* A plain decimal: an optional minus, digits, an optional fraction ("2", "0.5", ".5");
 * no spaces, plus signs, exponents, hex ("0x1p5") or words ("inf"), which strtod takes. */
static bool parse_number(const char *text, double low, double high, double *out) {
    const char *at = text + (text[0] == '-');
    size_t whole = strspn(at, "0123456789"), fraction = 0;
    if (at[whole] == '.') {
        fraction = strspn(at + whole + 1, "0123456789");
        if (!fraction) return false;
        fraction++;
    }
    if (whole + fraction == 0 || at[whole + fraction]) return false;
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || !end || *end || !isfinite(value) || value < low || value > high) return false;
    *out = value;
    return true;
}

static bool parse_flag(const char *text, bool *out) {
    if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "on") || !strcmp(text, "yes")) *out = true;
    else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "off") || !strcmp(text, "no") || !text[0]) *out = false;
    else return false;
    return true;
}

/* Checks a stored upload against what the field needs and moves it to its fixed name. */
static bool accept_file(request *r, int f, char *stored, size_t stored_size) {
    upload_file *file = &r->files[f];
    sniff_kind kind = sniff_bytes(file->head, file->head_size);
    bool want_image = f == FILE_SOURCE;
    if (file->size == 0) {
        request_error(r, 400, "the %s file is empty", want_image ? "portrait" : f == FILE_AUDIO ? "recording" : "driving video");
        return false;
    }
    if (f == FILE_AUDIO) { /* a recording, or a video's sound (not a GIF's: it has none) */
        if (!kind.audio && (!kind.video || !strcmp(kind.extension, "gif"))) {
            request_error(r, 415, "unsupported file: the recording must be WAV, MP3, Ogg, FLAC, WebM or MP4 (this is %s)",
                          kind.name);
            return false;
        }
        int n = snprintf(stored, stored_size, "%s/audio.%s", r->dir, kind.extension);
        if (n < 0 || (size_t)n >= stored_size || rename(file->path, stored) != 0) {
            request_error(r, 500, "cannot store the upload");
            return false;
        }
        return true;
    }
    uint32_t width = 0, height = 0;
    if (want_image && kind.image && sniff_image_size(file->path, &width, &height) &&
        (uint64_t)width * height > r->server->params.max_portrait_pixels) {
        /* refused before any decoding: a small file can declare a huge image */
        request_error(r, 413, "the portrait is %ux%u pixels (%.0f megapixels); this server takes portraits of up to %.0f "
                              "megapixels: scale it down first", width, height, (double)width * height / 1e6,
                      (double)r->server->params.max_portrait_pixels / 1e6);
        return false;
    }
    if (want_image ? !kind.image : !kind.video) {
        if (want_image)
            request_error(r, 415, "unsupported file: the portrait must be a PNG or JPEG image (this is %s)", kind.name);
        else
            request_error(r, 415, "unsupported file: the driving video must be MP4, MOV, MKV, WebM, AVI or GIF (this is %s)",
                          kind.name);
        return false;
    }
    int n = snprintf(stored, stored_size, "%s/%s.%s", r->dir, want_image ? "source" : "driving", kind.extension);
    if (n < 0 || (size_t)n >= stored_size || rename(file->path, stored) != 0) {
        request_error(r, 500, "cannot store the upload");
        return false;
    }
    return true;
}

/* A whole number from low to high, in plain digits. */
static bool parse_whole(const char *text, int low, int high, int *out) {
    size_t digits = strspn(text, "0123456789");
    if (!digits || digits > 6 || text[digits]) return false;
    int value = atoi(text);
    if (value < low || value > high) return false;
    *out = value;
    return true;
}

/* The face and background fields of an animate job or a live session: face 1.. as POST
 * /api/faces numbers them (left as it is when empty), background still (default) or move.
 * false after a 400. */
static bool parse_face_background(request *r, int *face, bool *background_move) {
    const char *text = r->fields[FIELD_FACE];
    if (text[0] && !parse_whole(text, 1, MAX_FACE_INDEX, face)) {
        request_error(r, 400, "face must be a whole number from 1 to %d (as POST /api/faces numbers them), not '%s'",
                      MAX_FACE_INDEX, text);
        return false;
    }
    const char *background = r->fields[FIELD_BACKGROUND];
    if (background[0] && strcmp(background, "still") && strcmp(background, "move")) {
        request_error(r, 400, "background must be still or move, not '%s'", background);
        return false;
    }
    *background_move = !strcmp(background, "move");
    return true;
}

/* The result's download name: "<portrait>-<driver or motion>-<engine>.mp4" (or .gif), and
 * "<portrait>-faces.json" for a faces job; each part from what the client sent, made safe. */
static void download_name(const request *r, const job_request *job, char *out, size_t size) {
    const char *portrait = r->stems[FILE_SOURCE][0] ? r->stems[FILE_SOURCE] : "portrait";
    if (job->faces) {
        snprintf(out, size, "%s-faces.json", portrait);
        return;
    }
    const char *motion = job->audio[0] && r->stems[FILE_AUDIO][0] ? r->stems[FILE_AUDIO]
                         : job->motion[0]                          ? job->motion
                         : r->stems[FILE_DRIVING][0]               ? r->stems[FILE_DRIVING]
                                                                   : "driver";
    snprintf(out, size, "%s-%s-%s%s.%s", portrait, motion, job->engine[0] ? job->engine : "warp",
             job->compare ? "-compare" : "", job->gif ? "gif" : "mp4");
}

/* Validates a complete upload into a job request; false with r->error set. */
static bool build_request(request *r, job_request *job) {
    memset(job, 0, sizeof *job);
    const char *motion = r->fields[FIELD_MOTION];
    bool has_driving = r->files[FILE_DRIVING].parts > 0;
    if (!r->files[FILE_SOURCE].parts) {
        request_error(r, 400, "no portrait: send the image as the 'source' file");
        return false;
    }
    if (r->post_faces) { /* the portrait alone (upload_part refused anything else) */
        job->faces = true;
        download_name(r, job, job->filename, sizeof job->filename);
        return accept_file(r, FILE_SOURCE, job->source, sizeof job->source);
    }
    bool has_audio = r->files[FILE_AUDIO].parts > 0; /* a recording: the mouth follows it, the motion (default talk) the rest */
    if (has_audio && has_driving) {
        request_error(r, 400, "send either a driving video or a recording ('audio'), not both");
        return false;
    }
    if (!has_audio && has_driving == (motion[0] != 0)) {
        request_error(r, 400, has_driving ? "send either a driving video or a motion, not both"
                                          : "no motion: send a 'driving' video, a 'motion' name or an 'audio' recording");
        return false;
    }
    if (motion[0] && !motion_builtin_exists(motion)) {
        char names[128];
        snprintf(names, sizeof names, "%s", motion_builtin_names());
        for (char *bar = strchr(names, '|'); bar; bar = strchr(bar, '|')) *bar = ',';
        request_error(r, 400, "unknown motion '%s' (built-in: %s)", motion, names);
        return false;
    }
    snprintf(job->motion, sizeof job->motion, "%s", motion);
    const serve_server *server = r->server;
    const char *engine = r->fields[FIELD_ENGINE];
    if (!engine[0]) engine = server->engines[0];
    for (int i = 0; i < server->engine_count && !job->engine[0]; i++)
        if (!strcmp(engine, server->engines[i])) snprintf(job->engine, sizeof job->engine, "%s", server->engines[i]);
    if (!job->engine[0]) {
        char names[64] = "";
        for (int i = 0; i < server->engine_count; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", server->engines[i]);
        bool known = animate_engine_known(engine);
        request_error(r, 400, "%s engine '%s' (available: %s)", known ? "this server has no model for the" : "unknown",
                      engine, names);
        return false;
    }
    if (!parse_face_background(r, &job->face, &job->background_move)) return false;
    const char *mode = r->fields[FIELD_MODE];
    if (mode[0] && strcmp(mode, "relative") && strcmp(mode, "absolute")) {
        request_error(r, 400, "mode must be relative or absolute, not '%s'", mode);
        return false;
    }
    job->absolute = !strcmp(mode, "absolute");
    const char *format = r->fields[FIELD_FORMAT];
    if (format[0] && strcmp(format, "mp4") && strcmp(format, "gif")) {
        request_error(r, 400, "format must be mp4 or gif, not '%s'", format);
        return false;
    }
    job->gif = !strcmp(format, "gif");
    if (!parse_flag(r->fields[FIELD_COMPARE], &job->compare)) {
        request_error(r, 400, "compare must be true or false, not '%s'", r->fields[FIELD_COMPARE]);
        return false;
    }
    double value = 1;
    const struct { int field; float *target; double low, high, fallback; } numbers[] = {
        {FIELD_EXPRESSION, &job->expression_scale, 0, 10, 1},
        {FIELD_POSE, &job->pose_scale, 0, 10, 1},
        {FIELD_DURATION, &job->duration, 0.1, 60, 5},
        {FIELD_EYES, &job->eyes, 0, 3, 1}, /* animate --eyes / --lips take 0..3 */
        {FIELD_LIPS, &job->lips, 0, 3, 1},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const char *text = r->fields[numbers[i].field];
        value = numbers[i].fallback;
        if (text[0] && !parse_number(text, numbers[i].low, numbers[i].high, &value)) {
            request_error(r, 400, "%s must be a number from %g to %g, not '%s'", text_fields[numbers[i].field],
                          numbers[i].low, numbers[i].high, text);
            return false;
        }
        *numbers[i].target = (float)value;
    }
    if (!accept_file(r, FILE_SOURCE, job->source, sizeof job->source)) return false;
    if (has_driving && !accept_file(r, FILE_DRIVING, job->driving, sizeof job->driving)) return false;
    if (has_audio && !accept_file(r, FILE_AUDIO, job->audio, sizeof job->audio)) return false;
    download_name(r, job, job->filename, sizeof job->filename);
    return true;
}

/* Validates a complete POST /api/live upload: the portrait and the options a live session
 * takes (a driver, a motion, a mode, an output format do not apply); false with r->error set. */
static bool build_live_request(request *r, live_request *live) {
    memset(live, 0, sizeof *live);
    if (!r->files[FILE_SOURCE].parts) {
        request_error(r, 400, "no portrait: send the image as the 'source' file");
        return false;
    }
    static const int not_live[] = {FIELD_MOTION, FIELD_MODE, FIELD_COMPARE, FIELD_FORMAT, FIELD_DURATION};
    for (size_t i = 0; i < sizeof not_live / sizeof not_live[0]; i++)
        if (r->field_set[not_live[i]]) {
            request_error(r, 400, "POST /api/live takes source, face, engine, expression_scale, pose_scale, eyes, lips and "
                                  "background; not '%s'", text_fields[not_live[i]]);
            return false;
        }
    const serve_server *server = r->server;
    const char *engine = r->fields[FIELD_ENGINE];
    if (!engine[0]) engine = "warp";
    if (strcmp(engine, "warp") && strcmp(engine, "warp2d")) {
        request_error(r, 400, "live engine must be warp or warp2d, not '%s'", engine);
        return false;
    }
    snprintf(live->engine, sizeof live->engine, "%.7s", engine); /* warp or warp2d */
    live->face = 1;
    if (!parse_face_background(r, &live->face, &live->background_move)) return false;
    const struct { int field; float *target; double low, high; } numbers[] = {
        {FIELD_EXPRESSION, &live->expression_scale, 0, 10},
        {FIELD_POSE, &live->pose_scale, 0, 10},
        {FIELD_EYES, &live->eyes, 0, 3},
        {FIELD_LIPS, &live->lips, 0, 3},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const char *text = r->fields[numbers[i].field];
        double value = 1;
        if (text[0] && !parse_number(text, numbers[i].low, numbers[i].high, &value)) {
            request_error(r, 400, "%s must be a number from %g to %g, not '%s'", text_fields[numbers[i].field],
                          numbers[i].low, numbers[i].high, text);
            return false;
        }
        *numbers[i].target = (float)value;
    }
    (void)server;
    return accept_file(r, FILE_SOURCE, live->source, sizeof live->source);
}

/* ------------------------------------------------------------------ routes */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool is_job_id(const char *text, size_t length) {
    if (length != JOB_ID_LENGTH) return false;
    for (size_t i = 0; i < length; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) return false;
    return true;
}

/* Whether `name` is on the allow-list (names one a line). */
static bool host_listed(const char *list, const char *name) {
    size_t length = strlen(name);
    for (const char *line = list; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n == length && !strncasecmp(line, name, n)) return true;
        line = end ? end + 1 : NULL;
    }
    return false;
}

/* Host must name this server (stops DNS rebinding, also when it listens on every address:
 * then this machine's own addresses and name); a cross-site Origin may not change anything
 * (stops other pages posting jobs to a local server). */
static bool request_allowed(serve_server *server, struct MHD_Connection *connection, const char *method) {
    const char *host = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host) {
        char name[256];
        snprintf(name, sizeof name, "%s", host);
        char *colon = name[0] == '[' ? strstr(name, "]:") : strrchr(name, ':');
        if (colon) colon[name[0] == '[' ? 1 : 0] = 0;
        if (!host_listed(server->allowed, name)) return false;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        const char *origin = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Origin");
        if (origin && host) {
            if (strncmp(origin, "http://", 7) || strcmp(origin + 7, host)) return false;
        } else if (origin) {
            return false;
        }
    }
    return true;
}

static enum MHD_Result send_status(serve_server *server, struct MHD_Connection *connection, const char *id) {
    job_status st;
    if (!job_queue_status(server->queue, id, &st)) return send_error(server, connection, 404, "no such job");
    cJSON *json = cJSON_CreateObject();
    if (json) {
        cJSON_AddStringToObject(json, "state", job_state_name(st.state));
        cJSON_AddNumberToObject(json, "progress", round(st.progress * 1000) / 1000);
        cJSON_AddNumberToObject(json, "fps", round(st.fps * 10) / 10);
        cJSON_AddBoolToObject(json, "searching", st.searching); /* for the driver's first face */
        if (st.eta_s >= 0) cJSON_AddNumberToObject(json, "eta_s", round(st.eta_s * 10) / 10);
        else cJSON_AddNullToObject(json, "eta_s");
        if (st.state == JOB_FAILED) cJSON_AddStringToObject(json, "error", st.error);
        else cJSON_AddNullToObject(json, "error");
        cJSON_AddStringToObject(json, "kind", st.faces ? "faces" : "animation");
        cJSON_AddBoolToObject(json, "audio", st.audio); /* done, with the driver's sound */
        cJSON_AddStringToObject(json, "filename", st.filename);
    }
    return send_json(connection, 200, json);
}

/* Range: "bytes=a-b", "bytes=a-" or "bytes=-n"; false when it cannot be satisfied. */
static bool parse_range(const char *range, uint64_t size, uint64_t *start, uint64_t *end) {
    if (strncmp(range, "bytes=", 6) || strchr(range, ',')) return false;
    const char *spec = range + 6;
    char *after = NULL;
    if (*spec == '-') {
        uint64_t suffix = strtoull(spec + 1, &after, 10);
        if (after == spec + 1 || *after || suffix == 0 || size == 0) return false;
        *start = suffix >= size ? 0 : size - suffix;
        *end = size - 1;
        return true;
    }
    if (*spec < '0' || *spec > '9') return false;
    *start = strtoull(spec, &after, 10);
    if (*after != '-') return false;
    const char *last = after + 1;
    *end = size ? size - 1 : 0;
    if (*last) {
        uint64_t requested = strtoull(last, &after, 10);
        if (*after || last[0] < '0' || last[0] > '9' || requested < *start) return false;
        if (requested < *end) *end = requested;
    }
    return *start < size;
}

static enum MHD_Result send_result(serve_server *server, struct MHD_Connection *connection, const char *id) {
    job_status st;
    bool found = false;
    int fd = job_queue_open_result(server->queue, id, &st, &found);
    if (!found) return send_error(server, connection, 404, "no such job");
    if (fd < 0) {
        if (st.state == JOB_FAILED) return send_error(server, connection, 409, "the job failed: %s", st.error);
        if (st.state == JOB_DONE) return send_error(server, connection, 410, "the result is gone");
        return send_error(server, connection, 409, "the job is %s; the result is not ready yet", job_state_name(st.state));
    }
    struct stat info;
    if (fstat(fd, &info) != 0) {
        close(fd);
        return send_error(server, connection, 500, "cannot read the result");
    }
    uint64_t size = (uint64_t)info.st_size, start = 0, end = size ? size - 1 : 0;
    unsigned code = 200;
    const char *range = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    char content_range[96];
    if (range) {
        if (!parse_range(range, size, &start, &end)) {
            close(fd);
            struct MHD_Response *response = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (!response) return MHD_NO;
            snprintf(content_range, sizeof content_range, "bytes */%" PRIu64, size);
            MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
            enum MHD_Result result = MHD_queue_response(connection, 416, response);
            MHD_destroy_response(response);
            return result;
        }
        code = 206;
        snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, size);
    }
    struct MHD_Response *response = MHD_create_response_from_fd_at_offset64(size ? end - start + 1 : 0, fd, start);
    if (!response) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            st.faces ? "application/json" : st.gif ? "image/gif" : "video/mp4");
    MHD_add_response_header(response, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    char disposition[700];
    content_disposition(st.filename[0] ? st.filename : "vivify.mp4", disposition, sizeof disposition);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
    if (code == 206) MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
    enum MHD_Result result = MHD_queue_response(connection, code, response);
    MHD_destroy_response(response);
    return result;
}

/* The end of POST /api/live: the session starts (the worker loads the portrait and finds its
 * face: a second or so) and answers its id, or why not: 409 busy, 422 no face, ... */
static enum MHD_Result finish_live_start(serve_server *server, struct MHD_Connection *connection, request *r) {
    live_request live;
    if (!r->error_code) build_live_request(r, &live);
    if (r->error_code) return send_error(server, connection, r->error_code, "%s", r->error);
    char id[LIVE_ID_LENGTH + 1];
    int width = 0, height = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", r->dir);
    r->dir[0] = 0; /* the session owns the folder now */
    vv_status s = live_session_start(server->live, dir, &live, id, &width, &height);
    if (s != VV_OK) {
        unsigned code = s == VV_ERR_UNSUPPORTED ? 409 : s == VV_ERR_NO_FACE ? 422 : s == VV_ERR_TOO_LARGE ? 413
                      : s == VV_ERR_FORMAT || s == VV_ERR_CORRUPT ? 415 : 500;
        return send_error(server, connection, code, "%s", vv_last_error());
    }
    server_log(server, "live %.8s started (%dx%d, %s)", id, width, height, live.engine);
    cJSON *json = cJSON_CreateObject();
    if (json) {
        cJSON_AddStringToObject(json, "id", id);
        cJSON_AddNumberToObject(json, "width", width);
        cJSON_AddNumberToObject(json, "height", height);
    }
    return send_json(connection, 201, json);
}

/* POST /api/live/ID/frame: the body (one JPEG, at most live_max_frame_bytes) gathered, then
 * animated; the answer is the animated frame as image/jpeg with X-Vivify-Face (1: the frame
 * had a face) and X-Vivify-Worker-Ms (the time the session took for it). */
static enum MHD_Result handle_live_frame(serve_server *server, struct MHD_Connection *connection, request *r,
                                         const char *upload_data, size_t *upload_data_size, bool first) {
    size_t cap = server->params.live_max_frame_bytes;
    if (first) {
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > cap)
            return send_error(server, connection, 413, "too large: a live frame is at most %zu KB of JPEG", cap >> 10);
        r->frame = malloc(cap);
        if (!r->frame) return send_error(server, connection, 503, "out of memory");
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->frame_size + *upload_data_size > cap) {
            request_error(r, 413, "too large: a live frame is at most %zu KB of JPEG", cap >> 10);
            server_log(server, "413 %s (cut off while sending)", r->error);
            connection_refuse_now(connection, 413, "Content Too Large", r->error);
            return MHD_NO;
        }
        memcpy(r->frame + r->frame_size, upload_data, *upload_data_size);
        r->frame_size += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    connection_deadline(server, connection, 0);
    live_answer answer;
    live_session_frame(server->live, r->live_id, r->frame, r->frame_size, &answer);
    if (answer.code != 200) {
        /* the usual refusals of a running session are not logged one a frame */
        if (answer.code == 429) {
            cJSON *json = cJSON_CreateObject();
            if (json) cJSON_AddStringToObject(json, "error", answer.error);
            return send_json(connection, 429, json);
        }
        return send_error(server, connection, answer.code, "%s", answer.error);
    }
    struct MHD_Response *response = MHD_create_response_from_buffer(answer.size, answer.jpeg, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(answer.jpeg);
        return MHD_NO;
    }
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", answer.worker_ms);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "image/jpeg");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "X-Vivify-Face", answer.face ? "1" : "0");
    MHD_add_response_header(response, "X-Vivify-Worker-Ms", ms);
    enum MHD_Result result = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return result;
}

/* The end of POST /api/jobs: every byte is in. */
static enum MHD_Result finish_upload(serve_server *server, struct MHD_Connection *connection, request *r) {
    connection_deadline(server, connection, 0);
    if (r->post && MHD_destroy_post_processor(r->post) != MHD_YES && !r->error_code)
        request_error(r, 400, "the multipart/form-data body is malformed or cut short");
    r->post = NULL;
    request_close_files(r);
    if (r->post_live) return finish_live_start(server, connection, r);
    job_request job;
    if (!r->error_code) build_request(r, &job);
    if (r->error_code) {
        return send_error(server, connection, r->error_code, "%s", r->error);
    }
    char id[JOB_ID_LENGTH + 1];
    vv_status s = job_queue_submit(server->queue, r->dir, &job, id);
    if (s == VV_ERR_TOO_LARGE) return send_error(server, connection, 429, "%s", vv_last_error());
    if (s != VV_OK) return send_error(server, connection, 503, "%s", vv_last_error());
    r->dir[0] = 0; /* the queue owns the folder now */
    server_log(server, "job %.8s queued: %s%s", id, job.faces ? "faces" : job.audio[0] ? "recording, motion " : job.motion[0] ? "motion " : "driving video",
               job.motion[0] ? job.motion : "");
    cJSON *json = cJSON_CreateObject();
    if (json) cJSON_AddStringToObject(json, "id", id);
    return send_json(connection, 202, json);
}

static enum MHD_Result handle_post_job(serve_server *server, struct MHD_Connection *connection, request *r,
                                       const char *upload_data, size_t *upload_data_size, bool first) {
    if (first) {
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > server->params.max_upload_bytes) {
            char limit[32];
            format_megabytes(limit, sizeof limit, server->params.max_upload_bytes);
            /* answered before the body is read: libmicrohttpd then closes the connection */
            return send_error(server, connection, 413, "too large: uploads are limited to %s", limit);
        }
        const char *route = r->post_faces ? "/api/faces" : r->post_live ? "/api/live" : "/api/jobs";
        r->post = MHD_create_post_processor(connection, 64 * 1024, upload_part, r);
        if (!r->post) return send_error(server, connection, 415, "POST %s takes multipart/form-data", route);
        const char *type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!type || !strcasestr(type, "multipart/form-data"))
            return send_error(server, connection, 415, "POST %s takes multipart/form-data", route);
        /* the folder holds a place in the queue while the upload arrives, so uploads in
         * flight and waiting jobs together are at most --queue (the disk they take is bounded) */
        vv_status s = job_queue_make_folder(server->queue, r->dir, sizeof r->dir);
        if (s != VV_OK) /* answered before the body is read (and the connection closed) */
            return send_error(server, connection, s == VV_ERR_TOO_LARGE ? 429 : 500, "%s", vv_last_error());
        return MHD_YES;
    }
    if (*upload_data_size) {
        r->received += *upload_data_size;
        if (r->received > server->params.max_upload_bytes) {
            /* No more is read: a body without a Content-Length (chunked) could go on for
             * ever.  libmicrohttpd takes no answer before the body's end, so the 413 goes
             * out on the socket itself, and the connection is closed. */
            char limit[32];
            format_megabytes(limit, sizeof limit, server->params.max_upload_bytes);
            request_error(r, 413, "too large: uploads are limited to %s", limit);
            server_log(server, "413 %s (cut off while sending)", r->error);
            connection_refuse_now(connection, 413, "Content Too Large", r->error);
            return MHD_NO;
        }
        if (!r->error_code && MHD_post_process(r->post, upload_data, *upload_data_size) != MHD_YES)
            request_error(r, 400, "the multipart/form-data body is malformed");
        *upload_data_size = 0;
        return MHD_YES;
    }
    return finish_upload(server, connection, r);
}

static const serve_asset *find_asset(const char *url) {
    for (size_t i = 0; i < serve_asset_count; i++)
        if (!strcmp(serve_assets[i].path, url)) return &serve_assets[i];
    return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **state) {
    serve_server *server = cls;
    request *r = *state;
    if (!r) {
        r = request_new(server, NULL);
        if (!r) return MHD_NO;
        *state = r;
    }
    bool first = !r->started;
    r->started = true;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (first) {
        /* libmicrohttpd cuts the path at a raw NUL ("GET /api/jobs/ID\0anything HTTP/1.1"
         * would reach job ID): the path seen when the line came in must end where the
         * request line's version begins (both point into the connection's buffer; a path
         * that ends short of it had more bytes after a NUL) */
        if (r->uri && version && version > r->uri && version - r->uri < 65536 && r->uri + r->uri_length + 1 < version)
            return send_error(server, connection, 400, "bad request: a NUL byte in the request line");
        /* refusals on the first call go out before any body is read (and close the connection) */
        if (!request_allowed(server, connection, method))
            return send_error(server, connection, 403, "forbidden: this server only answers its own page");
        r->post_faces = !strcmp(url, "/api/faces") && !strcmp(method, "POST");
        r->post_live = !strcmp(url, "/api/live") && !strcmp(method, "POST");
        r->post_job = (!strcmp(url, "/api/jobs") && !strcmp(method, "POST")) || r->post_faces || r->post_live;
        if (r->post_live && live_manager_active(server->live) >= server->params.live_sessions) /* before the upload */
            return send_error(server, connection, 409, server->params.live_sessions > 0
                                  ? "busy: another live session is running on this server (%d at a time); try again when it ends"
                                  : "live sessions are turned off on this server (%d at a time)", server->params.live_sessions);
        static const char live_prefix[] = "/api/live/";
        if (!strcmp(method, "POST") && !strncmp(url, live_prefix, sizeof live_prefix - 1)) {
            const char *id = url + sizeof live_prefix - 1;
            bool frame = is_job_id(id, LIVE_ID_LENGTH) && !strcmp(id + LIVE_ID_LENGTH, "/frame");
            bool recalibrate = is_job_id(id, LIVE_ID_LENGTH) && !strcmp(id + LIVE_ID_LENGTH, "/recalibrate");
            if (!frame && !recalibrate)
                return send_error(server, connection, 404, "not found: %.80s (frames go to POST /api/live/ID/frame)", url);
            memcpy(r->live_id, id, LIVE_ID_LENGTH);
            r->live_frame = frame; /* recalibrate takes no body: answered below as other routes */
        }
        /* the headers are in: an upload has body_timeout_s for its body; answers need no
         * deadline */
        connection_deadline(server, connection, r->post_job ? server->params.body_timeout_s
                                                : r->live_frame ? server->params.header_timeout_s : 0);
        if (r->post_job) return handle_post_job(server, connection, r, upload_data, upload_data_size, true);
        if (r->live_frame) return handle_live_frame(server, connection, r, upload_data, upload_data_size, true);
        /* No other request takes a body: one that comes with a body (endless, chunked, or
         * trickled) is answered now, before it is read, and the connection then closed.
         * Without one, the answer waits for the next call: answering the first one ends
         * keep-alive. */
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *encoding = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if (!encoding && (!length || !strcmp(length, "0"))) return MHD_YES;
    } else if (r->post_job) {
        return handle_post_job(server, connection, r, upload_data, upload_data_size, false);
    } else if (r->live_frame) {
        return handle_live_frame(server, connection, r, upload_data, upload_data_size, false);
    }
    if (*upload_data_size) { /* cannot happen (answered above), but never leave bytes unread */
        *upload_data_size = 0;
        return MHD_YES;
    }
    const serve_asset *asset = find_asset(url);
    if (asset) {
        if (!get) return send_error(server, connection, 405, "%s %s: use GET", method, url);
        return send_buffer(connection, 200, asset->content_type, asset->data, asset->size, MHD_RESPMEM_PERSISTENT);
    }
    if (!strcmp(url, "/api/motions") || !strcmp(url, "/api/config")) {
        if (!get) return send_error(server, connection, 405, "%s %s: use GET", method, url);
        const char *text = url[5] == 'm' ? server->motions_json : server->config_json;
        return send_buffer(connection, 200, "application/json", text, strlen(text), MHD_RESPMEM_PERSISTENT);
    }
    if (!strcmp(url, "/api/jobs") || !strcmp(url, "/api/faces") || !strcmp(url, "/api/live"))
        return send_error(server, connection, 405, "%s %s: use POST", method, url);
    static const char live_prefix[] = "/api/live/";
    if (!strncmp(url, live_prefix, sizeof live_prefix - 1)) {
        const char *id = url + sizeof live_prefix - 1;
        bool recalibrate = is_job_id(id, LIVE_ID_LENGTH) && !strcmp(id + LIVE_ID_LENGTH, "/recalibrate");
        if (!is_job_id(id, strlen(id)) && !(is_job_id(id, LIVE_ID_LENGTH) && !strcmp(id + LIVE_ID_LENGTH, "/frame")) && !recalibrate)
            return send_error(server, connection, 404, "no such live session");
        if (recalibrate && !strcmp(method, "POST")) { /* the next face is the neutral */
            live_answer answer;
            live_session_recalibrate(server->live, r->live_id, &answer);
            if (answer.code != 204) return send_error(server, connection, answer.code, "%s", answer.error);
            return send_buffer(connection, 204, "application/json", "", 0, MHD_RESPMEM_PERSISTENT);
        }
        if (id[LIVE_ID_LENGTH]) return send_error(server, connection, 405, "%s %s: use POST", method, url);
        if (strcmp(method, "DELETE")) return send_error(server, connection, 405, "%s on a live session: use DELETE", method);
        char key[LIVE_ID_LENGTH + 1];
        memcpy(key, id, LIVE_ID_LENGTH);
        key[LIVE_ID_LENGTH] = 0;
        if (!live_session_stop(server->live, key)) return send_error(server, connection, 404, "no such live session");
        server_log(server, "live %.8s stopped", key);
        return send_buffer(connection, 204, "application/json", "", 0, MHD_RESPMEM_PERSISTENT);
    }
    static const char prefix[] = "/api/jobs/";
    if (!strncmp(url, prefix, sizeof prefix - 1)) {
        const char *id = url + sizeof prefix - 1;
        const char *slash = strchr(id, '/');
        size_t id_length = slash ? (size_t)(slash - id) : strlen(id);
        bool result = slash && !strcmp(slash, "/result");
        if (!is_job_id(id, id_length) || (slash && !result)) return send_error(server, connection, 404, "no such job");
        char key[JOB_ID_LENGTH + 1];
        memcpy(key, id, JOB_ID_LENGTH);
        key[JOB_ID_LENGTH] = 0;
        if (result) {
            if (!get) return send_error(server, connection, 405, "%s %s: use GET", method, url);
            return send_result(server, connection, key);
        }
        if (get) return send_status(server, connection, key);
        if (!strcmp(method, "DELETE")) {
            if (!job_queue_delete(server->queue, key)) return send_error(server, connection, 404, "no such job");
            server_log(server, "job %.8s deleted", key);
            return send_buffer(connection, 204, "application/json", "", 0, MHD_RESPMEM_PERSISTENT);
        }
        return send_error(server, connection, 405, "%s on a job: use GET or DELETE", method);
    }
    return send_error(server, connection, 404, "not found: %.80s", url);
}

/* URL decoding as libmicrohttpd does it, except that %00 stays as it is: a NUL would cut
 * the path short ("/api/jobs/ID%00anything" must not reach job ID). */
static size_t unescape_url(void *cls, struct MHD_Connection *connection, char *text) {
    (void)cls;
    (void)connection;
    char *out = text;
    for (const char *in = text; *in; in++) {
        int high, low;
        if (in[0] == '%' && (high = hex_value(in[1])) >= 0 && (low = hex_value(in[2])) >= 0 && (high || low)) {
            *out++ = (char)(high * 16 + low);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = 0;
    return (size_t)(out - text);
}

static void request_done(void *cls, struct MHD_Connection *connection, void **state,
                         enum MHD_RequestTerminationCode reason) {
    (void)reason;
    serve_server *server = cls;
    request *r = *state;
    /* a kept-alive connection waits for its next request as a new one does */
    if (connection) connection_deadline(server, connection, server->params.header_timeout_s);
    if (!r) return;
    if (r->post) MHD_destroy_post_processor(r->post);
    free(r->frame);
    request_close_files(r);
    if (r->dir[0]) job_queue_discard_folder(server->queue, r->dir); /* never became a job */
    free(r);
    *state = NULL;
}

/* ------------------------------------------------------------------ start / stop */

typedef struct text_buffer {
    char *data;
    size_t length, capacity;
    bool failed;
} text_buffer;

static void text_append(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_append(text_buffer *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(b->data ? b->data + b->length : NULL, b->data ? b->capacity - b->length : 0, fmt, args);
        va_end(args);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->data && b->length + (size_t)n < b->capacity) {
            b->length += (size_t)n;
            return;
        }
        size_t capacity = (b->capacity + (size_t)n + 1) * 2;
        char *grown = realloc(b->data, capacity);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->capacity = capacity;
    }
}

/* {"motions": [{"name", "fps", "frames": [[x0, y0, ... x67, y67] per frame]}]}: the
 * built-in motions' landmarks in thousandths of the frame, for the page's previews. */
static vv_status build_motions_json(char **out) {
    text_buffer b = {0};
    text_append(&b, "{\"motions\":[");
    char names[256];
    snprintf(names, sizeof names, "%s", motion_builtin_names());
    int index = 0;
    for (char *save = NULL, *name = strtok_r(names, "|", &save); name; name = strtok_r(NULL, "|", &save)) {
        motion_track track = {0};
        vv_status s = motion_builtin(&track, name, MOTION_PREVIEW_SECONDS, MOTION_PREVIEW_FPS);
        if (s != VV_OK) {
            free(b.data);
            return s;
        }
        double w = track.width > 0 ? track.width : 512, h = track.height > 0 ? track.height : 512;
        text_append(&b, "%s{\"name\":\"%s\",\"fps\":%g,\"frames\":[", index++ ? "," : "", name, track.fps);
        for (int f = 0; f < track.frame_count; f++) {
            text_append(&b, "%s[", f ? "," : "");
            for (int k = 0; k < 68; k++)
                text_append(&b, "%s%ld,%ld", k ? "," : "", lround(track.points[f][k][0] / w * 1000),
                            lround(track.points[f][k][1] / h * 1000));
            text_append(&b, "]");
        }
        text_append(&b, "]}");
        motion_track_free(&track);
    }
    text_append(&b, "]}");
    if (b.failed) {
        free(b.data);
        return vv_fail(VV_ERR_NO_MEMORY, "serve: out of memory");
    }
    *out = b.data;
    return VV_OK;
}

/* The Host allow-list: localhost and loopback, the --host given, the --allow-host names,
 * and on a wildcard address every address of this machine and its host name. */
static vv_status build_allowed_hosts(const serve_server *server, char **out) {
    text_buffer b = {0};
    text_append(&b, "localhost\n127.0.0.1\n[::1]\n%s%s%s\n", strchr(server->host, ':') ? "[" : "", server->host,
                strchr(server->host, ':') ? "]" : "");
    if (server->params.allowed_hosts) {
        char names[1024];
        snprintf(names, sizeof names, "%s", server->params.allowed_hosts);
        for (char *save = NULL, *name = strtok_r(names, ", ", &save); name; name = strtok_r(NULL, ", ", &save))
            text_append(&b, "%s\n", name);
    }
    if (server->any_host) {
        char name[256];
        if (gethostname(name, sizeof name) == 0) {
            name[sizeof name - 1] = 0;
            text_append(&b, "%s\n%s.local\n", name, name);
        }
        struct ifaddrs *interfaces = NULL;
        if (getifaddrs(&interfaces) == 0) {
            for (struct ifaddrs *i = interfaces; i; i = i->ifa_next) {
                char text[INET6_ADDRSTRLEN];
                if (!i->ifa_addr) continue;
                if (i->ifa_addr->sa_family == AF_INET &&
                    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, text, sizeof text))
                    text_append(&b, "%s\n", text);
                else if (i->ifa_addr->sa_family == AF_INET6 &&
                         inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, text, sizeof text))
                    text_append(&b, "[%s]\n", text);
            }
            freeifaddrs(interfaces);
        }
    }
    if (b.failed) {
        free(b.data);
        return vv_fail(VV_ERR_NO_MEMORY, "serve: out of memory");
    }
    *out = b.data;
    return VV_OK;
}

static vv_status build_config_json(const serve_server *server, char **out) {
    cJSON *json = cJSON_CreateObject();
    if (json) {
        cJSON_AddNumberToObject(json, "max_upload_bytes", (double)server->params.max_upload_bytes);
        cJSON_AddNumberToObject(json, "jobs", server->params.jobs);
        cJSON_AddNumberToObject(json, "queue", server->params.queue);
        cJSON_AddNumberToObject(json, "max_frames", server->params.max_frames);
        cJSON_AddNumberToObject(json, "max_seconds", server->params.max_seconds);
        cJSON_AddNumberToObject(json, "max_portrait_pixels", (double)server->params.max_portrait_pixels);
        const char *formats[] = {"mp4", "gif"}, *modes[] = {"relative", "absolute"}, *backgrounds[] = {"still", "move"};
        cJSON_AddItemToObject(json, "engines", cJSON_CreateStringArray(server->engines, server->engine_count));
        cJSON_AddItemToObject(json, "formats", cJSON_CreateStringArray(formats, 2));
        cJSON_AddItemToObject(json, "modes", cJSON_CreateStringArray(modes, 2));
        cJSON_AddItemToObject(json, "backgrounds", cJSON_CreateStringArray(backgrounds, 2));
        cJSON_AddStringToObject(json, "version", vv_version());
        cJSON *live = cJSON_AddObjectToObject(json, "live");
        if (live) {
            cJSON_AddNumberToObject(live, "sessions", server->params.live_sessions);
            cJSON_AddNumberToObject(live, "max_frame_bytes", (double)server->params.live_max_frame_bytes);
            cJSON_AddNumberToObject(live, "max_frame_side", server->params.live_max_frame_side);
            cJSON_AddNumberToObject(live, "max_fps", server->params.live_max_fps);
            cJSON_AddNumberToObject(live, "idle_s", server->params.live_idle_s);
        }
    }
    *out = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    return *out ? VV_OK : vv_fail(VV_ERR_NO_MEMORY, "serve: out of memory");
}

static void live_release_folder(void *user, const char *dir) {
    serve_server *server = user;
    job_queue_discard_folder(server->queue, dir);
}

vv_status serve_start(serve_server **out, const serve_params *params) {
    *out = NULL;
    if (!params->exe) return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: no vivify binary to run jobs with");
    if (params->port < 0 || params->port > 65535)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: port %d is not in 0..65535", params->port);
    serve_server *server = calloc(1, sizeof *server);
    if (!server) return vv_fail(VV_ERR_NO_MEMORY, "serve: out of memory");
    server->params = *params;
    live_params live_defaults = live_default_params(); /* live limits left 0 take the defaults */
    if (!server->params.live_max_frame_bytes) server->params.live_max_frame_bytes = live_defaults.max_frame_bytes;
    if (server->params.live_max_frame_side <= 0) server->params.live_max_frame_side = live_defaults.max_frame_side;
    if (!(server->params.live_max_fps > 0)) server->params.live_max_fps = live_defaults.max_fps;
    if (!(server->params.live_idle_s > 0)) server->params.live_idle_s = live_defaults.idle_s;
    if (params->max_client_connections < 1 || !(params->header_timeout_s > 0) || !(params->body_timeout_s > 0)) {
        free(server);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: connections per client and deadlines must be positive");
    }
    pthread_mutex_init(&server->clients_lock, NULL);
    pthread_cond_init(&server->watchdog_wake, NULL);
    if (pthread_create(&server->watchdog, NULL, watchdog_main, server) != 0) {
        pthread_cond_destroy(&server->watchdog_wake);
        pthread_mutex_destroy(&server->clients_lock);
        free(server);
        return vv_fail(VV_ERR_NO_MEMORY, "serve: cannot start the connection watchdog");
    }
    server->watchdog_running = true;
    if (!server->params.host) server->params.host = "127.0.0.1";
    snprintf(server->host, sizeof server->host, "%s", server->params.host);

    struct addrinfo hints = {0}, *address = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", params->port);
    int gai = getaddrinfo(server->host, port_text, &hints, &address);
    if (gai != 0 || !address) {
        serve_stop(server);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: cannot resolve --host %s: %s", params->host, gai_strerror(gai));
    }
    if (address->ai_family == AF_INET)
        server->any_host = ((struct sockaddr_in *)address->ai_addr)->sin_addr.s_addr == htonl(INADDR_ANY);
    else if (address->ai_family == AF_INET6)
        server->any_host = !memcmp(&((struct sockaddr_in6 *)address->ai_addr)->sin6_addr, &in6addr_any, sizeof in6addr_any);

    for (size_t i = 0; i < sizeof all_engines / sizeof all_engines[0]; i++) {
        char found[PATH_MAX];
        if (!engine_models[i] || animate_shipped_model_find(engine_models[i], found, sizeof found))
            server->engines[server->engine_count++] = all_engines[i];
    }
    vv_status s = build_allowed_hosts(server, &server->allowed);
    if (s == VV_OK) s = build_motions_json(&server->motions_json);
    if (s == VV_OK) s = build_config_json(server, &server->config_json);
    job_queue_params qp = {
        .exe = params->exe,
        .models_dir = params->models_dir,
        .temp_dir = params->temp_dir,
        .workers = params->jobs,
        .capacity = params->queue,
        .keep_bytes = params->keep_bytes,
        .keep_count = params->keep_count,
        .max_frames = params->max_frames,
        .max_seconds = params->max_seconds,
        .memory_bytes = params->job_memory_bytes,
        .cpu_seconds = params->job_cpu_seconds,
    };
    if (s == VV_OK) s = job_queue_new(&server->queue, &qp);
    if (s == VV_OK) {
        live_params lp = live_default_params();
        lp.exe = params->exe;
        lp.models_dir = params->models_dir;
        lp.sessions = server->params.live_sessions;
        lp.max_frame_bytes = server->params.live_max_frame_bytes;
        lp.max_frame_side = server->params.live_max_frame_side;
        lp.max_fps = server->params.live_max_fps;
        lp.idle_s = server->params.live_idle_s;
        lp.memory_bytes = params->job_memory_bytes;
        lp.cpu_seconds = params->job_cpu_seconds;
        /* made aside, then published under the lock the watchdog reads it with (it
         * already runs: it reaps idle live sessions) */
        live_manager *live = NULL;
        s = live_manager_new(&live, &lp, live_release_folder, server);
        pthread_mutex_lock(&server->clients_lock);
        server->live = live;
        pthread_mutex_unlock(&server->clients_lock);
    }
    if (s == VV_OK) {
        unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
        if (address->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
        server->daemon = MHD_start_daemon(
            flags, (uint16_t)params->port, NULL, NULL, handle, server, MHD_OPTION_SOCK_ADDR, address->ai_addr,
            MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)params->max_client_connections,
            MHD_OPTION_NOTIFY_CONNECTION, connection_notify, server, MHD_OPTION_NOTIFY_COMPLETED, request_done, server, MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, server,
            MHD_OPTION_URI_LOG_CALLBACK, request_begin, server,
            MHD_OPTION_END);
        if (!server->daemon)
            s = vv_fail(VV_ERR_IO, "serve: cannot listen on %s port %d (in use, or not an address of this machine?)",
                        params->host, params->port);
    }
    freeaddrinfo(address);
    if (s != VV_OK) {
        serve_stop(server);
        return s;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info && info->port ? info->port : params->port;
    *out = server;
    return VV_OK;
}

int serve_port(const serve_server *server) { return server->port; }

void serve_stop(serve_server *server) {
    if (!server) return;
    if (server->daemon) MHD_stop_daemon(server->daemon); /* every connection closed */
    if (server->watchdog_running) {
        pthread_mutex_lock(&server->clients_lock);
        server->stopping = true;
        pthread_cond_signal(&server->watchdog_wake);
        pthread_mutex_unlock(&server->clients_lock);
        pthread_join(server->watchdog, NULL);
        pthread_cond_destroy(&server->watchdog_wake);
        pthread_mutex_destroy(&server->clients_lock);
    }
    live_manager_free(server->live); /* before the queue: its folders are the queue's */
    job_queue_free(server->queue);
    free(server->allowed);
    free(server->motions_json);
    free(server->config_json);
    free(server);
}
