/* serve/jobs: the job queue (see jobs.h).  One mutex guards the job list; worker threads
 * take the oldest queued job of their lane (animations, or the one thread for faces
 * jobs), run `vivify serve --worker` on it (serve/worker.h), follow the JSON lines it
 * writes and record how it ended. */
#define _GNU_SOURCE /* pipe2, nftw, fstatat, renameat2, close_range */
#include "serve/jobs.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 64
/* When the worker tracks the whole driver before rendering ("tracking" lines, then
 * "rendering" ones), the share of the progress the tracking pass fills.  Usually it tracks
 * and renders in step, and "rendering" is the whole job. */
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
    bool two_pass; /* a "tracking" line was seen: it fills the first TRACKING_SHARE */
    bool searching; /* still looking for the driver's first face */
    bool audio;     /* the worker said its result has sound */
    uint64_t result_bytes;
    uint64_t disk_bytes; /* what its folder holds once it ended (counted against keep_bytes) */
} job;

struct job_queue {
    job_queue_params params;
    char root[PATH_MAX];
    int random_fd;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t workers[MAX_WORKERS];
    int worker_count;
    pthread_t faces_worker; /* the lane for faces jobs (jobs.h) */
    bool faces_worker_running;
    int reserved; /* folders handed out for uploads not yet submitted */
    int lock_fd;  /* root itself, locked (flock) while this queue lives */
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

/* Removes a job's folder; only ever what lies inside our own folder. */
static void remove_job_folder(const job_queue *queue, const char *dir) {
    size_t n = strlen(queue->root);
    if (!strncmp(dir, queue->root, n) && dir[n] == '/') remove_tree(dir);
}

static int queued_count(const job_queue *queue) {
    int count = 0;
    for (const job *j = queue->jobs; j; j = j->next) count += j->state == JOB_QUEUED;
    return count;
}

vv_status job_queue_make_folder(job_queue *queue, char *dir, size_t dir_size) {
    int n = snprintf(dir, dir_size, "%s/job-XXXXXX", queue->root);
    if (n < 0 || (size_t)n >= dir_size) return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: temp path too long");
    pthread_mutex_lock(&queue->lock);
    vv_status s = VV_OK;
    if (queued_count(queue) + queue->reserved >= queue->params.capacity)
        s = vv_fail(VV_ERR_TOO_LARGE, "the queue is full (%d jobs waiting or arriving); try again later",
                    queue->params.capacity);
    else if (!mkdtemp(dir))
        s = vv_fail(VV_ERR_WRITE, "serve: cannot make a job folder in %s: %s", queue->root, strerror(errno));
    else queue->reserved++;
    pthread_mutex_unlock(&queue->lock);
    if (s != VV_OK) dir[0] = 0;
    return s;
}

void job_queue_discard_folder(job_queue *queue, const char *dir) {
    pthread_mutex_lock(&queue->lock);
    if (queue->reserved > 0) queue->reserved--;
    pthread_mutex_unlock(&queue->lock);
    remove_job_folder(queue, dir);
}

/* Folders of servers that are gone (killed, so they could not clean up): each live queue
 * holds a lock (flock) on its folder, so a folder whose lock can be taken has no owner left. */
static void remove_leftovers(const char *temp) {
    DIR *d = opendir(temp);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "vivify-serve-", 13)) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", temp, e->d_name) >= (int)sizeof path) continue;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) remove_tree(path);
        close(fd);
    }
    closedir(d);
}

/* ------------------------------------------------------------------ progress */

