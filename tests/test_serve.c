/* serve: content sniffing, parsing animate's progress output, and the job queue itself
 * (progress, errors in plain words, cancellation, capacity, eviction, cleanup) with a
 * stand-in for `vivify animate` (a shell script), so it runs in a second.  The real server
 * over HTTP is tests/cli_serve.sh; the page in a browser is tests/cli_serve_browser.sh. */
#define _GNU_SOURCE /* memmem */
#include "animate/animate.h"
#include "serve/jobs.h"
#include "serve/serve.h"
#include "serve/sniff.h"
#include "serve/worker.h"
#include "test.h"

#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void test_sniff(void) {
    const struct { const char *bytes; size_t size; const char *extension; bool image, video; } cases[] = {
        {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "png", true, false},
        {"\xff\xd8\xff\xe0\0\x10JFIF", 10, "jpg", true, false},
        {"GIF89a\x01\0\x01\0", 10, "gif", false, true},
        {"\0\0\0\x20" "ftypisom\0\0\x02\0", 16, "mp4", false, true},
        {"\0\0\0\x18" "ftypheic\0\0\0\0", 16, "heic", false, false},
        {"\0\0\0\x08" "wide\0\0\0\0", 12, "mov", false, true},
        {"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", 8, "mkv", false, true},
        {"RIFF\0\0\0\0AVI LIST", 16, "avi", false, true},
        {"RIFF\0\0\0\0WEBPVP8 ", 16, "webp", false, false},
        {"BM\0\0", 4, "bmp", false, false},
        {"%PDF-1.7", 8, "pdf", false, false},
        {"hello, world\n", 13, "txt", false, false},
        {"\x01\x02\x03\x04", 4, "bin", false, false},
        {"\x89PN", 3, "bin", false, false}, /* cut short: not a PNG */
        {"", 0, "bin", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sniff_kind kind = sniff_bytes((const uint8_t *)cases[i].bytes, cases[i].size);
        CHECK_MSG(!strcmp(kind.extension, cases[i].extension) && kind.image == cases[i].image &&
                      kind.video == cases[i].video && !kind.audio,
                  "case %zu: got %s (%s)", i, kind.extension, kind.name);
    }
    /* Speech recordings (the job's `audio` field); an MPEG frame header that is not layer III,
     * and a WAV cut before its WAVE, are not. */
    const struct { const char *bytes; size_t size; const char *extension; bool audio; } recordings[] = {
        {"RIFF\x24\x08\0\0WAVEfmt ", 16, "wav", true},
        {"ID3\x04\0\0\0\0\0\x21", 10, "mp3", true},
        {"\xff\xfb\x90\x64", 4, "mp3", true},   /* MPEG-1 layer III */
        {"\xff\xf3\x64\xc4", 4, "mp3", true},   /* MPEG-2 layer III */
        {"\xff\xfd\x90\x64", 4, "bin", false},  /* MPEG-1 layer II */
        {"OggS\0\x02\0\0", 8, "ogg", true},
        {"fLaC\0\0\0\x22", 8, "flac", true},
        {"RIFF\x24\x08\0\0WA", 10, "bin", false},
    };
    for (size_t i = 0; i < sizeof recordings / sizeof recordings[0]; i++) {
        sniff_kind kind = sniff_bytes((const uint8_t *)recordings[i].bytes, recordings[i].size);
        CHECK_MSG(!strcmp(kind.extension, recordings[i].extension) && kind.audio == recordings[i].audio && !kind.image &&
                      !kind.video,
                  "recording %zu: got %s (%s)", i, kind.extension, kind.name);
    }
}

static double now_s(void);

static void test_parse_line(void) {
    job_line line;
    /* the worker's lines (serve/worker.h) */
    CHECK(job_parse_line("{\"stage\":\"rendering\",\"done\":12,\"total\":125,\"fps\":40.5}", &line) == JOB_LINE_RENDERING);
    CHECK(line.done == 12 && line.total == 125);
    CHECK_NEAR(line.fps, 40.5, 1e-9);
    CHECK(job_parse_line("{\"stage\":\"tracking\",\"done\":30,\"total\":300,\"fps\":7.5}", &line) == JOB_LINE_TRACKING);
    CHECK(line.done == 30 && line.total == 300);
    CHECK(job_parse_line("{\"stage\":\"searching\",\"done\":3,\"total\":0}", &line) == JOB_LINE_SEARCHING);
    CHECK(line.done == 3 && line.total == 0 && line.fps == 0);
    CHECK(job_parse_line("{\"error\":\"no face found in /tmp/x/source.png\"}", &line) == JOB_LINE_ERROR);
    CHECK(!strcmp(line.error, "no face found in /tmp/x/source.png"));
    /* the end: whether the result has sound (the page plays it unmuted then) */
    CHECK(job_parse_line("{\"done\":true,\"frames\":25,\"audio\":true}", &line) == JOB_LINE_DONE && line.audio);
    CHECK(job_parse_line("{\"done\":true,\"frames\":25,\"audio\":false}", &line) == JOB_LINE_DONE && !line.audio);
    CHECK(job_parse_line("{\"done\":true,\"faces\":2}", &line) == JOB_LINE_DONE && !line.audio);
    /* not progress: warnings, other stages, missing or negative counts, not JSON, and
     * animate's terminal bar (which the server no longer reads) */
    CHECK(!job_parse_line("{\"done\":false,\"frames\":25}", &line));
    CHECK(!job_parse_line("{\"warning\":\"source 1: 2D warp\"}", &line));
    CHECK(!job_parse_line("{\"stage\":\"motion\",\"done\":3,\"total\":10}", &line));
    CHECK(!job_parse_line("{\"stage\":\"rendering\",\"done\":3}", &line));
    CHECK(!job_parse_line("{\"stage\":\"rendering\",\"done\":-3,\"total\":10}", &line));
    CHECK(!job_parse_line("{\"stage\":\"rendering\",\"done\":\"3\",\"total\":10}", &line));
    CHECK(!job_parse_line("{\"stage\":\"rend", &line));
    CHECK(!job_parse_line("animate [#####.....] 12/125 frames  40.5 frames/s  00:01 elapsed  ETA 00:03", &line));
    CHECK(!job_parse_line("", &line));
}

/* What the stand-in lists for a faces job. */
#define FAKE_FACES "{\"width\":40,\"height\":20,\"faces\":[{\"box\":[22,2,38,18],\"score\":0.9},{\"box\":[2,4,14,16],\"score\":0.95}]}"

/* A stand-in for `vivify serve --worker DIR` (serve/worker.h): it copies DIR/job.json to
 * job-MOTION.json beside itself and writes "pid pgid cpu-limit sockets" (how many open
 * sockets it has) to proc-MOTION.txt;
 * "talk" reports rendering progress and writes the result; "smile" does too after a
 * tracking pass; "surprise" searches for a face, writes a partial result and fails on a
 * corrupt portrait; "blink" fails like animate does on a face-less portrait; "nod" runs
 * until killed; a driving video ("driven") finishes with sound; a faces job ("faces")
 * lists two faces. */
