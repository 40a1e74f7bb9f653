/* permutation_test -- a two-sample permutation test of the difference of
 * means, its P random relabellings run as pool tasks.
 *
 * Two samples, A (n values from N(0, 1)) and B (n values from N(effect,
 * 1)), are drawn from stream 2^64 - 1 of the seed before the pool exists.
 * Under the null hypothesis the labels A and B are exchangeable, so the
 * observed difference of means is compared with the differences of many
 * random relabellings of the pooled 2n values. Task t runs its share of
 * the P relabellings, each a partial Fisher-Yates shuffle drawing from
 * stream t, and counts those at least as extreme as the observed
 * difference (two-sided); parc_map_reduce adds the counts. The p-value is
 * (count + 1) / (P + 1). The counts depend only on (seed, t), so the
 * p-value is the same for any worker count and any backend; the program
 * runs with 1 worker and with -j workers, checks that, and prints the
 * speedup.
 *
 *   parc-permutation_test [--n N] [--effect D] [--perms P] [--tasks T]
 *                         [-j W] [--backend threads|processes|mpi] [--seed S]
 *
 * Exit status: 0; 1 if a parc call fails or the two runs differ; 2 on a
 * bad command line.
 */
#include <errno.h>
#include <math.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define DATA_STREAM UINT64_MAX /* no task has this index */

typedef struct {
  uint64_t n;     /* values per sample */
  double effect;  /* mean of B minus mean of A in the population */
  uint64_t perms; /* P */
  uint64_t tasks; /* T */
  ex_opts c;      /* -j, --backend, --seed */
} options;

/* A task's input: its stream and its share of the relabellings. */
typedef struct {
  uint64_t index;
  uint64_t perms;
} job_in;

/* Read-only after main fills it, before any pool: threads share it and
 * forked workers inherit it. */
static struct {
  uint64_t seed;
  size_t n; /* per sample; pooled[0..n) is A, pooled[n..2n) B */
  const double *pooled;
  double total;     /* sum of all 2n values */
  double threshold; /* |observed difference|, less a rounding margin */
} g;

/* mean(first n) - mean(rest), given the sum of the first n. */
static double diff_of_means(double sum_a, double total, size_t n) {
  return (total - sum_a) / (double)n - sum_a / (double)n;
}

static int relabel(const void *in, void *out, void *ctx) {
  (void)ctx;
  job_in a;
  memcpy(&a, in, sizeof a);
  size_t m = 2 * g.n;
  double *x = malloc(m * sizeof *x);
  if (x == NULL)
    return 1; /* reported as this task's error */
  memcpy(x, g.pooled, m * sizeof *x);
  parc_rng r;
  parc_rng_init(&r, g.seed, a.index); /* stream = task index */
  uint64_t extreme = 0;
  for (uint64_t p = 0; p < a.perms; p++) {
    /* Partial Fisher-Yates: x[0..n) becomes a uniform random n-subset
     * (whatever order x is in, so each shuffle continues from the last). */
    double sum_a = 0;
    for (size_t i = 0; i < g.n; i++) {
      size_t j = i + (size_t)parc_rng_below(&r, m - i);
      double t = x[i];
      x[i] = x[j];
      x[j] = t;
      sum_a += x[i];
    }
    extreme += fabs(diff_of_means(sum_a, g.total, g.n)) >= g.threshold;
  }
  free(x);
  memcpy(out, &extreme, sizeof extreme);
  return 0;
}

static int parse_double(const char *s, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !isfinite(x))
    return -1;
  *v = x;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: parc-permutation_test [--n N] [--effect D] [--perms P] "
          "[--tasks T]\n"
          "                             [-j W] "
          "[--backend threads|processes|mpi] [--seed S]\n"
          "  --n N       values per sample (default 100)\n"
          "  --effect D  population mean of B minus that of A (default 0.3)\n"
          "  --perms P   random relabellings (default 600000)\n"
          "  --tasks T   pool tasks, task t uses stream t (default 1000)\n"
          "  -j W        workers of the parallel run (default: physical "
          "cores)\n"
          "  --backend B threads (default), processes or mpi\n"
          "  --seed S    generator seed (default 1)\n");
}