int job_parse_line(const char *line, job_line *out) {
    memset(out, 0, sizeof *out);
    cJSON *json = cJSON_Parse(line);
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return 0;
    }
    int kind = 0;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    const cJSON *stage = cJSON_GetObjectItemCaseSensitive(json, "stage");
    if (cJSON_IsString(error)) {
        snprintf(out->error, sizeof out->error, "%s", error->valuestring);
        kind = JOB_LINE_ERROR;
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "done"))) {
        out->audio = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "audio"));
        kind = JOB_LINE_DONE;
    } else if (cJSON_IsString(stage)) {
        const cJSON *done = cJSON_GetObjectItemCaseSensitive(json, "done");
        const cJSON *total = cJSON_GetObjectItemCaseSensitive(json, "total");
        const cJSON *fps = cJSON_GetObjectItemCaseSensitive(json, "fps");
        static const char *const stages[] = {"searching", "tracking", "rendering"};
        for (int i = 0; i < 3; i++)
            if (!strcmp(stage->valuestring, stages[i])) kind = JOB_LINE_SEARCHING + i;
        if (kind && cJSON_IsNumber(done) && cJSON_IsNumber(total) && done->valuedouble >= 0 && total->valuedouble >= 0) {
            out->done = (long)done->valuedouble;
            out->total = (long)total->valuedouble;
            out->fps = cJSON_IsNumber(fps) && fps->valuedouble > 0 ? fps->valuedouble : 0;
        } else {
            kind = 0;
        }
    }
    cJSON_Delete(json);
    return kind;
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

/* A path in a message becomes words: "PNG <path>" (as in "corrupt or truncated PNG
 * <path>: ...") reads "PNG file (the portrait)", any other place just "the portrait". */
static void replace_path(char *text, size_t size, const char *path, const char *words) {
    if (!path[0]) return;
    static const char *const formats[] = {"PNG ", "JPEG ", "GIF "};
    for (int i = 0; i < 3; i++) {
        char needle[PATH_MAX + 8], replacement[64];
        snprintf(needle, sizeof needle, "%s%s", formats[i], path);
        snprintf(replacement, sizeof replacement, "%.*s file (%s)", (int)strlen(formats[i]) - 1, formats[i], words);
        replace_all(text, size, needle, replacement);
    }
    replace_all(text, size, path, words);
}

/* The error for the user: our temp paths become plain words. */
static void job_set_error(job *j, const char *message) {
    snprintf(j->error, sizeof j->error, "%s", message);
    replace_path(j->error, sizeof j->error, j->request.source, "the portrait");
    if (j->request.driving[0]) replace_path(j->error, sizeof j->error, j->request.driving, "the driving video");
    if (j->request.audio[0]) replace_path(j->error, sizeof j->error, j->request.audio, "the recording");
    replace_path(j->error, sizeof j->error, j->result, "the result");
    replace_path(j->error, sizeof j->error, j->dir, "the job folder");
    replace_all(j->error, sizeof j->error, "--face ", "face "); /* the library speaks of animate's option */
}

static void job_take_line(job_queue *queue, job *j, const char *text, char *last_error, size_t error_size) {
    job_line line;
    int kind = job_parse_line(text, &line);
    if (kind == JOB_LINE_ERROR) {
        snprintf(last_error, error_size, "%s", line.error);
        return;
    }
    if (kind == JOB_LINE_DONE) {
        pthread_mutex_lock(&queue->lock);
        j->audio = line.audio;
        pthread_mutex_unlock(&queue->lock);
        return;
    }
    if (!kind) return;
    double fraction = line.total <= 0 ? 0 : line.done >= line.total ? 1 : (double)line.done / (double)line.total;
    pthread_mutex_lock(&queue->lock);
    if (kind == JOB_LINE_TRACKING) j->two_pass = true;
    /* searching for the driver's first face: the share of the driver looked through (the
     * frames up to the face are then rendered too, so rendering takes over from there) */
    double overall = kind == JOB_LINE_SEARCHING ? fraction
                     : !j->two_pass             ? fraction
                     : kind == JOB_LINE_TRACKING ? TRACKING_SHARE * fraction
                                                 : TRACKING_SHARE + (1 - TRACKING_SHARE) * fraction;
    j->searching = kind == JOB_LINE_SEARCHING;
    if (overall > j->progress) j->progress = overall;
    if (line.fps > 0) j->fps = line.fps;
    pthread_mutex_unlock(&queue->lock);
}

/* ------------------------------------------------------------------ running */

