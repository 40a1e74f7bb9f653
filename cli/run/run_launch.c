/* run_launch.c -- `parc run` under an MPI launcher: hand over to
 * parc-run-mpi (the parc binary never links MPI, so that it starts fast
 * and runs where MPI is not installed).
 *
 * Several ranks are recognised by the launchers' environment: Open MPI's
 * OMPI_COMM_WORLD_SIZE, MPICH/Hydra's PMI_SIZE, and PMIx under Slurm's
 * srun (PMIX_RANK with SLURM_STEP_NUM_TASKS). srun's several tasks with
 * no PMIx (no --mpi=pmix where Slurm's default is none) are refused:
 * each would run every job. A job of a parc run (which has PARC_JOB) is
 * not recognised: a nested parc run is a local one. PARC_RUN_MPI=0 turns
 * this off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "run.h"

#define RUN_MPI_HELPER "parc-run-mpi"

static int env_above_one(const char *name) {
  const char *v = getenv(name);
  return v != NULL && atol(v) > 1;
}

void run_launch_mpi(int argc, char **argv) {
  const char *off = getenv("PARC_RUN_MPI");
  if ((off && strcmp(off, "0") == 0) || getenv("PARC_JOB") != NULL)
    return;
  if (run_launcher_ranks() <= 1) {
    /* srun without an MPI plugin (MpiDefault=none, no --mpi=pmix): every
     * task would run every job, into the same --results and job log. */
    if (env_above_one("SLURM_STEP_NUM_TASKS") && getenv("SLURM_PROCID")) {
      fprintf(stderr,
              "parc run: started by srun as one of %s tasks, but "
              "without PMIx (srun --mpi=pmix); set PARC_RUN_MPI=0 to run "
              "each task on its own\n",
              getenv("SLURM_STEP_NUM_TASKS"));
      exit(2);
    }
    return;
  }
  char helper[4096];
  if (cli_find_helper(RUN_MPI_HELPER, helper, sizeof helper) != 0) {
    fprintf(stderr,
            "parc run: started by an MPI launcher with several "
            "ranks, but parc was built without MPI (no %s next to parc or "
            "in %s); set PARC_RUN_MPI=0 to run each rank on its own\n",
            RUN_MPI_HELPER, PARC_LIBEXECDIR);
    exit(2);
  }
  (void)argc;
  argv[0] = helper;
  execv(helper, argv);
  fprintf(stderr, "parc run: cannot run %s: %m\n", helper);
  exit(2);
}
