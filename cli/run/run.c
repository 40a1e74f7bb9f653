/* run.c -- `parc run`: the jobs on a libparc pool (run_args.c has already
 * parsed and checked the command line).
 *
 * The main thread owns every record: it submits jobs as futures (at most
 * two per lane ahead, so a stop or a halt leaves little queued), waits for
 * whichever finishes first (parc_wait_any), and then logs, prints, retries
 * or halts. A lane (a pool worker) takes the lowest free slot, expands
 * its job's command, runs it to its end (run_job.c), runs it again at once
 * while it fails and --retries allows (GNU's order: before the next job),
 * and touches nothing shared but counters, flags and the slots; --halt,
 * --delay, --memfree and --timeout N% are run_limits.c.
 *
 * SIGINT and SIGTERM are blocked in every thread and taken by one thread
 * with sigwait, set up first of all, so that no signal finds parc with
 * its default action. The first sets `stopping` and wakes every lane's
 * poll (stop_fd), the second wakes them again to kill (kill_fd). The main
 * thread sees `stopping` within one tick of its wait (100 ms). A signal
 * while the command line and inputs are read (stdin may never end), when
 * nothing is written yet, ends parc at once with 128 + the signal; one
 * during the rest of the set-up (the lock, the repairs of --resume) is
 * honoured once that is done: no job starts, parc exits the same way.
 *
 * With --resume, which jobs are done is decided for all of them before
 * the first starts, so that the job log's lines of jobs that must run
 * again are dropped first (run_joblog.c). The records' lock is handed to
 * every job (run_job_inherit).
 *
 * Under mpirun (parc-run-mpi, run_main with a run_mpi) the same loop runs
 * on rank 0 over a PARC_MPI pool whose workers are the other ranks' lanes;
 * run_ranks.c holds what differs. What the user sees while the jobs run,
 * their output and the progress, is run_output.c; the state all three
 * share is run_state.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "run_memory.h"
#include "run_record.h"
#include "run_perl.h"
#include "run_state.h"

extern char **environ;

#define TICK 0.1 /* seconds between looks at signals and progress */
#define EXIT_USAGE CLI_EXIT_USAGE_RUN /* GNU parallel's: common/cli.h */
#define MAX_FAIL_EXIT 101

/* ------------------------------------------------------------ environment */

static int env_is(const char *e, const char *name) {
  size_t n = strlen(name);
  return strncmp(e, name, n) == 0 && e[n] == '=';
}

static const char *const THREAD_VARS[] = {
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"};

/* The environment of every job, less the per-job PARC_JOB, PARC_SLOT,
 * PARALLEL_SEQ and PARALLEL_JOBSLOT and, under mpirun, the launcher's
 * variables (run_ranks_launcher_var). */
static int build_env(run_state *s) {
  size_t n = 0;
  while (environ[n]) n++;
  s->env = calloc(n + 5, sizeof *s->env);
  if (s->env == NULL)
    return -1;
  unsigned inner = s->o.inner_threads;
  int explicit_inner = inner != 0;
  if (!explicit_inner) {
    inner = parc_physical_cores() / s->o.jobs;
    if (inner == 0)
      inner = 1;
  }
  int have[3] = {0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    const char *e = environ[i];
    int drop = env_is(e, "PARC_JOB") || env_is(e, "PARC_SLOT") ||
               env_is(e, "PARALLEL_SEQ") || env_is(e, "PARALLEL_JOBSLOT") ||
               env_is(e, "PARALLEL_PID") ||
               (s->mpi && run_ranks_launcher_var(e));
    for (int k = 0; k < 3; k++)
      if (env_is(e, THREAD_VARS[k])) {
        have[k] = 1;
        drop |= explicit_inner;
      }
    if (!drop)
      s->env[s->nenv++] = (char *)e;
  }
  s->env_own = s->nenv;
  for (int k = 0; k < 3; k++)
    if (explicit_inner || !have[k]) {
      char buf[64];
      snprintf(buf, sizeof buf, "%s=%u", THREAD_VARS[k], inner);
      if ((s->env[s->nenv++] = strdup(buf)) == NULL)
        return -1;
    }
  char pid[48]; /* GNU parallel's, for scripts that use it */
  snprintf(pid, sizeof pid, "PARALLEL_PID=%ld", (long)getpid());
  return (s->env[s->nenv++] = strdup(pid)) == NULL ? -1 : 0;
}

/* ------------------------------------------------------------ one lane */

static void stop_lanes(run_state *s, int fd) {
  uint64_t one = 1;
  atomic_store(&s->sig.stopping, 1);
  if (write(fd, &one, sizeof one) < 0) {
    /* an eventfd write fails only on overflow: it is readable then anyway */
  }
}

/* {= =} code died: GNU stops there -- no job starts any more, and parc
 * exits 255 (the code's message is on stderr). */
static void perl_code_died(run_state *s) {
  atomic_store(&s->perl_died, 1);
  atomic_store(&s->closed, 1);
}

/* --tag: the job's values; --tagstring: its replacement strings. */
char *run_job_tag(run_state *s, size_t index, unsigned slot) {
  return run_expand_joined(s, s->tag_tmpl, index, slot);
}

char *run_expand_joined(run_state *s, const run_template *t, size_t index,
                        unsigned slot) {
  char **argv, *line;
  /* {= skip() =} in a tag (RUN_EXPAND_SKIP) leaves the tag as it is; code
   * that died stops the run, as in the command (run_tag_died) */
  int ex = t ? run_template_expand(t, &s->in, index, slot, &argv, &line) : -1;
  if (ex == RUN_EXPAND_DIED)
    perl_code_died(s);
  if (ex < 0 || ex == RUN_EXPAND_DIED)
    return NULL;
  run_buf b = {0};
  for (size_t i = 0; argv[i] && argv[i + 1]; i++) /* the last is {#} */
    if ((i && run_buf_add(&b, " ", 1)) || run_buf_str(&b, argv[i]))
      break;
  free(argv);
  free(line);
  if (b.data == NULL)
    run_buf_add(&b, "", 0);
  return b.data;
}

/* --nice N: the lane runs at niceness N from its first job on, and its
 * jobs with it: on Linux a niceness is a thread's, and a process started
 * by a thread (posix_spawn) begins with that thread's. A lane only waits
 * for its job, so its own priority does not matter. A niceness parc may
 * not take (below its own, without the privilege) leaves the jobs at
 * parc's, said once on stderr. */
static void lane_nice(run_state *s) {
  static _Thread_local int done;
  static atomic_int warned;
  if (s->o.nice == 0 || done)
    return;
  done = 1;
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), s->o.nice) != 0 &&
      !atomic_exchange(&warned, 1)) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "parc run: --nice %d: %s; the jobs run at parc's niceness\n",
             s->o.nice, strerror(errno));
    run_print_status(s, msg);
  }
}

