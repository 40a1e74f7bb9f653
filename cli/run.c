/* run.c -- `parc run`: the jobs on a libparc pool (run_args.c has already
 * parsed and checked the command line).
 *
 * The main thread owns every record: it submits jobs as futures (at most
 * two per lane ahead, so a stop or a halt leaves little queued), waits for
 * whichever finishes first (parc_wait_any), and then logs, prints, retries
 * or halts. A lane (a pool worker) expands its job's command, runs it to
 * its end (run_job.c) and touches nothing shared but three counters and
 * flags: the running count, and with --halt the failures and `closed`.
 *
 * SIGINT and SIGTERM are blocked in every thread and taken by one thread
 * with sigwait: the first sets `stopping` and wakes every lane's poll
 * (stop_fd), the second wakes them again to kill (kill_fd). The main
 * thread sees `stopping` within one tick of its wait (100 ms).
 *
 * Under mpirun (parc-run-mpi, run_main with a run_mpi) the same loop runs
 * on rank 0 over a PARC_MPI pool whose workers are the other ranks' lanes
 * (-j on each rank); rank 0 only schedules and records. Only the task's
 * encoding differs: a job goes as its index and attempt, and comes back as
 * flat bytes (run_wire.c), with the slot it ran in so rank 0 writes the
 * same command line. One job in flight per lane, so that a halt leaves
 * nothing queued. Every rank parses the same command line; before the
 * pool (collective), the ranks agree that each is ready and sees the same
 * jobs. Each rank takes its own signals (mpirun forwards them); --halt is
 * counted on rank 0, which then starts no more jobs (those running on
 * other ranks run to their end: rank 0 cannot reach them).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli.h"
#include "parc.h"
#include "run.h"

extern char **environ;

#define TICK 0.1            /* seconds between looks at signals and progress */
#define PLAIN_PROGRESS 5.0  /* seconds between plain progress lines */
#define EXIT_USAGE 2
#define MAX_FAIL_EXIT 101

typedef struct job {
  size_t index;
  unsigned attempt;     /* 1.. */
  int not_started;      /* the stop came first */
  char *line;           /* the command line that ran */
  run_result res;
  int done;             /* finished, waiting for its turn to print (-k) */
} job;

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

/* ------------------------------------------------------------ usage */

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("parc run: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see 'parc run --help')\n", stderr);
  va_end(ap);
  return EXIT_USAGE;
}

/* ------------------------------------------------------------ environment */

static int env_is(const char *e, const char *name) {
  size_t n = strlen(name);
  return strncmp(e, name, n) == 0 && e[n] == '=';
}

static const char *const THREAD_VARS[] = {"OMP_NUM_THREADS",
                                          "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS"};

/* The environment of every job, less the per-job PARC_JOB and PARC_SLOT. */
static int build_env(run_state *s) {
  size_t n = 0;
  while (environ[n]) n++;
  s->env = calloc(n + 4, sizeof *s->env);
  if (s->env == NULL) return -1;
  unsigned inner = s->o.inner_threads;
  int explicit_inner = inner != 0;
  if (!explicit_inner) {
    inner = parc_physical_cores() / s->o.jobs;
    if (inner == 0) inner = 1;
  }
  int have[3] = {0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    const char *e = environ[i];
    int drop = env_is(e, "PARC_JOB") || env_is(e, "PARC_SLOT");
    for (int k = 0; k < 3; k++)
      if (env_is(e, THREAD_VARS[k])) {
        have[k] = 1;
        drop |= explicit_inner;
      }
    if (!drop) s->env[s->nenv++] = (char *)e;
  }
  s->env_own = s->nenv;
  for (int k = 0; k < 3; k++)
    if (explicit_inner || !have[k]) {
      char buf[64];
      snprintf(buf, sizeof buf, "%s=%u", THREAD_VARS[k], inner);
      if ((s->env[s->nenv++] = strdup(buf)) == NULL) return -1;
    }
  return 0;
}

/* ------------------------------------------------------------ output */

static void clear_bar(run_state *s) {
  if (s->bar_shown) fputs("\r\033[K", stderr);
  s->bar_shown = 0;
}

