/* serve/jobs: the job queue (see jobs.h).  One mutex guards the job list; worker threads
 * take the oldest queued job, spawn `vivify animate` on a pseudo-terminal, follow its
 * progress line and record how it ended. */
#define _GNU_SOURCE /* posix_openpt, ptsname_r, nftw, pipe2 */
#include "serve/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define MAX_WORKERS 64
/* When animate tracks the whole driver before animating (it prints a "tracking" bar, then
 * an "animate" one), the share of the progress the tracking pass fills.  Usually it tracks
 * and animates in step, and one "animate" bar is the whole job. */
#define TRACKING_SHARE 0.4

typedef struct job {
    struct job *next; /* all jobs, oldest first */
    char id[JOB_ID_LENGTH + 1];
    char dir[PATH_MAX];
    char result[PATH_MAX];
    job_request request;
    job_state state;
    double progress, fps, eta_s;
    double started; /* time_now() when it began running */
    char error[320];
    pid_t pid;    /* > 0 while its child runs */
    bool deleted; /* deleted while running: the worker frees it when the child is gone */
    bool two_pass; /* a "tracking" bar was seen: it fills the first TRACKING_SHARE */
    uint64_t result_bytes;
} job;

struct job_queue {
    job_queue_params params;
    char root[PATH_MAX];
    int random_fd;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t workers[MAX_WORKERS];
    int worker_count;
    bool stopping;
    job *jobs;
};

const char *job_state_name(job_state state) {
    switch (state) {
    case JOB_QUEUED: return "queued";
    case JOB_RUNNING: return "running";
    case JOB_DONE: return "done";
    case JOB_FAILED: return "failed";
    }
    return "failed";
}

/* ------------------------------------------------------------------ files */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path) {
    if (path[0]) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

vv_status job_queue_make_folder(job_queue *queue, char *dir, size_t dir_size) {
    int n = snprintf(dir, dir_size, "%s/job-XXXXXX", queue->root);
    if (n < 0 || (size_t)n >= dir_size) return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: temp path too long");
    if (!mkdtemp(dir)) return vv_fail(VV_ERR_WRITE, "serve: cannot make a job folder in %s: %s", queue->root, strerror(errno));
    return VV_OK;
}

void job_queue_discard_folder(job_queue *queue, const char *dir) {
    /* only ever remove what lies inside our own folder */
    size_t n = strlen(queue->root);
    if (!strncmp(dir, queue->root, n) && dir[n] == '/') remove_tree(dir);
}

/* ------------------------------------------------------------------ progress */

int job_parse_progress(const char *segment, char *label, size_t label_size, long *done, long *total, double *rate) {
    /* Two shapes, from cli/progress.c:
     *   terminal: "animate [#####.....] 12/125 frames  40.1 frames/s  00:01 elapsed  ETA 00:03"
     *   log:      "animate: 12/125 frames (40.1 frames/s)" */
    while (*segment == ' ') segment++;
    size_t n = 0;
    while (segment[n] && segment[n] != ' ' && segment[n] != ':' && n + 1 < label_size) {
        label[n] = segment[n];
        n++;
    }
    label[n] = 0;
    if (strcmp(label, "tracking") && strcmp(label, "animate")) return 0;
    const char *slash = strchr(segment, '/');
    while (slash) {
        const char *digits = slash;
        while (digits > segment && digits[-1] >= '0' && digits[-1] <= '9') digits--;
        if (digits < slash && slash[1] >= '0' && slash[1] <= '9') {
            char *end = NULL;
            long a = strtol(digits, NULL, 10), b = strtol(slash + 1, &end, 10);
            if (end && !strncmp(end, " frames", 7) && a >= 0 && b > 0) {
                *done = a;
                *total = b;
                *rate = 0;
                const char *per = strstr(end, " frames/s");
                if (per) {
                    const char *number = per;
                    while (number > end && ((number[-1] >= '0' && number[-1] <= '9') || number[-1] == '.')) number--;
                    if (number < per) *rate = strtod(number, NULL);
                }
                return 1;
            }
        }
        slash = strchr(slash + 1, '/');
    }
    return 0;
}

/* Replaces every `needle` in text (in place, truncating at size). */
static void replace_all(char *text, size_t size, const char *needle, const char *replacement) {
    size_t needle_length = strlen(needle), replacement_length = strlen(replacement);
    if (!needle_length) return;
    char *at = text;
    while ((at = strstr(at, needle))) {
        size_t tail = strlen(at + needle_length);
        size_t offset = (size_t)(at - text);
        if (offset + replacement_length + tail + 1 > size) tail = size - 1 - offset - replacement_length;
        if (offset + replacement_length + 1 > size) { *at = 0; return; }
        memmove(at + replacement_length, at + needle_length, tail);
        memcpy(at, replacement, replacement_length);
        at[replacement_length + tail] = 0;
        at += replacement_length;
    }
}

/* The error for the user: our temp paths become plain words. */
static void job_set_error(job *j, const char *message) {
    snprintf(j->error, sizeof j->error, "%s", message);
    replace_all(j->error, sizeof j->error, j->request.source, "the portrait");
    if (j->request.driving[0]) replace_all(j->error, sizeof j->error, j->request.driving, "the driving video");
    replace_all(j->error, sizeof j->error, j->result, "the result");
    replace_all(j->error, sizeof j->error, j->dir, "the job folder");
}

static void job_take_segment(job_queue *queue, job *j, const char *segment, char *last_error, size_t error_size) {
    while (*segment == ' ') segment++;
    if (!strncmp(segment, "vivify: ", 8)) {
        snprintf(last_error, error_size, "%s", segment + 8);
        return;
    }
    char label[16];
    long done = 0, total = 0;
    double rate = 0;
    if (!job_parse_progress(segment, label, sizeof label, &done, &total, &rate)) return;
    double fraction = done >= total ? 1 : (double)done / (double)total;
    pthread_mutex_lock(&queue->lock);
    bool tracking = !strcmp(label, "tracking");
    if (tracking) j->two_pass = true;
    double overall = !j->two_pass ? fraction
                     : tracking   ? TRACKING_SHARE * fraction
                                  : TRACKING_SHARE + (1 - TRACKING_SHARE) * fraction;
    if (overall > j->progress) j->progress = overall;
    if (rate > 0) j->fps = rate;
    double elapsed = time_now() - j->started;
    if (j->progress >= 0.02 && elapsed > 0.2) j->eta_s = elapsed * (1 - j->progress) / j->progress;
    pthread_mutex_unlock(&queue->lock);
}

/* ------------------------------------------------------------------ running */

/* A pseudo-terminal pair (so animate draws its live bar), else a pipe. */
static int open_output_channel(int *read_fd, int *write_fd) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master >= 0) {
        char name[128];
        if (grantpt(master) == 0 && unlockpt(master) == 0 && ptsname_r(master, name, sizeof name) == 0) {
            int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (slave >= 0) {
                struct termios raw;
                if (tcgetattr(slave, &raw) == 0) { /* no \n -> \r\n, no echo */
                    cfmakeraw(&raw);
                    tcsetattr(slave, TCSANOW, &raw);
                }
                *read_fd = master;
                *write_fd = slave;
                return 0;
            }
        }
        close(master);
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    *read_fd = fds[0];
    *write_fd = fds[1];
    return 0;
}

