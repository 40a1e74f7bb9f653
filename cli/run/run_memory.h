/* run_memory.h -- --memory and --retry-memory of `parc run` (run_memory.c):
 * how a job's memory is limited, whether it ran out, the limit of its next
 * attempt; and the job log's Memory column (run_joblog.c).
 *
 * A job is limited from inside its own process, before its program runs:
 * run_job.c spawns parc itself as a shim (`parc __memory HOW ARG -- JOB`),
 * which joins the job's cgroup or sets RLIMIT_AS and then execs the job.
 * posix_spawn cannot give the child a limit, and a limit set from outside
 * after the spawn races with the job's first allocations. */
#ifndef CLI_RUN_MEMORY_H
#define CLI_RUN_MEMORY_H

#include <limits.h>

#include "run.h"

/* How this run's jobs are limited. */
enum run_mem_how {
  RUN_MEM_RLIMIT = 1, /* setrlimit(RLIMIT_AS): the job's address space */
  RUN_MEM_CGROUP = 2  /* a cgroup v2 per job: memory.max, no swap */
};

/* The mechanism, decided at the first call (any thread, once): cgroup v2
 * when parc's own cgroup can take the jobs' cgroups (its run directory is
 * made then, and removed at exit), else RLIMIT_AS. */
int run_memory_how(void);
/* A line for stderr that says which (-t), the first time it is asked for;
 * NULL after that. */
const char *run_memory_note(void);

/* One attempt of a job under a limit. */
#define RUN_MEM_SEAM 32 /* longer than any phrase that says out of memory */
typedef struct run_mem_job {
  char **argv;                 /* the shim's command line (malloc'd), or NULL */
  char cg[PATH_MAX];           /* its cgroup (RUN_MEM_CGROUP), or "" */
  char arg[32];                /* the shim's ARG: the limit in bytes */
  int stderr_says;             /* the job's stderr said an allocation failed */
  char seam[2 * RUN_MEM_SEAM]; /* the end of the last piece of stderr */
  size_t seam_len;
} run_mem_job;

/* Before the spawn: the command that runs argv under `limit` bytes. 0, or
 * -1 with the reason (a line) in `why`. */
int run_memory_start(run_mem_job *m, char **argv, unsigned long long limit,
                     char *why, size_t whysz);
/* While the job runs: n bytes of its stderr (heuristic, RLIMIT_AS). */
void run_memory_stderr(run_mem_job *m, const char *p, size_t n);
/* After the job is reaped: did it run out of its limit? A job that did
 * not fail never did. Then frees m (and removes its cgroup). */
int run_memory_end(run_mem_job *m, const run_result *r);

/* The machine's memory (MemTotal), or 0 when unknown. */
unsigned long long run_memory_total(void);
/* --retry-memory: the limit after `limit` (factor times it, in whole MiB,
 * at most `total`); 0 when `limit` already reached `total`. */
unsigned long long run_memory_next(unsigned long long limit, double factor,
                                   unsigned long long total);
/* A size as people write it: "100M", "1.5G", "4096K", "123". */
void run_memory_size(char *buf, size_t n, unsigned long long bytes);

/* The line for stderr about job `job` (0-based) that ran out of `limit`:
 * with `next`, that it runs again with that much. snprintf's return. */
int run_memory_message(char *buf, size_t n, size_t job,
                       unsigned long long limit, unsigned long long next);

/* `parc __memory HOW ARG -- COMMAND...`: the shim (main.c). Returns only
 * when it cannot exec: 127, the reason on stderr. */
int run_memory_shim(int argc, char **argv);

/* run_joblog.c: the layout of a new job log. on: its header has a Memory
 * column (the run has --memory). A log that has a header keeps its own
 * layout whatever the run. Call before the records open. */
void run_joblog_memory(int on);

#endif
