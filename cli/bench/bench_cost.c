/* bench_cost.c -- what it costs to start things, and to hand a pool work.
 *
 * Start-up: one operation per repetition, timed from just before the call
 * to just after it returns (they last microseconds to milliseconds, far
 * above the clock's resolution):
 *   thread       pthread_create .. pthread_join of a thread that returns
 *   process      fork .. waitpid of a child that calls _exit(0)
 *   posix_spawn  posix_spawn of /bin/true .. waitpid: exec, loader, exit
 * and a pool's life cut at four instants, seed 004's "6(7) timings":
 *   t0 parc_pool_create t1 parc_submit + parc_future_wait of an empty task
 *   t2 parc_pool_destroy t3
 * gives six intervals; the seventh, the whole program as `time` sees it,
 * is the run's own wall and CPU time (bench.c).
 *
 * Dispatch: a warm pool runs parc_map of N empty tasks (8 bytes in, 8 out)
 * with a given chunk; a repetition is one map, reported as its wall time
 * / N. N is calibrated so that a map lasts about cfg.target_s.
 */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/cli.h"
#include "parc.h"

extern char **environ;

#define MAX_TASKS ((size_t)1 << 21) /* per map: 2 x 16 MiB of in and out */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bench_fig *new_fig(bench_run *r, const char *key, const char *interval) {
  bench_fig *f = &r->fig[r->nfig++];
  snprintf(f->key, sizeof f->key, "%s", key);
  snprintf(f->interval, sizeof f->interval, "%s", interval);
  return f;
}

/* ------------------------------------------------------------ start-up */

static void *empty_thread(void *arg) { return arg; }

/* One repetition of an operation: 0 and *dt, or -1 with err filled. */
typedef int (*one_fn)(double *dt, const void *arg, char *err, size_t cap);

static int one_thread(double *dt, const void *arg, char *err, size_t cap) {
  pthread_t th;
  double t0 = now();
  int rc = pthread_create(&th, NULL, empty_thread, NULL);
  if (rc == 0)
    rc = pthread_join(th, NULL);
  *dt = now() - t0;
  if (rc != 0)
    snprintf(err, cap, "pthread_create/join: %s", strerror(rc));
  return rc == 0 ? 0 : -1;
}

static int one_fork(double *dt, const void *arg, char *err, size_t cap) {
  int st = 0;
  double t0 = now();
  pid_t pid = fork();
  if (pid == 0)
    _exit(0);
  pid_t w = pid < 0 ? -1 : waitpid(pid, &st, 0);
  *dt = now() - t0;
  if (w < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(err, cap, "fork/waitpid: %s",
             pid < 0 ? strerror(errno) : "child failed");
    return -1;
  }
  return 0;
}

static int one_spawn(double *dt, const void *arg, char *err, size_t cap) {
  char *argv[] = {(char *)arg, NULL};
  pid_t pid;
  int st = 0;
  double t0 = now();
  int rc = posix_spawn(&pid, arg, NULL, NULL, argv, environ);
  pid_t w = rc == 0 ? waitpid(pid, &st, 0) : -1;
  *dt = now() - t0;
  if (rc != 0 || w < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(err, cap, "posix_spawn %s: %s", (const char *)arg,
             rc ? strerror(rc) : "it did not exit 0");
    return -1;
  }
  return 0;
}

static void measure_one(bench_run *r, bench_fig *f, one_fn fn,
                        const void *arg) {
  unsigned n = r->cfg.warm + r->cfg.reps;
  double *v = calloc(n, sizeof *v);
  if (v == NULL) {
    snprintf(f->err, sizeof f->err, "out of memory");
    r->failures++;
    return;
  }
  for (unsigned i = 0; i < n; i++) {
    if (fn(&v[i], arg, f->err, sizeof f->err) != 0) {
      r->failures++;
      free(v);
      return;
    }
  }
  bench_stat_of(v + r->cfg.warm, r->cfg.reps, &f->t);
  free(v);
}

