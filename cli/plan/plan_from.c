/* plan_from.c -- `parc plan --from FILE`: the run times of an earlier
 * `parc run`, from its results.csv (runtime, exit, signal; the budget
 * column of a run over budgets) or its job log (JobRuntime, Exitval,
 * Signal), and how a plan draws any number of task times from them.
 *
 * A plan keeps the whole distribution, not its mean: a grid whose slow
 * corner takes ten times the rest finishes when the slow corner does. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int add_obs(plan_obs *o, size_t *cap, double t, double b) {
  if (o->n == *cap) {
    size_t c = *cap ? 2 * *cap : 64;
    double *nt = realloc(o->time, c * sizeof *nt);
    if (nt)
      o->time = nt;
    double *nb = nt ? realloc(o->budget, c * sizeof *nb) : NULL;
    if (nb)
      o->budget = nb;
    if (!nb)
      return -1;
    *cap = c;
  }
  o->time[o->n] = t;
  o->budget[o->n++] = b;
  return 0;
}

/* A job log: TAB-separated, a header line, the command (which may hold
 * anything, TABs too) last. */
static int read_joblog(char *p, plan_obs *o, size_t *cap) {
  for (int first = 1; *p; first = 0) {
    char *line_end = strchr(p, '\n');
    if (line_end)
      *line_end = '\0';
    char *col[9] = {0}, *q = p;
    for (int k = 0; k < 9 && q; k++) {
      col[k] = q;
      q = strchr(q, '\t');
      if (q && k < 8)
        *q++ = '\0';
    }
    p = line_end ? line_end + 1 : p + strlen(p);
    if (first || col[8] == NULL)
      continue;
    double t = atof(col[3]);
    if (atoi(col[6]) == 0 && atoi(col[7]) == 0 && t >= 0 &&
        add_obs(o, cap, t, NAN))
      return -1;
  }
  return 0;
}

/* The columns of a results.csv a plan reads; -1: absent. */
enum { C_TIME, C_EXIT, C_SIGNAL, C_PRUNED, C_BUDGET, C_N };

static void find_cols(const char *fp, size_t nf, const char *budget_col,
                      int *col) {
  static const char *const names[] = {"runtime", "exit", "signal", "pruned"};
  for (int c = 0; c < C_N; c++) col[c] = -1;
  for (size_t k = 0; k < nf; fp += strlen(fp) + 1, k++) {
    for (int c = 0; c < C_BUDGET; c++)
      if (strcmp(fp, names[c]) == 0)
        col[c] = (int)k;
    if (budget_col && strcmp(fp, budget_col) == 0)
      col[C_BUDGET] = (int)k;
  }
}

/* A results.csv: RFC 4180 records, the first names the columns. Returns
 * 0, -1 (ENOMEM), or 1 when it has no runtime and exit columns. */
static int read_results(char *p, const char *budget_col, plan_obs *o,
                        size_t *cap, int *has_budget) {
  run_buf fields = {0};
  int col[C_N], rc = 0;
  for (int first = 1; p && *p && rc == 0; first = 0) {
    size_t nf = run_csv_record(&p, &fields);
    const char *fp = fields.data;
    if (first) {
      find_cols(fp, nf, budget_col, col);
      if (col[C_TIME] < 0 || col[C_EXIT] < 0)
        rc = 1;
      *has_budget = col[C_BUDGET] >= 0;
      continue;
    }
    double t = -1, b = NAN;
    int ok = 1;
    for (size_t k = 0; k < nf; fp += strlen(fp) + 1, k++) {
      int c = (int)k;
      if (c == col[C_TIME])
        t = *fp ? atof(fp) : -1;
      if (c == col[C_EXIT])
        ok &= strcmp(fp, "0") == 0;
      if (c == col[C_SIGNAL])
        ok &= *fp == '\0' || strcmp(fp, "0") == 0;
      if (c == col[C_PRUNED])
        ok &= strcmp(fp, "1") != 0;
      if (c == col[C_BUDGET])
        b = *fp ? atof(fp) : NAN;
    }
    if (ok && t >= 0 && add_obs(o, cap, t, b))
      rc = -1;
  }
  run_buf_free(&fields);
  return rc;
}

int plan_obs_read(const char *path, const char *budget_col, plan_obs *o,
                  run_err err) {
  *o = (plan_obs){0};
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return run_fail(err, "cannot read '%s': %s", path, strerror(errno));
  run_buf text = {0};
  char chunk[65536];
  size_t n, cap = 0;
  int rc = 0, has_budget = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = run_buf_add(&text, chunk, n);
  fclose(f);
  int empty = text.data == NULL;
  if (rc == 0 && !empty && strncmp(text.data, "Seq\tHost\t", 9) == 0)
    rc = read_joblog(text.data, o, &cap);
  else if (rc == 0 && !empty)
    rc = read_results(text.data, budget_col, o, &cap, &has_budget);
  run_buf_free(&text);
  if (rc == 0 && !has_budget) {
    free(o->budget);
    o->budget = NULL;
  }
  if (rc < 0)
    run_fail(err, "out of memory reading '%s'", path);
  else if (rc > 0 || empty)
    run_fail(err, "'%s' is neither a parc run results.csv nor a job log", path);
  else if (o->n == 0)
    run_fail(err, "'%s' has no successful job to time", path);
  if (rc != 0 || empty || o->n == 0) {
    plan_obs_free(o);
    return -1;
  }
  return 0;
}

void plan_obs_free(plan_obs *o) {
  free(o->time);
  free(o->budget);
  *o = (plan_obs){0};
}

/* ------------------------------------------------------------ quantiles */

static int shorter_first(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double *plan_sorted(const double *x, size_t n) {
  double *s = malloc((n ? n : 1) * sizeof *s);
  if (s && n) {
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, shorter_first);
  }
  return s;
}

double plan_quantile(const double *sorted, size_t m, double q) {
  double pos = q * (double)m - 0.5;
  if (pos <= 0)
    return sorted[0];
  if (pos >= (double)(m - 1))
    return sorted[m - 1];
  size_t lo = (size_t)pos;
  double frac = pos - (double)lo;
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

typedef struct keyed {
  double key; /* the time of the observed job a task stands for */
  size_t task;
} keyed;

static int by_key(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->key != y->key)
    return (x->key > y->key) - (x->key < y->key);
  return (x->task > y->task) - (x->task < y->task);
}

int plan_resample(const double *obs, size_t m, double *out, size_t n) {
  double *sorted = plan_sorted(obs, m);
  keyed *k = malloc((n ? n : 1) * sizeof *k);
  if (sorted == NULL || k == NULL) {
    free(sorted);
    free(k);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    size_t j = (size_t)(((double)i + 0.5) * (double)m / (double)n);
    k[i] = (keyed){obs[j < m ? j : m - 1], i};
  }
  qsort(k, n, sizeof *k, by_key); /* k[r]: the task of rank r */
  for (size_t r = 0; r < n; r++)
    out[k[r].task] = plan_quantile(sorted, m, ((double)r + 0.5) / (double)n);
  free(sorted);
  free(k);
  return 0;
}