typedef struct arguments {
    char *items[48];
    char storage[12][32];
    int count, numbers;
} arguments;

static void arguments_add(arguments *a, const char *value) {
    if (a->count < 47) a->items[a->count++] = (char *)value;
    a->items[a->count] = NULL;
}

static void arguments_add_number(arguments *a, const char *format, double value) {
    if (a->numbers >= 12) return;
    snprintf(a->storage[a->numbers], sizeof a->storage[0], format, value);
    arguments_add(a, a->storage[a->numbers++]);
}

static void job_run(job_queue *queue, job *j) {
    const job_request *r = &j->request;
    arguments args = {0};
    arguments_add(&args, queue->params.exe);
    arguments_add(&args, "animate");
    arguments_add(&args, r->source);
    if (r->driving[0]) {
        arguments_add(&args, "--driving");
        arguments_add(&args, r->driving);
    } else {
        arguments_add(&args, "--motion");
        arguments_add(&args, r->motion);
        arguments_add(&args, "--duration");
        arguments_add_number(&args, "%.3f", r->duration);
    }
    arguments_add(&args, "-o");
    arguments_add(&args, j->result);
    if (r->absolute) arguments_add(&args, "--absolute");
    if (r->compare) arguments_add(&args, "--compare");
    arguments_add(&args, "--expression-scale");
    arguments_add_number(&args, "%.3f", r->expression_scale);
    arguments_add(&args, "--pose-scale");
    arguments_add_number(&args, "%.3f", r->pose_scale);
    arguments_add(&args, "--eyes");
    arguments_add_number(&args, "%.3f", r->eyes);
    arguments_add(&args, "--lips");
    arguments_add_number(&args, "%.3f", r->lips);
    arguments_add(&args, "--background");
    arguments_add(&args, r->background_move ? "move" : "still");
    if (r->engine[0]) {
        arguments_add(&args, "--engine");
        arguments_add(&args, r->engine);
    }
    arguments_add(&args, "--frames");
    arguments_add_number(&args, "%.0f", queue->params.max_frames);
    if (queue->params.models_dir) {
        arguments_add(&args, "--models");
        arguments_add(&args, queue->params.models_dir);
    }

    char last_error[320] = "";
    int read_fd = -1, write_fd = -1;
    pid_t pid = -1;
    int spawn_error = open_output_channel(&read_fd, &write_fd) ? errno : 0;
    if (!spawn_error) {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attributes;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, write_fd, 2);
        posix_spawnattr_init(&attributes);
        /* its own process group (one kill stops it all), default signals, nothing blocked:
         * the server blocks SIGINT/SIGTERM in its threads to wait for them */
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGINT);
        sigaddset(&defaults, SIGTERM);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGHUP);
        posix_spawnattr_setsigmask(&attributes, &none);
        posix_spawnattr_setsigdefault(&attributes, &defaults);
        posix_spawnattr_setpgroup(&attributes, 0);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pthread_mutex_lock(&queue->lock);
        if (!j->deleted && !queue->stopping) {
            spawn_error = posix_spawn(&pid, queue->params.exe, &actions, &attributes, args.items, environ);
            if (spawn_error) pid = -1;
            j->pid = pid;
        }
        pthread_mutex_unlock(&queue->lock);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
        close(write_fd);
    }
    if (pid > 0) {
        /* Segments end at \r (bar redraws) or \n; a segment longer than the buffer is cut. */
        char chunk[4096], segment[1024];
        size_t length = 0;
        for (;;) {
            ssize_t got = read(read_fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break; /* EOF, or EIO once the pseudo-terminal's last writer is gone */
            for (ssize_t i = 0; i < got; i++) {
                char c = chunk[i];
                if (c == '\r' || c == '\n') {
                    segment[length] = 0;
                    if (length) job_take_segment(queue, j, segment, last_error, sizeof last_error);
                    length = 0;
                } else if (length + 1 < sizeof segment) {
                    segment[length++] = c;
                }
            }
        }
        if (length) {
            segment[length] = 0;
            job_take_segment(queue, j, segment, last_error, sizeof last_error);
        }
    }
    if (read_fd >= 0) close(read_fd);
    int wait_status = 0;
    if (pid > 0) {
        /* wait without reaping first: until j->pid is cleared a delete may still signal the
         * group, and an unreaped child keeps its pid from being reused */
        siginfo_t info;
        while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {}
        pthread_mutex_lock(&queue->lock);
        j->pid = 0;
        pthread_mutex_unlock(&queue->lock);
        while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {}
    }

    struct stat st;
    bool produced = pid > 0 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0 && stat(j->result, &st) == 0 &&
                    S_ISREG(st.st_mode) && st.st_size > 0;
    pthread_mutex_lock(&queue->lock);
    j->pid = 0;
    if (produced) {
        j->state = JOB_DONE;
        j->progress = 1;
        j->eta_s = 0;
        j->result_bytes = (uint64_t)st.st_size;
    } else {
        j->state = JOB_FAILED;
        j->eta_s = -1;
        char why[320];
        if (pid <= 0) snprintf(why, sizeof why, "could not start the animation: %s", strerror(spawn_error ? spawn_error : EAGAIN));
        else if (last_error[0]) snprintf(why, sizeof why, "%s", last_error);
        else if (WIFSIGNALED(wait_status)) snprintf(why, sizeof why, "the animation stopped (signal %d)", WTERMSIG(wait_status));
        else snprintf(why, sizeof why, "the animation failed (exit code %d)", WEXITSTATUS(wait_status));
        job_set_error(j, why);
    }
    pthread_mutex_unlock(&queue->lock);
    /* the inputs are not needed any more: only the result stays on disk */
    remove(r->source);
    if (r->driving[0]) remove(r->driving);
}