static const char *fake_worker =
    "#!/bin/sh\n"
    "dir=\"$3\"; spec=\"$dir/job.json\"; here=\"${0%/*}\"\n"
    "value() { sed -n 's/.*\"'\"$1\"'\":\"\\([^\"]*\\)\".*/\\1/p' \"$spec\"; }\n"
    "motion=$(value motion); out=$(value output); src=$(value source)\n"
    "[ -n \"$(value driving)\" ] && motion=driven\n"
    "grep -q '\"faces\":true' \"$spec\" && motion=faces\n"
    "[ \"$1 $2\" = \"serve --worker\" ] || motion=bad-arguments\n"
    "cp \"$spec\" \"$here/job-$motion.json\"\n"
    "echo \"$$ $(cut -d' ' -f5 /proc/$$/stat) $(ulimit -t) $(ls -l /proc/$$/fd | grep -c socket:)\" > \"$here/proc-$motion.txt\"\n"
    "case \"$motion\" in\n"
    "talk) echo '{\"stage\":\"rendering\",\"done\":5,\"total\":10,\"fps\":20}'; sleep 0.3\n"
    "      echo '{\"stage\":\"rendering\",\"done\":10,\"total\":10,\"fps\":25}'\n"
    "      printf 'result' > \"$out\"; echo '{\"done\":true,\"frames\":10}' ;;\n"
    "smile) echo '{\"stage\":\"tracking\",\"done\":10,\"total\":10,\"fps\":50}'\n"
    "      echo '{\"stage\":\"rendering\",\"done\":5,\"total\":10,\"fps\":20}'; sleep 0.3\n"
    "      printf 'result' > \"$out\" ;;\n"
    "surprise) echo '{\"stage\":\"searching\",\"done\":30,\"total\":100,\"fps\":300}'; sleep 0.3\n"
    "      printf 'partial' > \"$out\"\n"
    "      echo \"{\\\"error\\\":\\\"corrupt or truncated PNG $src: libpng error: IDAT: CRC error\\\"}\"; exit 7 ;;\n"
    "blink) echo \"{\\\"error\\\":\\\"no face found in $src\\\"}\"; exit 8 ;;\n"
    "driven) printf 'result' > \"$out\"; echo '{\"done\":true,\"frames\":10,\"audio\":true}' ;;\n"
    "faces) printf '%s' '" FAKE_FACES "' > \"$out\"; echo '{\"done\":true,\"faces\":2}' ;;\n"
    "*) exec sleep 30 ;;\n"
    "esac\n";

static job_state wait_finished(job_queue *queue, const char *id, job_status *status) {
    for (int i = 0; i < 300; i++) {
        if (!job_queue_status(queue, id, status)) return JOB_QUEUED;
        if (status->state == JOB_DONE || status->state == JOB_FAILED) return status->state;
        usleep(10000);
    }
    return status->state;
}

static job_request request_for(job_queue *queue, const char *motion, char *dir) {
    job_request r;
    memset(&r, 0, sizeof r);
    CHECK_OK(job_queue_make_folder(queue, dir, PATH_MAX));
    snprintf(r.source, sizeof r.source, "%s/source.png", dir);
    FILE *f = fopen(r.source, "wb");
    if (f) fclose(f);
    snprintf(r.motion, sizeof r.motion, "%s", motion);
    r.duration = 1;
    /* the server's defaults (server.c build_request always names an engine) */
    snprintf(r.engine, sizeof r.engine, "warp");
    r.expression_scale = r.pose_scale = r.eyes = r.lips = 1;
    return r;
}

/* The job.json the stand-in was given holds each {key, value} ("true"/"false" for flags,
 * numbers as %g); value NULL: the key must be absent. */
static void check_spec(const char *path, const char *const (*expect)[2], size_t count) {
    FILE *f = fopen(path, "r");
    char text[8192] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = 0;
    cJSON *json = cJSON_Parse(text);
    CHECK_MSG(json != NULL, "%s is not JSON: %s", path, text);
    for (size_t i = 0; json && i < count; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, expect[i][0]);
        char value[256] = "(missing)";
        if (cJSON_IsString(item)) snprintf(value, sizeof value, "%s", item->valuestring);
        else if (cJSON_IsBool(item)) snprintf(value, sizeof value, "%s", cJSON_IsTrue(item) ? "true" : "false");
        else if (cJSON_IsNumber(item)) snprintf(value, sizeof value, "%g", item->valuedouble);
        if (!expect[i][1]) CHECK_MSG(!item, "%s: %s given, want it left out", path, expect[i][0]);
        else CHECK_MSG(!strcmp(value, expect[i][1]), "%s: %s is '%s', want '%s'", path, expect[i][0], value, expect[i][1]);
    }
    cJSON_Delete(json);
}

static int count_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Writes the stand-in worker beside the test's files; its path in exe. */
static bool write_fake_worker(char *exe, size_t size) {
    const char *tmp = test_tmp_dir("test_serve");
    snprintf(exe, size, "%s/fake_worker.sh", tmp);
    FILE *f = fopen(exe, "w");
    CHECK(f != NULL);
    if (!f) return false;
    fputs(fake_worker, f);
    fclose(f);
    chmod(exe, 0700);
    return true;
}

/* "pid pgid cpu-limit sockets" as the stand-in wrote them for `motion`. */
static bool read_proc_sockets(const char *motion, long *pid, long *pgid, char *cpu, size_t cpu_size, int *sockets) {
    char path[4300];
    snprintf(path, sizeof path, "%s/proc-%s.txt", test_tmp_dir("test_serve"), motion);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char limit[32] = "";
    bool ok = fscanf(f, "%ld %ld %31s %d", pid, pgid, limit, sockets) == 4;
    fclose(f);
    snprintf(cpu, cpu_size, "%s", limit);
    return ok;
}

static bool read_proc(const char *motion, long *pid, long *pgid, char *cpu, size_t cpu_size) {
    int sockets = 0;
    return read_proc_sockets(motion, pid, pgid, cpu, cpu_size, &sockets);
}