static int noop_task(const void *in, void *out, void *ctx) {
  memcpy(out, in, sizeof(uint64_t));
  return 0;
}

/* The six intervals between t0..t3 of a pool's life (see the top). */
static const struct {
  const char *key, *interval;
  int from, to;
} POOL_SPANS[6] = {
    {"create",
     "t1-t0: parc_pool_create returns (workers may still be starting)", 0, 1},
    {"first_task",
     "t2-t1: parc_submit + parc_future_wait of one empty task (waits for a "
     "worker to be up)",
     1, 2},
    {"destroy", "t3-t2: parc_pool_destroy: stop and reap the workers", 2, 3},
    {"first_result", "t2-t0: create to the first result in hand", 0, 2},
    {"task_and_destroy", "t3-t1: first task and destroy", 1, 3},
    {"whole", "t3-t0: the pool's whole life, one task", 0, 3},
};

static int pool_life(parc_backend b, double t[4], char *err, size_t cap) {
  parc_pool_opts o = {.backend = b};
  parc_pool *pool = NULL;
  uint64_t in = 42, out = 0;
  parc_future *fut = NULL;
  t[0] = now();
  int rc = parc_pool_create(&pool, &o);
  t[1] = now();
  if (rc == 0)
    rc = parc_submit(pool, noop_task, &in, sizeof in, sizeof out, &fut);
  if (rc == 0)
    rc = parc_future_wait(fut, &out, -1, NULL);
  t[2] = now();
  parc_future_free(fut);
  parc_pool_destroy(pool);
  t[3] = now();
  if (rc == 0 && out != in)
    rc = PARC_ETASK;
  if (rc != 0)
    snprintf(err, cap, "%s", cli_strerror(rc));
  return rc;
}

static void measure_pool(bench_run *r, parc_backend b, const char *name) {
  bench_fig *f[6];
  for (int k = 0; k < 6; k++) {
    char key[40], what[160];
    snprintf(key, sizeof key, "%s_pool_%s", name, POOL_SPANS[k].key);
    snprintf(what, sizeof what, "%s", POOL_SPANS[k].interval);
    f[k] = new_fig(r, key, what);
  }
  unsigned n = r->cfg.warm + r->cfg.reps;
  double *v = calloc((size_t)6 * n, sizeof *v);
  char err[160] = "";
  int rc = v == NULL ? PARC_ENOMEM : 0;
  for (unsigned i = 0; i < n && rc == 0; i++) {
    double t[4];
    rc = pool_life(b, t, err, sizeof err);
    for (int k = 0; k < 6; k++)
      v[(size_t)k * n + i] = t[POOL_SPANS[k].to] - t[POOL_SPANS[k].from];
  }
  for (int k = 0; k < 6; k++) {
    if (rc != 0)
      snprintf(f[k]->err, sizeof f[k]->err, "%s pool: %s", name,
               err[0] ? err : "out of memory");
    else
      bench_stat_of(v + (size_t)k * n + r->cfg.warm, r->cfg.reps, &f[k]->t);
  }
  r->failures += rc != 0;
  free(v);
}

void bench_startup(bench_run *r) {
  bench_fig *f = new_fig(r, "thread",
                         "pthread_create .. pthread_join, empty thread");
  measure_one(r, f, one_thread, NULL);
  f = new_fig(r, "process", "fork .. waitpid, the child calls _exit(0)");
  measure_one(r, f, one_fork, NULL);
  const char *truth = access("/bin/true", X_OK) == 0 ? "/bin/true"
                                                     : "/usr/bin/true";
  char what[160];
  snprintf(what, sizeof what, "posix_spawn %s .. waitpid: exec, exit", truth);
  measure_one(r, new_fig(r, "posix_spawn", what), one_spawn, truth);
  measure_pool(r, PARC_THREADS, "threads");
  measure_pool(r, PARC_PROCESSES, "processes");
}

/* ------------------------------------------------------------ dispatch */

