/* mcmc_chains -- several random-walk Metropolis chains on a 2-D target,
 * one pool task per chain, with the split R-hat of each coordinate.
 *
 * Chain c is pool task c: it starts from an over-dispersed point and takes
 * S Metropolis steps, every draw (start, proposals, accept/reject) from
 * stream c of the seed. The first half is warm-up; of the second half the
 * chain returns the mean and the sum of squared deviations of each
 * coordinate over each of its two quarters, and how many proposals it
 * accepted. From those the caller computes the posterior mean and sd and
 * the split R-hat of Gelman et al. (Bayesian Data Analysis, 3rd ed.,
 * 11.4): every kept half-chain is a chain; R-hat near 1 says the chains
 * agree with each other, above about 1.01 says run longer. A chain depends
 * only on (seed, c), so every number is the same for any worker count and
 * either backend; the program runs with 1 worker and with -j workers,
 * checks that, and prints the speedup.
 *
 * Targets: "gauss", a correlated normal (x, y) with unit variances and
 * correlation 0.9; "banana", x ~ N(0, 1), y | x ~ N(x^2 - 1, 1) (a
 * twisted, harder shape; both have mean (0, 0)).
 *
 *   parc-mcmc_chains [--chains C] [--steps S] [--target gauss|banana]
 *                    [-j W] [--backend threads|processes|mpi] [--seed S]
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

#define RHO 0.9      /* the gauss target's correlation */
#define STEP_SD 1.0  /* proposal: N(current, STEP_SD^2) per coordinate */
#define START_SD 4.0 /* over-dispersed starting points */

enum { TARGET_GAUSS, TARGET_BANANA };

typedef struct {
  uint64_t chains;
  uint64_t steps;
  int target;
  ex_opts c; /* -j, --backend, --seed */
} options;

/* What a chain returns: for each quarter q of the chain's kept second
 * half, the mean and the sum of squared deviations of each coordinate. */
typedef struct {
  double mean[2][2]; /* [quarter][coordinate] */
  double m2[2][2];
  uint64_t accepted;
  uint64_t kept; /* draws per quarter */
} chain_out;

typedef struct {
  uint64_t index; /* the chain, and its stream */
  uint64_t steps;
  int32_t target;
  int32_t pad; /* keeps the input's bytes all defined */
} chain_in;

static uint64_t g_seed; /* set before any pool exists: every worker sees it */

/* log density of the target, up to a constant. */
static double log_target(int target, double x, double y) {
  if (target == TARGET_BANANA) {
    double d = y - (x * x - 1);
    return -0.5 * (x * x + d * d);
  }
  return -0.5 * (x * x - 2 * RHO * x * y + y * y) / (1 - RHO * RHO);
}

/* Welford's running mean and squared deviations: stable in one pass. */
static void welford(double *mean, double *m2, uint64_t k, double v) {
  double d = v - *mean;
  *mean += d / (double)k;
  *m2 += d * (v - *mean);
}

static int run_chain(const void *in, void *out, void *ctx) {
  (void)ctx;
  chain_in a;
  memcpy(&a, in, sizeof a);
  parc_rng r;
  parc_rng_init(&r, g_seed, a.index); /* stream = chain index */
  double p[2] = {START_SD * parc_rng_normal(&r),
                 START_SD * parc_rng_normal(&r)};
  double lp = log_target(a.target, p[0], p[1]);
  chain_out c;
  memset(&c, 0, sizeof c);
  uint64_t warm = a.steps / 2;
  c.kept = (a.steps - warm) / 2;
  for (uint64_t s = 0; s < warm + 2 * c.kept; s++) {
    double q0 = p[0] + STEP_SD * parc_rng_normal(&r);
    double q1 = p[1] + STEP_SD * parc_rng_normal(&r);
    double lq = log_target(a.target, q0, q1);
    /* Accept with probability min(1, target(q) / target(p)). */
    if (log(parc_rng_uniform(&r)) < lq - lp) {
      p[0] = q0;
      p[1] = q1;
      lp = lq;
      c.accepted += s >= warm;
    }
    if (s < warm)
      continue;
    uint64_t kept = s - warm, q = kept / c.kept, k = kept % c.kept + 1;
    for (int d = 0; d < 2; d++) welford(&c.mean[q][d], &c.m2[q][d], k, p[d]);
  }
  memcpy(out, &c, sizeof c);
  return 0;
}

typedef struct {
  double mean, sd, rhat;
} summary;

/* Split R-hat of coordinate d over the 2C half-chains of n draws each:
 * W = mean within-chain variance, B/n = variance of the chain means,
 * var+ = (n - 1)/n W + B/n, R-hat = sqrt(var+ / W). */