/* A job whose command was not made: {= skip() =} (GNU runs nothing and
 * logs Exitval -2, a failure), {= =} code that died (said on stderr; GNU
 * stops there: no job starts any more and parc exits 255), or no memory. */
static void lane_not_run(run_state *s, job *j, int ex, char **argv,
                         char *line) {
  free(argv);
  j->res.start = run_wall_now();
  if (ex == RUN_EXPAND_SKIP) {
    j->res.exit_code = -2;
    free(j->line);
    j->line = line;
  } else if (ex == RUN_EXPAND_DIED) {
    perl_code_died(s);
    j->res.exit_code = 255;
    j->res.stopped = 1; /* neither recorded nor counted */
  } else {
    j->res.exit_code = 127;
    run_buf_str(&j->res.err, "parc run: out of memory\n");
  }
}

/* Runs job j (run_state.h); the MPI pool's task (run_ranks.c) calls it too. */
void run_lane_exec(run_state *s, job *j, unsigned slot) {
  char **argv, *line, job_var[40], slot_var[40], seq_var[48], jslot_var[48];
  int ex = run_template_expand(s->tmpl, &s->in, j->index, slot, &argv, &line);
  if (ex != 0) {
    lane_not_run(s, j, ex, argv, line);
    return;
  }
  if (s->o.pipe && j->chunk.len == 0) { /* --rrs left nothing of it */
    free(argv); /* GNU starts no command for it: the job succeeds */
    free(j->line);
    j->line = line;
    j->res.start = run_wall_now();
    return;
  }
  char **envp = malloc((s->nenv + 5) * sizeof *envp);
  if (envp == NULL) {
    free(argv);
    free(line);
    j->res.exit_code = 127;
    run_buf_str(&j->res.err, "parc run: out of memory\n");
    return;
  }
  memcpy(envp, s->env, s->nenv * sizeof *envp);
  snprintf(job_var, sizeof job_var, "PARC_JOB=%zu", j->index + 1);
  snprintf(slot_var, sizeof slot_var, "PARC_SLOT=%u", slot);
  snprintf(seq_var, sizeof seq_var, "PARALLEL_SEQ=%zu", j->index + 1);
  snprintf(jslot_var, sizeof jslot_var, "PARALLEL_JOBSLOT=%u", slot);
  envp[s->nenv] = job_var;
  envp[s->nenv + 1] = slot_var;
  envp[s->nenv + 2] = seq_var;
  envp[s->nenv + 3] = jslot_var;
  envp[s->nenv + 4] = NULL;
  free(j->tag);
  j->tag = run_job_tag(s, j->index, slot);
  if (atomic_load(&s->perl_died)) { /* the tag's {= =} code died */
    free(envp);
    free(line);
    lane_not_run(s, j, RUN_EXPAND_DIED, argv, NULL);
    return;
  }
  atomic_store(&s->newest, j->index + 1);
  /* -t: the command on stderr as it starts, untagged (GNU's); -v: before
   * its output, printed now when the output is */
  const char *how = s->o.memory && (s->o.verbose & RUN_VERBOSE_STDERR)
                        ? run_memory_note()
                        : NULL; /* the first job's */
  if (how)
    run_print_status(s, how);
  if (s->o.verbose & RUN_VERBOSE_STDERR)
    run_print_command(s, NULL, stderr, line);
  if ((s->o.verbose & RUN_VERBOSE_STDOUT) &&
      (s->o.ungroup || (s->o.line_buffer && !s->mpi)))
    run_print_command(s, j->tag, stdout, line);
  run_pass_turn(s, j);
  run_line_ctx lc = {s, j->tag};
  /* Under mpirun the rank's descriptors are MPI's and its launcher's
   * (opened at any time: connections are made on first use), which a job
   * must not hold: Hydra waits for every copy of its pipes to close. */
  run_exec x = {argv,
                envp,
                s->o.timeout,
                s->o.grace,
                &s->sig,
                s->o.line_buffer && !s->mpi ? run_print_line : NULL,
                &lc,
                s->mpi != NULL,
                s->o.ungroup,
                s->slot_fd && slot <= s->nslots ? s->slot_fd[slot - 1] : -1,
                j->chunk.data,
                j->chunk.len,
                s->o.wd,
                NULL,
                NULL,
                0,
                s->o.pipe ? run_pipe_chunk_fd(s) : 0,
                s->o.chunk_as == RUN_CHUNK_CAT};
  lane_nice(s);
  run_halving_lane hl = {s, j, x.job_stop_fd};
  if (s->o.halving) /* s->halving is rank 0's under mpirun */
    x.watch_fn = run_halving_watch, x.watch_arg = &hl;
  /* --memory: the attempt's limit (job_task raises it for --retry-memory;
   * under mpirun a rank runs each attempt with --memory's) */
  x.mem_limit = j->res.mem_limit ? j->res.mem_limit : s->o.memory;
  long long pct_us = atomic_load(&s->pct_timeout_us);
  if (s->o.timeout_pct > 0 && pct_us > 0)
    x.timeout = (double)pct_us / 1e6;
  atomic_fetch_add(&s->running, 1);
  run_job_exec(&x, &j->res);
  atomic_fetch_sub(&s->running, 1);
  free(envp);
  free(argv);
  free(j->line);
  j->line = line;
}

