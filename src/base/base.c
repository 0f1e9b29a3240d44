/* base: status messages, checked allocation, timers, files, model lookup, threads. */
#include "base/base.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const status_strings[VV_STATUS_COUNT] = {
    [VV_OK] = "ok",
    [VV_ERR_INVALID_ARGUMENT] = "invalid argument",
    [VV_ERR_NO_MEMORY] = "out of memory",
    [VV_ERR_NOT_FOUND] = "file not found",
    [VV_ERR_IO] = "read error",
    [VV_ERR_WRITE] = "cannot write output",
    [VV_ERR_FORMAT] = "unrecognised format",
    [VV_ERR_CORRUPT] = "corrupt or truncated data",
    [VV_ERR_TOO_LARGE] = "too large",
    [VV_ERR_NO_FACE] = "no face found",
    [VV_ERR_NO_VIDEO] = "no video stream",
    [VV_ERR_MODEL] = "model missing or invalid",
    [VV_ERR_UNSUPPORTED] = "unsupported",
    [VV_ERR_ABORTED] = "aborted",
    [VV_ERR_INTERNAL] = "internal error",
};

const char *vv_status_string(vv_status status) {
    if ((int)status < 0 || status >= VV_STATUS_COUNT) return "unknown status";
    return status_strings[status];
}

static _Thread_local char last_error[1024];

const char *vv_last_error(void) { return last_error[0] ? last_error : "no error"; }

vv_status vv_fail(vv_status status, const char *fmt, ...) {
    /* Format into a local buffer first: callers may pass vv_last_error() itself as an
     * argument to add context ("%s: %s", path, vv_last_error()). */
    char message[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(last_error, message, sizeof last_error);
    return status;
}

const char *vv_version(void) { return VV_VERSION_STRING; }

bool size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool size_mul3(size_t a, size_t b, size_t c, size_t *out) {
    size_t ab;
    return size_mul(a, b, &ab) && size_mul(ab, c, out);
}

bool size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

void *mem_alloc(size_t count, size_t elem_size) {
    size_t bytes;
    if (!size_mul(count, elem_size, &bytes) || bytes == 0) return NULL;
    return malloc(bytes);
}

void *mem_calloc(size_t count, size_t elem_size) {
    size_t bytes;
    if (!size_mul(count, elem_size, &bytes) || bytes == 0) return NULL;
    return calloc(count, elem_size);
}

void *mem_alloc_aligned(size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - 64) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}

void mem_free_aligned(void *p) { free(p); }

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

vv_status file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", path);
        return vv_fail(VV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return vv_fail(VV_ERR_IO, "not a regular file: %s", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return vv_fail(VV_ERR_TOO_LARGE, "%s is %lld bytes, over the %zu-byte limit", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n + 1); /* +1: callers may NUL-terminate text */
    if (!buf) {
        fclose(f);
        return vv_fail(VV_ERR_NO_MEMORY, "out of memory reading %s", path);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return vv_fail(VV_ERR_IO, "short read on %s", path);
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return VV_OK;
}

vv_status file_temp_path(const char *final_path, char *temp, size_t temp_size) {
    /* Same folder as the final path so rename() is atomic; keep the extension last so
     * format-by-extension writers (libav) still recognise it. */
    const char *slash = strrchr(final_path, '/');
    const char *base = slash ? slash + 1 : final_path;
    int dir_len = (int)(base - final_path);
    int n = snprintf(temp, temp_size, "%.*s.%s.%ld.tmp-%s", dir_len, final_path, base,
                     (long)getpid(), base);
    if (n < 0 || (size_t)n >= temp_size)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "output path too long: %s", final_path);
    return VV_OK;
}

vv_status file_commit(const char *temp_path, const char *final_path) {
    if (rename(temp_path, final_path) != 0) {
        int e = errno;
        remove(temp_path);
        return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", final_path, strerror(e));
    }
    return VV_OK;
}

const char *path_extension(const char *path, char *buf, size_t buf_size) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    buf[0] = 0;
    if (!dot || (slash && dot < slash) || buf_size == 0) return buf;
    size_t i = 0;
    for (const char *p = dot + 1; *p && i + 1 < buf_size; p++, i++)
        buf[i] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    buf[i] = 0;
    return buf;
}

