/* run_state.h -- the state of one `parc run` while its jobs run, shared by
 * the files of the loop: run.c (set-up, the lanes, the loop on the main
 * thread), run_output.c (progress and the jobs' output) and run_ranks.c
 * (what differs under mpirun); and what run.c tells run_job.c.
 *
 * Set-up fills it before the pool starts. From then on the main thread
 * owns it; a lane only reads the options, inputs, template, environment
 * and host, and writes nothing but what is atomic or under a lock:
 * out_lock guards stdout, stderr and bar_shown; slot_lock the slots. The
 * signal thread, started first of all, writes only signo, phase and
 * sig.stopping (atomic) and the eventfds. */
#ifndef PARC_CLI_RUN_STATE_H
#define PARC_CLI_RUN_STATE_H

#include <pthread.h>

#include "parc.h"
#include "run.h"

typedef struct job {
  size_t index;
  unsigned attempt;     /* 1.. */
  int not_started;      /* the stop came first */
  char *line;           /* the command line that ran */
  run_result res;
  int done;             /* finished, waiting for its turn to print (-k) */
} job;

enum {
  RUN_PHASE_PARSE,  /* reading the command line and inputs: nothing written */
  RUN_PHASE_SETUP,  /* from the records on: a signal is an interrupt */
  RUN_PHASE_ENDING  /* the signal thread is ending parc (during PARSE) */
};

typedef struct run_state {
  run_opts o;
  run_inputs in;
  run_template *tmpl;
  run_records *rec;
  run_signals sig;
  char **env;           /* the jobs' environment, less PARC_JOB/PARC_SLOT */
  size_t nenv, env_own; /* env[env_own..nenv) are ours to free */
  _Atomic int running;  /* lanes running a job now */
  _Atomic int closed;   /* --halt reached or a failed record: start no job */
  _Atomic size_t lane_failures; /* final failures, counted by the lanes */
  size_t ndone, nfailed, nstopped, torun; /* torun: less skipped ones */
  _Atomic int signo;    /* the first SIGINT/SIGTERM, or 0 */
  _Atomic int phase;    /* RUN_PHASE_*: may a signal end parc at once? */
  pthread_t sig_thread;
  int sig_started;
  unsigned char *skip;  /* --resume: bit i set: job i is done (rank 0) */
  int plain_err;        /* the set-up error is not bad usage (exit 2 still) */
  int fatal;            /* a record could not be written */
  double t0, last_plain;
  int tty, color, bar_shown;
  pthread_mutex_t out_lock; /* stdout/stderr: job output and the bar */
  const run_mpi *mpi;   /* under mpirun, else NULL */
  char host[RUN_HOST_MAX]; /* mpirun: "hostname:rank" of this rank */
  pthread_mutex_t slot_lock; /* mpirun: the slots of this rank's lanes */
  unsigned char *slot_used;
  size_t nslots;
  void *wire;           /* mpirun, rank 0: one result, as it arrives */
} run_state;

/* ---------------------------------------------------------------- run.c */

/* Runs job j in `slot` (1-based) on the calling lane to its end; j->line
 * is what ran. */
void run_lane_exec(run_state *s, job *j, unsigned slot);

/* ---------------------------------------------------------------- run_job.c */

/* Descriptors every job inherits (the run's lock: run_record.h), at most
 * two, each above 2; unless run_exec.close_fds. Called before the first
 * job, never while jobs start. */
void run_job_inherit(const int *fds, size_t n);

/* ---------------------------------------------------------------- output */

/* Prints the progress (main thread): the bar on a terminal, else a line
 * now and then; `final` once at the end. */
void run_progress(run_state *s, int final);
/* Prints a finished job's output, unless it was printed as it came. */
void run_print_job(run_state *s, const job *j);
/* Takes the progress bar off the terminal; the caller holds out_lock. */
void run_bar_clear(run_state *s);

/* --line-buffer: run_print_line is the run_line_fn of job `index`. */
typedef struct run_line_ctx {
  run_state *s;
  size_t index;
} run_line_ctx;
void run_print_line(void *arg, int fd, const char *line, size_t n);

/* ---------------------------------------------------------------- mpirun */

/* This rank's host name and the slots of its lanes. 0, or -1 (ENOMEM). */
int run_ranks_set_up(run_state *s);
/* Submits job j to the MPI pool as its index and attempt. 0, or -1. */
int run_ranks_submit(parc_pool *pool, const job *j, parc_future **f);
/* Rank 0: a finished future's result into j, and the command line that
 * ran. A job whose rank was lost failed, with the reason on its stderr. */
void run_ranks_collect(run_state *s, parc_future *f, job *j);
/* A digest of the jobs, which every rank must see alike. */
uint64_t run_ranks_digest(const run_inputs *in);
/* Is environment entry e ("NAME=value") one by which the launcher tells a
 * process that it is a rank? A job must not inherit it. */
int run_ranks_launcher_var(const char *e);

#endif