/* The task on a thread pool: the job itself travels (a pointer). */
/* Another attempt for a failed job, at once (GNU's order): while
 * --retries allows and nothing stops parc. */
static int retry_now(run_state *s, const job *j) {
  return run_job_failed(&j->res) && j->attempt < s->o.retries &&
         !j->res.stopped && !atomic_load(&s->sig.stopping) &&
         !atomic_load(&s->closed) && atomic_load(&s->signo) == 0;
}

/* --retry-memory: the limit of another attempt for a job that ran out of
 * memory, at once and not counted by --retries, while its limit had not
 * reached the machine's memory; or 0. */
static unsigned long long retry_memory(run_state *s, const job *j) {
  if (!j->res.oom || s->o.retry_memory <= 0 || j->res.stopped ||
      atomic_load(&s->sig.stopping) || atomic_load(&s->closed) ||
      atomic_load(&s->signo) != 0)
    return 0;
  return run_memory_next(j->res.mem_limit, s->o.retry_memory,
                         run_memory_total());
}

/* --memory: the limit of the attempt that counts, and whether it ran out,
 * in results.csv. */
static void note_memory(run_state *s, job *j) {
  char note[96];
  if (s->o.memory == 0)
    return;
  snprintf(note, sizeof note, "mem_limit=%llu\noom=%d\n", j->res.mem_limit,
           j->res.oom);
  run_buf_str(&j->res.notes, note);
}

static int job_task(const void *in, void *out, void *ctx) {
  run_state *s = ctx;
  job *j = *(job *const *)in;
  (void)out;
  unsigned slot = run_start(s, j);
  if (slot == 0) {
    j->not_started = 1;
    return 0;
  }
  j->res.mem_limit = s->o.memory;
  run_lane_exec(s, j, slot);
  run_pass_turn(s, j); /* if the job ended before its command ran */
  for (;;) {
    unsigned long long more = retry_memory(s, j);
    if (!(more || retry_now(s, j)) || !run_wait_to_start(s))
      break;
    if (more) { /* says so now: the job's output comes at its end */
      char msg[160];
      run_memory_message(msg, sizeof msg, j->index, j->res.mem_limit, more);
      run_print_status(s, msg);
      j->res.mem_limit = more;
    } else {
      j->attempt++;
    }
    j->res.out.len = j->res.err.len = 0;
    j->res.timed_out = j->res.stopped = 0;
    run_slot_again(s, slot, j);
    run_lane_exec(s, j, slot);
  }
  run_slot_give(s, slot);
  run_count_result(s, j);
  return 0;
}

/* ------------------------------------------------------------ the loop */

typedef struct flight { /* jobs submitted and not yet handled */
  parc_future **fut;
  job **job;
  size_t n, cap;
} flight;

static void job_free(job *j) {
  run_buf_free(&j->res.out);
  run_buf_free(&j->res.err);
  run_buf_free(&j->res.notes);
  run_buf_free(&j->chunk); /* --pipe */
  free(j->line);
  free(j->tag);
  free(j);
}

static int submit(run_state *s, parc_pool *pool, flight *fl, job *j) {
  parc_future *f;
  j->turn = s->turns_given; /* a lane retries its job itself: once */
  int rc = s->mpi ? run_ranks_submit(pool, j, &f)
                  : parc_submit(pool, job_task, &j, sizeof j, 0, &f);
  if (rc != 0)
    return -1;
  s->turns_given++;
  fl->fut[fl->n] = f;
  fl->job[fl->n++] = j;
  return 0;
}

