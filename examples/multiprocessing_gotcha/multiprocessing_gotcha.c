/* multiprocessing_gotcha -- seed 000's multi-processing gotcha: what a
 * child process writes stays in the child.
 *
 * A pool of forked workers runs a parc_for body that writes i*i into an
 * array. When the array is ordinary heap memory, the parent reads back
 * zeros: fork gave each worker its own copy-on-write copy of the parent's
 * memory, and the squares went into those copies. Two fixes:
 *   - send the results back: parc_map returns each task's output, in order;
 *   - write into shared memory: an array from parc_shm_alloc, allocated
 *     BEFORE parc_pool_create, is the same physical memory in every worker.
 *
 *   parc-multiprocessing_gotcha [--n N] [--workers N]
 *
 * Exit status: 0 when both fixes give every square (the lost writes are the
 * lesson, not a failure); 1 when a fix is wrong or the library fails; 2 on
 * a bad command line.
 */
#include <errno.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define SHOW 8 /* entries printed of each array */

typedef struct {
  int64_t n;        /* squares to compute: 0*0 .. (n-1)*(n-1) */
  unsigned workers; /* worker processes; 0: one per physical core */
} options;

/* The parc_for body of both the gotcha and the shm fix: the only difference
 * between them is where `ctx` points. ctx is passed as a pointer (ctx_size
 * 0); it means the same in the workers because they were forked after the
 * array was allocated. */
static int squares_body(int64_t begin, int64_t end, void *ctx) {
  int64_t *sq = ctx;
  for (int64_t i = begin; i < end; i++) sq[i] = i * i;
  return 0;
}

static int square_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  int64_t x;
  memcpy(&x, in, sizeof x);
  x *= x;
  memcpy(out, &x, sizeof x);
  return 0;
}

/* Returns the first index whose entry is not i*i, or n when all are. */
static int64_t first_wrong(const int64_t *sq, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (sq[i] != i * i)
      return i;
  return n;
}

static int64_t count_zeros(const int64_t *sq, int64_t n) {
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; i++) zeros += sq[i] == 0;
  return zeros;
}

static void print_head(const int64_t *sq, int64_t n) {
  printf("   parent sees:");
  for (int64_t i = 0; i < n && i < SHOW; i++) printf(" %lld", (long long)sq[i]);
  printf(n > SHOW ? " ...\n" : "\n");
}

/* Prints whether every square arrived; returns 0 if so, else 1. */
static int report_fix(const int64_t *sq, int64_t n) {
  print_head(sq, n);
  int64_t bad = first_wrong(sq, n);
  if (bad == n) {
    printf("   all %lld squares are right\n\n", (long long)n);
    return 0;
  }
  printf("   WRONG at index %lld: %lld, expected %lld\n\n", (long long)bad,
         (long long)sq[bad], (long long)(bad * bad));
  return 1;
}

static int show_gotcha(parc_pool *pool, int64_t *plain, int64_t n) {
  printf("1. the gotcha: parc_for writes into a malloc'd array\n");
  int rc = parc_for(pool, 0, n, squares_body, plain, NULL);
  if (rc != 0) {
    fprintf(stderr, "parc_for (plain memory): %s\n", parc_strerror(rc));
    return 1;
  }
  print_head(plain, n);
  int64_t zeros = count_zeros(plain, n);
  if (zeros == n)
    printf("   all %lld entries are still 0: each worker wrote its own "
           "copy-on-write copy\n\n",
           (long long)n);
  else /* not a failure of this program, but not what fork should do */
    printf("   unexpected: %lld of %lld entries changed in the parent\n\n",
           (long long)(n - zeros), (long long)n);
  return 0;
}

static int show_map_fix(parc_pool *pool, int64_t n) {
  printf("2. fix: parc_map sends each result back, in input order\n");
  int64_t *in = malloc((size_t)n * sizeof *in);
  int64_t *out = calloc((size_t)n, sizeof *out);
  int bad = 1;
  if (in == NULL || out == NULL) {
    fprintf(stderr, "out of memory\n");
  } else {
    for (int64_t i = 0; i < n; i++) in[i] = i;
    int rc = parc_map(pool, square_task, in, sizeof *in, out, sizeof *out,
                      (size_t)n, NULL);
    if (rc != 0)
      fprintf(stderr, "parc_map: %s\n", parc_strerror(rc));
    else
      bad = report_fix(out, n);
  }
  free(in);
  free(out);
  return bad;
}

static int show_shm_fix(parc_pool *pool, int64_t *shared, int64_t n) {
  printf("3. fix: parc_for writes into parc_shm_alloc memory, allocated "
         "before the pool\n");
  int rc = parc_for(pool, 0, n, squares_body, shared, NULL);
  if (rc != 0) {
    fprintf(stderr, "parc_for (shared memory): %s\n", parc_strerror(rc));
    return 1;
  }
  return report_fix(shared, n);
}

static int parse_args(int argc, char **argv, options *o) {
  uint64_t v;
  o->n = 16;
  o->workers = 0;
  for (int i = 1; i < argc; i += 2) { /* "--name value" pairs */
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      printf("usage: parc-multiprocessing_gotcha [--n N] [--workers N]\n"
             "  --n N        squares to compute (default 16)\n"
             "  --workers N  worker processes (default: physical cores)\n");
      exit(0);
    }
    /* n stays below 2^31 so that i*i fits in an int64_t. */
    if (strcmp(a, "--n") == 0 && ex_parse_u64(val, 1, 1u << 30, &v) == 0)
      o->n = (int64_t)v;
    else if (strcmp(a, "--workers") == 0 && ex_parse_u64(val, 1, 1024, &v) == 0)
      o->workers = (unsigned)v;
    else {
      fprintf(stderr, "bad option: %s %s (try --help)\n", a, val);
      return 2;
    }
  }
  return 0;
}

/* Both arrays exist before the pool does, so the workers inherit valid
 * pointers to them; only the shared one is the same memory afterwards. */
static int run(const options *o, int64_t *plain, int64_t *shared) {
  parc_pool_opts po = {0};
  po.backend = PARC_PROCESSES;
  po.workers = o->workers;
  parc_pool *pool = NULL;
  fflush(stdout); /* a fork would copy unflushed output into every worker */
  int rc = parc_pool_create(&pool, &po);
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create: %s\n", ex_strerror(rc));
    return 1;
  }
  printf("%u worker processes compute i*i for i = 0..%lld\n\n",
         parc_pool_workers(pool), (long long)(o->n - 1));
  rc = show_gotcha(pool, plain, o->n);
  int bad_map = rc == 0 ? show_map_fix(pool, o->n) : 0;
  int bad_shm = rc == 0 ? show_shm_fix(pool, shared, o->n) : 0;
  parc_pool_destroy(pool);
  return rc != 0 || bad_map != 0 || bad_shm != 0;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  size_t bytes = (size_t)o.n * sizeof(int64_t);
  int64_t *plain = calloc((size_t)o.n, sizeof *plain); /* private to us */
  int64_t *shared = parc_shm_alloc(bytes);             /* zero-filled */
  if (plain == NULL || shared == NULL) {
    fprintf(stderr, "allocating %zu bytes: %s\n", bytes, strerror(errno));
    free(plain);
    if (shared != NULL)
      parc_shm_free(shared);
    return 1;
  }
  rc = run(&o, plain, shared);
  free(plain);
  parc_shm_free(shared);
  return rc;
}
