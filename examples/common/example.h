/* example.h -- what the examples share, so each file shows its lecture.
 *
 * ex_now, ex_parse_u64 and ex_strerror serve every example; the backends
 * (threads, processes, and MPI ranks under mpirun) serve the workload
 * examples. The rest is the frame of the replicate examples
 * (montecarlo_pi, bootstrap, permutation_test, mcmc_chains): the options
 * they all take (-j, --backend, --seed), the replicates run on one worker
 * then on -j, timed, and the line that compares them. */
#ifndef PARC_EXAMPLE_H
#define PARC_EXAMPLE_H

#include <parc.h>
#include <stdint.h>
#include <stdio.h>

/* CLOCK_MONOTONIC, in seconds. */
double ex_now(void);

/* A decimal integer in [min, max]: 0, or -1 if s is not one. */
int ex_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/* What parc error rc means: for PARC_ESYS the OS reason this thread's last
 * one had (parc_last_sys_error, e.g. "fork: Resource temporarily
 * unavailable"), else parc_strerror(rc). Lives until the next call. */
const char *ex_strerror(int rc);

/* ---- the backends
 *
 * Under `mpirun -n N ... --backend mpi` every rank runs the example (SPMD,
 * docs/cluster.md): each makes the same data and creates the same pools in
 * the same order. Rank 0 runs the example and prints; ranks 1..N-1 serve
 * its tasks inside parc_pool_create (PARC_ESERVED) and print nothing. -j is
 * then the workers of each serving rank. */

/* "threads", "processes" or "mpi" into *b: 0, or -1 if name is none of
 * them. "mpi" in a build without libparc_mpi is -1 too, said on stderr. */
int ex_parse_backend(const char *name, parc_backend *b);

/* Before the first pool (and after the options are parsed): for PARC_MPI,
 * parc_mpi_init. Returns 0, or 1 after printing why. */
int ex_backend_start(parc_backend b, int *argc, char ***argv);

/* The end of a run that started with ex_backend_start: for PARC_MPI,
 * parc_mpi_finalize (every rank). Returns rc. */
int ex_backend_end(parc_backend b, int rc);

/* True where the example reports: everywhere but MPI's serving ranks. */
int ex_reports(void);

/* "threads", "processes" or "mpi, N ranks". */
const char *ex_backend_name(parc_backend b);

/* ---- the replicate examples */

typedef struct ex_opts {
  unsigned workers;     /* -j / --workers: the parallel run */
  parc_backend backend; /* --backend threads|processes|mpi */
  uint64_t seed;        /* --seed */
} ex_opts;

/* The example's own options: 0 if it took (name, value), -1 if not. */
typedef int (*ex_option_fn)(void *own, const char *name, const char *value);

/* Parses "option value" pairs: -j, --backend and --seed into *c (which
 * starts at one worker per physical core, threads, seed 1), the rest
 * through own_fn, then starts the backend (ex_backend_start). -h prints
 * usage and exits 0. Returns 0, 2 on a bad command line after printing why
 * and the usage, or 1 if the backend cannot start. */
int ex_parse_args(int argc, char **argv, ex_opts *c, ex_option_fn own_fn,
                  void *own, void (*usage)(FILE *f));

/* The replicates: n tasks of fn over in[], results of out_size bytes each
 * (parc_map, `chunk` as its option), or, with `combine`, reduced into one
 * from a zero identity (parc_map_reduce). */
typedef struct ex_work {
  parc_task_fn fn;
  const void *in;
  size_t in_size, n;
  size_t out_size;
  parc_combine_fn combine; /* NULL: a map */
  size_t chunk;
} ex_work;

/* The replicates twice, each on a pool of its own from create to destroy:
 * on one worker into out1, then on c->workers into outj. *t1 and *tj are
 * those whole wall times. Returns 0, PARC_ESERVED on MPI's serving ranks
 * (which report nothing), or the parc error (printed). */
int ex_replicates(const ex_opts *c, const ex_work *w, void *out1, double *t1,
                  void *outj, double *tj);

/* The end of a run whose ex_replicates returned rc != 0: ends the backend
 * (ex_backend_end) and returns the exit status, 0 on MPI's serving ranks
 * (PARC_ESERVED), else 1. */
int ex_replicates_end(const ex_opts *c, int rc);

/* combine for counts: *(uint64_t *)acc += *(uint64_t *)item. */
int ex_add_u64(void *acc, const void *item, void *ctx);

/* "time: 1 worker ... s, W workers ... s, speedup ..." (per rank under
 * MPI). */
void ex_print_times(const ex_opts *c, double t1, double tj);

#endif
