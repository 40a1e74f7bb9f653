/* bench_pool.c -- parc's side of the pool comparisons (see bench/README.md).
 *
 *   parc-bench-pool map     CHUNK N REPS WARM   parc_map of N no-op tasks,
 *                                               2 worker processes
 *   parc-bench-pool rtt     N REPS WARM         N parc_submit + wait round
 *                                               trips, 2 worker processes
 *   parc-bench-pool for     CHUNK N REPS WARM THREADS
 *                                               parc_for, dynamic schedule,
 *                                               thread pool
 *   parc-bench-pool startup REPS WARM           pool create + first result
 *   parc-bench-pool once                        create, one task, destroy, exit
 *
 * Pools are created outside every timed interval except in `startup`.
 * Results are checked after each repetition, outside the interval; a wrong
 * result is an error line, not a number. Output format: common.h.
 */
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "kernel.h"
#include "parc.h"

#define PROC_WORKERS 2u

static const char *cur_label = "parc";

static void check_rc(int rc, const char *what) {
  if (rc != 0)
    bench_fail(cur_label, "%s returned %d %s (%s)", what, rc, parc_err_name(rc),
               parc_strerror(rc));
}

static int noop_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  memcpy(out, in, sizeof(int));
  return 0;
}

static parc_pool *make_pool(parc_backend backend, unsigned workers) {
  parc_pool_opts po;
  memset(&po, 0, sizeof po);
  po.backend = backend;
  po.workers = workers;
  parc_pool *pool = NULL;
  check_rc(parc_pool_create(&pool, &po), "parc_pool_create");
  if (parc_pool_workers(pool) != workers)
    bench_fail(cur_label, "pool has %u workers, asked for %u",
               parc_pool_workers(pool), workers);
  return pool;
}

static void *xmalloc(size_t size) {
  void *p = malloc(size);
  if (p == NULL)
    bench_fail(cur_label, "out of memory (%zu bytes)", size);
  return p;
}

/* ---------------------------------------------------------------- map */

static void cmd_map(size_t chunk, size_t n, unsigned reps, unsigned warm) {
  static char label[32];
  snprintf(label, sizeof label, "map_c%zu", chunk);
  cur_label = label;
  parc_pool *pool = make_pool(PARC_PROCESSES, PROC_WORKERS);
  int *in = xmalloc(n * sizeof *in);
  int *out = xmalloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++) in[i] = (int)i;
  parc_map_opts mo;
  memset(&mo, 0, sizeof mo);
  mo.chunk = chunk;
  bench_info(label, "n=%zu chunk=%zu workers=%u backend=processes", n, chunk,
             PROC_WORKERS);
  for (unsigned r = 0; r < warm + reps; r++) {
    memset(out, 0xff, n * sizeof *out);
    double t0 = bench_now();
    int rc = parc_map(pool, noop_task, in, sizeof *in, out, sizeof *out, n,
                      &mo);
    double t1 = bench_now();
    check_rc(rc, "parc_map");
    for (size_t i = 0; i < n; i++)
      if (out[i] != (int)i)
        bench_fail(label, "wrong result: out[%zu] = %d", i, out[i]);
    if (r >= warm)
      bench_sample(label, r - warm, (t1 - t0) / (double)n);
  }
  parc_pool_destroy(pool);
  free(in);
  free(out);
}

/* ---------------------------------------------------------------- rtt */

static void cmd_rtt(size_t n, unsigned reps, unsigned warm) {
  cur_label = "rtt";
  parc_pool *pool = make_pool(PARC_PROCESSES, PROC_WORKERS);
  bench_info("rtt", "n=%zu workers=%u backend=processes", n, PROC_WORKERS);
  for (unsigned r = 0; r < warm + reps; r++) {
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
      int x = (int)i, y = -1;
      parc_future *f = NULL;
      check_rc(parc_submit(pool, noop_task, &x, sizeof x, sizeof y, &f),
               "parc_submit");
      int rc = parc_future_wait(f, &y, -1.0, NULL);
      parc_future_free(f);
      check_rc(rc, "parc_future_wait");
      if (y != x)
        bench_fail("rtt", "wrong result: task %d returned %d", x, y);
    }
    double t1 = bench_now();
    if (r >= warm)
      bench_sample("rtt", r - warm, (t1 - t0) / (double)n);
  }
  parc_pool_destroy(pool);
}

/* ---------------------------------------------------------------- for */

static int for_body(int64_t begin, int64_t end, void *ctx) {
  double *a = ctx;
  for (int64_t i = begin; i < end; i++) a[i] = bench_iteration(i);
  return 0;
}

