/* plan_halving.c -- `parc plan --halving`: how many cores a successive
 * halving run needs for a deadline.
 *
 * The rungs are parc run's (run_halving_rungs: scikit-learn's). Rung k
 * runs nrun[k] settings at budget[k], each setting one job per value of
 * the --average-over axes. The run is planned rung by rung, as the
 * synchronous `parc run --halving` runs it: a rung's jobs start longest
 * first, the next rung when the last of them ends. (The asynchronous run
 * keeps cores busier; the plan is its upper bound.)
 *
 * A job's time at budget b: --task-time T is the time at the largest
 * budget, and b takes T (b / MAX)^p. --from: the times observed at b
 * where there are any; otherwise every observed time t_i at its budget
 * b_i (MAX when the file has no budget column) scaled to t_i (b / b_i)^p,
 * p fitted by least squares on log t = a + p log b when the file has more
 * than one budget and --budget-exponent is not given. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

typedef struct halving_plan {
  const plan_opts *o;
  const plan_obs *obs;
  size_t nset, per; /* settings; jobs per setting and rung */
  double budget[RUN_RUNGS_MAX];
  size_t nrun[RUN_RUNGS_MAX], nrung;
  double p;          /* a job's time ~ budget^p */
  size_t fit_levels; /* budgets the fit saw; 0: p not fitted */
  plan_tasks rung[RUN_RUNGS_MAX];
  int observed[RUN_RUNGS_MAX]; /* its times were measured at its budget */
  plan_tasks grid;             /* the exhaustive grid, at the largest budget */
} halving_plan;

static int is_avg(const plan_opts *o, const char *name) {
  for (size_t a = 0; name && a < o->navg; a++)
    if (strcmp(name, o->average_over[a]) == 0)
      return 1;
  return 0;
}

/* Settings are the grid's values but for the --average-over axes. */
static void count_settings(halving_plan *h) {
  const plan_opts *o = h->o;
  h->nset = o->grid.nsrc ? 1 : o->tasks;
  h->per = 1;
  for (size_t s = 0; s < o->grid.nsrc; s++) {
    const run_source *src = &o->grid.src[s];
    size_t n = src->n ? src->n : 1;
    if (is_avg(o, src->name))
      h->per *= n;
    else
      h->nset *= n;
  }
}

/* ------------------------------------------------------------ job times */

static int usable(double t, double b) { return t > 0 && b > 0 && isfinite(b); }

/* The slope of log t on log b over the observed jobs, when they ran at
 * more than one budget and --budget-exponent does not say it. */
static void fit_exponent(halving_plan *h) {
  const plan_obs *ob = h->obs;
  h->p = h->o->exponent;
  if (ob == NULL || ob->budget == NULL || h->o->have_exponent)
    return;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < ob->n; i++)
    if (usable(ob->time[i], ob->budget[i])) {
      double x = log(ob->budget[i]), y = log(ob->time[i]);
      n++, sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
  double var = sxx - sx * sx / (n > 0 ? n : 1);
  if (n < 2 || !(var > 1e-12))
    return; /* one budget: nothing to fit */
  h->p = (sxy - sx * sy / n) / var;
  double *b = plan_sorted(ob->budget, ob->n);
  for (size_t i = 0; b && i < ob->n; i++)
    h->fit_levels += isfinite(b[i]) && (i == 0 || b[i] != b[i - 1]);
  free(b);
}

static int same_budget(double a, double b) { return fabs(a - b) <= 1e-9 * b; }

/* n job times at budget b from --from's observations into out;
 * *observed: measured at b. */
static int times_at(const halving_plan *h, double b, double *out, size_t n,
                    int *observed) {
  const plan_opts *o = h->o;
  const plan_obs *ob = h->obs;
  *observed = 0;
  double *src = malloc(ob->n * sizeof *src);
  if (src == NULL)
    return -1;
  size_t m = 0;
  for (size_t i = 0; ob->budget && i < ob->n; i++)
    if (same_budget(ob->budget[i], b))
      src[m++] = ob->time[i];
  *observed = m > 0;
  for (size_t i = 0; m == 0 && i < ob->n; i++) {
    double bi = ob->budget ? ob->budget[i] : NAN;
    if (!(bi > 0 && isfinite(bi)))
      bi = o->budget_max;
    src[i] = ob->time[i] * pow(b / bi, h->p);
  }
  int rc = plan_resample(src, m ? m : ob->n, out, n);
  free(src);
  return rc;
}

static int make_jobs(const halving_plan *h, double b, size_t n, plan_tasks *t,
                     int *observed) {
  if (h->obs == NULL) { /* --task-time: one time per rung */
    *observed = 0;
    plan_tasks_equal(t, h->o->task_time * pow(b / h->o->budget_max, h->p), n);
    return 0;
  }
  double *times = malloc((n ? n : 1) * sizeof *times);
  int rc = times ? times_at(h, b, times, n, observed) : -1;
  if (rc == 0)
    rc = plan_tasks_init(t, times, n);
  free(times);
  return rc;
}

static int make_plan(halving_plan *h) {
  const plan_opts *o = h->o;
  count_settings(h);
  fit_exponent(h);
  h->nrung = run_halving_rungs(h->nset, o->budget_min, o->budget_max, o->factor,
                               o->budget_integral, h->budget, h->nrun,
                               RUN_RUNGS_MAX);
  int rc = 0, seen;
  for (size_t k = 0; rc == 0 && k < h->nrung; k++)
    rc = make_jobs(h, h->budget[k], h->nrun[k] * h->per, &h->rung[k],
                   &h->observed[k]);
  if (rc == 0)
    rc = make_jobs(h, o->budget_max, h->nset * h->per, &h->grid, &seen);
  return rc;
}