static bool try_model_dir(const char *dir, const char *name, char *out, size_t out_size) {
    if (!dir || !dir[0]) return false;
    int n = snprintf(out, out_size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < out_size && file_exists(out);
}

vv_status models_find(const char *name, char *out, size_t out_size) {
    char dir[PATH_MAX];
    if (try_model_dir(getenv("VIVIFY_MODELS"), name, out, out_size)) return VV_OK;
    if (models_find_installed(name, true, out, out_size)) return VV_OK;
#ifdef VV_SOURCE_DIR
    if (try_model_dir(VV_SOURCE_DIR "/.cache/models", name, out, out_size)) return VV_OK;
#endif
    if (try_model_dir(".cache/models", name, out, out_size)) return VV_OK;
    ssize_t len = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (len > 0) {
        dir[len] = 0;
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            char probe[PATH_MAX];
            int n = snprintf(probe, sizeof probe, "%s/../.cache/models", dir);
            if (n > 0 && (size_t)n < sizeof probe && try_model_dir(probe, name, out, out_size))
                return VV_OK;
        }
    }
    if (models_find_installed(name, false, out, out_size)) return VV_OK;
    return vv_fail(VV_ERR_MODEL,
                   "model %s not found (run ./dev setup, or set VIVIFY_MODELS to its folder)", name);
}

/* Asked once: sysconf reads /sys/devices/system/cpu/online (open, read, close) on every
 * call, and every parallel_for asks (thousands of times a second in animate). */
int cpu_count(void) {
    static _Atomic int known;
    int n = atomic_load_explicit(&known, memory_order_relaxed);
    if (n > 0) return n;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    n = online < 1 ? 1 : (int)online;
    atomic_store_explicit(&known, n, memory_order_relaxed);
    return n;
}

/* A small persistent pool: workers wait on a condition variable for a job; each job is
 * a parallel_for split into an atomic index counter.  Nested parallel_for calls (from a
 * worker) run inline so the two cores are never oversubscribed. */
typedef struct pool_job {
    parallel_fn fn;
    void *ctx;
    int count;
    int next;     /* next index to take, guarded by pool.lock */
    int pending;  /* indices not yet finished */
} pool_job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work_ready, work_done;
    pthread_t threads[64];
    int thread_count;
    pool_job *job;
    unsigned long generation;
    int busy;     /* a parallel_for is in flight (only one at a time; others run inline) */
    int attached; /* workers holding a pointer to the current job */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          {0}, 0, NULL, 0, 0, 0};

static _Thread_local int in_pool_worker;

static void pool_drain(pool_job *job) {
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        if (job->next >= job->count) {
            pthread_mutex_unlock(&pool.lock);
            return;
        }
        int i = job->next++;
        pthread_mutex_unlock(&pool.lock);
        job->fn(job->ctx, i);
        pthread_mutex_lock(&pool.lock);
        if (--job->pending == 0) pthread_cond_broadcast(&pool.work_done);
        pthread_mutex_unlock(&pool.lock);
    }
}

static void *pool_worker(void *arg) {
    (void)arg;
    in_pool_worker = 1;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        while (pool.generation == seen || !pool.job) pthread_cond_wait(&pool.work_ready, &pool.lock);
        seen = pool.generation;
        pool_job *job = pool.job;
        pool.attached++;
        pthread_mutex_unlock(&pool.lock);
        pool_drain(job);
        pthread_mutex_lock(&pool.lock);
        /* the caller's job lives on its stack: it waits until no worker holds it */
        if (--pool.attached == 0) pthread_cond_broadcast(&pool.work_done);
        pthread_mutex_unlock(&pool.lock);
    }
    return NULL;
}

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_start(void) {
    int n = cpu_count() - 1; /* the caller is the last worker */
    if (n > 63) n = 63;
    for (int i = 0; i < n; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&pool.threads[pool.thread_count], &attr, pool_worker, NULL) == 0)
            pool.thread_count++;
        pthread_attr_destroy(&attr);
    }
}

void parallel_for(int count, int threads, parallel_fn fn, void *ctx) {
    if (count <= 0) return;
    if (threads == 1 || count == 1 || in_pool_worker || cpu_count() == 1) {
        for (int i = 0; i < count; i++) fn(ctx, i);
        return;
    }
    pthread_once(&pool_once, pool_start);
    pthread_mutex_lock(&pool.lock);
    if (pool.busy || pool.thread_count == 0) { /* another thread owns the pool: run inline */
        pthread_mutex_unlock(&pool.lock);
        for (int i = 0; i < count; i++) fn(ctx, i);
        return;
    }
    pool_job job = {fn, ctx, count, 0, count};
    pool.busy = 1;
    pool.job = &job;
    pool.generation++;
    pthread_cond_broadcast(&pool.work_ready);
    pthread_mutex_unlock(&pool.lock);

    in_pool_worker = 1;
    pool_drain(&job);
    in_pool_worker = 0;

    pthread_mutex_lock(&pool.lock);
    pool.job = NULL; /* late-waking workers must not attach to a finished job */
    while (job.pending > 0 || pool.attached > 0) pthread_cond_wait(&pool.work_done, &pool.lock);
    pool.busy = 0;
    pthread_mutex_unlock(&pool.lock);
}
