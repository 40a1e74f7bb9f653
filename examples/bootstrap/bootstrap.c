/* bootstrap -- 95% percentile confidence intervals of a mean and of a
 * median, from B bootstrap replicates run as pool tasks.
 *
 * The data set: n values from a skewed distribution (log-normal), drawn
 * from stream 2^64 - 1 of the seed, before the pool exists, so every
 * worker -- thread or forked process -- sees the same array. Replicate b
 * is one pool task: it draws n indices with replacement from stream b
 * (parc_rng_below: no modulo bias), and returns the mean and the median of
 * that resample. The caller sorts the B means and the B medians and reads
 * the 2.5% and 97.5% percentiles. Each replicate depends only on (seed,
 * b), so the intervals are the same bits for any worker count and either
 * backend; the program runs with 1 worker and with -j workers, checks that,
 * and prints the speedup.
 *
 *   parc-bootstrap [--n N] [--replicates B] [-j W]
 *                  [--backend threads|processes|mpi] [--seed S]
 *
 * Exit status: 0; 1 if a parc call fails or the two runs differ; 2 on a
 * bad command line.
 */
#include <math.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define DATA_STREAM UINT64_MAX /* no task has this index */

typedef struct {
  uint64_t n;          /* size of the data set */
  uint64_t replicates; /* B */
  ex_opts c;           /* -j, --backend, --seed */
} options;

/* A replicate's statistics (its output; flat bytes). */
typedef struct {
  double mean;
  double median;
} stats;

/* Read-only after main fills it, before any pool: threads share it and
 * forked workers inherit it. */
static struct {
  uint64_t seed;
  size_t n;
  const double *data;
} g;

static void swap(double *a, double *b) {
  double t = *a;
  *a = *b;
  *b = t;
}

/* Hoare's selection: afterwards x[k] is the k-th smallest, with nothing
 * larger before it and nothing smaller after it. Median-of-three pivots;
 * no randomness, so it is the same on every worker. */
static void select_kth(double *x, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (x[mid] < x[lo])
      swap(&x[mid], &x[lo]);
    if (x[hi] < x[lo])
      swap(&x[hi], &x[lo]);
    if (x[hi] < x[mid])
      swap(&x[hi], &x[mid]);
    double pivot = x[mid];
    size_t i = lo, j = hi;
    while (i <= j) {
      while (x[i] < pivot) i++;
      while (pivot < x[j]) j--;
      if (i <= j) {
        swap(&x[i], &x[j]);
        i++;
        if (j == 0)
          break;
        j--;
      }
    }
    if (k <= j)
      hi = j;
    else if (k >= i)
      lo = i;
    else
      return;
  }
}

/* The median of x[0..n) (reorders x). */
static double median(double *x, size_t n) {
  size_t k = n / 2;
  select_kth(x, n, k);
  if (n % 2)
    return x[k];
  double below = x[0]; /* the largest of x[0..k): the other middle value */
  for (size_t i = 1; i < k; i++) below = x[i] > below ? x[i] : below;
  return (below + x[k]) / 2;
}

static int replicate(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t b;
  memcpy(&b, in, sizeof b);
  double *resample = malloc(g.n * sizeof *resample);
  if (resample == NULL)
    return 1; /* reported as this task's error */
  parc_rng r;
  parc_rng_init(&r, g.seed, b); /* stream = replicate index */
  double sum = 0;
  for (size_t i = 0; i < g.n; i++) {
    resample[i] = g.data[parc_rng_below(&r, g.n)];
    sum += resample[i];
  }
  stats s = {sum / (double)g.n, median(resample, g.n)};
  free(resample);
  memcpy(out, &s, sizeof s);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-quantile of sorted x[0..n), interpolating between order
 * statistics (R's and numpy's default, "type 7"). */
static double quantile(const double *x, size_t n, double p) {
  double h = (double)(n - 1) * p;
  size_t lo = (size_t)h;
  if (lo + 1 >= n)
    return x[n - 1];
  return x[lo] + (h - (double)lo) * (x[lo + 1] - x[lo]);
}

typedef struct {
  double lo, hi;
} interval;

/* Sorts the replicates' means and medians; writes the two intervals. */
static int intervals(stats *s, size_t n, interval *mean, interval *med) {
  double *v = malloc(n * sizeof *v);
  if (v == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) v[i] = s[i].mean;
  qsort(v, n, sizeof *v, cmp_double);
  *mean = (interval){quantile(v, n, 0.025), quantile(v, n, 0.975)};
  for (size_t i = 0; i < n; i++) v[i] = s[i].median;
  qsort(v, n, sizeof *v, cmp_double);
  *med = (interval){quantile(v, n, 0.025), quantile(v, n, 0.975)};
  free(v);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: parc-bootstrap [--n N] [--replicates B] [-j W]\n"
          "                      [--backend threads|processes|mpi] [--seed S]\n"
          "  --n N           size of the data set (default 2000)\n"
          "  --replicates B  bootstrap replicates, one task each; replicate "
          "b uses\n"
          "                  stream b (default 10000)\n"
          "  -j W            workers of the parallel run (default: physical "
          "cores)\n"
          "  --backend B     threads (default), processes or mpi\n"
          "  --seed S        generator seed (default 1)\n");
}