static summary summarize(const chain_out *c, size_t chains, int d) {
  size_t m = 2 * chains;
  double n = (double)c[0].kept, grand = 0, w = 0, b = 0;
  for (size_t i = 0; i < chains; i++)
    for (int q = 0; q < 2; q++) {
      grand += c[i].mean[q][d] / (double)m;
      w += c[i].m2[q][d] / (n - 1) / (double)m;
    }
  for (size_t i = 0; i < chains; i++)
    for (int q = 0; q < 2; q++) {
      double e = c[i].mean[q][d] - grand;
      b += e * e / (double)(m - 1); /* B / n */
    }
  double var_plus = (n - 1) / n * w + b;
  return (summary){grand, sqrt(var_plus), sqrt(var_plus / w)};
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-mcmc_chains [--chains C] [--steps S] "
             "[--target gauss|banana]\n"
             "                        [-j W] [--backend threads|processes|mpi] "
             "[--seed S]\n"
             "  --chains C   chains, one task each; chain c uses stream c "
             "(default 8)\n"
             "  --steps S    Metropolis steps per chain, half of them warm-up\n"
             "               (default 1200000)\n"
             "  --target T   gauss (correlation 0.9, default) or banana\n"
             "  -j W         workers of the parallel run (default: physical "
             "cores)\n"
             "  --backend B  threads (default), processes or mpi\n"
             "  --seed S     generator seed (default 1)\n");
}

static int own_option(void *own, const char *a, const char *val) {
  options *o = own;
  uint64_t v;
  if (strcmp(a, "--chains") == 0 && ex_parse_u64(val, 2, 1u << 20, &v) == 0)
    o->chains = v;
  else if (strcmp(a, "--steps") == 0 &&
           ex_parse_u64(val, 8, UINT64_MAX / 2, &v) == 0)
    o->steps = v;
  else if (strcmp(a, "--target") == 0 && strcmp(val, "gauss") == 0)
    o->target = TARGET_GAUSS;
  else if (strcmp(a, "--target") == 0 && strcmp(val, "banana") == 0)
    o->target = TARGET_BANANA;
  else
    return -1;
  return 0;
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  o->chains = 8;
  o->steps = 1200000;
  o->target = TARGET_GAUSS;
  int rc = ex_parse_args(argc, argv, &o->c, own_option, o, usage);
  return rc;
}

static void print_results(const options *o, const chain_out *c) {
  for (size_t i = 0; i < o->chains; i++)
    printf("result: chain %zu: mean (%.17g, %.17g), acceptance %.6f\n", i,
           (c[i].mean[0][0] + c[i].mean[1][0]) / 2,
           (c[i].mean[0][1] + c[i].mean[1][1]) / 2,
           (double)c[i].accepted / (double)(2 * c[i].kept));
  for (int d = 0; d < 2; d++) {
    summary s = summarize(c, o->chains, d);
    printf("result: %c: mean %.17g, sd %.17g, split R-hat %.17g\n", "xy"[d],
           s.mean, s.sd, s.rhat);
  }
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  g_seed = o.c.seed;
  chain_in *in = calloc(o.chains, sizeof *in);
  chain_out *c1 = calloc(o.chains, sizeof *c1);
  chain_out *cj = calloc(o.chains, sizeof *cj);
  if (in == NULL || c1 == NULL || cj == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (uint64_t i = 0; i < o.chains; i++)
    in[i] = (chain_in){i, o.steps, o.target, 0};
  double t1 = 0, tj = 0;
  /* A few long tasks: hand them out one at a time. */
  ex_work w = {.fn = run_chain,
               .in = in,
               .in_size = sizeof *in,
               .n = o.chains,
               .out_size = sizeof *c1,
               .chunk = 1};
  rc = ex_replicates(&o.c, &w, c1, &t1, cj, &tj);
  if (rc != 0)
    return ex_replicates_end(&o.c, rc);
  printf("mcmc_chains: %llu Metropolis chains of %llu steps (half warm-up) "
         "on the %s target (chain c: stream c), seed %llu, %s\n",
         (unsigned long long)o.chains, (unsigned long long)o.steps,
         o.target == TARGET_GAUSS ? "correlated gauss" : "banana",
         (unsigned long long)o.c.seed, ex_backend_name(o.c.backend));
  printf("true values: x mean 0 sd 1; y mean 0 sd %s\n",
         o.target == TARGET_GAUSS ? "1" : "sqrt(3) = 1.732");
  print_results(&o, cj);
  ex_print_times(&o.c, t1, tj);
  rc = memcmp(c1, cj, o.chains * sizeof *c1) != 0;
  if (rc)
    fprintf(stderr,
            "MISMATCH: the chains of 1 worker and %u workers "
            "differ\n",
            o.c.workers);
  else
    printf("1 worker and %u workers agree bit for bit\n", o.c.workers);
  free(in);
  free(c1);
  free(cj);
  return ex_backend_end(o.c.backend, rc);
}