/* Prints a job's output, then writes its job log line (GNU's order);
 * silent: --halt now was reached, and GNU prints and logs no more then. */
static void print_job(run_state *s, job *j, int silent) {
  if (silent)
    return;
  run_print_job(s, j);
  run_err err = "";
  if (run_records_commit(s->rec, j->index, err) != 0) {
    pthread_mutex_lock(&s->out_lock);
    run_bar_clear(s);
    fprintf(stderr, "parc run: %s; starting no more jobs\n", err);
    pthread_mutex_unlock(&s->out_lock);
    s->fatal = 1;
    atomic_store(&s->closed, 1);
  }
}

/* -k: the jobs in input order (a run_fifo of job *), printed from the
 * front as it is done. */
static void order_flush(run_state *s, run_fifo *o, int silent) {
  while (o->n > 0 && (*(job **)run_fifo_front(o))->done) {
    job *j = *(job **)run_fifo_front(o);
    run_fifo_pop(o);
    print_job(s, j, silent);
    job_free(j);
  }
}

/* The SIGINT/SIGTERM parc has had, taken or still pending, or 0. (Blocked
 * in every thread, a signal is pending until the signal thread takes it.) */
static int signal_seen(run_state *s) {
  int sig = atomic_load(&s->signo);
  sigset_t p;
  if (sig == 0 && sigpending(&p) == 0)
    sig = sigismember(&p, SIGINT) == 1    ? SIGINT
          : sigismember(&p, SIGTERM) == 1 ? SIGTERM
                                          : 0;
  return sig;
}

/* GNU's warning when it killed a job, before the job's output. */
static void warn_killed(run_state *s, const job *j, const char *why) {
  run_buf b = {0};
  run_buf_str(&b, "parc run: Warning: This job was killed because ");
  run_buf_str(&b, why);
  run_buf_str(&b, ":\nparc run: Warning: ");
  run_buf_str(&b, j->line ? j->line : "");
  run_buf_str(&b, "\n");
  if (b.data)
    run_print_status(s, b.data);
  run_buf_free(&b);
}

/* The summary at the end names the first few failed jobs. */
static void keep_failed(run_state *s, const job *j) {
  if (s->nfailed_kept == RUN_FAILED_SHOWN)
    return;
  run_failed *f = &s->failed[s->nfailed_kept];
  *f = (run_failed){j->index, j->res.exit_code, j->res.signal, j->res.timed_out,
                    j->line ? strdup(j->line) : NULL};
  s->nfailed_kept++;
}

/* A job's future has finished: record it, or run it again. Returns 1 if
 * the job was resubmitted, 2 if it was stopped (or never started), else
 * 0 (recorded); the caller frees or orders it.
 * A job that fails once parc has a SIGINT/SIGTERM counts as stopped even
 * if its lane did not stop it: the signal may have reached the job first
 * (srun, scancel and Slurm's time limit signal every process of the step,
 * deepest first), and its failure is then not its own. */
static int finish(run_state *s, parc_pool *pool, flight *fl, job *j) {
  run_result *r = &j->res;
  int failed = run_job_failed(r);
  int stopped = r->stopped || (failed && signal_seen(s) != 0);
  if (j->not_started || (stopped && failed)) {
    s->nstopped++;
    return 2;
  }
  /* mpirun: nothing is queued on a rank, so a resubmitted job runs next */
  unsigned long long more = s->mpi ? retry_memory(s, j) : 0;
  if (more) { /* mpirun: again at once with more memory, as a lane would */
    char msg[160];
    run_memory_message(msg, sizeof msg, j->index, r->mem_limit, more);
    run_print_status(s, msg);
    r->mem_limit = more;
    r->out.len = r->err.len = 0;
    r->timed_out = r->stopped = r->oom = 0;
    if (submit(s, pool, fl, j) == 0)
      return 1;
  }
  if (s->mpi && failed && j->attempt < s->o.retries &&
      !atomic_load(&s->sig.stopping) && !atomic_load(&s->closed)) {
    j->attempt++;
    r->out.len = r->err.len = 0;
    r->timed_out = r->stopped = 0;
    if (submit(s, pool, fl, j) == 0)
      return 1;
  }
  if (s->mpi)
    run_count_result(s, j); /* the lanes are on other ranks */
  s->nstarted += j->attempt;
  if (r->timed_out)
    warn_killed(s, j, "it timed out");
  else if (atomic_load(&j->mem_killed))
    warn_killed(s, j, "free memory fell under half of --memfree");
  char oom[160]; /* --memory: it ran out (no more --retry-memory) */
  if (r->oom && run_memory_message(oom, sizeof oom, j->index, r->mem_limit, 0))
    run_print_status(s, oom);
  note_memory(s, j); /* --memory: the limit and oom in results.csv */
  if (s->halving)
    run_halving_note(s, j); /* its rung in results.csv */
  run_err err = "";
  if (run_records_add(s->rec, j->index, j->line ? j->line : "", r, err)) {
    pthread_mutex_lock(&s->out_lock);
    run_bar_clear(s);
    fprintf(stderr, "parc run: %s; starting no more jobs\n", err);
    pthread_mutex_unlock(&s->out_lock);
    s->fatal = 1;
  }
  s->ndone++;
  s->nfailed += failed;
  if (failed)
    keep_failed(s, j);
  else
    run_note_runtime(s, r->runtime);
  if (s->fatal)
    atomic_store(&s->closed, 1); /* queued jobs do not start */
  return 0;
}