/* Unlinks j from the list and frees it with its files.  Called with the lock held. */
static void job_forget(job_queue *queue, job *j) {
    for (job **link = &queue->jobs; *link; link = &(*link)->next)
        if (*link == j) {
            *link = j->next;
            break;
        }
    job_queue_discard_folder(queue, j->dir);
    free(j);
}

/* Keeps finished jobs within keep_bytes and keep_count, dropping the oldest first (the
 * newest stays even when it alone is over).  Called with the lock held. */
static void job_evict(job_queue *queue, const job *newest) {
    for (;;) {
        uint64_t bytes = 0;
        int count = 0;
        job *oldest = NULL;
        for (job *j = queue->jobs; j; j = j->next) {
            if (j->deleted || (j->state != JOB_DONE && j->state != JOB_FAILED)) continue;
            bytes += j->result_bytes;
            count++;
            if (!oldest && j != newest) oldest = j;
        }
        if (!oldest || (bytes <= queue->params.keep_bytes && count <= queue->params.keep_count)) return;
        job_forget(queue, oldest);
    }
}

static void *worker_main(void *arg) {
    job_queue *queue = arg;
    pthread_mutex_lock(&queue->lock);
    for (;;) {
        job *next = NULL;
        while (!queue->stopping) {
            for (job *j = queue->jobs; j && !next; j = j->next)
                if (j->state == JOB_QUEUED) next = j;
            if (next) break;
            pthread_cond_wait(&queue->wake, &queue->lock);
        }
        if (queue->stopping) break;
        next->state = JOB_RUNNING;
        next->started = time_now();
        pthread_mutex_unlock(&queue->lock);
        job_run(queue, next);
        pthread_mutex_lock(&queue->lock);
        if (next->deleted) job_forget(queue, next);
        else job_evict(queue, next);
    }
    pthread_mutex_unlock(&queue->lock);
    return NULL;
}

