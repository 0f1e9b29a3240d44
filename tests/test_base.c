/* base: checked arithmetic, status messages, atomic files, model lookup, thread pool. */
#include "base/base.h"
#include "test.h"

#include <stdint.h>
#include <unistd.h>

static void test_sizes(void) {
    size_t out = 0;
    CHECK(size_mul(3, 5, &out) && out == 15);
    CHECK(!size_mul(SIZE_MAX / 2 + 1, 2, &out));
    CHECK(size_mul(0, SIZE_MAX, &out) && out == 0);
    CHECK(!size_mul3(1u << 20, 1u << 20, (size_t)1 << 30, &out));
    CHECK(size_add(1, 2, &out) && out == 3);
    CHECK(!size_add(SIZE_MAX, 1, &out));
    CHECK(mem_alloc(SIZE_MAX / 4, 8) == NULL);
    CHECK(mem_alloc(0, 8) == NULL);
    void *p = mem_alloc_aligned(100);
    CHECK(p && ((uintptr_t)p & 63) == 0);
    mem_free_aligned(p);
}

static void test_status(void) {
    CHECK(!strcmp(vv_status_string(VV_OK), "ok"));
    CHECK(!strcmp(vv_status_string(VV_ERR_NO_FACE), "no face found"));
    CHECK(!strcmp(vv_status_string((vv_status)999), "unknown status"));
    for (int s = 0; s < VV_STATUS_COUNT; s++) CHECK(vv_status_string((vv_status)s)[0] != 0);
    CHECK(vv_fail(VV_ERR_CORRUPT, "truncated %s at %d", "x.png", 12) == VV_ERR_CORRUPT);
    CHECK(!strcmp(vv_last_error(), "truncated x.png at 12"));
    /* adding context to the last message, which is also the destination */
    vv_fail(VV_ERR_CORRUPT, "%s: %s", "model.safetensors", vv_last_error());
    CHECK(!strcmp(vv_last_error(), "model.safetensors: truncated x.png at 12"));
}

static void test_files(void) {
    const char *dir = test_tmp_dir("base");
    char final_path[4200], temp[8400], ext[16];
    snprintf(final_path, sizeof final_path, "%s/out.json", dir);
    remove(final_path);
    CHECK_OK(file_temp_path(final_path, temp, sizeof temp));
    CHECK(strstr(temp, dir) == temp);          /* same folder: rename is atomic */
    CHECK(strcmp(temp, final_path) != 0);
    CHECK(!strcmp(path_extension(temp, ext, sizeof ext), "json")); /* extension kept last */
    FILE *f = fopen(temp, "wb");
    CHECK(f != NULL);
    if (f) { fputs("{}", f); fclose(f); }
    CHECK(!file_exists(final_path));
    CHECK_OK(file_commit(temp, final_path));
    CHECK(file_exists(final_path) && !file_exists(temp));
    uint8_t *data = NULL;
    size_t size = 0;
    CHECK_OK(file_read_all(final_path, 100, &data, &size));
    CHECK(size == 2 && data && !memcmp(data, "{}", 2));
    free(data);
    CHECK(file_read_all(final_path, 1, &data, &size) == VV_ERR_TOO_LARGE);
    CHECK(file_read_all("no/such/file", 100, &data, &size) == VV_ERR_NOT_FOUND);
    CHECK(file_read_all(dir, 100, &data, &size) == VV_ERR_IO);     /* a folder */
    /* commit into a missing folder fails cleanly and removes the temp */
    snprintf(temp, sizeof temp, "%s/t.tmp", dir);
    f = fopen(temp, "wb");
    if (f) fclose(f);
    CHECK(file_commit(temp, "/nonexistent-dir/x.json") == VV_ERR_WRITE);
    CHECK(!file_exists(temp));
    CHECK(!strcmp(path_extension("a/b.PNG", ext, sizeof ext), "png"));
    CHECK(!strcmp(path_extension("a.d/b", ext, sizeof ext), ""));
    char found[1024];
    CHECK(models_find("definitely-not-a-model.json", found, sizeof found) == VV_ERR_MODEL);
}

typedef struct { int *hits; long *sum; } pool_ctx;
static void pool_task(void *ctx, int i) {
    pool_ctx *c = ctx;
    c->hits[i]++;
    __atomic_add_fetch(c->sum, i, __ATOMIC_RELAXED);
}
static void nested_task(void *ctx, int i) {
    /* nested parallel_for runs inline in workers: still every index exactly once */
    int *hits = ((int **)ctx)[0] + i * 8;
    pool_ctx inner = {hits, (long *)((int **)ctx)[1]};
    parallel_for(8, 0, pool_task, &inner);
}

static void test_pool(void) {
    enum { N = 1000 };
    static int hits[N * 8];
    long sum = 0;
    for (int round = 0; round < 50; round++) {
        memset(hits, 0, sizeof hits);
        sum = 0;
        pool_ctx c = {hits, &sum};
        parallel_for(N, 0, pool_task, &c);
        int bad = 0;
        for (int i = 0; i < N; i++) bad += hits[i] != 1;
        CHECK(bad == 0);
        CHECK(sum == (long)N * (N - 1) / 2);
    }
    memset(hits, 0, sizeof hits);
    sum = 0;
    void *ctx[2] = {hits, &sum};
    parallel_for(N, 0, nested_task, ctx);
    int bad = 0;
    for (int i = 0; i < N * 8; i++) bad += hits[i] != 1;
    CHECK(bad == 0);
    CHECK(cpu_count() >= 1);
}

int main(void) {
    test_sizes();
    test_status();
    test_files();
    test_pool();
    return test_finish("test_base");
}
