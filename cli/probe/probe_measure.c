/* probe_measure.c -- how every row of `parc probe` is timed.
 *
 * One sample is one batch of n operations between two reads of
 * CLOCK_MONOTONIC, divided by n. n is calibrated first (doubling from 1
 * until a batch lasts plan->batch_ns), so the clock's own cost and
 * resolution (tens of ns) are below 1% of a sample. The calibration
 * batches and one more batch are a warm-up (caches, branch predictors,
 * page faults, the CPU's clock ramping up) and are not kept. Then batches
 * are taken until plan->budget_ns has passed (at least min_samples, at
 * most max_samples). The figure is the median per-operation time, with the
 * quartiles as its spread: a preemption or an interrupt in one batch moves
 * the mean, not the median.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define MAX_BATCH ((uint64_t)1 << 32)

double probe_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The cost of one probe_now_ns, the median of 9 runs of 1000 reads. */
double probe_clock_cost_ns(void) {
  double runs[9];
  for (int r = 0; r < 9; r++) {
    double t0 = probe_now_ns(), t = t0;
    for (int i = 0; i < 1000; i++) t = probe_now_ns();
    runs[r] = (t - t0) / 1000;
  }
  for (int i = 1; i < 9; i++)
    for (int j = i; j > 0 && runs[j - 1] > runs[j]; j--) {
      double x = runs[j];
      runs[j] = runs[j - 1];
      runs[j - 1] = x;
    }
  return runs[4];
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The q-quantile of sorted v[0..n), linear between neighbours. */
static double quantile(const double *v, unsigned n, double q) {
  double pos = q * (n - 1);
  unsigned i = (unsigned)pos;
  if (i + 1 >= n)
    return v[n - 1];
  return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* Doubles n until one batch lasts plan->batch_ns; these are warm-up too. */
static int calibrate(const probe_plan *plan, probe_batch_fn fn, void *ctx,
                     uint64_t *n_out, double *err) {
  uint64_t n = 1;
  for (;;) {
    double t = fn(ctx, n);
    if (t < 0)
      return *err = t, -1;
    if (t >= plan->batch_ns || n >= MAX_BATCH)
      break;
    /* jump close to the goal once a batch is long enough to trust */
    if (t > plan->batch_ns / 64) {
      double want = (double)n * plan->batch_ns / t * 1.05;
      n = want < (double)MAX_BATCH ? (uint64_t)want + 1 : MAX_BATCH;
    } else {
      n *= 2;
    }
  }
  *n_out = n;
  return 0;
}

int probe_measure(probe_row *row, const probe_plan *plan, probe_batch_fn fn,
                  void *ctx) {
  uint64_t n;
  double err = 0;
  double *v = calloc(plan->max_samples, sizeof *v);
  if (v == NULL)
    return probe_fail(row, "out of memory", ENOMEM), -1;
  double start = probe_now_ns();
  if (calibrate(plan, fn, ctx, &n, &err) != 0 || (err = fn(ctx, n)) < 0) {
    free(v);
    probe_fail(row, "measuring", (int)-err);
    return -1;
  }
  unsigned k = 0;
  while (k < plan->max_samples &&
         (k < plan->min_samples || probe_now_ns() - start < plan->budget_ns)) {
    double t = fn(ctx, n);
    if (t < 0) {
      free(v);
      probe_fail(row, "measuring", (int)-t);
      return -1;
    }
    v[k++] = t / (double)n;
  }
  qsort(v, k, sizeof *v, cmp_double);
  row->st = (probe_stats){.samples = k,
                          .per_sample = n,
                          .median = quantile(v, k, 0.5),
                          .p25 = quantile(v, k, 0.25),
                          .p75 = quantile(v, k, 0.75),
                          .min = v[0],
                          .max = v[k - 1]};
  free(v);
  return 0;
}

static void vnote(probe_row *row, const char *fmt, va_list ap) {
  size_t len = strlen(row->note);
  if (len > 0 && len + 2 < sizeof row->note) {
    memcpy(row->note + len, "; ", 3);
    len += 2;
  }
  if (len < sizeof row->note)
    vsnprintf(row->note + len, sizeof row->note - len, fmt, ap);
}

void probe_note(probe_row *row, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vnote(row, fmt, ap);
  va_end(ap);
}

void probe_skip(probe_row *row, const char *fmt, ...) {
  va_list ap;
  row->skipped = 1;
  row->st.samples = 0;
  row->note[0] = '\0';
  probe_note(row, "skipped: ");
  size_t len = strlen(row->note);
  va_start(ap, fmt);
  vsnprintf(row->note + len, sizeof row->note - len, fmt, ap);
  va_end(ap);
}

void probe_fail(probe_row *row, const char *what, int err) {
  row->failed = 1;
  row->st.samples = 0;
  snprintf(row->note, sizeof row->note, "failed: %s: %s", what, strerror(err));
}

void probe_fmt_bytes(char *buf, size_t n, uint64_t bytes) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  if (v == (double)(uint64_t)v)
    snprintf(buf, n, "%.0f %s", v, unit[u]);
  else
    snprintf(buf, n, "%.1f %s", v, unit[u]);
}