/* ------------------------------------------------------------------ queue */

vv_status job_queue_new(job_queue **out, const job_queue_params *params) {
    *out = NULL;
    if (!params->exe || params->workers < 1 || params->workers > MAX_WORKERS || params->capacity < 1 ||
        params->max_frames < 1 || params->keep_count < 1)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: jobs must be 1..%d, the queue and kept results at least 1",
                       MAX_WORKERS);
    job_queue *queue = calloc(1, sizeof *queue);
    if (!queue) return vv_fail(VV_ERR_NO_MEMORY, "serve: out of memory");
    queue->params = *params;
    const char *temp = params->temp_dir ? params->temp_dir : getenv("TMPDIR");
    if (!temp || !temp[0]) temp = "/tmp";
    int n = snprintf(queue->root, sizeof queue->root, "%s/vivify-serve-XXXXXX", temp);
    if (n < 0 || (size_t)n >= sizeof queue->root - 64) {
        free(queue);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: temp folder path too long: %s", temp);
    }
    if (!mkdtemp(queue->root)) { /* mode 0700: other users cannot read uploads */
        vv_status s = vv_fail(VV_ERR_WRITE, "serve: cannot make a temp folder in %s: %s", temp, strerror(errno));
        free(queue);
        return s;
    }
    queue->random_fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (queue->random_fd < 0) {
        vv_status s = vv_fail(VV_ERR_IO, "serve: cannot open /dev/urandom: %s", strerror(errno));
        rmdir(queue->root);
        free(queue);
        return s;
    }
    pthread_mutex_init(&queue->lock, NULL);
    pthread_cond_init(&queue->wake, NULL);
    for (int i = 0; i < params->workers; i++) {
        if (pthread_create(&queue->workers[i], NULL, worker_main, queue) != 0) {
            job_queue_free(queue);
            return vv_fail(VV_ERR_NO_MEMORY, "serve: cannot start worker thread %d", i + 1);
        }
        queue->worker_count++;
    }
    *out = queue;
    return VV_OK;
}

void job_queue_free(job_queue *queue) {
    if (!queue) return;
    pthread_mutex_lock(&queue->lock);
    queue->stopping = true;
    for (job *j = queue->jobs; j; j = j->next)
        if (j->pid > 0) kill(-j->pid, SIGKILL);
    pthread_cond_broadcast(&queue->wake);
    pthread_mutex_unlock(&queue->lock);
    for (int i = 0; i < queue->worker_count; i++) pthread_join(queue->workers[i], NULL);
    while (queue->jobs) job_forget(queue, queue->jobs);
    remove_tree(queue->root);
    if (queue->random_fd >= 0) close(queue->random_fd);
    pthread_cond_destroy(&queue->wake);
    pthread_mutex_destroy(&queue->lock);
    free(queue);
}

static bool new_id(job_queue *queue, char *id) {
    uint8_t bytes[JOB_ID_LENGTH / 2];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = read(queue->random_fd, bytes + got, sizeof bytes - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof bytes; i++) snprintf(id + 2 * i, 3, "%02x", bytes[i]);
    return true;
}

