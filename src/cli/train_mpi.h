/* cli/train_mpi: vivify train's data-parallel ranks over MPI (train/parallel.h's seam).
 * Built with MPI (CMake VV_MPI, OpenMPI's libopenmpi-dev) or as stubs that run one process. */
#ifndef VV_CLI_TRAIN_MPI_H
#define VV_CLI_TRAIN_MPI_H

#include "train/parallel.h"

/* "MPI (Open MPI v4.1.4)" or "not built in (...)": what train --help reports. */
const char *cli_mpi_description(void);
/* Whether mpirun or a PMI/PMIx launcher started this process: the ranks its environment
 * names, -1 for an unknown number, 0 for a plain process. */
int cli_mpi_launched_ranks(void);
/* Under a launcher, MPI_Init and *p = this rank, the ranks and MPI_Allreduce; else one
 * process (*p = rank 0 of 1).  Fails when launched as several ranks without MPI built in. */
vv_status cli_mpi_start(train_parallel *p);
/* Ends the job on every rank with this exit code (a failure on one rank would leave the
 * others waiting in an all-reduce); returns only when MPI is not running. */
void cli_mpi_abort(int code);
void cli_mpi_finish(void);

#endif
