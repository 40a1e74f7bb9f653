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
 * p-value is the same for any worker count and either backend; the program
 * runs with 1 worker and with -j workers, checks that, and prints the
 * speedup.
 *
 *   parc-permutation_test [--n N] [--effect D] [--perms P] [--tasks T]
 *                         [-j W] [--backend threads|processes] [--seed S]
 *
 * Exit status: 0; 1 if a parc call fails or the two runs differ; 2 on a
 * bad command line.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <math.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DATA_STREAM UINT64_MAX /* no task has this index */

typedef struct {
  uint64_t n;      /* values per sample */
  double effect;   /* mean of B minus mean of A in the population */
  uint64_t perms;  /* P */
  uint64_t tasks;  /* T */
  unsigned workers; /* -j: the parallel run */
  parc_backend backend;
  uint64_t seed;
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
  size_t n;            /* per sample; pooled[0..n) is A, pooled[n..2n) B */
  const double *pooled;
  double total;        /* sum of all 2n values */
  double threshold;    /* |observed difference|, less a rounding margin */
} g;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

static int add_counts(void *acc, const void *item, void *ctx) {
  (void)ctx;
  uint64_t a, b;
  memcpy(&a, acc, sizeof a);
  memcpy(&b, item, sizeof b);
  a += b;
  memcpy(acc, &a, sizeof a);
  return 0;
}

/* One pool from create to destroy; *secs is that whole wall time. */
static int run(const options *o, unsigned workers, const job_in *in,
               uint64_t *extreme, double *secs) {
  parc_pool_opts po = {0};
  po.backend = o->backend;
  po.workers = workers;
  parc_pool *pool = NULL;
  fflush(stdout); /* a fork must not inherit unwritten output */
  double t0 = now_s();
  int rc = parc_pool_create(&pool, &po);
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create: %s\n", parc_strerror(rc));
    return rc;
  }
  uint64_t zero = 0;
  rc = parc_map_reduce(pool, relabel, in, sizeof *in, o->tasks, add_counts,
                       &zero, extreme, sizeof *extreme, NULL);
  parc_pool_destroy(pool);
  *secs = now_s() - t0;
  if (rc != 0)
    fprintf(stderr, "parc_map_reduce: %s\n", parc_strerror(rc));
  return rc;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 0);
  if (s[0] == '-' || end == s || *end != '\0' || errno != 0 || x < min ||
      x > max)
    return -1;
  *v = x;
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
          "                             [-j W] [--backend threads|processes]"
          " [--seed S]\n"
          "  --n N       values per sample (default 100)\n"
          "  --effect D  population mean of B minus that of A (default 0.3)\n"
          "  --perms P   random relabellings (default 600000)\n"
          "  --tasks T   pool tasks, task t uses stream t (default 1000)\n"
          "  -j W        workers of the parallel run (default: physical "
          "cores)\n"
          "  --backend B threads (default) or processes\n"
          "  --seed S    generator seed (default 1)\n");
}

static int parse_option(options *o, const char *a, const char *val) {
  uint64_t v;
  if (strcmp(a, "--n") == 0 && parse_u64(val, 1, 1u << 26, &v) == 0)
    o->n = v;
  else if (strcmp(a, "--effect") == 0)
    return parse_double(val, &o->effect);
  else if (strcmp(a, "--perms") == 0 && parse_u64(val, 1, UINT64_MAX / 2, &v) == 0)
    o->perms = v;
  else if (strcmp(a, "--tasks") == 0 && parse_u64(val, 1, 1u << 24, &v) == 0)
    o->tasks = v;
  else if ((strcmp(a, "-j") == 0 || strcmp(a, "--workers") == 0) &&
           parse_u64(val, 1, 1024, &v) == 0)
    o->workers = (unsigned)v;
  else if (strcmp(a, "--backend") == 0 && strcmp(val, "threads") == 0)
    o->backend = PARC_THREADS;
  else if (strcmp(a, "--backend") == 0 && strcmp(val, "processes") == 0)
    o->backend = PARC_PROCESSES;
  else if (strcmp(a, "--seed") == 0 && parse_u64(val, 0, UINT64_MAX, &v) == 0)
    o->seed = v;
  else
    return -1;
  return 0;
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  *o = (options){100, 0.3, 600000, 1000, parc_physical_cores(), PARC_THREADS,
                 1};
  for (int i = 1; i < argc; i += 2) { /* an option and its value */
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc || parse_option(o, argv[i], argv[i + 1]) != 0) {
      fprintf(stderr, "bad option: %s %s\n", argv[i],
              i + 1 < argc ? argv[i + 1] : "(no value)");
      usage(stderr);
      return 2;
    }
  }
  if (o->tasks > o->perms)
    o->tasks = o->perms;
  return 0;
}

/* Draws both samples into pooled[0..2n) and fills g. Returns the observed
 * difference of means, mean(B) - mean(A). */
static double make_data(const options *o, double *pooled) {
  parc_rng r;
  parc_rng_init(&r, o->seed, DATA_STREAM);
  double sum_a = 0, total = 0;
  for (size_t i = 0; i < 2 * o->n; i++) {
    pooled[i] = parc_rng_normal(&r) + (i < o->n ? 0.0 : o->effect);
    sum_a += i < o->n ? pooled[i] : 0.0;
    total += pooled[i];
  }
  double observed = diff_of_means(sum_a, total, o->n);
  g.seed = o->seed;
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
  printf("permutation_test: A ~ N(0, 1), B ~ N(%g, 1), %llu values each; "
         "%llu relabellings in %llu tasks (task t: stream t), seed %llu, %s\n",
         o.effect, (unsigned long long)o.n, (unsigned long long)o.perms,
         (unsigned long long)o.tasks, (unsigned long long)o.seed,
         o.backend == PARC_THREADS ? "threads" : "processes");
  /* For comparison: the normal approximation with the pooled variance. */
  double ss = 0, mean = g.total / (double)(2 * o.n);
  for (size_t i = 0; i < 2 * o.n; i++)
    ss += (pooled[i] - mean) * (pooled[i] - mean);
  double se = sqrt(ss / (double)(2 * o.n - 1) * 2 / (double)o.n);
  printf("normal approximation: z = %.3f, two-sided p ~ %.4f\n",
         observed / se, erfc(fabs(observed / se) / sqrt(2.0)));
  uint64_t c1 = 0, cj = 0;
  double t1 = 0, tj = 0;
  if (run(&o, 1, in, &c1, &t1) != 0 || run(&o, o.workers, in, &cj, &tj) != 0)
    return 1;
  printf("result: observed mean(B) - mean(A) = %.17g\n", observed);
  printf("result: %llu of %llu relabellings as extreme, p = %.17g\n",
         (unsigned long long)cj, (unsigned long long)o.perms,
         (double)(cj + 1) / (double)(o.perms + 1));
  printf("time: 1 worker %.3f s, %u workers %.3f s, speedup %.2f\n", t1,
         o.workers, tj, tj > 0 ? t1 / tj : 0.0);
  free(pooled);
  free(in);
  if (c1 != cj) {
    fprintf(stderr, "MISMATCH: 1 worker counted %llu, %u workers %llu\n",
            (unsigned long long)c1, o.workers, (unsigned long long)cj);
    return 1;
  }
  printf("1 worker and %u workers agree bit for bit\n", o.workers);
  return 0;
}