static void fmt_time(char *b, size_t n, double t) {
  long v = (long)(t + 0.5);
  if (v >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else snprintf(b, n, "%ld:%02ld", v / 60, v % 60);
}

/* Prints the progress: the bar on a terminal, else a line now and then. */
static void progress(run_state *s, int final) {
  if (s->o.quiet || s->o.dry_run) return;
  double now = run_wall_now(), el = now - s->t0;
  if (!s->tty && !final && now - s->last_plain < PLAIN_PROGRESS) return;
  if (!s->tty && final && s->last_plain == s->t0) return; /* short run */
  size_t finished = s->ndone + s->nstopped;
  char elapsed[32], eta[32] = "-";
  fmt_time(elapsed, sizeof elapsed, el);
  if (s->ndone > 0 && s->torun > finished)
    fmt_time(eta, sizeof eta, el / (double)s->ndone * (double)(s->torun - finished));
  const char *red = s->color && s->nfailed ? "\033[31m" : "";
  const char *off = *red ? "\033[0m" : "";
  pthread_mutex_lock(&s->out_lock);
  if (s->tty) {
    char bar[31];
    size_t fill = s->torun ? 30 * finished / s->torun : 30;
    for (size_t i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K[%s] %zu/%zu done, %s%zu failed%s, %d running, "
            "%s elapsed, ETA %s", bar, s->ndone, s->torun, red, s->nfailed,
            off, atomic_load(&s->running), elapsed, eta);
    s->bar_shown = 1;
    if (final) {
      fputc('\n', stderr);
      s->bar_shown = 0;
    }
  } else {
    fprintf(stderr, "parc run: %zu/%zu done, %zu failed, %d running, %s "
            "elapsed, ETA %s\n", s->ndone, s->torun, s->nfailed,
            atomic_load(&s->running), elapsed, eta);
    s->last_plain = now;
  }
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

/* The --tag prefix: the job's values, space-separated, then a TAB. */
static void put_tag(const run_state *s, size_t index, FILE *f) {
  for (size_t k = 0; k < s->in.nsrc; k++)
    fprintf(f, "%s%s", k ? " " : "",
            s->in.src[k].values[run_inputs_pick(&s->in, index, k)]);
  fputc('\t', f);
}

static void put_text(const run_state *s, size_t index, FILE *f,
                     const char *p, size_t n) {
  if (n == 0) return;
  if (!s->o.tag) {
    fwrite(p, 1, n, f);
    return;
  }
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) + 1 : n;
    put_tag(s, index, f);
    fwrite(p, 1, k, f);
    p += k;
    n -= k;
  }
}

