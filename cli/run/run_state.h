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
#ifndef CLI_RUN_STATE_H
#define CLI_RUN_STATE_H

#include <pthread.h>

#include "parc.h"
#include "run.h"

typedef struct job {
  size_t index;
  unsigned attempt; /* 1.. */
  int not_started;  /* the stop came first */
  char *line;       /* the command line that ran */
  char *tag;        /* --tag / --tagstring: its prefix, or NULL */
  run_result res;
  int done;                /* finished, waiting for its turn to print (-k) */
  _Atomic int mem_killed;  /* stopped by --memfree (main thread sets it) */
  run_buf chunk;           /* --pipe: its stdin (run_pipe.c) */
  unsigned long long turn; /* its place in the order of starts (run_start) */
  int has_turn;            /* its lane holds the turn (run_pass_turn) */
} job;

/* One failed job, for the summary at the end (run_output.c). */
typedef struct run_failed {
  size_t index;
  int exit_code, signal, timed_out;
  char *line;
} run_failed;
#define RUN_FAILED_SHOWN 10 /* failed jobs the summary names one by one */

enum {
  RUN_PHASE_PARSE, /* reading the command line and inputs: nothing written */
  RUN_PHASE_SETUP, /* from the records on: a signal is an interrupt */
  RUN_PHASE_ENDING /* the signal thread is ending parc (during PARSE) */
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
  _Atomic size_t lane_failed, lane_ok; /* final results, counted by lanes */
  _Atomic size_t njobs_known; /* in.njobs, for the lanes: --pipe grows it */
  size_t ndone, nfailed, nstopped, torun; /* torun: less skipped ones */
  _Atomic int signo;                      /* the first SIGINT/SIGTERM, or 0 */
  _Atomic int phase; /* RUN_PHASE_*: may a signal end parc at once? */
  pthread_t sig_thread;
  int sig_started;
  unsigned char *skip;   /* --resume: bit i set: job i is done (rank 0) */
  int plain_err;         /* the set-up error is not bad usage (exit 2 still) */
  int fatal;             /* a record could not be written */
  _Atomic int perl_died; /* {= =} code died: no job starts, exit 255 */
  double t0, last_plain;
  int tty, color, bar_shown;
  pthread_mutex_t out_lock;  /* stdout/stderr: job output and the bar */
  const run_mpi *mpi;        /* under mpirun, else NULL */
  char host[RUN_HOST_MAX];   /* mpirun: "hostname:rank" of this rank */
  pthread_mutex_t slot_lock; /* the slots ({%}) of this process's lanes */
  unsigned char *slot_used;
  size_t nslots;
  job **slot_job; /* the job in each slot (threads), or NULL */
  int *slot_fd;   /* --memfree: an eventfd per slot (job_stop_fd) */
  /* GNU's --halt bookkeeping, on the main thread */
  size_t nstarted; /* attempts started (--halt N% when not reached) */
  int halt_status; /* the exit status --halt decided, or -1 */
  int halted;      /* --halt's limit was reached */
  /* --timeout N%: the run times of jobs that succeeded (the last ones) */
  double *runtimes;
  size_t nruntimes;
  _Atomic long long pct_timeout_us; /* the timeout it gives, 0: none yet */
  /* the lanes start their jobs in the order they were submitted: the turn
   * now (under start_lock) and the turns handed out (main thread) */
  pthread_mutex_t start_lock;
  pthread_cond_t start_turn;
  unsigned long long turn, turns_given;
  /* --delay: the earliest next start (lanes, under delay_lock) */
  pthread_mutex_t delay_lock;
  double next_start;
  /* --bar, --eta */
  _Atomic size_t newest; /* the index + 1 of the job started last */
  double first_done;     /* when the first job finished (--eta) */
  double eta_avg;        /* GNU's smoothed average time per job */
  long last_eta;
  run_template *tag_tmpl;  /* --tagstring STR as {STR, {#}}, or args_tmpl */
  run_template *args_tmpl; /* {"{}", "{#}"}: a job's values (--tag, --bar) */
  const char *eta_header;  /* --eta: the header printed last */
  /* the failed jobs, for the summary */
  run_failed failed[RUN_FAILED_SHOWN];
  size_t nfailed_kept;
  void *wire;                  /* mpirun, rank 0: one result, as it arrives */
  struct run_pipe *pipe;       /* --pipe: the chunks of stdin (run_pipe.c) */
  struct run_halving *halving; /* --halving: the rungs (run_halving.c) */
  run_perm shuf;               /* --shuf: the order of the jobs (run.c) */
} run_state;

/* ---------------------------------------------------------------- run.c */

/* Runs job j in `slot` (1-based) on the calling lane to its end; j->line
 * is what ran, j->tag its tag. */
void run_lane_exec(run_state *s, job *j, unsigned slot);
/* The tag of job `index` in `slot` (malloc'd), or NULL without --tag. */
char *run_job_tag(run_state *s, size_t index, unsigned slot);
/* Template t (the tag's, --bar's, ending in a {#} word that is dropped)
 * expanded for job `index`: its words joined by spaces; malloc'd, or
 * NULL. */
char *run_expand_joined(run_state *s, const run_template *t, size_t index,
                        unsigned slot);

/* ---------------------------------------------------------------- run_limits.c */

int run_job_failed(const run_result *r);
/* A lane: job j's final result, for --halt; closes (and with `now` stops
 * the running jobs) once the limit is reached. */
void run_count_result(run_state *s, const job *j);
/* The main thread, after job j's output: GNU's --halt judgement. Returns
 * its message for stderr (malloc'd) or NULL; may close and stop. */
