/* run_ranks.c -- `parc run` across MPI ranks (parc-run-mpi, run_main with
 * a run_mpi; docs/parc-run.md, "Across nodes: mpirun"): what differs from
 * the loop on threads (run.c).
 *
 * The same loop runs on rank 0 over a PARC_MPI pool whose workers are the
 * other ranks' lanes (-j on each rank); rank 0 only schedules and records.
 * Only the task's encoding differs: a job goes as its index and attempt,
 * and comes back as flat bytes (run_wire.c), with the slot it ran in so
 * rank 0 writes the same command line. One job in flight per lane, so
 * that a halt leaves nothing queued. Every rank parses the same command
 * line; before the pool (collective), the ranks agree that each is ready
 * and sees the same jobs (run_ranks_digest). Each rank takes its own
 * signals (mpirun forwards them); --halt is counted on rank 0, which then
 * starts no more jobs (those running on other ranks run to their end:
 * rank 0 cannot reach them).
 *
 * No MPI call here: the pool does the talking, so this file is built into
 * `parc` too (where run_state.mpi is always NULL).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_state.h"

int run_ranks_set_up(run_state *s) {
  char h[RUN_HOST_MAX - 16] = "";
  gethostname(h, sizeof h - 1);
  snprintf(s->host, sizeof s->host, "%s:%d", h, s->mpi->rank);
  return 0;
}

typedef struct wire_job { /* what a job is on the wire */
  uint64_t index;
  uint32_t attempt, pad;
  uint64_t mem_limit; /* --memory: this attempt's limit (--retry-memory) */
} wire_job;

/* The task on an MPI pool, on a rank > 0: index and attempt in, the flat
 * result out. --halt is counted on rank 0 (finish). */
static int job_task_wire(const void *in, void *out, void *ctx) {
  run_state *s = ctx;
  wire_job w;
  memcpy(&w, in, sizeof w);
  job j = {.index = (size_t)w.index, .attempt = w.attempt};
  j.res.mem_limit = w.mem_limit;
  unsigned slot = 0;
  int not_started = atomic_load(&s->sig.stopping) != 0;
  if (!not_started) {
    slot = run_slot_take(s, NULL); /* the lowest free one, as GNU's {%} */
    run_lane_exec(s, &j, slot);
    run_slot_give(s, slot);
  }
  memcpy(j.res.host, s->host, sizeof j.res.host);
  run_wire_put(out, &j.res, not_started, slot);
  run_buf_free(&j.res.out);
  run_buf_free(&j.res.err);
  run_buf_free(&j.res.notes);
  free(j.line);
  free(j.tag); /* rank 0 makes its own (run_ranks_collect) */
  return 0;
}

int run_ranks_submit(parc_pool *pool, const job *j, parc_future **f) {
  wire_job w = {j->index, j->attempt, 0, j->res.mem_limit};
  return parc_submit(pool, job_task_wire, &w, sizeof w, run_wire_res_size(), f);
}

/* The slot the job ran in came back with it, so rank 0 writes the same
 * command line as the rank that ran it. */
void run_ranks_collect(run_state *s, parc_future *f, job *j) {
  parc_task_status st = {0};
  int not_started = 0;
  unsigned slot = 0;
  int rc = parc_future_wait(f, s->wire, 0, &st);
  if (rc != 0 || run_wire_get(s->wire, &j->res, &not_started, &slot) != 0) {
    j->res.out.len = j->res.err.len = 0;
    j->res.exit_code = 255;
    j->res.signal = 0;
    j->res.start = run_wall_now();
    j->res.runtime = 0;
    run_buf_str(&j->res.err, "parc run: the job's rank did not answer (");
    run_buf_str(&j->res.err, parc_err_name(rc ? rc : PARC_ENOMEM));
    run_buf_str(&j->res.err, ")\n");
    snprintf(j->res.host, sizeof j->res.host, "?"); /* not here: unknown */
  }
  j->not_started = not_started;
  char **argv, *line;
  int ex = not_started ? -1
                       : run_template_expand(s->tmpl, &s->in, j->index, slot,
                                             &argv, &line);
  if (ex == 0 || ex == RUN_EXPAND_SKIP) {
    free(argv);
    free(j->line);
    j->line = line;
  }
  free(j->tag);
  j->tag = not_started ? NULL : run_job_tag(s, j->index, slot);
}