static void print_job(run_state *s, const job *j) {
  if (s->o.line_buffer && !s->mpi) return; /* printed as it came */
  pthread_mutex_lock(&s->out_lock);
  clear_bar(s);
  put_text(s, j->index, stdout, j->res.out.data, j->res.out.len);
  fflush(stdout);
  put_text(s, j->index, stderr, j->res.err.data, j->res.err.len);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

typedef struct line_ctx {
  run_state *s;
  size_t index;
} line_ctx;

static void print_line(void *arg, int fd, const char *line, size_t n) {
  line_ctx *c = arg;
  FILE *f = fd == 1 ? stdout : stderr;
  pthread_mutex_lock(&c->s->out_lock);
  clear_bar(c->s);
  put_text(c->s, c->index, f, line, n);
  fflush(f);
  pthread_mutex_unlock(&c->s->out_lock);
}

/* ------------------------------------------------------------ one lane */

/* Have `failed` failures reached --halt's limit? */
static int halt_reached(const run_state *s, size_t failed) {
  if (s->o.halt == HALT_NEVER || failed == 0) return 0;
  double limit = s->o.halt_pct ? s->o.halt_fail / 100.0 * (double)s->in.njobs
                               : s->o.halt_fail;
  return (double)failed >= limit;
}

static void stop_lanes(run_state *s, int fd) {
  uint64_t one = 1;
  atomic_store(&s->sig.stopping, 1);
  if (write(fd, &one, sizeof one) < 0) {
    /* an eventfd write fails only on overflow: it is readable then anyway */
  }
}

/* A lane counts a job's final failure itself, so that with --halt the
 * job queued behind it in the same lane does not start: the main thread
 * would learn of the failure a moment too late. */
static void count_failure(run_state *s, const job *j) {
  const run_result *r = &j->res;
  if ((r->exit_code == 0 && r->signal == 0) || r->stopped ||
      j->attempt < s->o.retries)
    return;
  size_t failed = (size_t)atomic_fetch_add(&s->lane_failures, 1) + 1;
  if (!halt_reached(s, failed)) return;
  atomic_store(&s->closed, 1);
  if (s->o.halt == HALT_NOW && !atomic_load(&s->sig.stopping))
    stop_lanes(s, s->sig.stop_fd);
}

/* Runs job j in `slot` (1-based) to its end; j->line is what ran. */
static void run_one(run_state *s, job *j, unsigned slot) {
  char **argv, *line, job_var[40], slot_var[40];
  if (run_template_expand(s->tmpl, &s->in, j->index, slot, &argv, &line)) {
    j->res.exit_code = 127;
    run_buf_str(&j->res.err, "parc run: out of memory\n");
    return;
  }
  char **envp = malloc((s->nenv + 3) * sizeof *envp);
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
  envp[s->nenv] = job_var;
  envp[s->nenv + 1] = slot_var;
  envp[s->nenv + 2] = NULL;
  line_ctx lc = {s, j->index};
  run_exec x = {argv, envp, s->o.timeout, s->o.grace, &s->sig,
                s->o.line_buffer && !s->mpi ? print_line : NULL, &lc};
  atomic_fetch_add(&s->running, 1);
  run_job_exec(&x, &j->res);
  atomic_fetch_sub(&s->running, 1);
  free(envp);
  free(argv);
  free(j->line);
  j->line = line;
}

/* The task on a thread pool: the job itself travels (a pointer). */
static int job_task(const void *in, void *out, void *ctx) {
  run_state *s = ctx;
  job *j = *(job *const *)in;
  (void)out;
  if (atomic_load(&s->sig.stopping) || atomic_load(&s->closed)) {
    j->not_started = 1;
    return 0;
  }
  run_one(s, j, (unsigned)parc_worker_id() + 1);
  count_failure(s, j);
  return 0;
}

/* ------------------------------------------------------------ mpirun */

typedef struct wire_job { /* what a job is on the wire */
  uint64_t index;
  uint32_t attempt, pad;
} wire_job;

/* The lowest free slot of this rank's lanes (as GNU parallel's {%}). */
static unsigned slot_take(run_state *s) {
  unsigned slot = (unsigned)s->nslots + 1; /* none free: an abandoned lane */
  pthread_mutex_lock(&s->slot_lock);
  for (size_t i = 0; i < s->nslots; i++)
    if (!s->slot_used[i]) {
      s->slot_used[i] = 1;
      slot = (unsigned)i + 1;
      break;
    }
  pthread_mutex_unlock(&s->slot_lock);
  return slot;
}

static void slot_give(run_state *s, unsigned slot) {
  pthread_mutex_lock(&s->slot_lock);
  if (slot >= 1 && slot <= s->nslots) s->slot_used[slot - 1] = 0;
  pthread_mutex_unlock(&s->slot_lock);
}

/* The task on an MPI pool, on a rank > 0: index and attempt in, the flat
 * result out. --halt is counted on rank 0 (finish). */
static int job_task_wire(const void *in, void *out, void *ctx) {
  run_state *s = ctx;
  wire_job w;
  memcpy(&w, in, sizeof w);
  job j = {.index = (size_t)w.index, .attempt = w.attempt};
  unsigned slot = 0;
  int not_started = atomic_load(&s->sig.stopping) != 0;
  if (!not_started) {
    slot = slot_take(s);
    run_one(s, &j, slot);
    slot_give(s, slot);
  }
  memcpy(j.res.host, s->host, sizeof j.res.host);
  run_wire_put(out, &j.res, not_started, slot);
  run_buf_free(&j.res.out);
  run_buf_free(&j.res.err);
  free(j.line);
  return 0;
}

/* Rank 0: a finished future's result into j, and the command line that
 * ran (the slot it ran in came back with it). A job whose rank was lost
 * failed, with the reason on its stderr. */
static void wire_collect(run_state *s, parc_future *f, job *j) {
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
  }
  j->not_started = not_started;
  char **argv, *line;
  if (!not_started &&
      run_template_expand(s->tmpl, &s->in, j->index, slot, &argv, &line) == 0) {
    free(argv);
    free(j->line);
    j->line = line;
  }
}

