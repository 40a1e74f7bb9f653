/* example.h -- what the examples share, so each file shows its lecture.
 *
 * ex_now and ex_parse_u64 serve every example. The rest is the frame of
 * the replicate examples (montecarlo_pi, bootstrap, permutation_test,
 * mcmc_chains): the options they all take (-j, --backend, --seed), one
 * pool from create to destroy running the replicates, timed, and the line
 * that compares 1 worker with -j workers. */
#ifndef PARC_EXAMPLE_H
#define PARC_EXAMPLE_H

#include <parc.h>
#include <stdint.h>
#include <stdio.h>

/* CLOCK_MONOTONIC, in seconds. */
double ex_now(void);

/* A decimal integer in [min, max]: 0, or -1 if s is not one. */
int ex_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/* ---- the replicate examples */

typedef struct ex_opts {
  unsigned workers;      /* -j / --workers: the parallel run */
  parc_backend backend;  /* --backend threads|processes */
  uint64_t seed;         /* --seed */
} ex_opts;

/* The example's own options: 0 if it took (name, value), -1 if not. */
typedef int (*ex_option_fn)(void *own, const char *name, const char *value);

/* Parses "option value" pairs: -j, --backend and --seed into *c (which
 * starts at one worker per physical core, threads, seed 1), the rest
 * through own_fn. -h prints usage and exits 0. Returns 0, or 2 on a bad
 * command line after printing why and the usage. */
int ex_parse_args(int argc, char **argv, ex_opts *c, ex_option_fn own_fn,
                  void *own, void (*usage)(FILE *f));

/* The replicates: n tasks of fn over in[], results into out[] (parc_map,
 * `chunk` as its option), or, with `combine`, reduced into out from a
 * zero identity (parc_map_reduce). */
typedef struct ex_work {
  parc_task_fn fn;
  const void *in;
  size_t in_size, n;
  void *out;
  size_t out_size;
  parc_combine_fn combine; /* NULL: a map */
  size_t chunk;
} ex_work;

/* One pool of `workers` from create to destroy running w; *secs is that
 * whole wall time. Returns 0 or the parc error (printed). */
int ex_run(const ex_opts *c, unsigned workers, const ex_work *w, double *secs);

/* combine for counts: *(uint64_t *)acc += *(uint64_t *)item. */
int ex_add_u64(void *acc, const void *item, void *ctx);

/* "time: 1 worker ... s, W workers ... s, speedup ..." */
void ex_print_times(double t1, unsigned workers, double tj);

#endif
