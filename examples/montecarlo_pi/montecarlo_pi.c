/* montecarlo_pi -- estimate pi from N darts thrown at the unit square,
 * split into T pool tasks, each drawing from its own Philox stream.
 *
 * A dart (x, y), both uniform on [0, 1), lands inside the quarter circle
 * with probability pi/4. Task i throws its share of the darts with
 * parc_rng stream i of the seed and returns how many landed inside;
 * parc_map_reduce adds the counts. The darts a task throws depend only on
 * (seed, i), never on which worker ran it, so the count -- and pi -- is the
 * same integer for any worker count and any backend. The program runs
 * the whole thing with 1 worker and with -j workers, checks that both
 * agree bit for bit, and prints the speedup.
 *
 *   parc-montecarlo_pi [--darts N] [--tasks T] [-j W]
 *                      [--backend threads|processes|mpi] [--seed S]
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

#define PI 3.14159265358979323846

typedef struct {
  uint64_t darts;
  uint64_t tasks;
  ex_opts c; /* -j, --backend, --seed */
} options;

/* A task's input: which stream, how many darts. Flat bytes. */
typedef struct {
  uint64_t index;
  uint64_t darts;
} job_in;

static uint64_t g_seed; /* set before any pool exists: every worker sees it */

static int throw_darts(const void *in, void *out, void *ctx) {
  (void)ctx;
  job_in a;
  memcpy(&a, in, sizeof a);
  parc_rng r;
  parc_rng_init(&r, g_seed, a.index); /* stream = task index */
  uint64_t hits = 0;
  for (uint64_t k = 0; k < a.darts; k++) {
    double x = parc_rng_uniform(&r), y = parc_rng_uniform(&r);
    hits += x * x + y * y < 1.0;
  }
  memcpy(out, &hits, sizeof hits);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-montecarlo_pi [--darts N] [--tasks T] [-j W]\n"
             "                          [--backend threads|processes|mpi] "
             "[--seed S]\n"
             "  --darts N    darts in all (default 50000000)\n"
             "  --tasks T    pool tasks, task i uses stream i (default 1000)\n"
             "  -j W         workers of the parallel run (default: physical "
             "cores)\n"
             "  --backend B  threads (default), processes or mpi\n"
             "  --seed S     generator seed (default 1)\n");
}

static int own_option(void *own, const char *a, const char *val) {
  options *o = own;
  uint64_t v;
  if (strcmp(a, "--darts") == 0 && ex_parse_u64(val, 1, UINT64_MAX, &v) == 0)
    o->darts = v;
  else if (strcmp(a, "--tasks") == 0 && ex_parse_u64(val, 1, 1u << 24, &v) == 0)
    o->tasks = v;
  else
    return -1;
  return 0;
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  o->darts = 50000000;
  o->tasks = 1000;
  int rc = ex_parse_args(argc, argv, &o->c, own_option, o, usage);
  if (rc == 0 && o->tasks > o->darts)
    o->tasks = o->darts;
  return rc;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  g_seed = o.c.seed;
  job_in *in = malloc(o.tasks * sizeof *in);
  if (in == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  /* np.array_split's shares: the first darts % T tasks throw one more. */
  for (uint64_t i = 0; i < o.tasks; i++)
    in[i] = (job_in){i, o.darts / o.tasks + (i < o.darts % o.tasks)};
  uint64_t hits1 = 0, hitsj = 0;
  double t1 = 0, tj = 0;
  ex_work w = {.fn = throw_darts,
               .in = in,
               .in_size = sizeof *in,
               .n = o.tasks,
               .out_size = sizeof hits1,
               .combine = ex_add_u64};
  rc = ex_replicates(&o.c, &w, &hits1, &t1, &hitsj, &tj);
  free(in);
  if (rc != 0)
    return ex_replicates_end(&o.c, rc);
  printf("montecarlo_pi: %llu darts in %llu tasks (task i: stream i), "
         "seed %llu, %s\n",
         (unsigned long long)o.darts, (unsigned long long)o.tasks,
         (unsigned long long)o.c.seed, ex_backend_name(o.c.backend));
  double pi = 4.0 * (double)hitsj / (double)o.darts;
  /* Binomial standard error of the estimate: 4 sqrt(p (1 - p) / N). */
  double p = PI / 4, se = 4 * sqrt(p * (1 - p) / (double)o.darts);
  printf("result: hits %llu of %llu\n", (unsigned long long)hitsj,
         (unsigned long long)o.darts);
  printf("result: pi ~ %.17g\n", pi);
  printf("error %+.3g (standard error %.2g)\n", pi - PI, se);
  ex_print_times(&o.c, t1, tj);
  if (hits1 != hitsj) {
    fprintf(stderr, "MISMATCH: 1 worker counted %llu hits, %u workers %llu\n",
            (unsigned long long)hits1, o.c.workers, (unsigned long long)hitsj);
    return ex_backend_end(o.c.backend, 1);
  }
  printf("1 worker and %u workers agree bit for bit\n", o.c.workers);
  return ex_backend_end(o.c.backend, 0);
}