/* One map of n tasks: its wall time, or a negative parc error. */
static double one_map(parc_pool *pool, const uint64_t *in, uint64_t *out,
                      size_t n, size_t chunk, int *rc) {
  parc_map_opts mo = {.chunk = chunk};
  double t0 = now();
  *rc = parc_map(pool, noop_task, in, sizeof *in, out, sizeof *out, n, &mo);
  double dt = now() - t0;
  if (*rc == 0 && (out[0] != in[0] || out[n - 1] != in[n - 1]))
    *rc = PARC_ETASK;
  return dt;
}

/* Tasks per map so that a map lasts about target_s: at least four chunks
 * per worker, doubled until a map lasts an eighth of the target, then
 * scaled. */
static size_t calibrate(parc_pool *pool, const uint64_t *in, uint64_t *out,
                        size_t chunk, unsigned workers, double target_s,
                        int *rc) {
  size_t n = chunk * workers * 4;
  n = n < 64 ? 64 : n > MAX_TASKS ? MAX_TASKS : n;
  one_map(pool, in, out, n, chunk, rc); /* first touch */
  for (;;) {
    double dt = one_map(pool, in, out, n, chunk, rc);
    if (*rc != 0)
      return n;
    if (dt >= target_s / 8 || n >= MAX_TASKS) {
      double want = (double)n * target_s / (dt > 0 ? dt : 1e-9);
      size_t min = chunk * workers * 4;
      n = want > (double)MAX_TASKS ? MAX_TASKS : (size_t)want;
      return n < min ? (min > MAX_TASKS ? MAX_TASKS : min) : n;
    }
    n *= 2;
  }
}

static void measure_map(bench_run *r, parc_pool *pool, bench_disp *d,
                        const uint64_t *in, uint64_t *out, double *v) {
  int rc = 0;
  d->tasks = calibrate(pool, in, out, d->chunk, d->workers, r->cfg.target_s,
                       &rc);
  for (unsigned i = 0; i < r->cfg.warm + r->cfg.reps && rc == 0; i++)
    v[i] = one_map(pool, in, out, d->tasks, d->chunk, &rc) / (double)d->tasks;
  if (rc != 0) {
    snprintf(d->err, sizeof d->err, "parc_map: %s", cli_strerror(rc));
    r->failures++;
    return;
  }
  bench_stat_of(v + r->cfg.warm, r->cfg.reps, &d->t);
}

static void dispatch_backend(bench_run *r, parc_backend b, const char *name,
                             const uint64_t *in, uint64_t *out, double *v) {
  parc_pool_opts o = {.backend = b};
  parc_pool *pool = NULL;
  int rc = parc_pool_create(&pool, &o);
  for (size_t c = 0; c < r->cfg.nchunks; c++) {
    bench_disp *d = &r->disp[r->ndisp++];
    d->backend = name;
    d->chunk = r->cfg.chunks[c];
    d->workers = rc == 0 ? parc_pool_workers(pool) : 0;
    if (rc != 0) {
      snprintf(d->err, sizeof d->err, "parc_pool_create: %s", cli_strerror(rc));
      r->failures++;
      continue;
    }
    measure_map(r, pool, d, in, out, v);
  }
  parc_pool_destroy(pool);
}

void bench_dispatch(bench_run *r) {
  uint64_t *in = malloc(MAX_TASKS * sizeof *in);
  uint64_t *out = malloc(MAX_TASKS * sizeof *out);
  double *v = calloc(r->cfg.warm + r->cfg.reps, sizeof *v);
  if (in == NULL || out == NULL || v == NULL) {
    bench_disp *d = &r->disp[r->ndisp++];
    d->backend = "threads";
    snprintf(d->err, sizeof d->err, "out of memory");
    r->failures++;
  } else {
    for (size_t i = 0; i < MAX_TASKS; i++) in[i] = i * 2654435761u;
    dispatch_backend(r, PARC_THREADS, "threads", in, out, v);
    dispatch_backend(r, PARC_PROCESSES, "processes", in, out, v);
  }
  free(in);
  free(out);
  free(v);
}