static int skipped(const run_state *s, size_t i) {
  return s->skip && (s->skip[i / 8] >> (i % 8) & 1);
}

/* --shuf: the jobs in a random order (run_perm: no table of them, however
 * many), from --seed when given, else from the clock: GNU's order too
 * changes from run to run. */
static void shuffle_set_up(run_state *s) {
  unsigned long long seed = s->o.seed;
  if (seed == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (unsigned long long)ts.tv_sec * 1000000007ull +
           (unsigned long long)ts.tv_nsec;
  }
  run_perm_init(&s->shuf, seed, 0x5875666c, s->in.njobs);
}

/* The index of the next job to run in *i: in order, skipping what resume
 * says is done; with --halving, the one the rungs want. 0: none now. */
static int next_index(run_state *s, size_t *next, size_t *i) {
  if (s->halving)
    return run_halving_next(s, i);
  while (run_job_known(s, *next, 0)) { /* --pipe grows in.njobs */
    *i = s->o.shuf ? (size_t)run_perm_at(&s->shuf, (*next)++) : (*next)++;
    if (!skipped(s, *i))
      return 1;
    s->torun--;
  }
  return 0;
}

/* Takes the next job to run. */
static job *next_job(run_state *s, size_t *next) {
  size_t i;
  while (next_index(s, next, &i)) {
    if (s->o.dry_run) {
      /* GNU's {%} in a dry run: 1, 2, 1, 2 ... (1 with -j1) */
      unsigned slot = s->o.jobs < 2 ? 1 : (unsigned)(i % 2) + 1;
      char **argv, *line, *tag = run_job_tag(s, i, slot);
      int ex = atomic_load(&s->perl_died) /* the tag's code died */
                   ? RUN_EXPAND_DIED
                   : run_template_expand(s->tmpl, &s->in, i, slot, &argv,
                                         &line);
      if (ex < 0 || ex == RUN_EXPAND_DIED) {
        if (ex == RUN_EXPAND_DIED)
          perl_code_died(s);
        free(tag);
        return NULL;
      }
      s->nfailed += ex == RUN_EXPAND_SKIP; /* {= skip() =}: GNU counts it */
      printf("%s%s%s\n", tag ? tag : "", tag ? "\t" : "", line);
      free(argv);
      free(line);
      free(tag);
      continue;
    }
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
      return NULL;
    j->index = i;
    j->attempt = 1;
    run_pipe_take(s, j); /* --pipe: its chunk */
    return j;
  }
  return NULL;
}

/* Is parc stopping the running jobs for --halt now (not for a signal)? */
static int halting_now(run_state *s) {
  return s->o.halt == HALT_NOW && atomic_load(&s->closed) &&
         atomic_load(&s->sig.stopping) && atomic_load(&s->signo) == 0;
}

static void drive(run_state *s, parc_pool *pool, flight *fl, run_fifo *od) {
  size_t next = 0;
  int dropped = 0; /* -k: a job killed by --halt now: print nothing more */
  for (;;) {
    int accepting = !atomic_load(&s->sig.stopping) && !atomic_load(&s->closed);
    /* with --pipe, jobs become known as stdin's chunks are read */
    while (accepting && fl->n < fl->cap &&
           (s->halving || run_job_known(s, next, fl->n == 0))) {
      job *j = next_job(s, &next);
      if (j == NULL)
        break;
      if ((s->o.keep_order && run_fifo_push(od, &j) != 0) ||
          submit(s, pool, fl, j) != 0) {
        s->fatal = 1;
        job_free(j);
        break;
      }
    }
    if (fl->n == 0 && !run_pipe_more(s))
      break; /* --pipe */
    if (s->mpi)
      atomic_store(&s->running, (int)fl->n); /* one per lane */
    size_t k;
    if (parc_wait_any(fl->fut, fl->n, TICK, &k) != 0) {
      run_memfree_check(s);
      run_progress(s, 0);
      continue;
    }
    job *j = fl->job[k];
    if (s->mpi)
      run_ranks_collect(s, fl->fut[k], j);
    parc_future_free(fl->fut[k]);
    fl->fut[k] = fl->fut[--fl->n];
    fl->job[k] = fl->job[fl->n];
    int rc = finish(s, pool, fl, j);
    if (rc == 1)
      continue;
    if (s->halving)
      run_halving_done(s, j); /* what runs next */
    /* Once --halt now is reached GNU prints nothing more: not the jobs it
     * killed, nor (-k) what waited for them. A lane may have stopped the
     * others before this thread judged the job that reached the limit. */
    int was_halted = s->halted && s->o.halt == HALT_NOW;
    int killed = rc == 2 && halting_now(s);
    if (killed)
      dropped = 1;
    char *msg = rc == 0 && !was_halted ? run_halt_judge(s, j) : NULL;
    if (s->o.keep_order) {
      j->done = 1;
      order_flush(s, od, was_halted || dropped);
    } else {
      print_job(s, j, was_halted || killed);
      job_free(j);
    }
    if (msg)
      run_print_status(s, msg);
    free(msg);
    run_memfree_check(s);
    run_progress(s, 0);
  }
}