/* A digest of the jobs, which every rank must see alike. */
static uint64_t jobs_digest(const run_inputs *in) {
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

/* ------------------------------------------------------------ the loop */

typedef struct flight {   /* jobs submitted and not yet handled */
  parc_future **fut;
  job **job;
  size_t n, cap;
} flight;

typedef struct order {    /* -k: jobs in input order, printed from the front */
  job **q;
  size_t head, n, cap;
} order;

static void job_free(job *j) {
  run_buf_free(&j->res.out);
  run_buf_free(&j->res.err);
  free(j->line);
  free(j);
}

static int submit(run_state *s, parc_pool *pool, flight *fl, job *j) {
  parc_future *f;
  wire_job w = {j->index, j->attempt, 0};
  int rc = s->mpi ? parc_submit(pool, job_task_wire, &w, sizeof w,
                                run_wire_res_size(), &f)
                  : parc_submit(pool, job_task, &j, sizeof j, 0, &f);
  if (rc != 0) return -1;
  fl->fut[fl->n] = f;
  fl->job[fl->n++] = j;
  return 0;
}

static int order_push(order *o, job *j) {
  if (o->head + o->n == o->cap) {
    if (o->head > 0) {
      memmove(o->q, o->q + o->head, o->n * sizeof *o->q);
      o->head = 0;
    } else {
      size_t cap = o->cap ? 2 * o->cap : 64;
      job **q = realloc(o->q, cap * sizeof *q);
      if (q == NULL) return -1;
      o->q = q;
      o->cap = cap;
    }
  }
  o->q[o->head + o->n++] = j;
  return 0;
}

static void order_flush(run_state *s, order *o) {
  while (o->n > 0 && o->q[o->head]->done) {
    job *j = o->q[o->head++];
    o->n--;
    print_job(s, j);
    job_free(j);
  }
}


/* A job's future has finished: record it, or run it again. Returns 1 if
 * the job was resubmitted, else 0 (the caller frees or orders it). */
static int finish(run_state *s, parc_pool *pool, flight *fl, job *j) {
  run_result *r = &j->res;
  int failed = r->exit_code != 0 || r->signal != 0;
  if (j->not_started || (r->stopped && failed)) {
    s->nstopped++;
    return 0;
  }
  if (failed && j->attempt < s->o.retries && !atomic_load(&s->sig.stopping)) {
    j->attempt++;
    r->out.len = r->err.len = 0;
    r->timed_out = r->stopped = 0;
    if (submit(s, pool, fl, j) == 0) return 1;
  }
  if (s->mpi) count_failure(s, j); /* the lanes are on other ranks */
  run_err err = "";
  if (run_records_add(s->rec, j->index, j->line ? j->line : "", r, err)) {
    pthread_mutex_lock(&s->out_lock);
    clear_bar(s);
    fprintf(stderr, "parc run: %s; starting no more jobs\n", err);
    pthread_mutex_unlock(&s->out_lock);
    s->fatal = 1;
  }
  s->ndone++;
  s->nfailed += failed;
  if (s->fatal) atomic_store(&s->closed, 1); /* queued jobs do not start */
  return 0;
}

/* Takes the next job to run, skipping what resume says is done. */
static job *next_job(run_state *s, size_t *next) {
  while (*next < s->in.njobs) {
    size_t i = (*next)++;
    if (s->o.resume || s->o.resume_failed || s->o.dry_run) {
      char **argv, *line;
      if (run_template_expand(s->tmpl, &s->in, i, 0, &argv, &line) != 0)
        return NULL;
      free(argv);
      int skip = run_records_done(s->rec, line);
      if (s->o.dry_run && !skip) printf("%s\n", line);
      free(line);
      if (skip || s->o.dry_run) {
        s->torun -= skip;
        continue;
      }
    }
    job *j = calloc(1, sizeof *j);
    if (j == NULL) return NULL;
    j->index = i;
    j->attempt = 1;
    return j;
  }
  return NULL;
}

static void drive(run_state *s, parc_pool *pool, flight *fl, order *od) {
  size_t next = 0;
  for (;;) {
    int accepting = !atomic_load(&s->sig.stopping) && !atomic_load(&s->closed);
    while (accepting && fl->n < fl->cap && next < s->in.njobs) {
      job *j = next_job(s, &next);
      if (j == NULL) break;
      if ((s->o.keep_order && order_push(od, j) != 0) ||
          submit(s, pool, fl, j) != 0) {
        s->fatal = 1;
        job_free(j);
        break;
      }
    }
    if (fl->n == 0) break;
    if (s->mpi) atomic_store(&s->running, (int)fl->n); /* one per lane */
    size_t k;
    if (parc_wait_any(fl->fut, fl->n, TICK, &k) != 0) {
      progress(s, 0);
      continue;
    }
    job *j = fl->job[k];
    if (s->mpi) wire_collect(s, fl->fut[k], j);
    parc_future_free(fl->fut[k]);
    fl->fut[k] = fl->fut[--fl->n];
    fl->job[k] = fl->job[fl->n];
    if (finish(s, pool, fl, j)) continue;
    if (s->o.keep_order) {
      j->done = 1;
      order_flush(s, od);
    } else {
      print_job(s, j);
      job_free(j);
    }
    progress(s, 0);
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
    int sig;
    if (sigwait(&set, &sig) != 0) continue;
    if (count == 0) {
      atomic_store(&s->signo, sig);
      stop_lanes(s, s->sig.stop_fd);
    } else {
      stop_lanes(s, s->sig.kill_fd);
    }
  }
  return NULL;
}

static int start_signals(run_state *s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout fails writes, not parc */
  s->sig.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  s->sig.kill_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->sig.stop_fd < 0 || s->sig.kill_fd < 0) return -1;
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
  pthread_t t;
  if (pthread_create(&t, NULL, signal_thread, s) != 0) return -1;
  return pthread_detach(t);
}

