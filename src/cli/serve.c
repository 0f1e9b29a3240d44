/* cli/serve: `vivify serve [--host 127.0.0.1] [--port 8080] [--jobs N]`, the local web page
 * (serve/serve.h).  Jobs run as child processes of this same binary (/proc/self/exe), as
 * `vivify serve --worker DIR` (serve/worker.h). */
#include "cli/cli.h"
#include "serve/serve.h"
#include "serve/live.h"
#include "serve/worker.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void log_line(void *user_data, const char *line) {
    (void)user_data;
    time_t now = time(NULL);
    struct tm local;
    char stamp[32] = "";
    if (localtime_r(&now, &local)) strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    fprintf(stderr, "serve %s %s\n", stamp, line);
}

/* --temp DIR: made (with its parents, private to this user) when it does not exist yet. */
static vv_status temp_folder_make(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? VV_OK : vv_fail(VV_ERR_WRITE, "--temp %s is not a folder", dir);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return vv_fail(VV_ERR_WRITE, "--temp: path too long");
    for (char *p = path + 1;; p++) {
        bool end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return vv_fail(VV_ERR_WRITE, "cannot make --temp %s: %s: %s", dir, path, strerror(errno));
        if (end) break;
        *p = '/';
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return vv_fail(VV_ERR_WRITE, "cannot make --temp %s", dir);
    fprintf(stderr, "vivify serve: made %s for uploads and results\n", dir);
    return VV_OK;
}

int cli_serve(int argc, char **argv) {
    /* `vivify serve --worker DIR`: one job, run by the server in a process of its own
     * (serve/worker.h); its lines go to stdout (the server's pipe), nothing to stderr */
    if (argc == 3 && !strcmp(argv[1], "--worker")) {
        vv_status s = serve_worker_run(argv[2], STDOUT_FILENO);
        return s == VV_OK ? EXIT_OK : cli_exit_code(s);
    }
    /* `vivify serve --live-worker DIR`: one live session (serve/live.h), on the socket the
     * server gave it as stdin and stdout */
    if (argc == 3 && !strcmp(argv[1], "--live-worker")) {
        vv_status s = serve_live_worker_run(argv[2], STDIN_FILENO);
        return s == VV_OK ? EXIT_OK : cli_exit_code(s);
    }
    serve_params params = serve_default_params();
    const char *host = params.host, *models = NULL, *temp = NULL, *allow_host = NULL;
    int port = params.port, jobs = params.jobs, queue = params.queue, max_frames = params.max_frames;
    int max_upload_mb = (int)(params.max_upload_bytes >> 20), keep_mb = (int)(params.keep_bytes >> 20);
    int keep = params.keep_count, max_seconds = (int)params.max_seconds, job_memory_mb = (int)(params.job_memory_bytes >> 20);
    int max_megapixels = (int)(params.max_portrait_pixels / 1000000), job_cpu = params.job_cpu_seconds;
    int upload_timeout = (int)params.body_timeout_s;
    int live_sessions = params.live_sessions, live_fps = (int)params.live_max_fps, live_idle = (int)params.live_idle_s;
    bool quiet = false;
    const cli_option opts[] = {
        {"host", 0, OPT_STRING, &host, "ADDR", "address to listen on; 0.0.0.0 opens it to the network", 0, 0},
        {"allow-host", 0, OPT_STRING, &allow_host, "NAMES", "more names the page may be opened by (comma-separated; "
                                                             "this machine's addresses and localhost always may)", 0, 0},
        {"port", 'p', OPT_INT, &port, "N", "TCP port (0: any free one)", 0, 65535},
        {"jobs", 'j', OPT_INT, &jobs, "N", "animations running at once", 1, 64},
        {"queue", 0, OPT_INT, &queue, "N", "jobs waiting at most; more get HTTP 429", 1, 10000},
        {"max-upload-mb", 0, OPT_INT, &max_upload_mb, "MB", "largest upload (portrait + driver)", 1, 1 << 20},
        {"upload-timeout", 0, OPT_INT, &upload_timeout, "S", "seconds an upload's body may take once its headers are in "
                                                              "(slower ones are cut)", 1, 86400},
        {"keep-mb", 0, OPT_INT, &keep_mb, "MB", "finished results kept up to this size, oldest dropped first", 1, 1 << 24},
        {"keep", 0, OPT_INT, &keep, "N", "finished jobs kept at most", 1, 100000},
        {"max-frames", 0, OPT_INT, &max_frames, "N", "frames one job renders at most", 1, 200000},
        {"max-seconds", 0, OPT_INT, &max_seconds, "S", "longest driving video or voice recording taken, in seconds", 1, 100000},
        {"max-megapixels", 0, OPT_INT, &max_megapixels, "MP", "largest portrait taken (width x height, millions)", 1, 268},
        {"job-memory-mb", 0, OPT_INT, &job_memory_mb, "MB", "memory one job may use (0: no limit)", 0, 1 << 24},
        {"job-cpu-s", 0, OPT_INT, &job_cpu, "S", "processor seconds one job may use, all its threads together "
                                                 "(0: no limit)", 0, 1 << 30},
        {"live-sessions", 0, OPT_INT, &live_sessions, "N", "live camera sessions at once (the page's Live tab; 0 turns "
                                                             "them off; more get HTTP 409)", 0, 16},
        {"live-fps", 0, OPT_INT, &live_fps, "N", "frames a second one live session may send (more get HTTP 429)", 1, 120},
        {"live-idle-s", 0, OPT_INT, &live_idle, "S", "a live session without a frame this long ends", 1, 3600},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json (default: search)", 0, 0},
        {"temp", 0, OPT_STRING, &temp, "DIR", "where uploads and results go, made if missing (default $TMPDIR or /tmp)", 0, 0},
        {"quiet", 'q', OPT_FLAG, &quiet, NULL, "no request log", 0, 0},
    };
    const char *positional[1];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 0, &npos,
                      "usage: vivify serve [--host 127.0.0.1] [--port 8080] [--jobs N]\n\n"
                      "Serves a web page for animating portraits, and its JSON API (docs/API.md).\n"
                      "Listens on this machine only unless --host says otherwise.  Ctrl-C stops it\n"
                      "and removes every upload and result.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if (models) { /* jobs would each fail on it later: say so now */
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/blazeface.json", models);
        if (!file_exists(probe)) return cli_fail(vv_fail(VV_ERR_MODEL, "model file not found: %s (--models)", probe));
    }

    if (temp && temp[0]) {
        vv_status made = temp_folder_make(temp);
        if (made != VV_OK) return cli_fail(made);
    }

    static char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "serve: cannot find this program's path (/proc/self/exe)"));
    exe[n] = 0;
    params.host = host;
    params.allowed_hosts = allow_host;
    params.port = port;
    params.jobs = jobs;
    params.queue = queue;
    params.max_upload_bytes = (uint64_t)max_upload_mb << 20;
    params.keep_bytes = (uint64_t)keep_mb << 20;
    params.keep_count = keep;
    params.max_frames = max_frames;
    params.max_seconds = max_seconds;
    params.max_portrait_pixels = (uint64_t)max_megapixels * 1000000;
    params.job_memory_bytes = (uint64_t)job_memory_mb << 20;
    params.job_cpu_seconds = job_cpu;
    params.body_timeout_s = upload_timeout;
    params.live_sessions = live_sessions;
    params.live_max_fps = live_fps;
    params.live_idle_s = live_idle;
    params.exe = exe;
    params.models_dir = models;
    params.temp_dir = temp;
    params.log = quiet ? NULL : log_line;

    /* Up to 512 connections, each with a duplicate for its deadline, and upload files. */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 4096 && files.rlim_max > files.rlim_cur) {
        files.rlim_cur = files.rlim_max < 4096 ? files.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &files);
    }

    /* Every thread starts with these blocked; this one waits for them below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    sigaddset(&stop, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    serve_server *server = NULL;
    vv_status s = serve_start(&server, &params);
    if (s != VV_OK) return cli_fail(s);
    bool ipv6 = strchr(host, ':') != NULL;
    printf("vivify serve: http://%s%s%s:%d/ (%d job%s at once, %d waiting at most; Ctrl-C stops)\n", ipv6 ? "[" : "",
           !strcmp(host, "0.0.0.0") ? "127.0.0.1" : host, ipv6 ? "]" : "", serve_port(server), jobs, jobs == 1 ? "" : "s",
           queue);
    fflush(stdout);
    int signal_number = 0;
    do {
        sigwait(&stop, &signal_number);
    } while (signal_number == SIGPIPE);
    fprintf(stderr, "vivify serve: stopping (removing uploads and results)\n");
    serve_stop(server);
    return EXIT_OK;
}