/* The job as the worker reads it (serve/worker.h): job.json in its folder. */
static bool job_write_spec(const job_queue *queue, const job *j, char *path, size_t path_size) {
    const job_request *r = &j->request;
    cJSON *json = cJSON_CreateObject();
    if (!json) return false;
    cJSON_AddStringToObject(json, "source", r->source);
    if (r->faces) cJSON_AddTrueToObject(json, "faces");
    else if (r->driving[0]) cJSON_AddStringToObject(json, "driving", r->driving);
    else if (!r->audio[0]) {
        cJSON_AddStringToObject(json, "motion", r->motion);
        cJSON_AddNumberToObject(json, "duration", r->duration);
    } else if (r->motion[0]) cJSON_AddStringToObject(json, "motion", r->motion);
    if (r->audio[0]) cJSON_AddStringToObject(json, "audio", r->audio);
    cJSON_AddStringToObject(json, "output", j->result);
    if (!r->faces) { /* the animation's options and limits */
        if (r->engine[0]) cJSON_AddStringToObject(json, "engine", r->engine);
        if (r->face > 0) cJSON_AddNumberToObject(json, "face", r->face);
        cJSON_AddBoolToObject(json, "absolute", r->absolute);
        cJSON_AddBoolToObject(json, "compare", r->compare);
        cJSON_AddBoolToObject(json, "background_move", r->background_move);
        cJSON_AddNumberToObject(json, "expression_scale", r->expression_scale);
        cJSON_AddNumberToObject(json, "pose_scale", r->pose_scale);
        cJSON_AddNumberToObject(json, "eyes", r->eyes);
        cJSON_AddNumberToObject(json, "lips", r->lips);
        cJSON_AddNumberToObject(json, "max_frames", queue->params.max_frames);
        cJSON_AddNumberToObject(json, "max_seconds", queue->params.max_seconds);
    }
    cJSON_AddNumberToObject(json, "memory_mb", (double)(queue->params.memory_bytes >> 20));
    if (queue->params.models_dir) cJSON_AddStringToObject(json, "models_dir", queue->params.models_dir);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) return false;
    int n = snprintf(path, path_size, "%s/job.json", j->dir);
    bool ok = n > 0 && (size_t)n < path_size;
    FILE *f = ok ? fopen(path, "wex") : NULL;
    ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    free(text);
    return ok;
}

/* The child, between fork and exec (async-signal-safe calls only): its own process group
 * (one kill stops it all), killed when the server dies, a CPU-time limit, default
 * signals with nothing blocked (the server blocks SIGINT/SIGTERM in its threads to wait
 * for them), in_fd as stdin (/dev/null when -1) and out_fd as stdout, nothing else of the
 * server's.  Jobs' and live sessions' workers. */
void serve_child_exec(const char *exe, char *const argv[], int in_fd, int out_fd, pid_t parent, rlim_t cpu_seconds) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127); /* the server died before the line above */
    if (in_fd < 0) in_fd = open("/dev/null", O_RDWR);
    if (in_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0) _exit(127);
    if (cpu_seconds > 0) {
        struct rlimit cpu = {cpu_seconds, cpu_seconds + 5}; /* SIGXCPU, then SIGKILL */
        setrlimit(RLIMIT_CPU, &cpu);
    }
    close_range(3, ~0u, 0); /* nothing of the server's: sockets, uploads, its lock */
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    static const int defaults[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP};
    for (int i = 0; i < 4; i++) sigaction(defaults[i], &fallback, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(exe, argv);
    _exit(127);
}

/* Folder bytes on disk (whatever a job left there). */
static uint64_t folder_bytes(const char *dir) {
    uint64_t total = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(st.st_mode)) total += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return total;
}

