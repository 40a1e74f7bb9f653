/* plan_sched.c -- the schedule of a plan: independent tasks on c cores,
 * each next task on the core that frees first (list scheduling).
 *
 * Two orders: the input order, which is what `parc run` does (it starts
 * job i+1 when a lane frees, in the order of its inputs), and longest
 * first (LPT), which finishes within 4/3 of the best any order can do
 * and is what the plan assumes. Tasks of equal length give ceil(n / c)
 * waves in either order, the old model of `parc plan`. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int longer_first(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

int plan_tasks_init(plan_tasks *t, const double *times, size_t n) {
  *t = (plan_tasks){0};
  size_t bytes = (n ? n : 1) * sizeof(double);
  t->in_order = malloc(bytes);
  t->longest = malloc(bytes);
  t->free_at = malloc(bytes);
  if (!t->in_order || !t->longest || !t->free_at) {
    plan_tasks_free(t);
    return -1;
  }
  t->n = n;
  if (n)
    memcpy(t->in_order, times, n * sizeof(double));
  if (n)
    memcpy(t->longest, times, n * sizeof(double));
  qsort(t->longest, n, sizeof(double), longer_first);
  for (size_t i = 0; i < n; i++) t->work += times[i];
  return 0;
}

void plan_tasks_equal(plan_tasks *t, double time, size_t n) {
  *t = (plan_tasks){.equal = time, .n = n, .work = time * (double)n};
}

double plan_longest(const plan_tasks *t) {
  return t->n == 0 ? 0 : t->equal > 0 ? t->equal : t->longest[0];
}

void plan_tasks_free(plan_tasks *t) {
  free(t->in_order);
  free(t->longest);
  free(t->free_at);
  *t = (plan_tasks){0};
}

/* A min-heap of the cores' free times: the root frees first. The root
 * takes a task and sinks to its place. */
static void sink_root(double *h, size_t n) {
  size_t i = 0;
  double v = h[0];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && h[c + 1] < h[c])
      c++;
    if (h[c] >= v)
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

double plan_wall(plan_tasks *t, size_t cores, int longest_first) {
  const double *x = longest_first ? t->longest : t->in_order;
  if (t->n == 0)
    return 0;
  if (cores >= t->n)
    return plan_longest(t); /* one task per core */
  if (t->equal > 0)         /* either order: ceil(n / c) waves */
    return (double)((t->n + cores - 1) / cores) * t->equal;
  /* all cores free at 0: a heap of zeros is a heap */
  for (size_t c = 0; c < cores; c++) t->free_at[c] = 0;
  double end = 0;
  for (size_t i = 0; i < t->n; i++) {
    t->free_at[0] += x[i];
    if (t->free_at[0] > end)
      end = t->free_at[0];
    sink_root(t->free_at, cores);
  }
  return end;
}

size_t plan_least_cores(double work, double deadline) {
  double c = ceil(work / (deadline * (1 + 1e-9)));
  return c < 1 ? 1 : c > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)c;
}

size_t plan_fewest_cores(double (*wall)(void *arg, size_t cores), void *arg,
                         size_t least, size_t most, double deadline) {
  if (least < 1)
    least = 1;
  if (least > most)
    return 0;
  /* gallop up from least (the answer is most often near it), then bisect
   * between the last that missed and the first that met */
  size_t lo = least - 1, hi = least, step = 1; /* lo misses (or is none) */
  while (!plan_meets(wall(arg, hi), deadline)) {
    if (hi == most)
      return 0;
    lo = hi;
    hi = most - hi > step ? hi + step : most;
    step *= 2;
  }
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (plan_meets(wall(arg, mid), deadline))
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}
