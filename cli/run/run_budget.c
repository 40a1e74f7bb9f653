/* run_budget.c -- the budget axis of `parc run --halving`: its rungs and
 * their budgets, made before any job runs (the scheduler that walks them
 * is run_halving.c; `parc plan --halving` uses the same rungs).
 *
 * The rungs are scikit-learn's (HalvingGridSearchCV with min_resources=
 * 'exhaust'), so that the two can be compared on the same grid. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

/* ------------------------------------------------------------ the rungs */

/* floor(a / b) as Python's // on the budgets (integers when integral). */
static double floor_div(double a, double b, int integral) {
  return integral ? floor(a / b) : a / b;
}

size_t run_halving_rungs(size_t nset, double min, double max, double factor,
                         int integral, double *budget, size_t *nrun,
                         size_t cap) {
  /* the rungs needed to come down to one setting, 1 + floor(log_f(nset)),
   * and those the budget allows, 1 + floor(log_f(max // first)), each
   * computed as Python's math.log(x, f) does, log(x) / log(f) in doubles,
   * so that the counts are scikit-learn's even where that rounds down
   * (log(243) / log(3) is 4.999...) */
  size_t required = 1 + (size_t)floor(log((double)nset) / log(factor));
  double first = floor_div(max, pow(factor, (double)(required - 1)), integral);
  if (first < min)
    first = min;
  double ratio = floor_div(max, first, integral);
  size_t possible = 1 + (size_t)floor(log(ratio) / log(factor));
  size_t n = required < possible ? required : possible;
  if (n > cap)
    n = cap;
  size_t left = nset;
  for (size_t k = 0; k < n; k++) {
    double b = pow(factor, (double)k) * first;
    if (integral)
      b = floor(b); /* Python's int() of it */
    budget[k] = b < max ? b : max;
    nrun[k] = left;
    left = (size_t)ceil((double)left / factor);
    if (left == 0)
      left = 1;
  }
  return n;
}

/* ------------------------------------------------------------ the axis */

int run_budget_parse(const char *spec, run_budget *b) {
  const char *eq = strchr(spec, '='), *colon = eq ? strchr(eq, ':') : NULL;
  size_t nlen = eq ? (size_t)(eq - spec) : 0;
  if (nlen == 0 || nlen >= sizeof b->name || colon == NULL ||
      !(isalpha((unsigned char)spec[0]) || spec[0] == '_'))
    return -1;
  for (size_t i = 0; i < nlen; i++)
    if (!isalnum((unsigned char)spec[i]) && spec[i] != '_')
      return -1;
  memcpy(b->name, spec, nlen);
  b->name[nlen] = '\0';
  char *end;
  b->min = strtod(eq + 1, &end);
  if (end != colon || end == eq + 1)
    return -1;
  b->max = strtod(colon + 1, &end);
  if (*end || end == colon + 1 || !isfinite(b->max) || !(b->min > 0) ||
      b->min > b->max)
    return -1;
  size_t min_len = (size_t)(colon - eq - 1);
  b->integral = strspn(eq + 1, "0123456789") == min_len &&
                strspn(colon + 1, "0123456789") == strlen(colon + 1);
  return 0;
}

/* Is source s one of the --average-over axes? */
int run_axis_role(const run_opts *o, const char *name) {
  size_t blen = o->budget ? strcspn(o->budget, "=") : 0;
  if (name == NULL)
    return RUN_AXIS_SETTING;
  if (o->budget && strlen(name) == blen && !strncmp(name, o->budget, blen))
    return RUN_AXIS_BUDGET;
  for (size_t a = 0; a < o->navg; a++)
    if (strcmp(name, o->average_over[a]) == 0)
      return RUN_AXIS_AVERAGED;
  return RUN_AXIS_SETTING;
}

static int is_avg(const run_inputs *in, const run_opts *o, size_t s) {
  return run_axis_role(o, in->src[s].name) == RUN_AXIS_AVERAGED;
}

int run_halving_prepare(run_inputs *in, const run_opts *o, run_err err) {
  if (!o->halving)
    return 0;
  run_budget b;
  if (run_budget_parse(o->budget, &b) != 0)
    return run_fail(err,
                    "bad --budget '%s' (want NAME=MIN:MAX with "
                    "0 < MIN <= MAX)",
                    o->budget);
  for (size_t s = 0; s < in->nsrc; s++)
    if (in->src[s].name && strcmp(in->src[s].name, b.name) == 0)
      return run_fail(err,
                      "--budget %s is also a --grid axis: the budget "
                      "axis takes its values from the rungs",
                      b.name);
  if (in->njobs == 0)
    return 0; /* nothing to run */
  size_t nset = 1;
  for (size_t s = 0; s < in->nsrc; s++) /* one factor per group: its head */
    if (!in->src[s].linked) {
      size_t end = s + 1;
      int avg = is_avg(in, o, s);
      while (end < in->nsrc && in->src[end].linked) avg |= is_avg(in, o, end++);
      if (!avg)
        nset *= in->src[s].len;
    }
  double budget[RUN_RUNGS_MAX];
  size_t nrun[RUN_RUNGS_MAX];
  size_t n = run_halving_rungs(nset, b.min, b.max, o->factor, b.integral,
                               budget, nrun, RUN_RUNGS_MAX);
  char **v = calloc(n, sizeof *v), *name = strdup(b.name);
  int rc = v && name ? 0 : -1;
  for (size_t k = 0; rc == 0 && k < n; k++) {
    char buf[64];
    snprintf(buf, sizeof buf, b.integral ? "%.0f" : "%.6g", budget[k]);
    if ((v[k] = strdup(buf)) == NULL)
      rc = -1;
  }
  if (rc == 0)
    rc = run_inputs_add_axis(in, name, v, n, err);
  else
    run_fail(err, "out of memory");
  if (rc != 0) {
    for (size_t k = 0; v && k < n; k++) free(v[k]);
    free(v);
    free(name);
    return -1;
  }
  return run_inputs_finish(in, err);
}
