/* run_mpi_main.c -- parc-run-mpi: `parc run` across MPI ranks.
 *
 * `parc run` execs it with its own arguments when an MPI launcher started
 * it with several ranks (run_launch.c); it is built from the same run*.c
 * files with libparc_mpi, only where CMake finds MPI. Every rank runs it;
 * rank 0 schedules and records, the others run jobs (run.c). With a single
 * rank it is plain `parc run`. Before run_main, what differs between MPIs
 * and their launchers is evened out: a launcher of another MPI is refused
 * (each rank would run every job) and Hydra's stdin on ranks > 0 is
 * replaced. (The jobs get none of MPI's descriptors: run_exec.close_fds.) */
#include <fcntl.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "parc_mpi.h"
#include "run_memory.h"
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

/* stdin reaches rank 0 only. Hydra (MPICH, Intel MPI: it sets
 * MPI_LOCALRANKID) gives the other ranks a pipe that never ends, where
 * reading the jobs' inputs would wait forever: read /dev/null there, as
 * under Open MPI, so that the ranks see that their inputs differ. Other
 * launchers may give every rank the same stdin (srun, mpirun --stdin all):
 * left as it is. */
static void hydra_stdin(int rank) {
  if (rank <= 0 || !getenv("MPI_LOCALRANKID") || !getenv("PMI_RANK"))
    return;
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  if (fd != STDIN_FILENO) {
    dup2(fd, STDIN_FILENO);
    close(fd);
  }
}

/* Started as one of several ranks, but MPI_Init made a world of one: the
 * launcher is another MPI's (Open MPI's mpirun for a parc built with
 * MPICH, or the other way round), and each rank would run every job. */
static int other_mpi(int size) {
  long n = run_launcher_ranks();
  if (size != 1 || n <= 1)
    return 0;
  const char *r = getenv("OMPI_COMM_WORLD_RANK");
  if (!r)
    r = getenv("PMI_RANK");
  if (!r)
    r = getenv("PMIX_RANK");
  if (!r || atol(r) == 0) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, "\n,")] = '\0';
    for (char *c = lib; *c; c++)
      if (*c == '\t')
        *c = ' ';
    fprintf(stderr,
            "parc run: started as one of %ld ranks, but MPI sees "
            "one: the launcher is not of the MPI parc-run-mpi was built "
            "with (%s); start it with that MPI's mpirun or mpiexec\n",
            n, lib);
  }
  return 1;
}

int main(int argc, char **argv) {
  cli_std_fds_open();
  /* a job of a rank under --memory: /proc/self/exe is this program */
  if (argc > 1 && strcmp(argv[1], "__memory") == 0)
    return run_memory_shim(argc, argv);
  if (argc < 2 || strcmp(argv[1], "run") != 0) {
    fputs("usage: parc-run-mpi run ARGS... (started by `parc run` under "
          "mpirun)\n",
          stderr);
    return 2;
  }
  /* SIGINT and SIGTERM are taken by run.c's signal thread, which stops
   * this rank's jobs; they must be blocked in every thread for that.
   * MPI_Init starts threads of its own (Open MPI's, PMIx's), which inherit
   * the mask now: blocked later, a launcher's TERM lands in one of them
   * and kills the rank, and its running jobs live on as orphans. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  int rc = parc_mpi_init(&argc, &argv);
  if (rc != 0) {
    fprintf(stderr, "parc run: cannot start MPI: %s\n", cli_strerror(rc));
    return 1;
  }
  run_mpi m = {parc_mpi_rank(), parc_mpi_size(), agree};
  if (other_mpi(m.size)) {
    parc_mpi_finalize();
    return 2;
  }
  hydra_stdin(m.rank);
  rc = run_main(argc - 2, argv + 2, m.size > 1 ? &m : NULL);
  parc_mpi_finalize();
  return rc;
}