/* ------------------------------------------------------------ signals */

static void *signal_thread(void *arg) {
  run_state *s = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  for (int count = 0;; count++) {
    int sig, parse = RUN_PHASE_PARSE;
    if (sigwait(&set, &sig) != 0)
      continue;
    if (count == 0 &&
        atomic_compare_exchange_strong(&s->phase, &parse, RUN_PHASE_ENDING))
      _exit(128 + sig); /* nothing is written yet, nor printed */
    if (count == 0) {
      atomic_store(&s->signo, sig);
      stop_lanes(s, s->sig.stop_fd);
      run_perl_interrupt(); /* {= =} code may be busy: it ends too */
    } else {
      stop_lanes(s, s->sig.kill_fd);
    }
  }
  return NULL;
}

/* First of all: from here on SIGINT and SIGTERM are the signal thread's
 * (the jobs get default dispositions and an empty mask: run_job.c). */
static int start_signals(run_state *s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
    return -1;
  signal(SIGPIPE, SIG_IGN); /* a closed stdout fails writes, not parc */
  s->sig.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  s->sig.kill_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->sig.stop_fd < 0 || s->sig.kill_fd < 0)
    return -1;
  if (pthread_create(&s->sig_thread, NULL, signal_thread, s) != 0)
    return -1;
  s->sig_started = 1;
  return 0;
}

/* The signal thread must not outlive run_main's state (parc-run-mpi goes
 * on to MPI_Finalize); later signals stay pending, blocked. */
static void stop_signals(run_state *s) {
  if (s->sig_started) {
    pthread_cancel(s->sig_thread);
    pthread_join(s->sig_thread, NULL);
  }
  if (s->sig.stop_fd >= 0)
    close(s->sig.stop_fd);
  if (s->sig.kill_fd >= 0)
    close(s->sig.kill_fd);
}

/* The command line is read: from now on a signal is an interrupt that
 * parc honours itself. Unless the signal thread is already ending parc. */
static void end_parse_phase(run_state *s) {
  int parse = RUN_PHASE_PARSE;
  if (!atomic_compare_exchange_strong(&s->phase, &parse, RUN_PHASE_SETUP) &&
      parse == RUN_PHASE_ENDING)
    for (;;) pause(); /* until the signal thread's _exit */
}

/* ------------------------------------------------------------ main */

static int exit_status(run_state *s) {
  int sig = atomic_load(&s->signo);
  if (sig)
    return 128 + sig;
  if (atomic_load(&s->perl_died))
    return EXIT_USAGE; /* {= =} code died: GNU stops there */
  if (s->o.halt != HALT_NEVER)
    return run_halt_exit_status(s);
  if (s->nfailed)
    return s->nfailed > MAX_FAIL_EXIT ? MAX_FAIL_EXIT : (int)s->nfailed;
  return s->fatal ? 1 : 0;
}

/* Returns 0 when the jobs ran, 1 on a rank > 0 that served rank 0 until
 * it was done, -1 when they could not start (said why). */
static int run_jobs(run_state *s) {
  parc_pool *pool = NULL;
  parc_pool_opts po = {.backend = s->mpi ? PARC_MPI : PARC_THREADS,
                       .workers = s->o.jobs,
                       .ctx = s,
                       .answer = s->mpi && s->o.halving ? run_halving_answer
                                                        : NULL,
                       .answer_arg = s};
  flight fl = {0};
  run_fifo od = {.size = sizeof(job *)};
  int rc = s->o.dry_run ? 0 : parc_pool_create(&pool, &po);
  if (rc == PARC_ESERVED)
    return 1;
  if (rc != 0) {
    fprintf(stderr, "parc run: cannot start: %s\n", cli_strerror(rc));
    return -1;
  }
  size_t lanes = pool ? parc_pool_workers(pool) : s->o.jobs;
  /* mpirun: nothing queued on a rank; --halving async decides each job
   * when a lane is free, on every result in by then */
  fl.cap = s->mpi || s->o.halving == HALVING_ASYNC ? lanes : 2 * lanes;
  fl.fut = calloc(fl.cap + 1, sizeof *fl.fut);
  fl.job = calloc(fl.cap + 1, sizeof *fl.job);
  if (s->mpi && s->mpi->rank == 0)
    s->wire = malloc(run_wire_res_size());
  if (!fl.fut || !fl.job || (s->mpi && !s->wire)) {
    fputs("parc run: cannot start: out of memory\n", stderr);
    rc = -1;
  } else {
    s->t0 = s->last_plain = run_wall_now();
    run_progress_start(s);
    drive(s, pool, &fl, &od);
    run_progress(s, 1);
  }
  parc_pool_destroy(pool);
  free(fl.fut);
  free(fl.job);
  run_fifo_free(&od);
  return rc;
}