static void free_plan(halving_plan *h) {
  for (size_t k = 0; k < h->nrung; k++) plan_tasks_free(&h->rung[k]);
  plan_tasks_free(&h->grid);
}

/* Rung by rung: the next starts when the last job of this one ends. */
static double halving_wall(void *arg, size_t cores) {
  halving_plan *h = arg;
  double wall = 0;
  for (size_t k = 0; k < h->nrung; k++)
    wall += plan_wall(&h->rung[k], cores, 1);
  return wall;
}

/* ------------------------------------------------------------ printing */

static void fmt_budget(const plan_opts *o, char *b, size_t n, double v) {
  snprintf(b, n, o->budget_integral ? "%.0f" : "%.6g", v);
}

static void print_model(const halving_plan *h) {
  const plan_opts *o = h->o;
  const char *name = o->budget_name;
  char t[32], mx[32];
  fmt_budget(o, mx, sizeof mx, o->budget_max);
  if (h->obs == NULL) {
    plan_fmt_dur(t, sizeof t, o->task_time);
    printf("Job time: %s at %s=%s, x (%s / %s)^%g\n", t, name, mx, name, mx,
           h->p);
  } else if (h->obs->budget == NULL) {
    printf("Job time: the %zu successful jobs in %s, taken as at %s=%s (it "
           "has no %s column),\n  x (%s / %s)^%g\n",
           h->obs->n, o->from, name, mx, name, name, mx, h->p);
  } else {
    printf("Job time: the %zu successful jobs in %s where a rung's %s was "
           "run (*),\n  else all of them x (%s / theirs)^%.3g",
           h->obs->n, o->from, name, name, h->p);
    if (h->fit_levels)
      printf(" (fitted over %zu budgets)\n", h->fit_levels);
    else
      printf(" (--budget-exponent)\n");
  }
}

static void print_header(const halving_plan *h) {
  const plan_opts *o = h->o;
  char lo[32], hi[32], d[32];
  fmt_budget(o, lo, sizeof lo, o->budget_min);
  fmt_budget(o, hi, sizeof hi, o->budget_max);
  plan_fmt_dur(d, sizeof d, o->deadline);
  printf("Successive halving of %zu settings", h->nset);
  if (o->navg) {
    printf(" x %zu jobs (one per", h->per);
    for (size_t a = 0; a < o->navg; a++)
      printf("%s %s", a ? "," : "", o->average_over[a]);
    printf(")");
  }
  printf(", %s %s to %s, factor %g; deadline %s\n", o->budget_name, lo, hi,
         o->factor, d);
  print_model(h);
}

static void print_rungs(halving_plan *h, size_t cores) {
  const plan_opts *o = h->o;
  printf("\n   rung %9s  settings     jobs  median job  wall time on %zu "
         "cores\n",
         o->budget_name, cores);
  size_t jobs = 0;
  for (size_t k = 0; k < h->nrung; k++) {
    plan_tasks *t = &h->rung[k];
    char b[32], med[32], w[32];
    fmt_budget(o, b, sizeof b, h->budget[k]);
    /* the median at q = 0.5 reads the same from either end */
    plan_fmt_dur(med, sizeof med,
                 t->equal > 0 ? t->equal
                              : plan_quantile(t->longest, t->n, 0.5));
    plan_fmt_dur(w, sizeof w, plan_wall(t, cores, 1));
    printf("%7zu %9s%1s %8zu %8zu %11s %12s\n", k, b, h->observed[k] ? "*" : "",
           h->nrun[k], t->n, med, w);
    jobs += t->n;
  }
  char w[32];
  plan_fmt_dur(w, sizeof w, halving_wall(h, cores));
  printf("  total %29zu %24s\n", jobs, w);
}

static void print_needed(halving_plan *h, size_t need) {
  const plan_opts *o = h->o;
  char w[32], g[32], mx[32];
  double wall = halving_wall(h, need), gwall = plan_wall(&h->grid, need, 1);
  plan_fmt_dur(w, sizeof w, wall);
  plan_fmt_dur(g, sizeof g, gwall);
  fmt_budget(o, mx, sizeof mx, o->budget_max);
  printf("\nCores needed: %zu -- expected wall time %s (each rung longest "
         "first, the next when it ends)",
         need, w);
  if (o->price > 0)
    printf(", cost %.2f (%.2f per core-hour)",
           (double)need * wall / 3600 * o->price, o->price);
  printf("\nExhaustive grid at %s=%s on %zu cores: %zu jobs, wall time %s "
         "(%.1fx the halving's)\n",
         o->budget_name, mx, need, h->grid.n, g, wall > 0 ? gwall / wall : 0);
}

int plan_halving(const plan_opts *o, const plan_obs *obs) {
  halving_plan *h = calloc(1, sizeof *h);
  if (h == NULL || (h->o = o, h->obs = obs, make_plan(h))) {
    if (h)
      free_plan(h);
    free(h);
    fprintf(stderr, "parc plan: out of memory\n");
    return 1;
  }
  print_header(h);
  size_t most = h->rung[0].n; /* rung 0 has the most jobs */
  double work = 0;
  for (size_t k = 0; k < h->nrung; k++) work += h->rung[k].work;
  size_t need = plan_fewest_cores(
      halving_wall, h, plan_least_cores(work, o->deadline), most, o->deadline);
  print_rungs(h, need ? need : most);
  int rc = 0;
  if (need) {
    print_needed(h, need);
  } else {
    char w[32];
    plan_fmt_dur(w, sizeof w, halving_wall(h, most));
    printf("\nNo number of cores meets the deadline: with one core per job "
           "the rungs take %s.\n",
           w);
    rc = 1;
  }
  free_plan(h);
  free(h);
  return rc;
}
