/* montecarlo_pi -- estimate pi from N darts thrown at the unit square,
 * split into T pool tasks, each drawing from its own Philox stream.
 *
 * A dart (x, y), both uniform on [0, 1), lands inside the quarter circle
 * with probability pi/4. Task i throws its share of the darts with
 * parc_rng stream i of the seed and returns how many landed inside;
 * parc_map_reduce adds the counts. The darts a task throws depend only on
 * (seed, i), never on which worker ran it, so the count -- and pi -- is the
 * same integer for any worker count and either backend. The program runs
 * the whole thing with 1 worker and with -j workers, checks that both
 * agree bit for bit, and prints the speedup.
 *
 *   parc-montecarlo_pi [--darts N] [--tasks T] [-j W]
 *                      [--backend threads|processes] [--seed S]
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

#define PI 3.14159265358979323846

typedef struct {
  uint64_t darts;
  uint64_t tasks;
  unsigned workers; /* -j: the parallel run */
  parc_backend backend;
  uint64_t seed;
} options;

/* A task's input: which stream, how many darts. Flat bytes. */
typedef struct {
  uint64_t index;
  uint64_t darts;
} job_in;

static uint64_t g_seed; /* set before any pool exists: every worker sees it */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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
               uint64_t *hits, double *secs) {
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
  rc = parc_map_reduce(pool, throw_darts, in, sizeof *in, o->tasks,
                       add_counts, &zero, hits, sizeof *hits, NULL);
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

static void usage(FILE *f) {
  fprintf(f,
          "usage: parc-montecarlo_pi [--darts N] [--tasks T] [-j W]\n"
          "                          [--backend threads|processes] "
          "[--seed S]\n"
          "  --darts N    darts in all (default 50000000)\n"
          "  --tasks T    pool tasks, task i uses stream i (default 1000)\n"
          "  -j W         workers of the parallel run (default: physical "
          "cores)\n"
          "  --backend B  threads (default) or processes\n"
          "  --seed S     generator seed (default 1)\n");
}

static int parse_option(options *o, const char *a, const char *val) {
  uint64_t v;
  if (strcmp(a, "--darts") == 0 && parse_u64(val, 1, UINT64_MAX, &v) == 0)
    o->darts = v;
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
  *o = (options){50000000, 1000, parc_physical_cores(), PARC_THREADS, 1};
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
  if (o->tasks > o->darts)
    o->tasks = o->darts;
  return 0;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  g_seed = o.seed;
  job_in *in = malloc(o.tasks * sizeof *in);
  if (in == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  /* np.array_split's shares: the first darts % T tasks throw one more. */
  for (uint64_t i = 0; i < o.tasks; i++)
    in[i] = (job_in){i, o.darts / o.tasks + (i < o.darts % o.tasks)};
  const char *be = o.backend == PARC_THREADS ? "threads" : "processes";
  printf("montecarlo_pi: %llu darts in %llu tasks (task i: stream i), "
         "seed %llu, %s\n", (unsigned long long)o.darts,
         (unsigned long long)o.tasks, (unsigned long long)o.seed, be);
  uint64_t hits1 = 0, hitsj = 0;
  double t1 = 0, tj = 0;
  if (run(&o, 1, in, &hits1, &t1) != 0 || run(&o, o.workers, in, &hitsj, &tj))
    return 1;
  free(in);
  double pi = 4.0 * (double)hitsj / (double)o.darts;
  /* Binomial standard error of the estimate: 4 sqrt(p (1 - p) / N). */
  double p = PI / 4, se = 4 * sqrt(p * (1 - p) / (double)o.darts);
  printf("result: hits %llu of %llu\n", (unsigned long long)hitsj,
         (unsigned long long)o.darts);
  printf("result: pi ~ %.17g\n", pi);
  printf("error %+.3g (standard error %.2g)\n", pi - PI, se);
  printf("time: 1 worker %.3f s, %u workers %.3f s, speedup %.2f\n", t1,
         o.workers, tj, tj > 0 ? t1 / tj : 0.0);
  if (hits1 != hitsj) {
    fprintf(stderr, "MISMATCH: 1 worker counted %llu hits, %u workers %llu\n",
            (unsigned long long)hits1, o.workers, (unsigned long long)hitsj);
    return 1;
  }
  printf("1 worker and %u workers agree bit for bit\n", o.workers);
  return 0;
}