char *run_halt_judge(run_state *s, const job *j);
/* The exit status with --halt (other than never), signals aside. */
int run_halt_exit_status(const run_state *s);
/* The slots (GNU's {%}: the lowest free one). 0, or -1 (ENOMEM, no fd). */
int run_slots_set_up(run_state *s);
void run_slots_free(run_state *s);
/* Takes the lowest free slot for job j (NULL under mpirun); again: the
 * same slot for j's next attempt; give: j is done. */
unsigned run_slot_take(run_state *s, job *j);
void run_slot_again(run_state *s, unsigned slot, job *j);
void run_slot_give(run_state *s, unsigned slot);
/* A lane, before each attempt: --delay and --memfree. 0: do not start
 * (parc is stopping or --halt closed). */
int run_wait_to_start(run_state *s);
/* A lane, before a job's first attempt: waits for the job's turn, then
 * for run_wait_to_start, and takes its slot. The slot, the turn still
 * held (run_lane_exec passes it on once the command is made and shown),
 * or 0: do not start (the turn passed on). */
unsigned run_start(run_state *s, job *j);
/* Passes the turn on to the next job, if j holds it. */
void run_pass_turn(run_state *s, job *j);
/* The main thread, now and then: --memfree's stop of the youngest job. */
void run_memfree_check(run_state *s);
unsigned long long run_mem_available(void);
/* The main thread: a job succeeded in `secs` (--timeout N%). */
void run_note_runtime(run_state *s, double secs);

/* ---------------------------------------------------------------- run_halving.c */

typedef struct run_halving run_halving;
/* --halving: the settings, folds and rungs of the jobs (after the records
 * are open and --resume's skips known); sets torun. 0, or -1 with err. */
int run_halving_set_up(run_state *s, run_err err);
void run_halving_free(run_state *s);
/* The main thread: the next job to run (1, *index), or 0 when none can be
 * run now (then none will until one handed out has finished; none
 * handed out: the sweep is over). Jobs --resume found done are taken from
 * the records on the way. */
int run_halving_next(run_state *s, size_t *index);
/* The main thread: job j, handed out by run_halving_next, has finished
 * (or never started); once each. */
void run_halving_done(run_state *s, const job *j);
/* Its rung (and whether it was stopped early) into j's results.csv row. */
void run_halving_note(run_state *s, job *j);
/* The lanes: what run_halving_watch needs of the job it watches. */
typedef struct run_halving_lane {
  run_state *s;
  job *j;
  int stop_fd; /* the slot's stop eventfd */
} run_halving_lane;
/* A run_line_fn for run_exec.watch_fn: early stopping (arg: a lane). */
void run_halving_watch(void *arg, int fd, const char *line, size_t n);
/* Under mpirun, rank 0's parc_answer_fn (arg: the run_state): whether a
 * lane of another rank stops the job whose step line it read. */
int run_halving_answer(const void *q, size_t qlen, void *a, size_t acap,
                       size_t *alen, void *arg);
/* How long such a lane waits for rank 0's answer before its job goes on
 * (the answer takes 20 us to a few ms; the lane reads no output meanwhile) */
#define RUN_ASK_TIMEOUT 2.0
/* The rungs as they ran, before the --best table. */
void run_halving_summary(const run_state *s, FILE *f);

/* ---------------------------------------------------------------- run_pipe.c */

typedef struct run_pipe run_pipe;
/* --pipe: starts reading stdin (after the records are open); from now on
 * in.njobs counts the chunks known. 0, or -1 with err set. */
int run_pipe_start(run_state *s, run_err err);
/* Is job `next` known? Without --pipe: next < in.njobs. With it: pops the
 * next chunk when there is one (waiting up to a tick when `idle`: no job
 * is running), so in.njobs and torun grow; a chunk --resume finds logged
 * is marked in skip. */
int run_job_known(run_state *s, size_t next, int idle);
/* --pipe: may more chunks come (and may jobs still start)? */
int run_pipe_more(run_state *s);
/* Gives job j its chunk (the one run_job_known popped). */
void run_pipe_take(run_state *s, job *j);
/* Stops the reader and frees what is left; s->pipe may be NULL. */
void run_pipe_stop(run_state *s);
/* --cat, --fifo: the descriptor a job gets its chunk on; 0: stdin. */
int run_pipe_chunk_fd(const run_state *s);

/* ---------------------------------------------------------------- run_job.c */

/* Descriptors every job inherits (the run's lock: run_record.h), at most
 * two, each above 2; unless run_exec.close_fds. Called before the first
 * job, never while jobs start. */
void run_job_inherit(const int *fds, size_t n);
/* The lowest descriptor above 2 that no job inherits: where --cat's and
 * --fifo's chunk reaches a job. */
int run_job_chunk_fd(void);

/* ---------------------------------------------------------------- output */

/* --eta: GNU's list of computers, before the first job. */
void run_progress_start(run_state *s);
/* Prints the progress (main thread): the bar on a terminal, else a line
 * now and then, or GNU's --bar / --eta; `final` once at the end. */
void run_progress(run_state *s, int final);
/* Prints a finished job's output, unless it was printed as it came. */
void run_print_job(run_state *s, const job *j);
/* Takes the progress bar off the terminal; the caller holds out_lock. */
void run_bar_clear(run_state *s);
/* -v, -t: prints a job's command line (tagged unless tag is NULL) on f. */
void run_print_command(run_state *s, const char *tag, FILE *f,
                       const char *line);
/* Prints GNU-style messages to stderr as they are, clearing the bar. */
void run_print_status(run_state *s, const char *text);
/* At the end, on a terminal: the jobs that failed, at most a few by name. */
void run_print_failed(run_state *s);

/* --line-buffer: run_print_line is the run_line_fn of job `index`. */
typedef struct run_line_ctx {
  run_state *s;
  const char *tag;
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
