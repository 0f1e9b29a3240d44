/* cli/train_mpi: MPI_Allreduce behind train/parallel.h for vivify train (cli/train_mpi.h). */
#include "cli/train_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef VV_MPI
#include <mpi.h>
#endif

/* What a launcher put in the environment (mpirun's Open MPI variables, a PMI or PMIx
 * launcher's such as srun): the ranks when it names their number, -1 when it names only
 * this process's rank, 0 for none (a plain process). */
int cli_mpi_launched_ranks(void) {
    const char *sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, *ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *v = getenv(sizes[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++)
        if (getenv(ranks[i])) return -1;
    return 0;
}

#ifdef VV_MPI
static int started;

const char *cli_mpi_description(void) {
    static char text[MPI_MAX_LIBRARY_VERSION_STRING + 16];
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(version, &len);
    for (int i = 0; i < len; i++) /* first line, up to the first comma */
        if (version[i] == '\n' || version[i] == ',') version[i] = 0;
    snprintf(text, sizeof text, "MPI (%s)", version);
    return text;
}

static vv_status mpi_allreduce_sum(void *ctx, float *data, size_t count) {
    (void)ctx;
    while (count > 0) { /* MPI counts are ints */
        int n = count > (size_t)INT_MAX ? INT_MAX : (int)count;
        int rc = MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return vv_fail(VV_ERR_INTERNAL, "MPI_Allreduce failed (%d)", rc);
        data += n, count -= (size_t)n;
    }
    return VV_OK;
}

vv_status cli_mpi_start(train_parallel *p) {
    *p = (train_parallel){.rank = 0, .ranks = 1};
    if (cli_mpi_launched_ranks() == 0) return VV_OK; /* a plain process: no MPI at all */
    int provided = 0;
    /* Only the main thread calls MPI (the worker pools never do). */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return vv_fail(VV_ERR_INTERNAL, "MPI_Init failed");
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p->ranks);
    p->allreduce_sum = mpi_allreduce_sum;
    return VV_OK;
}

void cli_mpi_abort(int code) {
    if (started) MPI_Abort(MPI_COMM_WORLD, code);
}

void cli_mpi_finish(void) {
    if (started) MPI_Finalize();
    started = 0;
}

#else

const char *cli_mpi_description(void) { return "not built in (no MPI: one process)"; }

vv_status cli_mpi_start(train_parallel *p) {
    *p = (train_parallel){.rank = 0, .ranks = 1};
    int ranks = cli_mpi_launched_ranks();
    char what[64] = "by an MPI launcher";
    if (ranks > 1) snprintf(what, sizeof what, "as %d MPI ranks", ranks);
    if (ranks > 1 || ranks < 0)
        return vv_fail(VV_ERR_UNSUPPORTED, "started %s, but this vivify is built without MPI "
                       "(each rank would train alone): rebuild with libopenmpi-dev (./dev setup)", what);
    return VV_OK;
}

void cli_mpi_abort(int code) { (void)code; }
void cli_mpi_finish(void) {}

#endif
