/* grid.c -- the grid's fits as the tasks of a parc pool, handed out
 * longest first.
 *
 * Why an order. The pool hands tasks out one at a time, in the order they
 * are given, to whichever worker is free. In grid order the search ends
 * with the settings that happen to come last -- in the seeds' grid, poly
 * with C = 10, the longest fits of all -- so at the end one worker is still
 * in a long fit while the others wait. Handing the longest fits out first
 * (Graham's LPT rule) leaves the short ones for the end, where they fill
 * the gaps: the last worker to finish is at most one short fit behind.
 *
 * The cost of a setting. libsvm's time varies six-fold over the grid (rbf
 * with small C and poly with large C are slow) and depends on the data, so
 * it is measured rather than guessed: one pilot fit per setting on the
 * first 1/20 of the rows, timed by the worker's CPU clock (a busy machine
 * slows the wall clock, not the CPU time), all pilots as one parc_map on
 * the same pool. A fit's work grows about as the square of its rows, so a
 * pilot costs well under a hundredth of a fit (on the default data the ten
 * pilots are about a thousandth of the search). The order changes when a
 * fit runs, never what it computes: the scores are bit for bit those of
 * grid order (test_gridsearch checks).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include "svc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A task's input: plain values only. The data are the pool's ctx, each
 * worker's own copy: made before the pool, so a process worker holds it at
 * the same address (docs/pool.md, rule 3), and an MPI rank made its own
 * (docs/cluster.md). A pointer in the input would not be valid there. */
typedef struct grid_job {
  double C;
  int32_t kernel;
  uint32_t fold;
  uint32_t folds;
  uint32_t rows; /* pilots: train on the first `rows` rows; 0: all */
} grid_job;

static int grid_task(const void *in, void *out, void *ctx) {
  const svc_data *d = ctx;
  grid_job j;
  svc_score s;
  memcpy(&j, in, sizeof j);
  int rc = svc_fit_score(d, j.folds, j.fold, j.C, j.kernel, &s);
  memcpy(out, &s, sizeof s);
  return rc == 0 ? 0 : 1;
}

size_t svc_grid_tasks(const svc_grid *g) {
  return g->n_C * g->n_kernel * g->folds;
}

/* Task t of the grid (svc.h: C, then kernel, then fold). */
static grid_job job_of(const svc_grid *g, size_t t) {
  grid_job j;
  memset(&j, 0, sizeof j);
  j.C = g->C[t / (g->n_kernel * g->folds)];
  j.kernel = g->kernel[(t / g->folds) % g->n_kernel];
  j.fold = (uint32_t)(t % g->folds);
  j.folds = g->folds;
  return j;
}

/* The lowest failed task in grid order: its error, and its index in
 * *failed. st[i] is the status of task order[i]. */
static int first_failure(const parc_task_status *st, const size_t *order,
                         size_t n, size_t *failed) {
  size_t first = n;
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    if (st[i].error != 0 && order[i] < first) {
      first = order[i];
      rc = st[i].error;
    }
  if (failed != NULL && first < n)
    *failed = first;
  return rc;
}

int svc_grid_run_order(parc_pool *pool, const svc_grid *g, const size_t *order,
                       svc_score *out, parc_progress_fn progress, void *arg,
                       size_t *failed) {
  size_t n = svc_grid_tasks(g);
  if (order == NULL)
    return svc_grid_run(pool, g, out, progress, arg, failed);
  grid_job *jobs = calloc(n ? n : 1, sizeof *jobs);
  svc_score *got = calloc(n ? n : 1, sizeof *got);
  parc_task_status *st = calloc(n ? n : 1, sizeof *st);
  int rc = PARC_ENOMEM;
  if (jobs != NULL && got != NULL && st != NULL) {
    for (size_t i = 0; i < n; i++) jobs[i] = job_of(g, order[i]);
    parc_map_opts mo = {0};
    mo.chunk = 1; /* fits take 0.01 to 5 s: hand them out one at a time */
    mo.progress = progress;
    mo.progress_arg = arg;
    mo.status = st;
    rc = parc_map(pool, grid_task, jobs, sizeof *jobs, got, sizeof *got, n,
                  &mo);
    for (size_t i = 0; i < n; i++) out[order[i]] = got[i];
    int task_rc = rc != 0 ? first_failure(st, order, n, failed) : 0;
    rc = task_rc != 0 ? task_rc : rc;
  }
  free(jobs);
  free(got);
  free(st);
  return rc;
}