static void test_queue(void) {
    const char *tmp = test_tmp_dir("test_serve");
    char exe[4200], temp[4200];
    if (!write_fake_worker(exe, sizeof exe)) return;
    snprintf(temp, sizeof temp, "%s/work", tmp);
    mkdir(temp, 0700);

    job_queue_params p = {.exe = exe, .temp_dir = temp, .workers = 1, .capacity = 1, .keep_bytes = 1 << 20,
                          .keep_count = 2, .max_frames = 100, .max_seconds = 30, .memory_bytes = 512u << 20,
                          .cpu_seconds = 1234};
    job_queue *queue = NULL;
    CHECK_OK(job_queue_new(&queue, &p));
    if (!queue) return;
    char dir[PATH_MAX], id[JOB_ID_LENGTH + 1], id2[JOB_ID_LENGTH + 1], id3[JOB_ID_LENGTH + 1];
    job_status st;

    /* success: progress from the worker's lines, the result kept, the inputs removed; the
     * request's options in the worker's job.json; the worker in its own process group,
     * under the CPU-time limit */
    job_request r = request_for(queue, "talk", dir);
    snprintf(r.engine, sizeof r.engine, "warp2d");
    r.eyes = 0.25f;
    r.lips = 2.5f;
    r.background_move = true;
    r.expression_scale = 1.5f;
    r.compare = true;
    r.face = 2;
    snprintf(r.filename, sizeof r.filename, "mona-talk-warp2d-compare.mp4");
    CHECK_OK(job_queue_submit(queue, dir, &r, id));
    CHECK(strlen(id) == JOB_ID_LENGTH && strspn(id, "0123456789abcdef") == JOB_ID_LENGTH);
    bool saw_half = false;
    for (int i = 0; i < 300 && job_queue_status(queue, id, &st) && st.state != JOB_DONE; i++) {
        saw_half |= st.state == JOB_RUNNING && st.progress > 0.45 && st.progress < 0.55 && st.fps == 20;
        usleep(5000);
    }
    CHECK(wait_finished(queue, id, &st) == JOB_DONE);
    CHECK_MSG(saw_half, "progress 0.5 at 20 frames/s was never seen");
    CHECK(st.progress == 1 && st.fps == 25 && st.result_bytes == 6 && st.error[0] == 0);
    CHECK_MSG(!st.audio && !st.faces && !strcmp(st.filename, "mona-talk-warp2d-compare.mp4"), "audio %d, faces %d, filename %s",
              st.audio, st.faces, st.filename);
    bool found = false;
    int fd = job_queue_open_result(queue, id, &st, &found);
    char bytes[8] = {0};
    CHECK(found && fd >= 0 && read(fd, bytes, sizeof bytes) == 6 && !strcmp(bytes, "result"));
    if (fd >= 0) close(fd);
    CHECK(access(r.source, F_OK) != 0);
    char spec_path[4300], job_json[PATH_MAX + 16];
    snprintf(spec_path, sizeof spec_path, "%s/job-talk.json", tmp);
    snprintf(job_json, sizeof job_json, "%s/job.json", dir);
    CHECK_MSG(access(job_json, F_OK) != 0, "job.json left in the job folder");
    const char *const given[][2] = {{"engine", "warp2d"}, {"eyes", "0.25"}, {"lips", "2.5"}, {"background_move", "true"},
                                    {"expression_scale", "1.5"}, {"pose_scale", "1"}, {"duration", "1"},
                                    {"max_frames", "100"}, {"max_seconds", "30"}, {"memory_mb", "512"},
                                    {"motion", "talk"}, {"compare", "true"}, {"absolute", "false"}, {"source", r.source},
                                    {"driving", NULL}, {"face", "2"}, {"faces", NULL}};
    check_spec(spec_path, given, sizeof given / sizeof given[0]);
    long pid = 0, pgid = 0;
    char cpu[32] = "";
    CHECK(read_proc("talk", &pid, &pgid, cpu, sizeof cpu));
    CHECK_MSG(pid > 0 && pgid == pid, "the worker (pid %ld) is not in a process group of its own (%ld)", pid, pgid);
    CHECK_MSG(!strcmp(cpu, "1234"), "the worker's CPU-time limit is %s, want 1234", cpu);

    /* two passes (tracking, then rendering): the tracking pass fills the first 40 % */
    char id_two[JOB_ID_LENGTH + 1];
    r = request_for(queue, "smile", dir);
    CHECK_OK(job_queue_submit(queue, dir, &r, id_two));
    bool saw_second_half = false;
    for (int i = 0; i < 300 && job_queue_status(queue, id_two, &st) && st.state != JOB_DONE; i++) {
        saw_second_half |= st.state == JOB_RUNNING && fabs(st.progress - 0.7) < 0.01;
        usleep(5000);
    }
    CHECK(wait_finished(queue, id_two, &st) == JOB_DONE);
    CHECK_MSG(saw_second_half, "progress 0.7 (half of the rendering pass after tracking) was never seen");
    /* the server's defaults: engine warp, gains 1, background still */
    snprintf(spec_path, sizeof spec_path, "%s/job-smile.json", tmp);
    const char *const defaults[][2] = {{"engine", "warp"}, {"eyes", "1"}, {"lips", "1"}, {"background_move", "false"},
                                       {"compare", "false"}, {"absolute", "false"}, {"face", NULL}};
    check_spec(spec_path, defaults, sizeof defaults / sizeof defaults[0]);

    /* failure: the worker's message with our temp path turned into words; this request
     * names no engine (jobs.h allows it: the library's default), so none is given */
    r = request_for(queue, "blink", dir);
    r.engine[0] = 0;
    CHECK_OK(job_queue_submit(queue, dir, &r, id2));
    CHECK(wait_finished(queue, id2, &st) == JOB_FAILED);
    snprintf(spec_path, sizeof spec_path, "%s/job-blink.json", tmp);
    const char *const no_engine[][2] = {{"engine", NULL}, {"motion", "blink"}};
    check_spec(spec_path, no_engine, sizeof no_engine / sizeof no_engine[0]);
    CHECK_MSG(!strcmp(st.error, "no face found in the portrait"), "error: %s", st.error);
    CHECK(job_queue_open_result(queue, id2, &st, &found) < 0 && found);

    /* searching for a face is progress too; a failed job's partial result is removed (its
     * folder holds nothing); "PNG <path>" reads as words */
    char id_s[JOB_ID_LENGTH + 1], failed_dir[PATH_MAX];
    r = request_for(queue, "surprise", failed_dir);
    CHECK_OK(job_queue_submit(queue, failed_dir, &r, id_s));
    bool saw_search = false;
    for (int i = 0; i < 300 && job_queue_status(queue, id_s, &st) && st.state != JOB_FAILED; i++) {
        saw_search |= st.state == JOB_RUNNING && st.searching && fabs(st.progress - 0.3) < 0.01 && st.fps == 300 && st.eta_s > 0;
        usleep(5000);
    }
    CHECK_MSG(saw_search, "progress 0.3 while searching for a face (with an ETA) was never seen");
    CHECK(wait_finished(queue, id_s, &st) == JOB_FAILED);
    CHECK_MSG(!strcmp(st.error, "corrupt or truncated PNG file (the portrait): libpng error: IDAT: CRC error"), "error: %s",
              st.error);
    CHECK_MSG(count_entries(failed_dir) == 0, "a failed job left %d files", count_entries(failed_dir));

    /* capacity: one running, one waiting, the next refused as its upload begins (a folder
     * for an upload holds a place in the queue) */
    char long_dir[PATH_MAX], waiting_dir[PATH_MAX], refused_dir[PATH_MAX];
    r = request_for(queue, "nod", long_dir);
    CHECK_OK(job_queue_submit(queue, long_dir, &r, id3));
    for (int i = 0; i < 300 && job_queue_status(queue, id3, &st) && st.state != JOB_RUNNING; i++) usleep(5000);
    CHECK(st.state == JOB_RUNNING);

    /* a faces job does not wait behind the running animation (the only animation worker is
     * busy until killed): it has a lane of its own; its worker is given the portrait and
     * the output only, and its result is the faces' JSON */
    char faces_dir[PATH_MAX], faces_id[JOB_ID_LENGTH + 1];
    job_request fr = request_for(queue, "", faces_dir);
    fr.faces = true;
    snprintf(fr.filename, sizeof fr.filename, "mona-faces.json");
    CHECK_OK(job_queue_submit(queue, faces_dir, &fr, faces_id));
    CHECK_MSG(wait_finished(queue, faces_id, &st) == JOB_DONE, "faces job: %s while an animation runs",
              job_state_name(st.state));
    CHECK(st.faces && !st.audio && !strcmp(st.filename, "mona-faces.json"));
    fd = job_queue_open_result(queue, faces_id, &st, &found);
    char listed[256] = "";
    CHECK(fd >= 0 && read(fd, listed, sizeof listed - 1) > 0 && !strcmp(listed, FAKE_FACES));
    if (fd >= 0) close(fd);
    snprintf(spec_path, sizeof spec_path, "%s/job-faces.json", tmp);
    const char *const faces_spec[][2] = {{"faces", "true"}, {"source", fr.source}, {"motion", NULL}, {"engine", NULL},
                                         {"face", NULL}, {"max_frames", NULL}, {"memory_mb", "512"}};
    check_spec(spec_path, faces_spec, sizeof faces_spec / sizeof faces_spec[0]);
    CHECK(job_queue_status(queue, id3, &st) && st.state == JOB_RUNNING);
    CHECK(job_queue_delete(queue, faces_id));
    char waiting[JOB_ID_LENGTH + 1];
    CHECK_OK(job_queue_make_folder(queue, waiting_dir, sizeof waiting_dir));
    CHECK(job_queue_full(queue));
    CHECK(job_queue_make_folder(queue, refused_dir, sizeof refused_dir) == VV_ERR_TOO_LARGE);
    job_queue_discard_folder(queue, waiting_dir); /* the upload went away: its place is free */
    CHECK(!job_queue_full(queue));
    job_request w = request_for(queue, "talk", waiting_dir);
    CHECK_OK(job_queue_submit(queue, waiting_dir, &w, waiting));
    CHECK(job_queue_full(queue));
    CHECK(job_queue_make_folder(queue, refused_dir, sizeof refused_dir) == VV_ERR_TOO_LARGE);

    /* cancel the running one: gone at once, its folder removed once the child is dead;
     * the waiting one runs next */
    CHECK(job_queue_delete(queue, id3));
    CHECK(!job_queue_status(queue, id3, &st));
    CHECK(wait_finished(queue, waiting, &st) == JOB_DONE);
    CHECK(access(long_dir, F_OK) != 0);

    /* eviction: keep_count 2, so the oldest finished jobs are forgotten */
    CHECK(!job_queue_status(queue, id, &st) && !job_queue_status(queue, id_two, &st) && !job_queue_status(queue, id2, &st));
    CHECK(job_queue_status(queue, id_s, &st) && job_queue_status(queue, waiting, &st));
    CHECK(!job_queue_delete(queue, "0123456789abcdef0123456789abcdef"));
    CHECK(!job_queue_status(queue, "../../etc/passwd", &st));
    int queued, running, finished;
    job_queue_counts(queue, &queued, &running, &finished);
    CHECK(queued == 0 && running == 0 && finished == 2);

    /* freeing the queue removes everything it made */
    CHECK(count_entries(temp) == 1);
    job_queue_free(queue);
    CHECK_MSG(count_entries(temp) == 0, "%d entries left in %s", count_entries(temp), temp);
}