static int own_option(void *own, const char *a, const char *val) {
  options *o = own;
  uint64_t v;
  if (strcmp(a, "--n") == 0 && ex_parse_u64(val, 1, 1u << 26, &v) == 0)
    o->n = v;
  else if (strcmp(a, "--effect") == 0)
    return parse_double(val, &o->effect);
  else if (strcmp(a, "--perms") == 0 &&
           ex_parse_u64(val, 1, UINT64_MAX / 2, &v) == 0)
    o->perms = v;
  else if (strcmp(a, "--tasks") == 0 && ex_parse_u64(val, 1, 1u << 24, &v) == 0)
    o->tasks = v;
  else
    return -1;
  return 0;
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  o->n = 100;
  o->effect = 0.3;
  o->perms = 600000;
  o->tasks = 1000;
  int rc = ex_parse_args(argc, argv, &o->c, own_option, o, usage);
  if (rc == 0 && o->tasks > o->perms)
    o->tasks = o->perms;
  return rc;
}

/* Draws both samples into pooled[0..2n) and fills g. Returns the observed
 * difference of means, mean(B) - mean(A). */
static double make_data(const options *o, double *pooled) {
  parc_rng r;
  parc_rng_init(&r, o->c.seed, DATA_STREAM);
  double sum_a = 0, total = 0;
  for (size_t i = 0; i < 2 * o->n; i++) {
    pooled[i] = parc_rng_normal(&r) + (i < o->n ? 0.0 : o->effect);
    sum_a += i < o->n ? pooled[i] : 0.0;
    total += pooled[i];
  }
  double observed = diff_of_means(sum_a, total, o->n);
  g.seed = o->c.seed;
  g.n = o->n;
  g.pooled = pooled;
  g.total = total;
  /* A relabelling that reproduces the observed split sums its values in
   * another order; the margin keeps rounding from making it "less
   * extreme" than itself. */
  g.threshold = fabs(observed) * (1 - 1e-12);
  return observed;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  double *pooled = malloc(2 * o.n * sizeof *pooled);
  job_in *in = malloc(o.tasks * sizeof *in);
  if (pooled == NULL || in == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  double observed = make_data(&o, pooled);
  for (uint64_t t = 0; t < o.tasks; t++)
    in[t] = (job_in){t, o.perms / o.tasks + (t < o.perms % o.tasks)};
  uint64_t c1 = 0, cj = 0;
  double t1 = 0, tj = 0;
  ex_work w = {.fn = relabel,
               .in = in,
               .in_size = sizeof *in,
               .n = o.tasks,
               .out_size = sizeof c1,
               .combine = ex_add_u64};
  rc = ex_replicates(&o.c, &w, &c1, &t1, &cj, &tj);
  if (rc != 0) {
    free(pooled);
    free(in);
    return ex_replicates_end(&o.c, rc);
  }
  printf("permutation_test: A ~ N(0, 1), B ~ N(%g, 1), %llu values each; "
         "%llu relabellings in %llu tasks (task t: stream t), seed %llu, %s\n",
         o.effect, (unsigned long long)o.n, (unsigned long long)o.perms,
         (unsigned long long)o.tasks, (unsigned long long)o.c.seed,
         ex_backend_name(o.c.backend));
  /* For comparison: the normal approximation with the pooled variance. */
  double ss = 0, mean = g.total / (double)(2 * o.n);
  for (size_t i = 0; i < 2 * o.n; i++)
    ss += (pooled[i] - mean) * (pooled[i] - mean);
  double se = sqrt(ss / (double)(2 * o.n - 1) * 2 / (double)o.n);
  printf("normal approximation: z = %.3f, two-sided p ~ %.4f\n", observed / se,
         erfc(fabs(observed / se) / sqrt(2.0)));
  printf("result: observed mean(B) - mean(A) = %.17g\n", observed);
  printf("result: %llu of %llu relabellings as extreme, p = %.17g\n",
         (unsigned long long)cj, (unsigned long long)o.perms,
         (double)(cj + 1) / (double)(o.perms + 1));
  ex_print_times(&o.c, t1, tj);
  free(pooled);
  free(in);
  if (c1 != cj) {
    fprintf(stderr, "MISMATCH: 1 worker counted %llu, %u workers %llu\n",
            (unsigned long long)c1, o.c.workers, (unsigned long long)cj);
    return ex_backend_end(o.c.backend, 1);
  }
  printf("1 worker and %u workers agree bit for bit\n", o.c.workers);
  return ex_backend_end(o.c.backend, 0);
}
