/* threads_vs_processes -- seed 000's do_stuff() on 1, 2 and N workers,
 * first as threads of this process, then as forked processes.
 *
 * The lecture runs a CPU-bound loop on one thread, then two, then many, and
 * watches the cores fill up; then it switches to processes and prints PIDs.
 * Here the same task runs through parc_map on both backends and the program
 * prints the wall time and speedup of each run, then which PID and worker
 * ran each task: thread workers all share this process's PID, process
 * workers each have their own.
 *
 *   parc-threads_vs_processes [--work N] [--tasks N] [--workers N]
 */
#define _POSIX_C_SOURCE 200809L /* getpid, clock_gettime under -std=c11 */

#include <errno.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

#define MAX_COUNTS 3 /* worker counts tried: 1, 2 and N */

typedef struct {
  uint64_t work;    /* iterations of do_stuff per task */
  uint64_t tasks;   /* tasks per map */
  unsigned workers; /* N: the largest pool */
} options;

/* A task's input: flat bytes, because it may be copied into another process. */
typedef struct {
  uint64_t iters;
} job_in;

/* A task's output: the answer, and where it was computed. */
typedef struct {
  double sum;
  int32_t pid;
  int32_t worker;
} job_out;

/* One pool's run. */
typedef struct {
  parc_backend backend;
  unsigned workers;
  double start_s; /* parc_pool_create: threads or forks starting */
  double map_s;   /* parc_map: the work itself */
  size_t pids;    /* distinct PIDs that ran tasks */
} run_result;

/* The lecture's do_stuff: pure arithmetic, no memory traffic, no I/O, so a
 * run is CPU-bound and only more cores make it faster. The sum converges to
 * pi^2/6; its value matters only as a check that every worker agrees. */
static double do_stuff(uint64_t iters) {
  double sum = 0.0;
  for (uint64_t k = 1; k <= iters; k++) {
    double x = (double)k;
    sum += 1.0 / (x * x);
  }
  return sum;
}

static int job(const void *in, void *out, void *ctx) {
  (void)ctx;
  job_in a;
  memcpy(&a, in, sizeof a);
  job_out r = {do_stuff(a.iters), (int32_t)getpid(), (int32_t)parc_worker_id()};
  memcpy(out, &r, sizeof r);
  return 0;
}

static const char *backend_name(parc_backend b) {
  return b == PARC_THREADS ? "threads" : "processes";
}

static size_t count_distinct_pids(const job_out *out, size_t n) {
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++) {
    size_t j = 0;
    while (j < i && out[j].pid != out[i].pid) j++;
    distinct += (j == i);
  }
  return distinct;
}

/* Creates a pool, maps every task over it, destroys it. Pool start-up is
 * timed apart from the map: it is the price of a backend, paid once. */
static int run_once(run_result *r, const job_in *in, job_out *out, size_t n) {
  parc_pool_opts po = {0};
  po.backend = r->backend;
  po.workers = r->workers;
  parc_pool *pool = NULL;
  /* A fork copies unflushed stdio buffers too; flush so no child holds a
   * copy of our table that it might print again. */
  fflush(stdout);
  double t0 = ex_now();
  int rc = parc_pool_create(&pool, &po);
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create(%s, %u workers): %s\n",
            backend_name(r->backend), r->workers, ex_strerror(rc));
    return rc;
  }
  double t1 = ex_now();
  size_t bad = 0;
  parc_map_opts mo = {0};
  mo.err_index = &bad;
  rc = parc_map(pool, job, in, sizeof *in, out, sizeof *out, n, &mo);
  double t2 = ex_now();
  parc_pool_destroy(pool);
  if (rc != 0) {
    fprintf(stderr, "parc_map(%s, %u workers): task %zu: %s\n",
            backend_name(r->backend), r->workers, bad, parc_strerror(rc));
    return rc;
  }
  r->start_s = t1 - t0;
  r->map_s = t2 - t1;
  r->pids = count_distinct_pids(out, n);
  return 0;
}

/* Every task did the same sum with the same instructions, so every answer
 * must be equal bit for bit; a thread must report our PID and a process
 * must not. Returns 0 when all of that holds. */
static int check_run(const run_result *r, const job_out *out, size_t n,
                     double expect) {
  int32_t me = (int32_t)getpid();
  for (size_t i = 0; i < n; i++) {
    int here = out[i].pid == me;
    if (out[i].sum != expect) {
      fprintf(stderr, "task %zu: sum %.17g, expected %.17g\n", i, out[i].sum,
              expect);
      return 1;
    }
    if (here != (r->backend == PARC_THREADS)) {
      fprintf(stderr,
              "task %zu ran in pid %d (this process is %d): wrong "
              "for the %s backend\n",
              i, (int)out[i].pid, (int)me, backend_name(r->backend));
      return 1;
    }
    if (out[i].worker < 0 || (unsigned)out[i].worker >= r->workers) {
      fprintf(stderr, "task %zu: worker id %d out of range\n", i,
              (int)out[i].worker);
      return 1;
    }
  }
  return 0;
}

static int same_place(const job_out *a, const job_out *b) {
  return a->pid == b->pid && a->worker == b->worker;
}