/* --resume (rank 0): which jobs are done, decided for all of them before
 * any runs, then the job log's lines of those that run again dropped. */
static int plan_resume(run_state *s, run_err err) {
  if (!(s->o.resume || s->o.resume_failed) || (s->mpi && s->mpi->rank > 0))
    return 0;
  if ((s->skip = calloc(s->in.njobs / 8 + 1, 1)) == NULL)
    return run_fail(err, "out of memory");
  for (size_t i = 0; i < s->in.njobs; i++) {
    char **argv, *line;
    int ex = run_template_expand(s->tmpl, &s->in, i, 0, &argv, &line);
    if (ex == RUN_EXPAND_DIED)
      return perl_code_died(s), -1; /* said on stderr */
    if (ex < 0)
      return run_fail(err, "out of memory");
    int done = run_records_skip(s->rec, i, line);
    free(argv);
    free(line);
    if (done < 0)
      return run_fail(err, "out of memory");
    s->skip[i / 8] |= (unsigned char)(done << (i % 8));
  }
  return s->o.dry_run ? 0 : run_records_repair(s->rec, err);
}

/* The records: locked, cleaned up after a crash, read for --resume.
 * Returns 0, or an exit status with the reason in err. */
static int open_records(run_state *s, run_err err) {
  int rank = s->mpi ? s->mpi->rank : 0;
  int writing = !s->o.dry_run && rank == 0;
  run_record_opts ro = {s->o.joblog, s->o.results, s->o.resume,
                        s->o.resume_failed, s->o.resume_by == RESUME_BY_SEQ};
  if (!writing)
    ro.joblog = ro.results_dir = NULL;
  if (s->o.dry_run && rank == 0 && (s->o.resume || s->o.resume_failed)) {
    ro.joblog = s->o.joblog; /* read only: what the resume would run */
    ro.results_dir = s->o.results;
  }
  run_joblog_memory(s->o.memory != 0); /* a new log's columns */
  int rc = run_records_start(&s->rec, &s->in, &ro, writing, err);
  if (rc == RUN_RECORDS_BUSY)
    s->plain_err = 1; /* not bad usage */
  if (rc != 0)
    return EXIT_USAGE;
  if (plan_resume(s, err) != 0)
    return atomic_load(&s->perl_died) ? EXIT_USAGE : 1;
  int fds[2]; /* after the repair: it may have replaced the log's lock */
  run_job_inherit(fds, run_records_lock_fds(s->rec, fds));
  return 0;
}

/* --tag and --bar: a job's values ({}); --tagstring: its own. The {#}
 * after each keeps a lone word from taking the values as arguments. Each
 * job takes the values it takes in the command (-n, -N), unquoted; the
 * parse must not change the jobs (it counts them: a copy of the inputs). */
static int set_up_tags(run_state *s, run_err err) {
  run_template_opts plain = s->o.tmpl;
  plain.shell = plain.quote = 0;
  plain.text = 1;
  char all[] = "{}", seq[] = "{#}";
  char *words[2] = {all, seq};
  run_inputs in = s->in;
  if ((s->o.tag || s->o.bar) &&
      run_template_parse(&s->args_tmpl, words, 2, &plain, &in, err) != 0)
    return EXIT_USAGE;
  words[0] = (char *)s->o.tagstring;
  in = s->in;
  if (s->o.tagstring &&
      run_template_parse(&s->tag_tmpl, words, 2, &plain, &in, err) != 0)
    return EXIT_USAGE;
  if (s->o.tag && s->tag_tmpl == NULL)
    s->tag_tmpl = s->args_tmpl;
  return 0;
}

/* Everything before the jobs: the command line, the records, the jobs'
 * environment. Returns 0; -1 for --help, -2 for --version; or an exit
 * status with the reason in err (EXIT_USAGE: bad usage); a signal during
 * it: 0, and run_main honours it. */
static int set_up(run_state *s, int argc, char **argv, run_err err) {
  int rc = run_parse_args(&s->o, &s->in, &s->tmpl, argc, argv, err);
  if (rc == 0 && run_records_prepare(&s->o, &s->in, &s->tmpl, err) != 0)
    rc = -1; /* --retry-failed's jobs; --pipe resumes by Seq */
  end_parse_phase(s);
  if (rc != 0)
    return rc == 1 || rc == 2 ? -rc : EXIT_USAGE;
  if (signal_seen(s))
    return 0; /* (mpirun: no phase that ends at once) */
  if ((rc = open_records(s, err)) != 0)
    return rc;
  if (s->o.shuf)
    shuffle_set_up(s);
  if (run_halving_set_up(s, err) != 0)
    return EXIT_USAGE;
  if (s->o.pipe && run_pipe_start(s, err) != 0)
    return 1; /* --pipe */
  if (build_env(s) != 0)
    return run_fail(err, "out of memory"), 1;
  if (s->mpi && run_ranks_set_up(s) != 0)
    return run_fail(err, "out of memory"), 1;
  if (run_slots_set_up(s) != 0)
    return run_fail(err, "cannot set up the slots: %s", strerror(errno)), 1;
  return set_up_tags(s, err);
}