int svc_grid_run(parc_pool *pool, const svc_grid *g, svc_score *out,
                 parc_progress_fn progress, void *arg, size_t *failed) {
  size_t n = svc_grid_tasks(g);
  grid_job *jobs = calloc(n ? n : 1, sizeof *jobs);
  if (jobs == NULL)
    return PARC_ENOMEM;
  for (size_t t = 0; t < n; t++) jobs[t] = job_of(g, t);
  parc_map_opts mo = {0};
  mo.chunk = 1; /* fits take 0.01 to 5 s: hand them out one at a time */
  mo.progress = progress;
  mo.progress_arg = arg;
  mo.err_index = failed;
  int rc = parc_map(pool, grid_task, jobs, sizeof *jobs, out, sizeof *out, n,
                    &mo);
  free(jobs);
  return rc;
}

/* ------------------------------------------------------------ longest first */

size_t svc_pilot_rows(size_t n, unsigned folds) {
  size_t rows = n / SVC_PILOT_DIVISOR, least = (size_t)folds * 10;
  if (rows < least)
    rows = least;
  return rows < n ? rows : n;
}

static double cpu_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One pilot: fold 0 of the first j.rows rows; out is its CPU time (0 when
 * the fit fails: the real fits report it). Never fails itself. */
static int pilot_task(const void *in, void *out, void *ctx) {
  const svc_data *d = ctx;
  grid_job j;
  memcpy(&j, in, sizeof j);
  svc_data head = {j.rows, d->x, d->y};
  svc_score s;
  double t0 = cpu_now_s();
  int rc = svc_fit_score(&head, j.folds, 0, j.C, j.kernel, &s);
  double cost = rc == 0 ? cpu_now_s() - t0 : 0.0;
  memcpy(out, &cost, sizeof cost);
  return 0;
}

int svc_grid_pilot(parc_pool *pool, const svc_grid *g, const svc_data *d,
                   double *cost) {
  size_t settings = g->n_C * g->n_kernel;
  grid_job *jobs = calloc(settings ? settings : 1, sizeof *jobs);
  if (jobs == NULL)
    return PARC_ENOMEM;
  size_t rows = svc_pilot_rows(d->n, g->folds);
  for (size_t s = 0; s < settings; s++) {
    jobs[s] = job_of(g, s * g->folds); /* fold 0 of setting s */
    jobs[s].rows = rows > UINT32_MAX ? UINT32_MAX : (uint32_t)rows;
  }
  parc_map_opts mo = {0};
  mo.chunk = 1;
  int rc = parc_map(pool, pilot_task, jobs, sizeof *jobs, cost, sizeof *cost,
                    settings, &mo);
  free(jobs);
  return rc;
}

typedef struct {
  double cost;
  size_t task;
} costed_task;

/* Decreasing cost, then increasing task index: a total order, so the sort
 * gives the same permutation whatever qsort's algorithm. */
static int by_cost_down(const void *a, const void *b) {
  const costed_task *x = a, *y = b;
  if (x->cost != y->cost)
    return x->cost > y->cost ? -1 : 1;
  return (x->task > y->task) - (x->task < y->task);
}

void svc_grid_order(const svc_grid *g, const double *cost, size_t *order) {
  size_t n = svc_grid_tasks(g);
  costed_task *ct = malloc((n ? n : 1) * sizeof *ct);
  if (ct == NULL) { /* an order is only a hint: grid order is always right */
    for (size_t t = 0; t < n; t++) order[t] = t;
    return;
  }
  for (size_t t = 0; t < n; t++) ct[t] = (costed_task){cost[t / g->folds], t};
  qsort(ct, n, sizeof *ct, by_cost_down);
  for (size_t i = 0; i < n; i++) order[i] = ct[i].task;
  free(ct);
}

int svc_grid_plan(parc_pool *pool, const svc_grid *g, const svc_data *d,
                  size_t *order) {
  size_t n = svc_grid_tasks(g), settings = g->n_C * g->n_kernel;
  for (size_t t = 0; t < n; t++) order[t] = t;
  double *cost = calloc(settings ? settings : 1, sizeof *cost);
  if (cost == NULL)
    return PARC_ENOMEM;
  int rc = svc_grid_pilot(pool, g, d, cost);
  if (rc == 0)
    svc_grid_order(g, cost, order);
  free(cost);
  return rc;
}