/* Prints one line per (pid, worker) pair with the tasks it ran. */
static void print_placement(const run_result *r, const job_out *out, size_t n) {
  printf("\n%s, %u workers (this process is pid %d):\n",
         backend_name(r->backend), r->workers, (int)getpid());
  for (size_t i = 0; i < n; i++) {
    size_t j = 0;
    while (j < i && !same_place(&out[j], &out[i])) j++;
    if (j < i)
      continue; /* this pair was printed with its first task */
    printf("  pid %-7d worker %-3d tasks:", (int)out[i].pid,
           (int)out[i].worker);
    size_t shown = 0;
    for (size_t k = i; k < n; k++) {
      if (!same_place(&out[k], &out[i]))
        continue;
      if (shown++ < 12)
        printf(" %zu", k);
    }
    if (shown > 12)
      printf(" ... (%zu tasks)", shown);
    printf("\n");
  }
}

/* 1, 2 and N, each once, in increasing order. */
static size_t worker_counts(unsigned n, unsigned counts[MAX_COUNTS]) {
  size_t k = 0;
  counts[k++] = 1;
  if (n >= 2) {
    counts[k++] = 2;
    if (n > 2)
      counts[k++] = n;
  } else {
    counts[k++] = 2; /* one core: two workers show there is nothing to gain */
  }
  return k;
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-threads_vs_processes [--work N] [--tasks N] "
             "[--workers N]\n"
             "  --work N     iterations of do_stuff per task "
             "(default 100000000)\n"
             "  --tasks N    tasks per run (default 2 x workers)\n"
             "  --workers N  largest pool (default: physical cores)\n");
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  uint64_t v;
  o->work = 100000000;
  o->tasks = 0;
  o->workers = parc_physical_cores();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: unknown option or missing value\n", a);
      usage(stderr);
      return 2;
    }
    const char *val = argv[++i];
    if (strcmp(a, "--work") == 0 && ex_parse_u64(val, 1, UINT64_MAX, &v) == 0)
      o->work = v;
    else if (strcmp(a, "--tasks") == 0 &&
             ex_parse_u64(val, 1, 1u << 20, &v) == 0)
      o->tasks = v;
    else if (strcmp(a, "--workers") == 0 && ex_parse_u64(val, 1, 1024, &v) == 0)
      o->workers = (unsigned)v;
    else {
      fprintf(stderr, "bad option: %s %s\n", a, val);
      usage(stderr);
      return 2;
    }
  }
  if (o->tasks == 0)
    o->tasks = 2 * (uint64_t)o->workers;
  return 0;
}

static void print_row(const run_result *r, double base_s) {
  double speedup = r->map_s > 0 ? base_s / r->map_s : 0.0;
  printf("%-10s %7u %10.1f %9.3f %8.2f %10.2f %5zu\n", backend_name(r->backend),
         r->workers, r->start_s * 1e3, r->map_s, speedup, speedup / r->workers,
         r->pids);
}

/* Runs every worker count on one backend, printing a row for each. The
 * runs go in increasing worker count, so `out` and `*last` end up holding
 * the largest pool's run. */
static int run_backend(parc_backend be, const options *o, const job_in *in,
                       job_out *out, double *expect, run_result *last) {
  unsigned counts[MAX_COUNTS];
  size_t nc = worker_counts(o->workers, counts);
  double base_s = 0.0;
  for (size_t c = 0; c < nc; c++) {
    run_result r = {be, counts[c], 0, 0, 0};
    if (run_once(&r, in, out, o->tasks) != 0)
      return 1;
    if (*expect < 0)
      *expect = out[0].sum; /* first answer: the reference for the rest */
    if (check_run(&r, out, o->tasks, *expect) != 0)
      return 1;
    if (c == 0)
      base_s = r.map_s;
    print_row(&r, base_s);
    *last = r;
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  job_in *in = malloc(o.tasks * sizeof *in);
  job_out *out_t = calloc(o.tasks, sizeof *out_t);
  job_out *out_p = calloc(o.tasks, sizeof *out_p);
  if (in == NULL || out_t == NULL || out_p == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (uint64_t i = 0; i < o.tasks; i++) in[i].iters = o.work;
  printf("do_stuff = sum of 1/k^2, k = 1..%llu; %llu tasks; "
         "%u physical cores, %u logical CPUs\n\n",
         (unsigned long long)o.work, (unsigned long long)o.tasks,
         parc_physical_cores(), parc_logical_cpus());
  printf("%-10s %7s %10s %9s %8s %10s %5s\n", "backend", "workers", "start ms",
         "map s", "speedup", "efficiency", "pids");
  double expect = -1.0;
  run_result last_t, last_p;
  rc = run_backend(PARC_THREADS, &o, in, out_t, &expect, &last_t);
  if (rc == 0)
    rc = run_backend(PARC_PROCESSES, &o, in, out_p, &expect, &last_p);
  if (rc == 0) {
    print_placement(&last_t, out_t, o.tasks);
    print_placement(&last_p, out_p, o.tasks);
    printf("\nevery task's sum: %.15f (pi^2/6 = 1.644934066848226)\n", expect);
  }
  free(in);
  free(out_t);
  free(out_p);
  return rc;
}
