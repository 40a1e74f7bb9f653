/* bench_fit.c -- the numbers behind `parc bench`: median and quartiles of
 * repetitions, and the lecture's model of a message's time,
 *
 *     T(s) = mu + s/B      (mu: start-up latency, B: asymptotic bandwidth)
 *
 * fitted by least squares. Sizes span six or seven decades, so the fit
 * minimises relative residuals (weights 1/T^2): with plain least squares
 * the biggest messages would decide everything and mu would be noise.
 *
 * Where the model stops fitting. A transport often changes protocol with
 * size (a pipe's 64 KiB buffer, MPI's eager and rendezvous modes, caches
 * that no longer hold the message), and one line cannot follow it. The
 * rule: starting at the smallest size, take the longest run of sizes whose
 * own fit puts every point within tol + noise of the line, relative to the
 * measured time -- tol is 20% by default, and a point's noise is its own
 * spread, (q3 - q1) / median, so that a noisy point is no evidence of a
 * switch. The next size is where the model stops fitting. The same rule,
 * started there, gives the next range, and so on. A range has at least
 * BENCH_FIT_MIN points -- two points always fit -- except a last range that
 * has fewer left.
 */
#include <math.h>
#include <stdlib.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-quantile of sorted v[0..n), interpolating linearly between order
 * statistics (Hyndman and Fan's type 7, numpy's default). */
static double quantile(const double *v, unsigned n, double p) {
  double h = p * (double)(n - 1);
  unsigned lo = (unsigned)floor(h);
  if (lo + 1 >= n)
    return v[n - 1];
  return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

int bench_stat_of(double *v, unsigned n, bench_stat *out) {
  if (n == 0)
    return -1;
  qsort(v, n, sizeof *v, cmp_double);
  out->n = n;
  out->min = v[0];
  out->max = v[n - 1];
  out->median = quantile(v, n, 0.5);
  out->q1 = quantile(v, n, 0.25);
  out->q3 = quantile(v, n, 0.75);
  return 0;
}

static int time_ok(double t) { return isfinite(t) && t > 0; }

/* Weighted means first, then sums of centred products: sizes reach 2^28
 * and weights 1/T^2 reach 10^18, so the textbook sums would cancel. */
int bench_fit_line(const double *s, const double *t, size_t first, size_t last,
                   bench_line *out) {
  if (last < first)
    return -1;
  double sw = 0, sx = 0, sy = 0;
  for (size_t i = first; i <= last; i++) {
    if (!time_ok(t[i]))
      return -1;
    double w = 1 / (t[i] * t[i]);
    sw += w, sx += w * s[i], sy += w * t[i];
  }
  double xm = sx / sw, ym = sy / sw, sxx = 0, sxy = 0, syy = 0;
  for (size_t i = first; i <= last; i++) {
    double w = 1 / (t[i] * t[i]), dx = s[i] - xm, dy = t[i] - ym;
    sxx += w * dx * dx, sxy += w * dx * dy, syy += w * dy * dy;
  }
  out->first = first;
  out->last = last;
  out->fitted = last > first && sxx > 0;
  out->slope = out->fitted ? sxy / sxx : 0;
  out->mu = ym - out->slope * xm;
  double sse = 0, worst = 0;
  for (size_t i = first; i <= last; i++) {
    double r = (t[i] - (out->mu + out->slope * s[i])) / t[i];
    sse += r * r;
    worst = fabs(r) > worst ? fabs(r) : worst;
  }
  out->max_resid = worst;
  /* A flat range fitted exactly explains all there is to explain. */
  out->r2 = syy > 0 ? 1 - sse / syy : (sse > 0 ? 0 : 1);
  return 0;
}

/* Every point of the fitted range is within tol + noise of the line. */
static int fits(const double *s, const double *t, const double *noise,
                double tol, const bench_line *l) {
  for (size_t i = l->first; i <= l->last; i++) {
    double r = fabs(t[i] - (l->mu + l->slope * s[i])) / t[i];
    if (r > tol + (noise ? noise[i] : 0))
      return 0;
  }
  return 1;
}

/* The longest range starting at `first` that fits. */
static void longest_fit(const double *s, const double *t, const double *noise,
                        size_t first, size_t n, double tol, bench_line *out) {
  size_t min_last = first + BENCH_FIT_MIN - 1;
  if (min_last >= n) { /* too few points left to test a fit: take them */
    bench_fit_line(s, t, first, n - 1, out);
    return;
  }
  for (size_t last = n - 1; last > min_last; last--) {
    bench_fit_line(s, t, first, last, out);
    if (fits(s, t, noise, tol, out))
      return;
  }
  /* Not even BENCH_FIT_MIN points fit: the range is the minimum anyway
   * (its max_resid says how badly it fits). */
  bench_fit_line(s, t, first, min_last, out);
}

int bench_fit_model(const double *s, const double *t, const double *noise,
                    size_t n, double tol, bench_model *out) {
  out->nseg = 0;
  if (n == 0 || n > BENCH_MAX_SIZES)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!time_ok(t[i]) || !(s[i] >= 0) || (i > 0 && !(s[i] > s[i - 1])) ||
        (noise && !(noise[i] >= 0 && isfinite(noise[i]))))
      return -1;
  for (size_t first = 0; first < n; first = out->seg[out->nseg - 1].last + 1)
    longest_fit(s, t, noise, first, n, tol, &out->seg[out->nseg++]);
  return 0;
}

double bench_line_bw(const bench_line *l) {
  return l->fitted && l->slope > 0 ? 1 / l->slope : 0;
}