/* Issue 18.4: after kill -9 of the server its job kept running, and its folders stayed.
 * A child process runs a queue with a job until it is killed; the job must die with it,
 * and the next queue in the same temp folder removes what the dead one left. */
static void test_server_killed(void) {
    const char *tmp = test_tmp_dir("test_serve");
    char exe[4200], temp[4200], proc[4300];
    if (!write_fake_worker(exe, sizeof exe)) return;
    snprintf(temp, sizeof temp, "%s/killed", tmp);
    mkdir(temp, 0700);
    snprintf(proc, sizeof proc, "%s/proc-nod.txt", tmp);
    remove(proc);
    job_queue_params p = {.exe = exe, .temp_dir = temp, .workers = 1, .capacity = 4, .keep_bytes = 1 << 20,
                          .keep_count = 2, .max_frames = 100};
    fflush(NULL);
    pid_t server = fork();
    if (server == 0) {
        job_queue *queue = NULL;
        char dir[PATH_MAX], id[JOB_ID_LENGTH + 1];
        if (job_queue_new(&queue, &p) != VV_OK) _exit(1);
        job_request r = request_for(queue, "nod", dir);
        if (job_queue_submit(queue, dir, &r, id) != VV_OK) _exit(1);
        for (;;) pause();
    }
    long pid = 0, pgid = 0;
    char cpu[32];
    for (int i = 0; i < 300 && !read_proc("nod", &pid, &pgid, cpu, sizeof cpu); i++) usleep(10000);
    CHECK_MSG(pid > 0, "the job never started");
    CHECK(count_entries(temp) == 1);
    double killed_at = now_s();
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    /* gone, or a zombie waiting for init to reap it */
    bool gone = false;
    for (int i = 0; i < 200 && pid > 0 && !gone; i++) {
        char stat_path[64], stat[256] = "";
        snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
        FILE *f = fopen(stat_path, "r");
        if (f) {
            if (!fgets(stat, sizeof stat, f)) stat[0] = 0;
            fclose(f);
        }
        const char *state = strrchr(stat, ')');
        gone = !f || (state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X'));
        if (!gone) usleep(10000);
    }
    CHECK_MSG(gone, "the job (pid %ld) outlived its killed server", pid);
    printf("server killed: its job gone %.2f s later\n", now_s() - killed_at);
    if (!gone && pid > 0) kill((pid_t)pid, SIGKILL);
    job_queue *queue = NULL;
    CHECK_OK(job_queue_new(&queue, &p));
    CHECK_MSG(count_entries(temp) == 1, "%d folders in %s: the dead server's is left", count_entries(temp), temp);
    job_queue_free(queue);
    CHECK(count_entries(temp) == 0);
}

/* Issue 18.5: a worker's private writable memory is capped at what it holds plus the limit. */
static void test_memory_limit(void) {
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        if (serve_worker_limit_memory(64u << 20) != VV_OK) _exit(2);
        void *small = mmap(NULL, 16u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        void *large = mmap(NULL, 256u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        _exit(small == MAP_FAILED ? 3 : large != MAP_FAILED ? 4 : 0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "memory limit: child ended with %d (2: not set, 3: 16 MB "
              "refused, 4: 256 MB granted under a 64 MB limit)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ------------------------------------------------------------------ over loopback
 * The real server (serve_start) in this process, with the stand-in as its job runner, and
 * raw sockets as clients, so a test decides exactly how the bytes arrive. */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* A TCP connection to 127.0.0.1:port from the loopback address `from` (127.0.0.x: each
 * is a different client to the server); -1 on failure. */
static int connect_from(const char *from, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (from) {
        inet_pton(AF_INET, from, &a.sin_addr);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            return -1;
        }
    }
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_bytes(int fd, const void *data, size_t size) {
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send(fd, (const char *)data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        sent += (size_t)n;
    }
    return true;
}

/* Reads until the server closes or `timeout_s` passes; returns the bytes read (-1: reset). */
static long read_all(int fd, char *buffer, size_t size, double timeout_s) {
    size_t got = 0;
    double end = now_s() + timeout_s;
    while (got + 1 < size) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0) break;
        ssize_t n = recv(fd, buffer + got, size - 1 - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            buffer[got] = 0;
            return got ? (long)got : -1;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    buffer[got] = 0;
    return (long)got;
}

/* The status code of a response in buffer, 0 when there is none. */
static int status_of(const char *response) {
    int code = 0;
    return sscanf(response, "HTTP/1.%*d %d", &code) == 1 ? code : 0;
}

/* One whole request (Connection: close) from `from`; the response in buffer; its status. */
static int request_once(int port, const char *from, const void *request, size_t size, char *buffer, size_t buffer_size) {
    int fd = connect_from(from, port);
    if (fd < 0) return -1;
    int code = -1;
    if (send_bytes(fd, request, size) && read_all(fd, buffer, buffer_size, 5) > 0) code = status_of(buffer);
    close(fd);
    return code;
}

typedef struct test_server {
    serve_server *server;
    int port;
    char temp[4200];
} test_server;

/* Starts a server whose jobs run the stand-in; params adjusted by the caller first. */
static bool test_server_start(test_server *t, serve_params *p, const char *name) {
    const char *tmp = test_tmp_dir("test_serve");
    static char exe[4200];
    snprintf(exe, sizeof exe, "%s/fake_worker.sh", tmp);
    snprintf(t->temp, sizeof t->temp, "%s/%s", tmp, name);
    mkdir(t->temp, 0700);
    p->exe = exe;
    p->temp_dir = t->temp;
    p->port = 0;
    t->server = NULL;
    vv_status s = serve_start(&t->server, p);
    CHECK_MSG(s == VV_OK, "serve_start: %s", vv_last_error());
    t->port = t->server ? serve_port(t->server) : 0;
    return t->server != NULL;
}

/* A multipart body: a 1x1 PNG as "source" and the given text fields ("name=value" pairs). */
static size_t multipart_body(char *out, size_t size, const char *boundary, const char *const *fields, int count) {
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                        0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde};
    size_t n = (size_t)snprintf(out, size, "--%s\r\nContent-Disposition: form-data; name=\"source\"; filename=\"p.png\"\r\n"
                                           "Content-Type: image/png\r\n\r\n", boundary);
    memcpy(out + n, png, sizeof png);
    n += sizeof png;
    for (int i = 0; i < count; i++) {
        const char *eq = strchr(fields[i], '=');
        n += (size_t)snprintf(out + n, size - n, "\r\n--%s\r\nContent-Disposition: form-data; name=\"%.*s\"\r\n\r\n%s",
                              boundary, (int)(eq - fields[i]), fields[i], eq + 1);
    }
    n += (size_t)snprintf(out + n, size - n, "\r\n--%s--\r\n", boundary);
    return n;
}

static size_t post_headers(char *out, size_t size, int port, const char *boundary, size_t body_size) {
    return (size_t)snprintf(out, size, "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                                       "Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %zu\r\n\r\n",
                            port, boundary, body_size);
}

/* Issue 18.1: a TCP read that ends a few bytes into a field's value made libmicrohttpd call
 * the upload callback twice at offset 0, which counted as a second part ("more than one
 * 'source' file"): every split point inside the values must give 202. */
static void test_split_reads(void) {
    serve_params p = serve_default_params();
    p.queue = 200;
    test_server t;
    if (!test_server_start(&t, &p, "split")) return;
    const char *boundary = "vvboundary42";
    const char *fields[] = {"motion=talk", "duration=0.5"};
    char body[2048], head[512], response[4096];
    size_t body_size = multipart_body(body, sizeof body, boundary, fields, 2);
    size_t head_size = post_headers(head, sizeof head, t.port, boundary, body_size);
    /* the offsets just past the start of each value: the PNG's, "talk"'s and "0.5"'s */
    size_t starts[3];
    starts[0] = (size_t)((char *)memmem(body, body_size, "\x89PNG", 4) - body);
    starts[1] = (size_t)((char *)memmem(body, body_size, "talk", 4) - body);
    starts[2] = (size_t)((char *)memmem(body, body_size, "0.5\r\n", 5) - body);
    int tried = 0, accepted = 0;
    for (int v = 0; v < 3; v++)
        for (size_t k = 0; k <= 4; k++) {
            size_t split = starts[v] + k;
            int fd = connect_from(NULL, t.port);
            if (fd < 0) continue;
            tried++;
            bool sent = send_bytes(fd, head, head_size) && send_bytes(fd, body, split);
            usleep(30000); /* the server reads the first piece alone */
            sent = sent && send_bytes(fd, body + split, body_size - split);
            int code = sent && read_all(fd, response, sizeof response, 5) > 0 ? status_of(response) : -1;
            close(fd);
            accepted += code == 202;
            if (code != 202) {
                char *json = strstr(response, "\r\n\r\n");
                CHECK_MSG(code == 202, "split at %zu (value %d + %zu): HTTP %d %s", split, v, k, code, json ? json + 4 : "");
            }
        }
    CHECK_MSG(tried == 15 && accepted == tried, "%d of %d split uploads accepted", accepted, tried);
    /* a worker holds none of the server's sockets (clients' connections, the listener) */
    char proc[4300];
    snprintf(proc, sizeof proc, "%s/proc-talk.txt", test_tmp_dir("test_serve"));
    remove(proc);
    long pid = 0, pgid = 0;
    char cpu[32];
    int sockets = -1;
    for (int i = 0; i < 500 && !read_proc_sockets("talk", &pid, &pgid, cpu, sizeof cpu, &sockets); i++) usleep(10000);
    CHECK_MSG(sockets == 0, "a worker started by the server holds %d sockets", sockets);
    /* still refused: a real second part */
    const char *twice[] = {"motion=talk", "motion=nod"};
    body_size = multipart_body(body, sizeof body, boundary, twice, 2);
    head_size = post_headers(head, sizeof head, t.port, boundary, body_size);
    char request[4096];
    memcpy(request, head, head_size);
    memcpy(request + head_size, body, body_size);
    CHECK(request_once(t.port, NULL, request, head_size + body_size, response, sizeof response) == 400 &&
          strstr(response, "more than one 'motion' field"));
    serve_stop(t.server);
}

/* Whether the server has closed fd within `timeout_s` while the client keeps trickling
 * `drip` a byte at a time (every 100 ms); the seconds it took in *took. */
static bool closed_while_trickling(int fd, const char *drip, double timeout_s, double *took) {
    double start = now_s();
    size_t at = 0, length = strlen(drip);
    while (now_s() - start < timeout_s) {
        if (!send_bytes(fd, drip + at % length, 1)) break;
        at++;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char buffer[4096];
            ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n <= 0) break; /* closed (or reset) */
        }
    }
    *took = now_s() - start;
    return *took < timeout_s;
}

/* Issue 18.2 and 18.3: 520 idle connections from one client locked everyone out (0 of 7
 * other requests served); a client trickling its headers or body a byte at a time held its
 * connection forever (the idle timeout restarts with every byte); an endless chunked upload
 * was read to its end before the 413. */
static void test_abusive_clients(void) {
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 4096 && files.rlim_max > files.rlim_cur) {
        files.rlim_cur = files.rlim_max < 4096 ? files.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    serve_params p = serve_default_params();
    p.header_timeout_s = 1;
    p.body_timeout_s = 1.5;
    p.max_upload_bytes = 1 << 20;
    test_server t;
    if (!test_server_start(&t, &p, "abuse")) return;
    char request[512], response[4096];
    int request_size = snprintf(request, sizeof request, "GET /api/config HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                                         "Connection: close\r\n\r\n", t.port);

    /* the flood: 520 connections from 127.0.0.2, each a request line and no more */
    enum { FLOOD = 520 };
    static int flood[FLOOD];
    int opened = 0;
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = connect_from("127.0.0.2", t.port);
        if (flood[i] >= 0) {
            opened++;
            send_bytes(flood[i], "GET / HTTP/1.1\r\nX-Slow: ", 24);
        }
    }
    usleep(100000);
    int served = 0;
    double start = now_s();
    for (int i = 0; i < 7; i++) served += request_once(t.port, "127.0.0.1", request, (size_t)request_size, response, sizeof response) == 200;
    double took = now_s() - start;
    CHECK_MSG(served == 7, "during a flood of %d idle connections from one client, %d of 7 other requests served", opened, served);
    printf("flood: %d idle connections from one client; %d of 7 other requests served in %.2f s\n", opened, served, took);
    for (int i = 0; i < FLOOD; i++)
        if (flood[i] >= 0) close(flood[i]);
    /* once it ends, the server answers at once (no sockets left in CLOSE-WAIT) */
    usleep(200000);
    CHECK(request_once(t.port, "127.0.0.2", request, (size_t)request_size, response, sizeof response) == 200);

    /* slowloris: headers a byte every 100 ms are cut at the header deadline (1 s here) */
    int fd = connect_from("127.0.0.3", t.port);
    send_bytes(fd, "GET / HTTP/1.1\r\n", 16);
    CHECK_MSG(closed_while_trickling(fd, "X-Slow: aaaaaaaaaaaaaaaa\r\n", 4, &took) && took < 2.5,
              "trickled headers: still open after %.1f s (header deadline 1 s)", took);
    printf("slow headers: cut after %.2f s (deadline 1 s)\n", took);
    close(fd);

    /* the same with a body: cut at the body deadline (1.5 s here) */
    fd = connect_from("127.0.0.4", t.port);
    char head[512];
    size_t head_size = post_headers(head, sizeof head, t.port, "vvbound", 100000);
    send_bytes(fd, head, head_size);
    const char *part = "--vvbound\r\nContent-Disposition: form-data; name=\"source\"; filename=\"p.png\"\r\n\r\n";
    send_bytes(fd, part, strlen(part));
    CHECK_MSG(closed_while_trickling(fd, "x", 4, &took) && took < 2.5, "trickled body: still open after %.1f s (body deadline 1.5 s)",
              took);
    printf("slow body: cut after %.2f s (deadline 1.5 s)\n", took);
    close(fd);

    /* an endless chunked upload is cut at the upload cap (1 MB here), not read to its end */
    fd = connect_from("127.0.0.5", t.port);
    int n = snprintf(head, sizeof head, "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n"
                                        "Content-Type: multipart/form-data; boundary=vvbound\r\n\r\n", t.port);
    send_bytes(fd, head, (size_t)n);
    static char chunk[65536 + 16];
    int header = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + header, 'x', 65536);
    memcpy(chunk + header + 65536, "\r\n", 2);
    size_t sent = 0;
    start = now_s();
    while (sent < (256u << 20) && now_s() - start < 10 && send_bytes(fd, chunk, (size_t)header + 65538)) sent += 65536;
    long got = read_all(fd, response, sizeof response, 2);
    CHECK_MSG(sent < (24u << 20), "endless chunked upload: %zu MB sent before the server stopped reading (cap 1 MB)", sent >> 20);
    CHECK_MSG(got <= 0 || status_of(response) == 413, "endless chunked upload answered %d", status_of(response));
    printf("endless chunked upload: stopped after %.1f MB sent (cap 1 MB), answered %d\n", (double)sent / (1 << 20),
           got > 0 ? status_of(response) : 0);
    close(fd);

    /* a body where none is taken (any route but POST /api/jobs) is answered before it is
     * read: endless and chunked, or trickled, it holds nothing */
    fd = connect_from("127.0.0.7", t.port);
    n = snprintf(head, sizeof head, "POST /api/motions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\n",
                 t.port);
    send_bytes(fd, head, (size_t)n);
    sent = 0;
    start = now_s();
    while (sent < (256u << 20) && now_s() - start < 10 && send_bytes(fd, chunk, (size_t)header + 65538)) sent += 65536;
    got = read_all(fd, response, sizeof response, 2);
    CHECK_MSG(sent < (24u << 20) && got > 0 && status_of(response) == 405,
              "an endless body to /api/motions: %zu MB sent, answered %d", sent >> 20, got > 0 ? status_of(response) : 0);
    close(fd);
    fd = connect_from("127.0.0.7", t.port);
    n = snprintf(head, sizeof head, "GET /api/config HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 100000\r\n\r\nx", t.port);
    send_bytes(fd, head, (size_t)n);
    start = now_s();
    got = read_all(fd, response, sizeof response, 3);
    CHECK_MSG(got > 0 && status_of(response) == 200 && now_s() - start < 1,
              "GET with a body that never comes: answered %d after %.1f s", got > 0 ? status_of(response) : 0, now_s() - start);
    close(fd);
    serve_stop(t.server);
}

/* POSTs a job with the 1x1 PNG (or `source`, `source_size` bytes) and text fields; the
 * status, the body in response. */
static int post_job(int port, const char *host, const void *source, size_t source_size, const char *const *fields, int count,
                    char *response, size_t response_size) {
    static char body[8192], request[9000];
    size_t body_size = multipart_body(body, sizeof body - 1024, "vvboundary42", fields, count);
    if (source) { /* swap the PNG for the given bytes */
        char *png = memmem(body, body_size, "\x89PNG", 4);
        size_t png_size = 33, tail = body_size - (size_t)(png - body) - png_size;
        memmove(png + source_size, png + png_size, tail);
        memcpy(png, source, source_size);
        body_size = body_size - png_size + source_size;
    }
    int n = snprintf(request, sizeof request, "POST /api/jobs HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                                              "Content-Type: multipart/form-data; boundary=vvboundary42\r\nContent-Length: %zu\r\n\r\n",
                     host, body_size);
    memcpy(request + n, body, body_size);
    return request_once(port, NULL, request, (size_t)n + body_size, response, response_size);
}

/* The "error" of a JSON answer in response ("" when none). */
static const char *error_of(const char *response) {
    static char error[512];
    error[0] = 0;
    const char *at = strstr(response, "\"error\":\"");
    if (at) sscanf(at + 9, "%511[^\"]", error);
    return error;
}

/* Issue 18.8: messages in plain words, strict numbers, a raw NUL in the request line, and
 * the Host check kept (an allow-list) when the server listens on every address. */
static void test_small_fixes(void) {
    serve_params p = serve_default_params();
    test_server t;
    if (!test_server_start(&t, &p, "small")) return;
    char host[64], response[4096];
    snprintf(host, sizeof host, "127.0.0.1:%d", t.port);
    const char *talk[] = {"motion=talk"};
    CHECK(post_job(t.port, host, "hello, world\n", 13, talk, 1, response, sizeof response) == 415);
    CHECK_MSG(strstr(error_of(response), "(this is a text file)"), "%s", error_of(response));
    CHECK(post_job(t.port, host, "\x01\x02\x03\x04", 4, talk, 1, response, sizeof response) == 415);
    CHECK_MSG(strstr(error_of(response), "(this is an unknown file)"), "%s", error_of(response));
    CHECK(post_job(t.port, host, "\0\0\0\x20" "ftypisom\0\0\x02\0", 16, talk, 1, response, sizeof response) == 415);
    CHECK_MSG(strstr(error_of(response), "(this is an MP4/MOV video)"), "%s", error_of(response));
    const char *bad_numbers[] = {"0x1p5", " 5", "5 ", "+5", "1e1", ".", "5.", "inf"};
    for (size_t i = 0; i < sizeof bad_numbers / sizeof bad_numbers[0]; i++) {
        char field[32];
        snprintf(field, sizeof field, "duration=%s", bad_numbers[i]);
        const char *fields[] = {"motion=talk", field};
        int code = post_job(t.port, host, NULL, 0, fields, 2, response, sizeof response);
        CHECK_MSG(code == 400 && strstr(error_of(response), "duration must be a number"), "duration '%s': HTTP %d %s",
                  bad_numbers[i], code, error_of(response));
    }
    const char *good[] = {"motion=talk", "duration=2.5", "eyes=0", "lips=.5"};
    CHECK(post_job(t.port, host, NULL, 0, good, 4, response, sizeof response) == 202);
    /* a raw NUL inside the request line must not cut the path short */
    char request[256];
    int n = snprintf(request, sizeof request, "GET /api/config%cjunk HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", 0, host);
    int code = request_once(t.port, NULL, request, (size_t)n, response, sizeof response);
    CHECK_MSG(code == 400, "a NUL in the request line: HTTP %d, want 400", code);
    n = snprintf(request, sizeof request, "GET /api/config?x=1&y HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    CHECK(request_once(t.port, NULL, request, (size_t)n, response, sizeof response) == 200);
    n = snprintf(request, sizeof request, "GET /api/co%%6efig HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    CHECK(request_once(t.port, NULL, request, (size_t)n, response, sizeof response) == 200);
    serve_stop(t.server);

    /* on every address: Host must still be this machine or an allowed name */
    p = serve_default_params();
    p.host = "0.0.0.0";
    p.allowed_hosts = "vivify.lan, studio.example";
    if (!test_server_start(&t, &p, "any")) return;
    const struct { const char *host; int code; } hosts[] = {
        {"evil.example", 403}, {"evil.example:%d", 403}, {"127.0.0.1:%d", 200}, {"localhost:%d", 200},
        {"vivify.lan:%d", 200}, {"STUDIO.example", 200}, {"vivify.lan.evil.example", 403}, {"[::1]:%d", 200},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, hosts[i].host, t.port);
        n = snprintf(request, sizeof request, "GET /api/config HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", name);
        code = request_once(t.port, NULL, request, (size_t)n, response, sizeof response);
        CHECK_MSG(code == hosts[i].code, "bound to 0.0.0.0, Host %s: HTTP %d, want %d", name, code, hosts[i].code);
    }
    serve_stop(t.server);
}

/* Issue 18.6: every POST got a folder as its headers arrived (40 unfinished uploads held
 * 801 MB with a queue of 16).  Folders of uploads in flight now hold places in the queue:
 * with --queue 16, 40 uploads that stop half-way hold 16 folders, the rest get 429 at once. */
static void test_unfinished_uploads(void) {
    serve_params p = serve_default_params();
    p.queue = 16;
    test_server t;
    if (!test_server_start(&t, &p, "unfinished")) return;
    enum { UPLOADS = 40 };
    int fds[UPLOADS], refused = 0;
    char head[512], response[4096];
    size_t head_size = post_headers(head, sizeof head, t.port, "vvbound", 1000000);
    const char *part = "--vvbound\r\nContent-Disposition: form-data; name=\"source\"; filename=\"p.png\"\r\n\r\n"
                       "\x89PNG\r\n\x1a\n0123456789abcdef";
    for (int i = 0; i < UPLOADS; i++) {
        fds[i] = connect_from("127.0.0.6", t.port);
        if (fds[i] >= 0) send_bytes(fds[i], head, head_size), send_bytes(fds[i], part, strlen(part));
    }
    usleep(200000); /* the answers to the refused ones are out by now */
    for (int i = 0; i < UPLOADS; i++)
        if (fds[i] >= 0 && read_all(fds[i], response, sizeof response, 0.01) > 0) refused += status_of(response) == 429;
    /* the folders in the queue's own folder (one level down from the temp folder) */
    int folders = 0;
    DIR *d = opendir(t.temp);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char root[4600];
        snprintf(root, sizeof root, "%s/%s", t.temp, e->d_name);
        folders += count_entries(root);
    }
    if (d) closedir(d);
    CHECK_MSG(folders <= 16 && refused == UPLOADS - folders, "%d unfinished uploads hold %d folders (queue 16), %d refused",
              UPLOADS, folders, refused);
    printf("unfinished uploads: %d of %d hold a folder (queue 16), %d answered 429\n", folders, UPLOADS, refused);
    for (int i = 0; i < UPLOADS; i++)
        if (fds[i] >= 0) close(fds[i]);
    serve_stop(t.server);
}

/* A multipart POST to `path` of the given parts ({name, file name or NULL for a text
 * field, value}); the status, the whole response in `response`. */
typedef struct form_part { const char *name, *filename, *value; size_t size; } form_part;
static int post_form(int port, const char *path, const form_part *parts, int count, char *response, size_t response_size) {
    static char body[8192], request[9000];
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        size_t size = parts[i].size ? parts[i].size : strlen(parts[i].value);
        if (parts[i].filename)
            n += (size_t)snprintf(body + n, sizeof body - n, "--vvb\r\nContent-Disposition: form-data; name=\"%s\"; "
                                                             "filename=\"%s\"\r\n\r\n", parts[i].name, parts[i].filename);
        else
            n += (size_t)snprintf(body + n, sizeof body - n, "--vvb\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n",
                                  parts[i].name);
        memcpy(body + n, parts[i].value, size);
        n += size;
        n += (size_t)snprintf(body + n, sizeof body - n, "\r\n");
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "--vvb--\r\n");
    int h = snprintf(request, sizeof request, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                                              "Content-Type: multipart/form-data; boundary=vvb\r\nContent-Length: %zu\r\n\r\n",
                     path, port, n);
    memcpy(request + h, body, n);
    return request_once(port, NULL, request, (size_t)h + n, response, response_size);
}