static int own_option(void *own, const char *a, const char *val) {
  options *o = own;
  uint64_t v;
  if (strcmp(a, "--n") == 0 && ex_parse_u64(val, 1, 1u << 28, &v) == 0)
    o->n = v;
  else if (strcmp(a, "--replicates") == 0 &&
           ex_parse_u64(val, 2, 1u << 24, &v) == 0)
    o->replicates = v;
  else
    return -1;
  return 0;
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  o->n = 2000;
  o->replicates = 10000;
  int rc = ex_parse_args(argc, argv, &o->c, own_option, o, usage);
  return rc;
}

/* The data set: log-normal, exp(N(0, 1)): mean e^0.5 = 1.6487, median 1. */
static double *make_data(uint64_t seed, size_t n) {
  double *x = malloc(n * sizeof *x);
  if (x == NULL)
    return NULL;
  parc_rng r;
  parc_rng_init(&r, seed, DATA_STREAM);
  for (size_t i = 0; i < n; i++) x[i] = exp(parc_rng_normal(&r));
  return x;
}

static void print_sample(const double *data, size_t n) {
  double *copy = malloc(n * sizeof *copy);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += data[i];
  printf("sample: mean %.6f", sum / (double)n);
  if (copy != NULL) {
    memcpy(copy, data, n * sizeof *copy);
    printf(", median %.6f", median(copy, n));
  }
  printf(" (population: mean 1.648721, median 1)\n");
  free(copy);
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  double *data = make_data(o.c.seed, o.n);
  uint64_t *in = malloc(o.replicates * sizeof *in);
  stats *s1 = calloc(o.replicates, sizeof *s1);
  stats *sj = calloc(o.replicates, sizeof *sj);
  if (data == NULL || in == NULL || s1 == NULL || sj == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  g.seed = o.c.seed;
  g.n = o.n;
  g.data = data;
  for (uint64_t b = 0; b < o.replicates; b++) in[b] = b;
  double t1 = 0, tj = 0;
  ex_work w = {.fn = replicate,
               .in = in,
               .in_size = sizeof *in,
               .n = o.replicates,
               .out_size = sizeof *s1};
  rc = ex_replicates(&o.c, &w, s1, &t1, sj, &tj);
  if (rc != 0)
    return ex_replicates_end(&o.c, rc);
  printf("bootstrap: %llu log-normal values, %llu replicates (replicate b: "
         "stream b), seed %llu, %s\n",
         (unsigned long long)o.n, (unsigned long long)o.replicates,
         (unsigned long long)o.c.seed, ex_backend_name(o.c.backend));
  print_sample(data, o.n);
  interval ci_mean, ci_med;
  if (intervals(sj, o.replicates, &ci_mean, &ci_med) != 0) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  printf("result: mean   95%% CI [%.17g, %.17g]\n", ci_mean.lo, ci_mean.hi);
  printf("result: median 95%% CI [%.17g, %.17g]\n", ci_med.lo, ci_med.hi);
  ex_print_times(&o.c, t1, tj);
  rc = memcmp(s1, sj, o.replicates * sizeof *s1) != 0;
  if (rc)
    fprintf(stderr,
            "MISMATCH: the replicates of 1 worker and %u workers "
            "differ\n",
            o.c.workers);
  else
    printf("1 worker and %u workers agree bit for bit\n", o.c.workers);
  free(data);
  free(in);
  free(s1);
  free(sj);
  return ex_backend_end(o.c.backend, rc);
}