/* Under mpirun: do all ranks see the same jobs? Returns rc, or the exit
 * status when they do not (err set where this rank has something to say;
 * a rank > 0 is silent when rank 0 could not start, which says why). */
static int agree(run_state *s, int rc, run_err err) {
  int a = s->mpi->agree(rc == 0, rc == 0 ? run_ranks_digest(&s->in) : 0);
  if ((a & RUN_AGREE_RANK0) && s->mpi->rank > 0)
    return err[0] = '\0', rc ? rc : EXIT_USAGE;
  if (rc != 0 || a == 0)
    return rc;
  err[0] = '\0';
  if (s->mpi->rank == 0)
    run_fail(err, "not every rank could set up the same jobs; nothing ran "
                  "(inputs must be ::: lists or files that are the same on "
                  "every node, not stdin)");
  else if (a & RUN_AGREE_DIFFERS)
    run_fail(err, "this rank sees other jobs than rank 0");
  return EXIT_USAGE;
}

static void say_error(const run_state *s, int rc, const char *err) {
  if (err[0] == '\0')
    return;
  if (s->mpi && s->mpi->rank > 0)
    fprintf(stderr, "parc run (rank %d): %s\n", s->mpi->rank, err);
  else if (rc == EXIT_USAGE && !s->plain_err)
    cli_usage_error(&run_cmd, "%s", err);
  else
    fprintf(stderr, "parc run: %s\n", err);
}

int run_main(int argc, char **argv, const run_mpi *m) {
  run_state s = {
      .mpi = m, .sig = {.stop_fd = -1, .kill_fd = -1}, .halt_status = -1};
  int rank = m ? m->rank : 0;
  run_err err = "";
  /* Under mpirun every rank must reach agree(): no ending at once. */
  atomic_init(&s.phase, m ? RUN_PHASE_SETUP : RUN_PHASE_PARSE);
  if (start_signals(&s) != 0) {
    fprintf(stderr, "parc run: cannot start: %s\n", strerror(errno));
    stop_signals(&s);
    return 1;
  }
  pthread_mutex_init(&s.out_lock, NULL);
  pthread_mutex_init(&s.slot_lock, NULL);
  pthread_mutex_init(&s.delay_lock, NULL);
  pthread_mutex_init(&s.start_lock, NULL);
  pthread_cond_init(&s.start_turn, NULL);
  int rc = set_up(&s, argc, argv, err);
  if (rc == -1 || rc == -2) {
    if (rank == 0 && rc == -1)
      fputs(RUN_USAGE, stdout);
    if (rank == 0 && rc == -2)
      printf("parc run %d.%d.%d (a drop-in for GNU parallel: "
             "docs/parc-run.md)\n",
             PARC_VERSION_MAJOR, PARC_VERSION_MINOR, PARC_VERSION_PATCH);
    rc = 0;
    goto out;
  }
  int sig = rc == 0 ? signal_seen(&s) : 0;
  if (sig)
    rc = 128 + sig; /* in the set-up: an interrupt, before any job */
  if (m)
    rc = agree(&s, rc, err);
  if (rc != 0) {
    say_error(&s, rc, err);
    if (rank > 0 && err[0] == '\0')
      rc = 0; /* rank 0 reports it */
    goto out;
  }
  if (s.halving == NULL)
    s.torun = s.in.njobs; /* halving: its rungs' */
  /* --halving runs torun of the grid's jobs (--halt N% counts those) */
  atomic_init(&s.njobs_known, s.halving ? s.torun : s.in.njobs);
  s.tty = rank == 0 && isatty(2);
  const char *nc = getenv("NO_COLOR");
  s.color = s.tty && (nc == NULL || *nc == '\0');
  if (rank > 0 && s.o.dry_run)
    goto out; /* rank 0 prints the commands */
  rc = run_jobs(&s);
  if (rc != 0) {
    rc = rc == 1 ? 0 : 1; /* a rank > 0 is done: rank 0 reports */
    goto out;
  }
  run_halving_summary(&s, stdout);
  if (s.o.best && !s.o.dry_run &&
      run_records_best(s.rec, stdout, s.o.best, s.o.minimize, s.o.average_over,
                       s.o.navg, s.o.halving != HALVING_NONE, err) != 0)
    fprintf(stderr, "parc run: %s\n", err);
  run_print_failed(&s);
  rc = exit_status(&s);
out:
  fflush(stdout);
  run_pipe_stop(&s); /* --pipe's reader */
  run_halving_free(&s);
  run_records_close(s.rec);
  run_template_free(s.tmpl);
  run_inputs_free(&s.in);
  run_opts_free(&s.o);
  for (size_t i = s.env_own; s.env && i < s.nenv; i++) free(s.env[i]);
  free(s.env);
  run_slots_free(&s);
  if (s.tag_tmpl != s.args_tmpl)
    run_template_free(s.tag_tmpl);
  run_template_free(s.args_tmpl);
  for (size_t i = 0; i < s.nfailed_kept; i++) free(s.failed[i].line);
  free(s.runtimes);
  free(s.wire);
  free(s.skip);
  stop_signals(&s);
  return rc;
}

int cmd_run(int argc, char **argv) { return run_main(argc, argv, NULL); }