static int get_path(int port, const char *path, char *response, size_t response_size) {
    char request[256];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
                     port);
    return request_once(port, NULL, request, (size_t)n, response, response_size);
}

/* The value of a JSON string field "key" in response ("" when none). */
static const char *string_of(const char *response, const char *key) {
    static char value[512];
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":\"", key);
    value[0] = 0;
    const char *at = strstr(response, needle);
    if (at) sscanf(at + strlen(needle), "%511[^\"]", value);
    return value;
}

/* Polls a job until it is done or failed; its last status in response. */
static const char *wait_http_job(int port, const char *id, char *response, size_t response_size) {
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s", id);
    for (int i = 0; i < 500; i++) {
        if (get_path(port, path, response, response_size) == 200 &&
            (strstr(response, "\"state\":\"done\"") || strstr(response, "\"state\":\"failed\"")))
            break;
        usleep(10000);
    }
    return string_of(response, "state");
}

/* Issue 18 item 15, the server's side of the page: POST /api/faces (a faces job whose
 * result is JSON), the `face` field, download names made from the client's file names (in
 * the status and Content-Disposition), `audio` in the status, the engines offered (fsth and
 * hybrid where their shipped model is found, honoured when asked for), the example
 * portraits served as images. */
static void test_page_api(void) {
    serve_params p = serve_default_params();
    test_server t;
    if (!test_server_start(&t, &p, "page")) return;
    const char *png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90\x77\x53\xde";
    const size_t png_size = 33;
    char response[8192], id[64], path[160];

    /* faces: listed by a job of its own kind, the JSON served as the result */
    form_part faces[] = {{"source", "../My Portrait (1503).PNG", png, png_size}};
    CHECK(post_form(t.port, "/api/faces", faces, 1, response, sizeof response) == 202);
    snprintf(id, sizeof id, "%s", string_of(response, "id"));
    CHECK_MSG(!strcmp(wait_http_job(t.port, id, response, sizeof response), "done"), "faces job: %s", response);
    CHECK_MSG(strstr(response, "\"kind\":\"faces\"") && !strcmp(string_of(response, "filename"), "My_Portrait_1503-faces.json"),
              "faces job status: %s", response);
    snprintf(path, sizeof path, "/api/jobs/%s/result", id);
    CHECK(get_path(t.port, path, response, sizeof response) == 200);
    const char *body = strstr(response, "\r\n\r\n");
    CHECK_MSG(body && !strcmp(body + 4, FAKE_FACES) && strstr(response, "Content-Type: application/json") &&
                  strstr(response, "Content-Disposition: inline; filename=\"My_Portrait_1503-faces.json\""),
              "faces result: %s", response);
    /* file names: the last component without extension; letters, digits, '-', '_' and
     * visible UTF-8 kept, any other run '_'; 40 bytes of whole characters; in the header as
     * filename= (ASCII) and filename*= (UTF-8) */
    const struct { const char *given, *stem; } names[] = {
        {"\xc3\x96lgem\xc3\xa4lde (1503).png", "\xc3\x96lgem\xc3\xa4lde_1503"},
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.jpg", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
        {"photo\xe2\x80\xaegnp.png", "photo_gnp"},   /* U+202E, right-to-left override */
        {"\xff\xfe\xc0\xaf" "abc\xed\xa0\x80.png", "abc"}, /* broken UTF-8, overlong '/', a surrogate */
        {"../../etc/passwd", "passwd"},
        {"--.hidden.png", "hidden"},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\xc3\xa9.png",
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"}, /* 40 bytes: 20 of 22 characters */
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\xe6\x97\xa5.png",
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x"}, /* a character that does not fit whole is left out */
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        form_part named[] = {{"source", names[i].given, png, png_size}};
        char want[128];
        snprintf(want, sizeof want, "%s-faces.json", names[i].stem);
        CHECK(post_form(t.port, "/api/faces", named, 1, response, sizeof response) == 202);
        snprintf(id, sizeof id, "%s", string_of(response, "id"));
        CHECK(!strcmp(wait_http_job(t.port, id, response, sizeof response), "done"));
        CHECK_MSG(!strcmp(string_of(response, "filename"), want), "file name %zu: '%s', want '%s'", i,
                  string_of(response, "filename"), want);
        if (i == 0) {
            snprintf(path, sizeof path, "/api/jobs/%s/result", id);
            CHECK(get_path(t.port, path, response, sizeof response) == 200);
            CHECK_MSG(strstr(response, "Content-Disposition: inline; filename=\"_lgem_lde_1503-faces.json\"; "
                                       "filename*=UTF-8''%C3%96lgem%C3%A4lde_1503-faces.json\r\n"), "%s", response);
        }
        snprintf(path, sizeof path, "/api/jobs/%s", id);
        char request[256];
        int n = snprintf(request, sizeof request, "DELETE %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                         path, t.port);
        CHECK(request_once(t.port, NULL, request, (size_t)n, response, sizeof response) == 204);
    }
    /* the portrait alone: any other field is refused, by name; GET is the wrong method */
    form_part faces_and_motion[] = {{"source", "p.png", png, png_size}, {"motion", NULL, "talk", 0}};
    CHECK(post_form(t.port, "/api/faces", faces_and_motion, 2, response, sizeof response) == 400);
    CHECK_MSG(!strcmp(error_of(response), "POST /api/faces takes the portrait alone, as the 'source' file (not 'motion')"),
              "%s", error_of(response));
    form_part no_source[] = {{"motion", NULL, "talk", 0}};
    CHECK(post_form(t.port, "/api/faces", no_source, 1, response, sizeof response) == 400);
    CHECK(get_path(t.port, "/api/faces", response, sizeof response) == 405);

    /* an animation of face 2: the worker is told; the download name from the file names,
     * the motion and the engine, in the status and the result's header */
    form_part face2[] = {{"source", "C:\\Users\\me\\Mona Lisa.v2.png", png, png_size}, {"motion", NULL, "talk", 0},
                         {"face", NULL, "2", 0}, {"engine", NULL, "warp2d", 0}, {"compare", NULL, "true", 0}};
    CHECK(post_form(t.port, "/api/jobs", face2, 5, response, sizeof response) == 202);
    snprintf(id, sizeof id, "%s", string_of(response, "id"));
    CHECK(!strcmp(wait_http_job(t.port, id, response, sizeof response), "done"));
    const char *want_name = "Mona_Lisa_v2-talk-warp2d-compare.mp4";
    CHECK_MSG(!strcmp(string_of(response, "filename"), want_name) && strstr(response, "\"audio\":false") &&
                  strstr(response, "\"kind\":\"animation\""),
              "status: %s", response);
    snprintf(path, sizeof path, "/api/jobs/%s/result", id);
    CHECK(get_path(t.port, path, response, sizeof response) == 200);
    CHECK_MSG(strstr(response, "Content-Disposition: inline; filename=\"Mona_Lisa_v2-talk-warp2d-compare.mp4\"") &&
                  strstr(response, "Content-Type: video/mp4"), "%s", response);
    char spec[4300];
    snprintf(spec, sizeof spec, "%s/job-talk.json", test_tmp_dir("test_serve"));
    const char *const given[][2] = {{"face", "2"}, {"engine", "warp2d"}, {"compare", "true"}};
    check_spec(spec, given, sizeof given / sizeof given[0]);
    /* a driving video: its name in the download name; the worker said the result has sound */
    form_part driven[] = {{"source", "%%%.png", png, png_size}, {"driving", "talking head.MOV", "\0\0\0\x20" "ftypisom\0\0\x02\0", 16}};
    CHECK(post_form(t.port, "/api/jobs", driven, 2, response, sizeof response) == 202);
    snprintf(id, sizeof id, "%s", string_of(response, "id"));
    CHECK(!strcmp(wait_http_job(t.port, id, response, sizeof response), "done"));
    CHECK_MSG(!strcmp(string_of(response, "filename"), "portrait-talking_head-warp.mp4") && strstr(response, "\"audio\":true"),
              "driven status: %s", response);
    /* face: a whole number 1..32 */
    const char *bad_faces[] = {"0", "33", "1.5", "-1", "x", "2 "};
    for (size_t i = 0; i < sizeof bad_faces / sizeof bad_faces[0]; i++) {
        form_part bad[] = {{"source", "p.png", png, png_size}, {"motion", NULL, "talk", 0}, {"face", NULL, bad_faces[i], 0}};
        int code = post_form(t.port, "/api/jobs", bad, 3, response, sizeof response);
        CHECK_MSG(code == 400 && strstr(error_of(response), "face must be a whole number from 1 to 32"), "face '%s': HTTP %d %s",
                  bad_faces[i], code, error_of(response));
    }

    /* engines: warp and warp2d always; fsth and hybrid exactly when their model is found,
     * and then honoured; otherwise refused, saying why */
    char found[PATH_MAX];
    bool fsth = animate_shipped_model_find("fsth128.safetensors", found, sizeof found);
    bool hybrid = animate_shipped_model_find("hybrid128.safetensors", found, sizeof found);
    char want_engines[80];
    snprintf(want_engines, sizeof want_engines, "\"engines\":[\"warp\",\"warp2d\"%s%s]", fsth ? ",\"fsth\"" : "",
             hybrid ? ",\"hybrid\"" : "");
    CHECK(get_path(t.port, "/api/config", response, sizeof response) == 200);
    CHECK_MSG(strstr(response, want_engines), "config %s, want %s", response, want_engines);
    form_part learned[] = {{"source", "p.png", png, png_size}, {"motion", NULL, "talk", 0}, {"engine", NULL, "fsth", 0}};
    int code = post_form(t.port, "/api/jobs", learned, 3, response, sizeof response);
    if (fsth) {
        CHECK(code == 202);
        snprintf(id, sizeof id, "%s", string_of(response, "id"));
        CHECK(!strcmp(wait_http_job(t.port, id, response, sizeof response), "done") &&
              !strcmp(string_of(response, "filename"), "p-talk-fsth.mp4"));
        const char *const fsth_spec[][2] = {{"engine", "fsth"}, {"face", NULL}};
        check_spec(spec, fsth_spec, sizeof fsth_spec / sizeof fsth_spec[0]);
    } else {
        const char *want = "this server has no model for the engine 'fsth' (available: warp, warp2d";
        CHECK_MSG(code == 400 && !strncmp(error_of(response), want, strlen(want)), "fsth without its model: HTTP %d %s", code,
                  error_of(response));
    }
    printf("engines offered: warp, warp2d%s%s\n", fsth ? ", fsth" : "", hybrid ? ", hybrid" : "");
    form_part unknown[] = {{"source", "p.png", png, png_size}, {"motion", NULL, "talk", 0}, {"engine", NULL, "gan", 0}};
    CHECK(post_form(t.port, "/api/jobs", unknown, 3, response, sizeof response) == 400);
    const char *unknown_prefix = "unknown engine 'gan' (available: warp, warp2d";
    CHECK_MSG(!strncmp(error_of(response), unknown_prefix, strlen(unknown_prefix)), "%s", error_of(response));

    /* the example portraits, byte for byte as shipped in examples/ */
    const char *examples[][2] = {{"mona_lisa.png", "image/png"}, {"grace_hopper.jpg", "image/jpeg"}};
    for (int i = 0; i < 2; i++) {
        char file[PATH_MAX];
        snprintf(file, sizeof file, "%s/examples/%s", VV_SOURCE_DIR, examples[i][0]);
        FILE *f = fopen(file, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
        uint8_t *want = size > 0 ? test_read_bytes(file, (size_t)size) : NULL;
        if (f) fclose(f);
        static char image[1 << 20];
        char request[256];
        int n = snprintf(request, sizeof request, "GET /examples/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                         examples[i][0], t.port);
        int fd = connect_from(NULL, t.port);
        long got = fd >= 0 && send_bytes(fd, request, (size_t)n) ? read_all(fd, image, sizeof image, 5) : -1;
        if (fd >= 0) close(fd);
        char *split = got > 0 ? memmem(image, (size_t)got, "\r\n\r\n", 4) : NULL;
        char type[64];
        snprintf(type, sizeof type, "Content-Type: %s\r\n", examples[i][1]);
        CHECK_MSG(status_of(image) == 200 && split && memmem(image, (size_t)(split - image), type, strlen(type)) &&
                      want && image + got - (split + 4) == size && !memcmp(split + 4, want, (size_t)size),
                  "GET /examples/%s: HTTP %d, %ld bytes (file %ld)", examples[i][0], status_of(image),
                  split ? (long)(image + got - (split + 4)) : -1, size);
        free(want);
    }
    serve_stop(t.server);
}

/* Queues starting at once in one temp folder: none may take another's new folder for a
 * dead server's (each is locked before it gets its findable name). */
typedef struct starter {
    job_queue_params params;
    job_queue *queue;
    vv_status status;
    pthread_barrier_t *barrier;
} starter;

static void *start_queue(void *arg) {
    starter *st = arg;
    pthread_barrier_wait(st->barrier);
    st->status = job_queue_new(&st->queue, &st->params);
    return NULL;
}

static void test_concurrent_starts(void) {
    char exe[4200], temp[4200];
    if (!write_fake_worker(exe, sizeof exe)) return;
    snprintf(temp, sizeof temp, "%s/starts", test_tmp_dir("test_serve"));
    mkdir(temp, 0700);
    enum { QUEUES = 8, ROUNDS = 20 };
    int lost = 0;
    for (int round = 0; round < ROUNDS; round++) {
        starter starters[QUEUES];
        pthread_t threads[QUEUES];
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, QUEUES);
        for (int i = 0; i < QUEUES; i++) {
            starters[i] = (starter){.params = {.exe = exe, .temp_dir = temp, .workers = 1, .capacity = 2, .keep_bytes = 1 << 20,
                                               .keep_count = 2, .max_frames = 10},
                                    .barrier = &barrier};
            pthread_create(&threads[i], NULL, start_queue, &starters[i]);
        }
        for (int i = 0; i < QUEUES; i++) pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < QUEUES; i++) {
            char dir[PATH_MAX];
            if (starters[i].status != VV_OK || job_queue_make_folder(starters[i].queue, dir, sizeof dir) != VV_OK) lost++;
            job_queue_free(starters[i].queue);
        }
    }
    CHECK_MSG(lost == 0, "%d of %d queues started at once lost their folder", lost, QUEUES * ROUNDS);
    CHECK(count_entries(temp) == 0);
}

int main(void) {
    test_sniff();
    test_parse_line();
    test_queue();
    test_server_killed();
    test_concurrent_starts();
    test_memory_limit();
    test_split_reads();
    test_abusive_clients();
    test_small_fixes();
    test_unfinished_uploads();
    test_page_api();
    return test_finish("test_serve");
}
