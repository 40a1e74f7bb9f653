/* run_launch.c -- `parc run` under an MPI launcher: hand over to
 * parc-run-mpi (the parc binary never links MPI, so that it starts fast
 * and runs where MPI is not installed).
 *
 * Several ranks are recognised by the launchers' environment: Open MPI's
 * OMPI_COMM_WORLD_SIZE, MPICH/Hydra's PMI_SIZE, and PMIx under Slurm's
 * srun (PMIX_RANK with SLURM_STEP_NUM_TASKS). A job of a parc run (which
 * has PARC_JOB) is not recognised: a nested parc run is a local one.
 * PARC_RUN_MPI=0 turns this off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#ifndef PARC_LIBEXECDIR
#define PARC_LIBEXECDIR "/usr/local/libexec/parc"
#endif
#ifndef PARC_BIN_TO_LIBEXEC
#define PARC_BIN_TO_LIBEXEC "../libexec/parc"
#endif
#define RUN_MPI_HELPER "parc-run-mpi"

static int env_above_one(const char *name) {
  const char *v = getenv(name);
  return v != NULL && atol(v) > 1;
}

static int under_launcher(void) {
  const char *off = getenv("PARC_RUN_MPI");
  if ((off && strcmp(off, "0") == 0) || getenv("PARC_JOB") != NULL) return 0;
  return env_above_one("OMPI_COMM_WORLD_SIZE") || env_above_one("PMI_SIZE") ||
         (getenv("PMIX_RANK") != NULL &&
          env_above_one("SLURM_STEP_NUM_TASKS"));
}

/* Next to parc (a build tree), in libexec/parc relative to it (an install,
 * wherever it was moved), or in the libexec directory of the build. */
static int find_helper(char *buf, size_t cap) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
  if (slash != NULL) {
    *slash = '\0';
    if (snprintf(buf, cap, "%s/%s", self, RUN_MPI_HELPER) < (int)cap &&
        access(buf, X_OK) == 0)
      return 0;
    if (snprintf(buf, cap, "%s/%s/%s", self, PARC_BIN_TO_LIBEXEC,
                 RUN_MPI_HELPER) < (int)cap &&
        access(buf, X_OK) == 0)
      return 0;
  }
  snprintf(buf, cap, "%s/%s", PARC_LIBEXECDIR, RUN_MPI_HELPER);
  return access(buf, X_OK) == 0 ? 0 : -1;
}

void run_launch_mpi(int argc, char **argv) {
  if (!under_launcher()) return;
  char helper[4096];
  if (find_helper(helper, sizeof helper) != 0) {
    fprintf(stderr, "parc run: started by an MPI launcher with several "
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