/* FNV-1a over each source's values, then its name, each closed by a
 * separator that carries the linked flag; then the number of jobs. */
uint64_t run_ranks_digest(const run_inputs *in) {
  uint64_t h = 1469598103934665603ull;
  for (size_t k = 0; k < in->nsrc; k++) {
    const run_source *src = &in->src[k];
    for (size_t v = 0; v <= src->n; v++) {
      const char *p = v < src->n ? src->values[v] : src->name ? src->name : "";
      for (; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
      h = (h ^ 0x1fu ^ (uint64_t)src->linked << 8) * 1099511628211ull;
    }
  }
  return h ^ in->njobs;
}

static long env_long(const char *name) {
  const char *v = getenv(name);
  return v ? atol(v) : 0;
}

/* The largest count any launcher's variable gives, so that `parc` (more
 * than one: hand over) and parc-run-mpi (another MPI's launcher) judge
 * alike. */
long run_launcher_ranks(void) {
  long n = env_long("OMPI_COMM_WORLD_SIZE"), p = env_long("PMI_SIZE");
  long t = getenv("PMIX_RANK") ? env_long("SLURM_STEP_NUM_TASKS") : 0;
  if (p > n)
    n = p;
  return t > n ? t : n;
}

/* A job started by a rank inherits the rank's environment, and with it
 * the launcher's word that it is that rank: an MPI program run as a job
 * would then try to join the launcher's job as a rank that already
 * exists, and fail or hang in MPI_Init. Without these it starts as a
 * singleton (MPI_COMM_WORLD of one), as it would from a shell. Under
 * srun that word includes Slurm's step and task variables: Open MPI 4
 * takes SLURM_STEP_ID (with SLURM_NODELIST) for "direct-launched by
 * srun" and aborts in MPI_Init when no PMIx server answers; without them
 * the job looks like a program started by a batch script. The job's
 * allocation (SLURM_JOB_ID, SLURM_NODELIST, ...) is kept. Kept too: the
 * user's own settings, OMPI_MCA_* (but for those of the launch itself)
 * and OMPI_ALLOW_RUN_AS_ROOT*. */
int run_ranks_launcher_var(const char *e) {
  static const char *const launch[] = {
      "PMIX_", "PMI_", "OMPI_MCA_orte_", "OMPI_MCA_ess", "OMPI_MCA_pmix",
      "OMPI_MCA_initial_wdir=", "OMPI_MCA_shmem_RUNTIME_QUERY_hint=",
      /* srun's step and task: SLURM_STEP_ID, SLURM_STEP_NUM_TASKS, ... */
      "SLURM_STEP_", "SLURM_STEPID=", "SLURM_PROCID=", "SLURM_LOCALID=",
      "SLURM_GTIDS=", "SLURM_TASK_PID=", "SLURM_SRUN_COMM_", "SLURM_PMIX",
      /* MPICH's Hydra */
      "MPI_LOCALNRANKS=", "MPI_LOCALRANKID=", "HYDI_CONTROL_FD="};
  static const char *const kept[] = {"OMPI_MCA_", "OMPI_ALLOW_RUN_AS_ROOT"};
  for (size_t i = 0; i < sizeof launch / sizeof *launch; i++)
    if (strncmp(e, launch[i], strlen(launch[i])) == 0)
      return 1;
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
    if (strncmp(e, kept[i], strlen(kept[i])) == 0)
      return 0;
  return strncmp(e, "OMPI_", 5) == 0; /* OMPI_COMM_WORLD_RANK ... */
}