static void cmd_for(int64_t chunk, int64_t n, unsigned reps, unsigned warm,
                    unsigned threads) {
  static char label[32];
  snprintf(label, sizeof label, "for_c%lld", (long long)chunk);
  cur_label = label;
  double *ref = xmalloc((size_t)n * sizeof *ref);
  double *a = xmalloc((size_t)n * sizeof *a);
  double t0 = bench_now();
  for_body(0, n, ref);
  double serial = bench_now() - t0;
  parc_pool *pool = make_pool(PARC_THREADS, threads);
  parc_for_opts fo;
  memset(&fo, 0, sizeof fo);
  fo.schedule = PARC_SCHEDULE_DYNAMIC;
  fo.chunk = chunk;
  bench_info(label,
             "n=%lld chunk=%lld threads=%u schedule=dynamic "
             "serial_s=%.6f checksum=%.17g",
             (long long)n, (long long)chunk, threads, serial,
             bench_checksum(ref, n));
  for (unsigned r = 0; r < warm + reps; r++) {
    memset(a, 0, (size_t)n * sizeof *a);
    t0 = bench_now();
    int rc = parc_for(pool, 0, n, for_body, a, &fo);
    double t1 = bench_now();
    check_rc(rc, "parc_for");
    if (memcmp(a, ref, (size_t)n * sizeof *a) != 0)
      bench_fail(label,
                 "wrong result: parc_for output differs from the "
                 "serial loop (checksum %.17g)",
                 bench_checksum(a, n));
    if (r >= warm)
      bench_sample(label, r - warm, t1 - t0);
  }
  parc_pool_destroy(pool);
  free(a);
  free(ref);
}

/* ---------------------------------------------------------------- startup */

/* Create a process pool, run one task, wait for its result: the interval a
 * user waits before the first answer. Destroy is timed apart. */
static void startup_once(double *first, double *destroy) {
  double t0 = bench_now();
  parc_pool *pool = make_pool(PARC_PROCESSES, PROC_WORKERS);
  int x = 42, y = -1;
  parc_future *f = NULL;
  check_rc(parc_submit(pool, noop_task, &x, sizeof x, sizeof y, &f),
           "parc_submit");
  int rc = parc_future_wait(f, &y, -1.0, NULL);
  double t1 = bench_now();
  parc_future_free(f);
  check_rc(rc, "parc_future_wait");
  if (y != x)
    bench_fail(cur_label, "wrong result: task returned %d", y);
  parc_pool_destroy(pool);
  *first = t1 - t0;
  *destroy = bench_now() - t1;
}

static void cmd_startup(unsigned reps, unsigned warm) {
  cur_label = "startup";
  bench_info("startup", "workers=%u backend=processes", PROC_WORKERS);
  for (unsigned r = 0; r < warm + reps; r++) {
    double first, destroy;
    startup_once(&first, &destroy);
    if (r >= warm) {
      bench_sample("startup", r - warm, first);
      bench_sample("startup_destroy", r - warm, destroy);
    }
  }
}

/* ---------------------------------------------------------------- main */

static int usage(void) {
  fprintf(stderr, "usage: parc-bench-pool map CHUNK N REPS WARM\n"
                  "       parc-bench-pool rtt N REPS WARM\n"
                  "       parc-bench-pool for CHUNK N REPS WARM THREADS\n"
                  "       parc-bench-pool startup REPS WARM\n"
                  "       parc-bench-pool once\n");
  return 2;
}

#define ARG(i, name, lo, hi) bench_arg(argv[i], name, lo, hi)

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *cmd = argv[1];
  if (strcmp(cmd, "map") == 0 && argc == 6) {
    cmd_map((size_t)ARG(2, "CHUNK", 0, 1u << 30),
            (size_t)ARG(3, "N", 1, 1u << 30), (unsigned)ARG(4, "REPS", 1, 1000),
            (unsigned)ARG(5, "WARM", 0, 1000));
  } else if (strcmp(cmd, "rtt") == 0 && argc == 5) {
    cmd_rtt((size_t)ARG(2, "N", 1, 1u << 30), (unsigned)ARG(3, "REPS", 1, 1000),
            (unsigned)ARG(4, "WARM", 0, 1000));
  } else if (strcmp(cmd, "for") == 0 && argc == 7) {
    cmd_for((int64_t)ARG(2, "CHUNK", 1, 1u << 30),
            (int64_t)ARG(3, "N", 1, 1u << 30),
            (unsigned)ARG(4, "REPS", 1, 1000),
            (unsigned)ARG(5, "WARM", 0, 1000),
            (unsigned)ARG(6, "THREADS", 1, 1024));
  } else if (strcmp(cmd, "startup") == 0 && argc == 4) {
    cmd_startup((unsigned)ARG(2, "REPS", 1, 1000),
                (unsigned)ARG(3, "WARM", 0, 1000));
  } else if (strcmp(cmd, "once") == 0 && argc == 2) {
    double first, destroy;
    cur_label = "once";
    startup_once(&first, &destroy);
  } else {
    return usage();
  }
  return 0;
}
