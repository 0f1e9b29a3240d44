/* bench_nn: kept so `./dev bench` still runs the training-core benchmark; the body lives in
 * the library (nn/bench.h) and the command is `vivify bench nn --json` (cli/bench.c),
 * which this runs from the same build folder.  Usage: bench_nn [--quick] */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
    if (n <= 0) {
        fprintf(stderr, "bench_nn: cannot find my own folder\n");
        return 1;
    }
    path[n] = 0;
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "vivify");
    char *args[] = {path, "bench", "nn", "--json", argc > 1 ? argv[1] : NULL, NULL};
    execv(path, args);
    fprintf(stderr, "bench_nn: cannot run %s (build the vivify target)\n", path);
    return 1;
}
