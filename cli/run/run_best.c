/* run_best.c -- `parc run --best METRIC`: at the end, METRIC per setting,
 * best first, from the results table (run_record.h).
 *
 * A setting is one combination of the axes' values, less the axes named by
 * --average-over: the jobs that differ only in those are its samples, and
 * it is ranked by their mean (with the population std beside it). Only
 * jobs that exited 0 and printed METRIC as a finite number count; the
 * table includes the rows of an earlier run kept by --resume. With
 * --halving only the deepest rung reached counts: a lower rung's scores
 * were made on a smaller budget.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run_record.h"

int run_records_check_axes(const run_inputs *in, char **average_over,
                           size_t navg, run_err err) {
  for (size_t a = 0; a < navg; a++) {
    size_t s = 0;
    char tmp[32];
    while (s < in->nsrc &&
           strcmp(run_inputs_name(in, s, tmp, sizeof tmp), average_over[a]))
      s++;
    if (s == in->nsrc)
      return run_fail(err, "--average-over '%s' is not an axis (have: %s%s)",
                      average_over[a],
                      in->nsrc ? run_inputs_name(in, 0, tmp, sizeof tmp) : "",
                      in->nsrc > 1 ? ", ..." : "");
  }
  return 0;
}

typedef struct setting {
  const row *first; /* a row of the setting: its axis values */
  double sum, sumsq;
  size_t n;
  double mean, std;
} setting;

static int by_mean_desc(const void *a, const void *b) {
  const setting *x = a, *y = b;
  return (x->mean < y->mean) - (x->mean > y->mean);
}

static int by_mean_asc(const void *a, const void *b) {
  return by_mean_desc(b, a);
}

/* Is column c an axis that is not averaged over? */
static int is_setting_col(const run_records *r, size_t c, char **avg,
                          size_t navg) {
  if (c == 0 || c >= r->first_metric - NTAIL)
    return 0;
  for (size_t a = 0; a < navg; a++)
    if (strcmp(r->col[c], avg[a]) == 0)
      return 0;
  return 1;
}

static const char *cell(const row *w, size_t c) {
  return c < w->ncell && w->cell[c] ? w->cell[c] : "";
}

static int same_setting(const run_records *r, const row *a, const row *b,
                        char **avg, size_t navg) {
  for (size_t c = 1; c < r->ncol; c++)
    if (is_setting_col(r, c, avg, navg) && strcmp(cell(a, c), cell(b, c)))
      return 0;
  return 1;
}

static void print_setting(const run_records *r, FILE *f, const row *w,
                          char **avg, size_t navg, const char *sep) {
  int first = 1;
  for (size_t c = 1; c < r->ncol; c++)
    if (is_setting_col(r, c, avg, navg)) {
      fprintf(f, "%s%s=%s", first ? "" : sep, r->col[c], cell(w, c));
      first = 0;
    }
}

/* Does row w count: it exited 0 and has metric column mc as a finite
 * number (*v)? */
static int counts(const run_records *r, const row *w, int mc, double *v) {
  char *end;
  *v = strtod(cell(w, (size_t)mc), &end);
  return strcmp(cell(w, (size_t)find_col(r, "exit")), "0") == 0 &&
         end != cell(w, (size_t)mc) && *end == '\0' && isfinite(*v);
}

/* --halving: the rung of row w (its "rung" cell), or -1. */
static long rung_of(const run_records *r, const row *w) {
  int c = find_col(r, "rung");
  char *end;
  long k = c >= 0 ? strtol(cell(w, (size_t)c), &end, 10) : -1;
  return c >= 0 && end != cell(w, (size_t)c) && *end == '\0' ? k : -1;
}

/* --halving: the deepest rung with a row that counts, or -1 (not halving:
 * every row counts). */
static long top_rung(const run_records *r, int halving, int mc) {
  long top = -1;
  double v;
  for (size_t i = 0; halving && mc >= 0 && i < r->nrows; i++)
    if (counts(r, &r->rows[i], mc, &v) && rung_of(r, &r->rows[i]) > top)
      top = rung_of(r, &r->rows[i]);
  return top;
}

int run_records_best(const run_records *r, FILE *f, const char *metric,
                     int minimize, char **avg, size_t navg, int halving,
                     run_err err) {
  run_buf name = {0}; /* column names are UTF-8: so is METRIC looked up */
  if (run_buf_add_utf8(&name, metric, strlen(metric)) != 0)
    return run_fail(err, "out of memory");
  int mc = find_col(r, name.data);
  run_buf_free(&name);
  setting *st = calloc(r->nrows ? r->nrows : 1, sizeof *st);
  size_t ns = 0;
  if (st == NULL)
    return run_fail(err, "out of memory");
  long top = top_rung(r, halving, mc);
  for (size_t i = 0; mc >= 0 && i < r->nrows; i++) {
    const row *w = &r->rows[i];
    double v;
    if (!counts(r, w, mc, &v) || (top >= 0 && rung_of(r, w) != top))
      continue;
    size_t k = 0;
    while (k < ns && !same_setting(r, st[k].first, w, avg, navg)) k++;
    if (k == ns)
      st[ns++].first = w;
    st[k].sum += v;
    st[k].sumsq += v * v;
    st[k].n++;
  }
  if (ns == 0) {
    free(st);
    return run_fail(err, "--best: no successful job printed metric '%s'",
                    metric);
  }
  for (size_t k = 0; k < ns; k++) {
    st[k].mean = st[k].sum / (double)st[k].n;
    double var = st[k].sumsq / (double)st[k].n - st[k].mean * st[k].mean;
    st[k].std = var > 0 ? sqrt(var) : 0;
  }
  qsort(st, ns, sizeof *st, minimize ? by_mean_asc : by_mean_desc);
  fprintf(f, "\n%s per setting (%s first", metric,
          minimize ? "lowest" : "highest");
  if (top >= 0)
    fprintf(f, "; the last rung, %ld", top);
  for (size_t a = 0; a < navg; a++)
    fprintf(f, "%s%s", a ? ", " : "; mean \xc2\xb1 std over ", avg[a]);
  fprintf(f, "):\n");
  for (size_t k = 0; k < ns; k++) {
    fprintf(f, "  %-10.6g \xc2\xb1 %-10.6g n=%-4zu ", st[k].mean, st[k].std,
            st[k].n);
    print_setting(r, f, st[k].first, avg, navg, "  ");
    fputc('\n', f);
  }
  fprintf(f, "best: ");
  print_setting(r, f, st[0].first, avg, navg, " ");
  fprintf(f, "  %s = %.6g \xc2\xb1 %.6g\n", metric, st[0].mean, st[0].std);
  free(st);
  return 0;
}
