/* threading_gotcha -- seed 000's threading gotcha: threads that share memory
 * can corrupt it.
 *
 * Several thread workers add 1 to one global counter through parc_for. With
 * a plain `counter++` the total comes out short: each increment is a load,
 * an add and a store, and when two threads load the same value one of the
 * two updates is lost. Then two fixes: make each increment atomic
 * (atomic_fetch_add), or share nothing while counting (each chunk counts in
 * a local variable and parc_map_reduce adds up the partial sums).
 *
 *   parc-threading_gotcha [--iters N] [--workers N] [--repeat N] [--skip-race]
 *
 * Exit status: 0 when both fixes are right, whatever the race did (a lost
 * update is the lesson, not a failure); 1 when a fix is wrong or the
 * library fails; 2 on a bad command line.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <limits.h>
#include <parc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"

/* Under ThreadSanitizer the racy run is skipped: TSan would (rightly) report
 * it, and CI runs this program under TSan to check the two fixes. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

typedef struct {
  int64_t iters;    /* increments in all, shared out by parc_for */
  unsigned workers; /* threads */
  unsigned repeat;  /* racy runs: the damage differs from run to run */
  int skip_race;
} options;

/* One chunk of the iteration space, for parc_map_reduce (flat bytes). */
typedef struct {
  int64_t begin, end;
} range;

/* THE BUG being demonstrated: a plain int that several threads write at
 * once, with nothing ordering their loads and stores. */
static int counter;

/* The first fix: the same counter, but each increment is one indivisible
 * read-modify-write. */
static atomic_int atomic_counter;

static int racy_body(int64_t begin, int64_t end, void *ctx) {
  (void)ctx;
  for (int64_t i = begin; i < end; i++) {
    counter++; /* load, add 1, store: another thread may store in between */
    /* A compiler-only fence: it stops the compiler from folding the loop
     * into one `counter += end - begin`, as a longer loop body would. It
     * orders nothing between threads, so the race stays a race. */
    atomic_signal_fence(memory_order_seq_cst);
  }
  return 0;
}

static int atomic_body(int64_t begin, int64_t end, void *ctx) {
  (void)ctx;
  /* Relaxed is enough: we need each add to be whole, not ordered against
   * other memory. parc_for's return orders every body before our read. */
  for (int64_t i = begin; i < end; i++)
    atomic_fetch_add_explicit(&atomic_counter, 1, memory_order_relaxed);
  return 0;
}

/* The second fix: each task counts into a local that no other thread can
 * see, and hands the partial sum back through `out`. */
static int count_range(const void *in, void *out, void *ctx) {
  (void)ctx;
  range r;
  memcpy(&r, in, sizeof r);
  int64_t local = 0;
  for (int64_t i = r.begin; i < r.end; i++) local++;
  memcpy(out, &local, sizeof local);
  return 0;
}

static int add_i64(void *acc, const void *item, void *ctx) {
  (void)ctx;
  int64_t a, b;
  memcpy(&a, acc, sizeof a);
  memcpy(&b, item, sizeof b);
  a += b;
  memcpy(acc, &a, sizeof a);
  return 0;
}

static int for_or_complain(parc_pool *pool, const options *o, parc_for_fn fn,
                           const char *what) {
  int rc = parc_for(pool, 0, o->iters, fn, NULL, NULL);
  if (rc != 0)
    fprintf(stderr, "parc_for (%s): %s\n", what, parc_strerror(rc));
  return rc;
}

/* Runs the racy loop o->repeat times, printing what each run lost. */
static int show_race(parc_pool *pool, const options *o) {
  printf("1. the bug: counter++ on a plain int\n");
  if (o->skip_race) {
    printf("   skipped (%s)\n\n", UNDER_TSAN ? "built with ThreadSanitizer, "
                                               "which would report the race"
                                             : "--skip-race");
    return 0;
  }
  for (unsigned k = 0; k < o->repeat; k++) {
    counter = 0; /* no worker is running: the pool is idle between calls */
    double t0 = ex_now();
    if (for_or_complain(pool, o, racy_body, "racy") != 0)
      return 1;
    double dt = ex_now() - t0;
    int64_t lost = o->iters - counter;
    printf("   run %u: expected %lld, got %d: %lld updates lost (%.1f%%)  "
           "[%.3f s]\n",
           k + 1, (long long)o->iters, counter, (long long)lost,
           100.0 * (double)lost / (double)o->iters, dt);
  }
  printf("   (a run can come out right by luck, more often with few "
         "iterations or one core;\n    that is what makes this bug hard to "
         "find)\n\n");
  return 0;
}

