/* testutil.h -- helpers shared by the pool tests.
 *
 * - BOTH_BACKENDS(suite, name) { ... } defines one Criterion test per backend
 *   (name_threads, name_processes); the body sees `backend`.
 * - ASSERT_RC / ASSERT_I64 / ASSERT_U64 print both values and the context.
 * - Everything a task touches that the caller must see again (counters,
 *   flags, pids) lives in parc_shm_alloc memory allocated before the pool is
 *   created, so the same test works for threads and forked workers.
 * - Every wait in a task or in a test has a deadline, so a library bug makes
 *   a test fail instead of hang.
 */
#ifndef PARC_TESTUTIL_H
#define PARC_TESTUTIL_H

#include <criterion/criterion.h>
#include <parc.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ naming */

static inline const char *errname(int rc) {
  const char *s = parc_err_name(rc);
  return s ? s : "(null)";
}

static inline const char *backend_name(parc_backend b) {
  return b == PARC_THREADS ? "threads" : b == PARC_PROCESSES ? "processes" : "?";
}

/* ------------------------------------------------------------ assertions */

/* rc of a parc call against the expected code, both printed with names. */
#define ASSERT_RC(expr, want)                                                  \
  do {                                                                         \
    int got_ = (expr);                                                         \
    int want_ = (want);                                                        \
    cr_assert_eq(got_, want_, "%s\n  got  %d (%s)\n  want %d (%s)", #expr,     \
                 got_, errname(got_), want_, errname(want_));                  \
  } while (0)

#define ASSERT_I64(got, want, fmt, ...)                                        \
  do {                                                                         \
    long long g_ = (long long)(got);                                           \
    long long w_ = (long long)(want);                                          \
    cr_assert_eq(g_, w_, fmt ": got %lld, want %lld", ##__VA_ARGS__, g_, w_);  \
  } while (0)

#define EXPECT_I64(got, want, fmt, ...)                                        \
  do {                                                                         \
    long long g_ = (long long)(got);                                           \
    long long w_ = (long long)(want);                                          \
    cr_expect_eq(g_, w_, fmt ": got %lld, want %lld", ##__VA_ARGS__, g_, w_);  \
  } while (0)

#define ASSERT_U64(got, want, fmt, ...)                                        \
  do {                                                                         \
    unsigned long long g_ = (unsigned long long)(got);                         \
    unsigned long long w_ = (unsigned long long)(want);                        \
    cr_assert_eq(g_, w_, fmt ": got %#llx, want %#llx", ##__VA_ARGS__, g_, w_); \
  } while (0)

/* A task status field, e.g. ASSERT_STATUS(st[i], error, PARC_ETASK, i). */
#define ASSERT_STATUS_ERR(st, want, idx)                                       \
  do {                                                                         \
    int g_ = (st).error;                                                       \
    int w_ = (want);                                                           \
    cr_assert_eq(g_, w_, "status[%zu].error: got %d (%s), want %d (%s)",       \
                 (size_t)(idx), g_, errname(g_), w_, errname(w_));             \
  } while (0)

/* ------------------------------------------------------------ backends */

#define BOTH_BACKENDS(suite, name)                                             \
  static void suite##__##name(parc_backend backend);                           \
  Test(suite, name##_threads) { suite##__##name(PARC_THREADS); }               \
  Test(suite, name##_processes) { suite##__##name(PARC_PROCESSES); }           \
  static void suite##__##name(parc_backend backend)

/* ------------------------------------------------------------ time */

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_s(double s) {
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Test-side polling with a deadline (the library may not poll; tests may).
 * Returns 1 when *flag >= want, 0 when max_s passed first. */
static inline int wait_flag(_Atomic int *flag, int want, double max_s) {
  double end = now_s() + max_s;
  while (atomic_load_explicit(flag, memory_order_acquire) < want) {
    if (now_s() > end) return 0;
    sleep_s(0.0005);
  }
  return 1;
}

/* ------------------------------------------------------------ data */

static inline uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The function most map tests apply: injective on uint64 (odd multiply and
 * xor-shift are bijections), so swapped results cannot go unnoticed. */
static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7FB5D329728EA185ull;
  x ^= x >> 27;
  return x + 0x2545F4914F6CDD1Dull;
}

static inline uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static inline void fill_bytes(void *p, size_t n, uint64_t seed) {
  unsigned char *b = p;
  uint64_t s = seed;
  size_t i = 0;
  while (i + 8 <= n) {
    uint64_t v = splitmix64(&s);
    memcpy(b + i, &v, 8);
    i += 8;
  }
  if (i < n) {
    uint64_t v = splitmix64(&s);
    memcpy(b + i, &v, n - i);
  }
}

/* ------------------------------------------------------------ pools */

static inline parc_pool *pool_new(const parc_pool_opts *o) {
  parc_pool *p = NULL;
  int rc = parc_pool_create(&p, o);
  cr_assert_eq(rc, 0, "parc_pool_create(%s, workers=%u): got %d (%s), want 0",
               backend_name(o->backend), o->workers, rc, errname(rc));
  cr_assert_not_null(p, "parc_pool_create returned 0 but no pool");
  return p;
}

static inline parc_pool *pool_simple(parc_backend b, unsigned workers, void *ctx) {
  parc_pool_opts o;
  memset(&o, 0, sizeof o);
  o.backend = b;
  o.workers = workers;
  o.ctx = ctx;
  return pool_new(&o);
}

static inline void *shm_new(size_t n) {
  void *p = parc_shm_alloc(n);
  cr_assert_not_null(p, "parc_shm_alloc(%zu) failed: %s", n, strerror(errno));
  return p;
}

/* Crashing workers must not write core files (slow, and litter the tree). */
static inline void no_core_dumps(void) {
  struct rlimit rl = {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
}

#endif /* PARC_TESTUTIL_H */