static int queued_count(const job_queue *queue) {
    int count = 0;
    for (const job *j = queue->jobs; j; j = j->next) count += j->state == JOB_QUEUED;
    return count;
}

bool job_queue_full(job_queue *queue) {
    pthread_mutex_lock(&queue->lock);
    bool full = queued_count(queue) >= queue->params.capacity;
    pthread_mutex_unlock(&queue->lock);
    return full;
}

vv_status job_queue_submit(job_queue *queue, const char *dir, const job_request *request, char *id) {
    job *j = calloc(1, sizeof *j);
    if (!j) return vv_fail(VV_ERR_NO_MEMORY, "serve: out of memory");
    j->request = *request;
    j->state = JOB_QUEUED;
    j->eta_s = -1;
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    if (snprintf(j->result, sizeof j->result, "%s/result.%s", dir, request->gif ? "gif" : "mp4") >= (int)sizeof j->result) {
        free(j);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: job folder path too long");
    }
    pthread_mutex_lock(&queue->lock);
    vv_status s = VV_OK;
    if (queue->stopping) s = vv_fail(VV_ERR_ABORTED, "the server is stopping");
    else if (queued_count(queue) >= queue->params.capacity)
        s = vv_fail(VV_ERR_TOO_LARGE, "the queue is full (%d jobs waiting); try again later", queue->params.capacity);
    else if (!new_id(queue, j->id)) s = vv_fail(VV_ERR_IO, "serve: cannot read /dev/urandom");
    if (s == VV_OK) {
        job **tail = &queue->jobs;
        while (*tail) tail = &(*tail)->next;
        *tail = j;
        memcpy(id, j->id, JOB_ID_LENGTH + 1);
        pthread_cond_signal(&queue->wake);
    }
    pthread_mutex_unlock(&queue->lock);
    if (s != VV_OK) free(j);
    return s;
}

/* Compares ids without an early exit, so timing says nothing about how much matched. */
static bool id_equal(const char *a, const char *b) {
    unsigned diff = 0;
    for (int i = 0; i < JOB_ID_LENGTH; i++) diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

static job *job_find(job_queue *queue, const char *id) {
    if (strlen(id) != JOB_ID_LENGTH) return NULL;
    for (job *j = queue->jobs; j; j = j->next)
        if (!j->deleted && id_equal(j->id, id)) return j;
    return NULL;
}

static void job_copy_status(const job *j, job_status *status) {
    status->state = j->state;
    status->progress = j->progress;
    status->fps = j->fps;
    status->eta_s = j->eta_s;
    snprintf(status->error, sizeof status->error, "%s", j->error);
    status->result_bytes = j->result_bytes;
    status->gif = j->request.gif;
}

bool job_queue_status(job_queue *queue, const char *id, job_status *status) {
    pthread_mutex_lock(&queue->lock);
    job *j = job_find(queue, id);
    if (j) job_copy_status(j, status);
    pthread_mutex_unlock(&queue->lock);
    return j != NULL;
}

int job_queue_open_result(job_queue *queue, const char *id, job_status *status, bool *found) {
    int fd = -1;
    pthread_mutex_lock(&queue->lock);
    job *j = job_find(queue, id);
    *found = j != NULL;
    if (j) {
        job_copy_status(j, status);
        /* opened under the lock: a delete cannot remove the file in between (and once open,
         * a later delete leaves the open file readable until it is closed) */
        if (j->state == JOB_DONE) fd = open(j->result, O_RDONLY | O_CLOEXEC);
    }
    pthread_mutex_unlock(&queue->lock);
    return fd;
}

bool job_queue_delete(job_queue *queue, const char *id) {
    pthread_mutex_lock(&queue->lock);
    job *j = job_find(queue, id);
    if (j) {
        if (j->state == JOB_RUNNING) {
            j->deleted = true; /* its worker frees it once the child is gone */
            if (j->pid > 0) kill(-j->pid, SIGKILL);
        } else {
            job_forget(queue, j);
        }
    }
    pthread_mutex_unlock(&queue->lock);
    return j != NULL;
}

void job_queue_counts(job_queue *queue, int *queued, int *running, int *finished) {
    *queued = *running = *finished = 0;
    pthread_mutex_lock(&queue->lock);
    for (const job *j = queue->jobs; j; j = j->next) {
        if (j->deleted) continue;
        *queued += j->state == JOB_QUEUED;
        *running += j->state == JOB_RUNNING;
        *finished += j->state == JOB_DONE || j->state == JOB_FAILED;
    }
    pthread_mutex_unlock(&queue->lock);
}
