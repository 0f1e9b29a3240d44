/* fuzz/standalone_main.c: runs a fuzz target without libFuzzer over files and folders
 * given on the command line (each folder's files in name order), so the committed corpora
 * are replayed by plain builds and by ctest.  A crash or sanitizer report fails the run. */
#include "fuzz_common.h"

#include <dirent.h>
#include <sys/stat.h>

static int name_compare(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    size_t capacity = 1 << 16, size = 0;
    uint8_t *data = malloc(capacity);
    size_t n;
    while (data && (n = fread(data + size, 1, capacity - size, f)) > 0) {
        size += n;
        if (size == capacity) {
            uint8_t *grown = realloc(data, capacity *= 2);
            if (!grown) free(data);
            data = grown;
        }
    }
    fclose(f);
    if (!data) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    /* An exact-size copy, so ASan catches reads one past the input's end. */
    uint8_t *exact = malloc(size ? size : 1);
    if (!exact) {
        free(data);
        return 1;
    }
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

static int run_folder(const char *folder, int *count) {
    DIR *dir = opendir(folder);
    if (!dir) {
        fprintf(stderr, "%s: cannot open folder\n", folder);
        return 1;
    }
    char **names = NULL;
    size_t name_count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.') continue;
        char **grown = realloc(names, (name_count + 1) * sizeof *names);
        if (!grown) break;
        names = grown;
        names[name_count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, name_count, sizeof *names, name_compare);
    int failures = 0;
    for (size_t i = 0; i < name_count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        struct stat st;
        if (names[i] && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            failures += run_file(path);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return failures;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
        return 2;
    }
    int failures = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: not found\n", argv[i]);
            failures++;
        } else if (S_ISDIR(st.st_mode)) {
            failures += run_folder(argv[i], &count);
        } else {
            failures += run_file(argv[i]);
            count++;
        }
    }
    printf("%s: %d inputs, %d unreadable\n", argv[0], count, failures);
    return failures ? 1 : 0;
}