static void job_run(job_queue *queue, job *j) {
    const job_request *r = &j->request;
    char spec[PATH_MAX];
    char *argv[] = {(char *)queue->params.exe, "serve", "--worker", j->dir, NULL};
    char last_error[320] = "";
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    int spawn_error = 0;
    if (!job_write_spec(queue, j, spec, sizeof spec)) spawn_error = errno ? errno : EIO;
    else if (pipe2(fds, O_CLOEXEC) != 0) spawn_error = errno;
    if (!spawn_error) {
        pid_t parent = getpid();
        pthread_mutex_lock(&queue->lock);
        if (!j->deleted && !queue->stopping) {
            pid = fork();
            if (pid == 0) serve_child_exec(queue->params.exe, argv, -1, fds[1], parent, (rlim_t)queue->params.cpu_seconds);
            if (pid < 0) spawn_error = errno;
            else setpgid(pid, pid); /* also here, so a kill of the group cannot come too early */
            j->pid = pid;
        }
        pthread_mutex_unlock(&queue->lock);
        close(fds[1]);
    }
    if (pid > 0) {
        /* JSON lines; a line longer than the buffer is cut (and then not JSON: ignored) */
        char chunk[4096], line[1024];
        size_t length = 0;
        for (;;) {
            ssize_t got = read(fds[0], chunk, sizeof chunk);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            for (ssize_t i = 0; i < got; i++) {
                if (chunk[i] == '\n') {
                    line[length] = 0;
                    if (length) job_take_line(queue, j, line, last_error, sizeof last_error);
                    length = 0;
                } else if (length + 1 < sizeof line) {
                    line[length++] = chunk[i];
                }
            }
        }
    }
    if (fds[0] >= 0) close(fds[0]);
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
    /* the inputs are not needed any more, nor a failed job's partial result: only a
     * finished result stays on disk */
    remove(r->source);
    if (r->driving[0]) remove(r->driving);
    if (r->audio[0]) remove(r->audio);
    remove(spec);
    if (!produced) remove(j->result);
    uint64_t disk = folder_bytes(j->dir);
    pthread_mutex_lock(&queue->lock);
    j->pid = 0;
    j->disk_bytes = disk;
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
        else if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGXCPU)
            snprintf(why, sizeof why, "the animation was stopped: it used its %d s of processor time", queue->params.cpu_seconds);
        else if (WIFSIGNALED(wait_status)) snprintf(why, sizeof why, "the animation stopped (signal %d)", WTERMSIG(wait_status));
        else snprintf(why, sizeof why, "the animation failed (exit code %d)", WEXITSTATUS(wait_status));
        job_set_error(j, why);
    }
    pthread_mutex_unlock(&queue->lock);
}

/* Unlinks j from the list and frees it with its files.  Called with the lock held. */
static void job_forget(job_queue *queue, job *j) {
    for (job **link = &queue->jobs; *link; link = &(*link)->next)
        if (*link == j) {
            *link = j->next;
            break;
        }
    remove_job_folder(queue, j->dir);
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
            bytes += j->disk_bytes;
            count++;
            if (!oldest && j != newest) oldest = j;
        }
        if (!oldest || (bytes <= queue->params.keep_bytes && count <= queue->params.keep_count)) return;
        job_forget(queue, oldest);
    }
}

