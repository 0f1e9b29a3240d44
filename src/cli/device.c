/* cli/device: --device cpu|cuda (cli/device.h). */
#include "cli/device.h"

#include "cli/cli.h"
#include "nn/backend.h"

#include <stdlib.h>
#include <string.h>

static bool device_cuda;

/* The local rank mpirun (Open MPI, MPICH) or Slurm gives this process, else 0. */
static int local_rank(void) {
    const char *names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            char *end;
            long r = strtol(v, &end, 10);
            if (!*end && r >= 0 && r < 1 << 20) return (int)r;
        }
    }
    return 0;
}

int cli_device_use(const char *device) {
    if (!device || !strcmp(device, "cpu")) {
        nn_backend_set(NULL);
        device_cuda = false;
        return 0;
    }
    if (strcmp(device, "cuda")) {
        fprintf(stderr, "vivify: --device must be cpu or cuda, not '%s'\n", device);
        return EXIT_USAGE;
    }
#ifdef VV_HAVE_CUDA
    const char *why = "";
    int count = nn_cuda_device_count(&why);
    if (count <= 0)
        return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "--device cuda: no CUDA GPU here (%s)", why));
    vv_status s = nn_cuda_init(local_rank() % count);
    if (s != VV_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vv_last_error());
        return cli_fail(vv_fail(s, "--device cuda: %s", msg));
    }
    nn_backend_set(nn_backend_cuda_staged());
    device_cuda = true;
    return 0;
#else
    (void)local_rank;
    return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "--device cuda: this vivify was built without CUDA (cmake -DVV_CUDA=ON)"));
#endif
}

void cli_device_report(FILE *out) {
#ifdef VV_HAVE_CUDA
    if (!device_cuda) return;
    long gemms, convs, fallbacks;
    nn_cuda_counts(&gemms, &convs, &fallbacks);
    fprintf(out, "cuda: %ld convolutions and %ld GEMMs on %s (%ld GEMMs fell back to the CPU)\n", convs, gemms,
            nn_cuda_device_name(), fallbacks);
#else
    (void)out;
#endif
}