/* ------------------------------------------------------------ main */

static int exit_status(run_state *s) {
  int sig = atomic_load(&s->signo);
  if (sig) return 128 + sig;
  if (s->nfailed) return s->nfailed > MAX_FAIL_EXIT ? MAX_FAIL_EXIT
                                                    : (int)s->nfailed;
  return s->fatal ? 1 : 0;
}

/* Returns 0 when the jobs ran, 1 on a rank > 0 that served rank 0 until
 * it was done, -1 when they could not start (said why). */
static int run_jobs(run_state *s) {
  parc_pool *pool = NULL;
  parc_pool_opts po = {.backend = s->mpi ? PARC_MPI : PARC_THREADS,
                       .workers = s->o.jobs, .ctx = s};
  flight fl = {0};
  order od = {0};
  int rc = s->o.dry_run ? 0 : parc_pool_create(&pool, &po);
  if (rc == PARC_ESERVED) return 1;
  if (rc != 0) {
    fprintf(stderr, "parc run: cannot start: %s\n", parc_strerror(rc));
    return -1;
  }
  size_t lanes = pool ? parc_pool_workers(pool) : s->o.jobs;
  fl.cap = s->mpi ? lanes : 2 * lanes; /* mpirun: nothing queued on a rank */
  fl.fut = calloc(fl.cap + 1, sizeof *fl.fut);
  fl.job = calloc(fl.cap + 1, sizeof *fl.job);
  if (s->mpi && s->mpi->rank == 0) s->wire = malloc(run_wire_res_size());
  if (!fl.fut || !fl.job || (s->mpi && !s->wire)) {
    fputs("parc run: cannot start: out of memory\n", stderr);
    rc = -1;
  } else {
    s->t0 = s->last_plain = run_wall_now();
    drive(s, pool, &fl, &od);
    progress(s, 1);
  }
  parc_pool_destroy(pool);
  free(fl.fut);
  free(fl.job);
  free(od.q);
  return rc;
}

/* Everything before the jobs: the command line, the records, the jobs'
 * environment, the signals. Returns 0; -1 for --help; or an exit status
 * with the reason in err (EXIT_USAGE: bad usage). */