static int show_atomic(parc_pool *pool, const options *o) {
  printf("2. fix: atomic_fetch_add on an atomic_int\n");
  atomic_store(&atomic_counter, 0);
  double t0 = ex_now();
  if (for_or_complain(pool, o, atomic_body, "atomic") != 0)
    return 1;
  double dt = ex_now() - t0;
  int got = atomic_load(&atomic_counter);
  int ok = got == o->iters;
  printf("   expected %lld, got %d: %s  [%.3f s]\n\n", (long long)o->iters, got,
         ok ? "right" : "WRONG", dt);
  return ok ? 0 : 1;
}

/* Cuts [0, iters) into n ranges that tile it exactly. iters <= INT_MAX and
 * n <= 8192, so iters * n fits in 64 bits. */
static void cut_ranges(range *r, size_t n, int64_t iters) {
  for (size_t i = 0; i < n; i++) {
    r[i].begin = iters * (int64_t)i / (int64_t)n;
    r[i].end = iters * (int64_t)(i + 1) / (int64_t)n;
  }
}

static int show_reduce(parc_pool *pool, const options *o) {
  printf("3. fix: per-chunk partial sums combined by parc_map_reduce\n");
  size_t n = 8 * (size_t)o->workers; /* a few chunks per worker */
  range *r = malloc(n * sizeof *r);
  if (r == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  cut_ranges(r, n, o->iters);
  int64_t zero = 0, got = -1;
  double t0 = ex_now();
  int rc = parc_map_reduce(pool, count_range, r, sizeof *r, n, add_i64, &zero,
                           &got, sizeof got, NULL);
  double dt = ex_now() - t0;
  free(r);
  if (rc != 0) {
    fprintf(stderr, "parc_map_reduce: %s\n", parc_strerror(rc));
    return 1;
  }
  int ok = got == o->iters;
  printf("   expected %lld, got %lld: %s  [%.3f s]\n\n", (long long)o->iters,
         (long long)got, ok ? "right" : "WRONG", dt);
  return ok ? 0 : 1;
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-threading_gotcha [--iters N] [--workers N] "
             "[--repeat N] [--skip-race]\n"
             "  --iters N    increments in all (default 4000000)\n"
             "  --workers N  threads (default 4)\n"
             "  --repeat N   racy runs (default 3)\n"
             "  --skip-race  run only the two fixes\n");
}

/* Reads one "--name value" pair at argv[*i]; returns 0 or -1. */
static int parse_pair(int argc, char **argv, int *i, options *o) {
  uint64_t v;
  const char *a = argv[*i];
  if (*i + 1 >= argc)
    return -1;
  const char *val = argv[++*i];
  if (strcmp(a, "--iters") == 0 && ex_parse_u64(val, 1, INT_MAX, &v) == 0)
    o->iters = (int64_t)v;
  else if (strcmp(a, "--workers") == 0 && ex_parse_u64(val, 1, 1024, &v) == 0)
    o->workers = (unsigned)v;
  else if (strcmp(a, "--repeat") == 0 && ex_parse_u64(val, 1, 1000, &v) == 0)
    o->repeat = (unsigned)v;
  else
    return -1;
  return 0;
}

static int parse_args(int argc, char **argv, options *o) {
  o->iters = 4000000;
  o->workers = 4;
  o->repeat = 3;
  o->skip_race = UNDER_TSAN;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(argv[i], "--skip-race") == 0) {
      o->skip_race = 1;
    } else if (parse_pair(argc, argv, &i, o) != 0) {
      fprintf(stderr, "bad option near: %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  parc_pool_opts po = {0};
  po.backend = PARC_THREADS;
  po.workers = o.workers;
  parc_pool *pool = NULL;
  rc = parc_pool_create(&pool, &po);
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create: %s\n", ex_strerror(rc));
    return 1;
  }
  printf("%u threads add 1 to a shared counter, %lld times in all "
         "(this machine: %u logical CPUs)\n\n",
         parc_pool_workers(pool), (long long)o.iters, parc_logical_cpus());
  rc = show_race(pool, &o);
  int bad_atomic = rc == 0 ? show_atomic(pool, &o) : 0;
  int bad_reduce = rc == 0 ? show_reduce(pool, &o) : 0;
  parc_pool_destroy(pool);
  return rc != 0 || bad_atomic != 0 || bad_reduce != 0;
}
