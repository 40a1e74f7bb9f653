/* run_mpi_main.c -- parc-run-mpi: `parc run` across MPI ranks.
 *
 * `parc run` execs it with its own arguments when an MPI launcher started
 * it with several ranks (run_launch.c); it is built from the same run*.c
 * files with libparc_mpi, only where CMake finds MPI. Every rank runs it;
 * rank 0 schedules and records, the others run jobs (run.c). With a single
 * rank it is plain `parc run`. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "parc_mpi.h"
#include "run.h"

/* run_mpi.agree: rank 0's digest to everyone, then who is ready. */
static int agree(int ready, uint64_t digest) {
  int rank = parc_mpi_rank();
  uint64_t d0 = digest;
  if (MPI_Bcast(&d0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return RUN_AGREE_RANK0 | RUN_AGREE_OTHERS;
  int differs = ready && digest != d0;
  int mine[2] = {rank == 0 && !ready, !ready || differs}, all[2] = {1, 1};
  MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return (all[0] ? RUN_AGREE_RANK0 : 0) | (all[1] ? RUN_AGREE_OTHERS : 0) |
         (differs ? RUN_AGREE_DIFFERS : 0);
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "run") != 0) {
    fputs("usage: parc-run-mpi run ARGS... (started by `parc run` under "
          "mpirun)\n", stderr);
    return 2;
  }
  int rc = parc_mpi_init(&argc, &argv);
  if (rc != 0) {
    fprintf(stderr, "parc run: cannot start MPI: %s\n", parc_strerror(rc));
    return 1;
  }
  run_mpi m = {parc_mpi_rank(), parc_mpi_size(), agree};
  rc = run_main(argc - 2, argv + 2, m.size > 1 ? &m : NULL);
  parc_mpi_finalize();
  return rc;
}