static int set_up(run_state *s, int argc, char **argv, run_err err) {
  int rank = s->mpi ? s->mpi->rank : 0;
  int rc = run_parse_args(&s->o, &s->in, &s->tmpl, argc, argv, err);
  if (rc != 0) return rc == 1 ? -1 : EXIT_USAGE;
  run_record_opts ro = {s->o.joblog, s->o.results, s->o.resume,
                        s->o.resume_failed};
  if (s->o.dry_run || rank > 0) ro.joblog = ro.results_dir = NULL;
  if (s->o.dry_run && rank == 0 && (s->o.resume || s->o.resume_failed))
    ro.joblog = s->o.joblog;
  if (run_records_open(&s->rec, &s->in, &ro, err) != 0) return EXIT_USAGE;
  if (build_env(s) != 0) return run_fail(err, "out of memory"), 1;
  if (s->mpi) {
    char h[RUN_HOST_MAX - 16] = "";
    gethostname(h, sizeof h - 1);
    snprintf(s->host, sizeof s->host, "%s:%d", h, rank);
    s->nslots = s->o.jobs;
    if ((s->slot_used = calloc(s->nslots, 1)) == NULL)
      return run_fail(err, "out of memory"), 1;
  }
  if (!s->o.dry_run && start_signals(s) != 0)
    return run_fail(err, "cannot start: %s", strerror(errno)), 1;
  return 0;
}

/* Under mpirun: do all ranks see the same jobs? Returns rc, or the exit
 * status when they do not (err set where this rank has something to say;
 * a rank > 0 is silent when rank 0 could not start, which says why). */
static int agree(run_state *s, int rc, run_err err) {
  int a = s->mpi->agree(rc == 0, rc == 0 ? jobs_digest(&s->in) : 0);
  if ((a & RUN_AGREE_RANK0) && s->mpi->rank > 0)
    return err[0] = '\0', rc ? rc : EXIT_USAGE;
  if (rc != 0 || a == 0) return rc;
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
  if (err[0] == '\0') return;
  if (s->mpi && s->mpi->rank > 0)
    fprintf(stderr, "parc run (rank %d): %s\n", s->mpi->rank, err);
  else if (rc == EXIT_USAGE)
    usage_error("%s", err);
  else
    fprintf(stderr, "parc run: %s\n", err);
}

int run_main(int argc, char **argv, const run_mpi *m) {
  run_state s = {.mpi = m};
  int rank = m ? m->rank : 0;
  run_err err = "";
  pthread_mutex_init(&s.out_lock, NULL);
  pthread_mutex_init(&s.slot_lock, NULL);
  int rc = set_up(&s, argc, argv, err);
  if (rc == -1) {
    if (rank == 0) fputs(RUN_USAGE, stdout);
    rc = 0;
    goto out;
  }
  if (m) rc = agree(&s, rc, err);
  if (rc != 0) {
    say_error(&s, rc, err);
    if (rank > 0 && err[0] == '\0') rc = 0; /* rank 0 reports it */
    goto out;
  }
  s.torun = s.in.njobs;
  s.tty = rank == 0 && isatty(2);
  const char *nc = getenv("NO_COLOR");
  s.color = s.tty && (nc == NULL || *nc == '\0');
  if (rank > 0 && s.o.dry_run) goto out; /* rank 0 prints the commands */
  rc = run_jobs(&s);
  if (rc != 0) {
    rc = rc == 1 ? 0 : 1; /* a rank > 0 is done: rank 0 reports */
    goto out;
  }
  if (s.o.best && !s.o.dry_run &&
      run_records_best(s.rec, stdout, s.o.best, s.o.minimize, s.o.average_over,
                       s.o.navg, err) != 0)
    fprintf(stderr, "parc run: %s\n", err);
  rc = exit_status(&s);
out:
  fflush(stdout);
  run_records_close(s.rec);
  run_template_free(s.tmpl);
  run_inputs_free(&s.in);
  free(s.o.average_over);
  for (size_t i = s.env_own; s.env && i < s.nenv; i++) free(s.env[i]);
  free(s.env);
  free(s.slot_used);
  free(s.wire);
  return rc;
}

int parc_cmd_run(int argc, char **argv) { return run_main(argc, argv, NULL); }