/* One worker thread: runs the oldest queued job of its lane (faces jobs or animations). */
static void worker_loop(job_queue *queue, bool faces) {
    pthread_mutex_lock(&queue->lock);
    for (;;) {
        job *next = NULL;
        while (!queue->stopping) {
            for (job *j = queue->jobs; j && !next; j = j->next)
                if (j->state == JOB_QUEUED && j->request.faces == faces) next = j;
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
}

static void *worker_main(void *arg) {
    worker_loop(arg, false);
    return NULL;
}

static void *faces_worker_main(void *arg) {
    worker_loop(arg, true);
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
    int n = snprintf(queue->root, sizeof queue->root, "%s/vivify-serve-XXXXXX00", temp);
    if (n < 0 || (size_t)n >= sizeof queue->root - 64) {
        free(queue);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: temp folder path too long: %s", temp);
    }
    remove_leftovers(temp);
    /* Made under another name, locked, then renamed: a second server starting beside this
     * one never sees a "vivify-serve-" folder that is not locked yet (it would take it for
     * a dead server's).  mode 0700: other users cannot read uploads. */
    char making[PATH_MAX];
    snprintf(making, sizeof making, "%s/vivify-new-XXXXXX", temp);
    if (!mkdtemp(making)) {
        vv_status s = vv_fail(VV_ERR_WRITE, "serve: cannot make a temp folder in %s: %s", temp, strerror(errno));
        free(queue);
        return s;
    }
    queue->lock_fd = open(making, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    bool placed = false;
    if (queue->lock_fd >= 0 && flock(queue->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        for (int attempt = 0; attempt < 100 && !placed; attempt++) {
            if (attempt == 0) snprintf(queue->root, sizeof queue->root, "%s/vivify-serve-%s", temp, making + strlen(making) - 6);
            else snprintf(queue->root, sizeof queue->root, "%s/vivify-serve-%s%d", temp, making + strlen(making) - 6, attempt);
            placed = renameat2(AT_FDCWD, making, AT_FDCWD, queue->root, RENAME_NOREPLACE) == 0;
            if (!placed && errno != EEXIST) break;
        }
    }
    int error = errno;
    queue->random_fd = placed ? open("/dev/urandom", O_RDONLY | O_CLOEXEC) : -1;
    if (queue->random_fd < 0) {
        vv_status s = !placed ? vv_fail(VV_ERR_WRITE, "serve: cannot set up %s: %s", making, strerror(error))
                              : vv_fail(VV_ERR_IO, "serve: cannot open /dev/urandom: %s", strerror(errno));
        if (queue->lock_fd >= 0) close(queue->lock_fd);
        remove_tree(placed ? queue->root : making);
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
    if (pthread_create(&queue->faces_worker, NULL, faces_worker_main, queue) != 0) {
        job_queue_free(queue);
        return vv_fail(VV_ERR_NO_MEMORY, "serve: cannot start the faces worker thread");
    }
    queue->faces_worker_running = true;
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
    if (queue->faces_worker_running) pthread_join(queue->faces_worker, NULL);
    while (queue->jobs) job_forget(queue, queue->jobs);
    remove_tree(queue->root);
    if (queue->random_fd >= 0) close(queue->random_fd);
    if (queue->lock_fd >= 0) close(queue->lock_fd);
    pthread_cond_destroy(&queue->wake);
    pthread_mutex_destroy(&queue->lock);
    free(queue);
}

bool serve_random_id(int random_fd, char *id, size_t digits) {
    uint8_t bytes[64];
    size_t want = digits / 2, got = 0;
    if (want > sizeof bytes) return false;
    while (got < want) {
        ssize_t n = read(random_fd, bytes + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += (size_t)n;
    }
    for (size_t i = 0; i < want; i++) snprintf(id + 2 * i, 3, "%02x", bytes[i]);
    return true;
}

bool job_queue_full(job_queue *queue) {
    pthread_mutex_lock(&queue->lock);
    bool full = queued_count(queue) + queue->reserved >= queue->params.capacity;
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
    const char *extension = request->faces ? "json" : request->gif ? "gif" : "mp4";
    if (snprintf(j->result, sizeof j->result, "%s/result.%s", dir, extension) >= (int)sizeof j->result) {
        free(j);
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "serve: job folder path too long");
    }
    pthread_mutex_lock(&queue->lock);
    vv_status s = VV_OK;
    if (queue->stopping) s = vv_fail(VV_ERR_ABORTED, "the server is stopping");
    else if (queued_count(queue) + (queue->reserved > 0 ? queue->reserved - 1 : 0) >= queue->params.capacity)
        s = vv_fail(VV_ERR_TOO_LARGE, "the queue is full (%d jobs waiting); try again later", queue->params.capacity);
    else if (!serve_random_id(queue->random_fd, j->id, JOB_ID_LENGTH)) s = vv_fail(VV_ERR_IO, "serve: cannot read /dev/urandom");
    if (s == VV_OK) {
        if (queue->reserved > 0) queue->reserved--; /* the folder's place is the job's now */
        job **tail = &queue->jobs;
        while (*tail) tail = &(*tail)->next;
        *tail = j;
        memcpy(id, j->id, JOB_ID_LENGTH + 1);
        pthread_cond_broadcast(&queue->wake); /* the lanes' threads wait on one condition */
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
    if (j->state == JOB_RUNNING && j->progress >= 0.02) { /* as of now, not of the last line */
        double elapsed = time_now() - j->started;
        if (elapsed > 0.2) status->eta_s = elapsed * (1 - j->progress) / j->progress;
    }
    snprintf(status->error, sizeof status->error, "%s", j->error);
    status->result_bytes = j->result_bytes;
    status->gif = j->request.gif;
    status->searching = j->state == JOB_RUNNING && j->searching;
    status->faces = j->request.faces;
    status->audio = j->state == JOB_DONE && j->audio;
    snprintf(status->filename, sizeof status->filename, "%s", j->request.filename);
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
