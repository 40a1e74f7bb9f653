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
 * - Timing checks are relative, never absolute bounds on wall-clock time
 *   (HOLD_S, ASSERT_SOONER, ASSERT_WAITED below).
 */
#ifndef PARC_TESTUTIL_H
#define PARC_TESTUTIL_H

#include <criterion/criterion.h>
#include <parc.h>

#include "leakcheck.h" /* lc_names, lc_proc_stat: the /dev/shm helpers */

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ naming */

static inline const char *errname(int rc) {
  const char *s = parc_err_name(rc);
  return s ? s : "(null)";
}

static inline const char *backend_name(parc_backend b) {
  return b == PARC_THREADS     ? "threads"
         : b == PARC_PROCESSES ? "processes"
                               : "?";
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
    cr_assert_eq(g_, w_, fmt ": got %#llx, want %#llx", ##__VA_ARGS__, g_,     \
                 w_);                                                          \
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
    if (now_s() > end)
      return 0;
    sleep_s(0.0005);
  }
  return 1;
}

/* ------------------------------------------------------------ timing checks
 *
 * The suite must pass on a loaded 2-core machine (ctest -j2 beside a
 * build), where a test process can wait seconds for a CPU. So no test
 * asserts an absolute upper bound on wall-clock time (issue #12):
 *
 * - A lower bound that a correct implementation always meets stays: a
 *   wait with a timeout of 0.2 s returns after 0.2 s or more.
 * - "It did not wait for X" (prompt, did not hang, just looked) is checked
 *   against what waiting for X would cost, and the test makes X long on
 *   purpose: the task, peer or child it would wait for waits on a release
 *   flag for up to HOLD_S, or the call's own timeout is HOLD_S. Only the
 *   wrong behaviour pays that; the test releases the flag itself and stays
 *   fast. ASSERT_SOONER states the check, ASSERT_WAITED the timed wait.
 * - How fast something is belongs to bench/, never to a unit test.
 */

/* How long a test holds what it releases itself (a task on a release flag,
 * a child told when to die), and the timeout of a call that must return
 * for another reason long before. A thread pool's destroy waits for its
 * abandoned threads: release them before it, never leave one sleeping. */
#define HOLD_S 30.0

/* `took` seconds is well under `other_s`, the time the wrong behaviour
 * would have cost (which the test made long): less than half of it. */
#define ASSERT_SOONER(took, other_s, fmt, ...)                                 \
  do {                                                                         \
    double t_ = (took), o_ = (other_s);                                        \
    cr_assert(t_ < o_ / 2,                                                     \
              fmt ": took %.3f s, want well under the %.1f s that the wrong "  \
                  "behaviour costs (< %.1f s)",                                \
              ##__VA_ARGS__, t_, o_, o_ / 2);                                  \
  } while (0)

#define EXPECT_SOONER(took, other_s, fmt, ...)                                 \
  do {                                                                         \
    double t_ = (took), o_ = (other_s);                                        \
    cr_expect(t_ < o_ / 2,                                                     \
              fmt ": took %.3f s, want well under the %.1f s that the wrong "  \
                  "behaviour costs (< %.1f s)",                                \
              ##__VA_ARGS__, t_, o_, o_ / 2);                                  \
  } while (0)

/* `took` is under `timer_s`, a period of the library's own that the wrong
 * behaviour waits out in full and that a test cannot make longer (the
 * process pool's 2 s grace for workers told to stop). A timer never fires
 * early and starts after the test's clock did, so the wrong behaviour
 * fails this every time; the whole period is the margin. */
#define ASSERT_BEFORE_TIMER(took, timer_s, fmt, ...)                           \
  do {                                                                         \
    double t_ = (took), o_ = (timer_s);                                        \
    cr_assert(t_ < o_,                                                         \
              fmt ": took %.3f s, want under the %.1f s period that the "      \
                  "wrong behaviour waits out",                                 \
              ##__VA_ARGS__, t_, o_);                                          \
  } while (0)

/* The process backend's grace period (GRACE_NS in src/backend/procs.c):
 * what a destroy that waits for workers it should kill, or that do not
 * stop, costs at least. */
#define POOL_GRACE_S 2.0

/* A call with a timeout of `want` seconds that timed out after `elapsed`:
 * at least `want` (less a millisecond of clock slack), and well under
 * `other_s`, what not keeping the timeout would cost -- HOLD_S where what
 * the call waits for is held back that long by the test or never comes. */
#define ASSERT_WAITED(elapsed, want, other_s, what)                            \
  do {                                                                         \
    double e_ = (elapsed), w_ = (want), o_ = (other_s);                        \
    cr_assert(e_ >= w_ - 0.001,                                                \
              "%s took %.3f s, want at least its timeout "                     \
              "%.3f s",                                                        \
              (what), e_, w_);                                                 \
    cr_assert(e_ < o_ / 2,                                                     \
              "%s took %.3f s, want well under the %.1f s that "               \
              "not keeping its timeout of %.3f s costs (< %.1f s)",            \
              (what), e_, o_, w_, o_ / 2);                                     \
  } while (0)

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

static inline parc_pool *pool_simple(parc_backend b, unsigned workers,
                                     void *ctx) {
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

/* ------------------------------------------------------------ /dev/shm */

/* 1 if `pid` is this process or one of its descendants. */
static inline int shm_pid_is_ours(pid_t pid) {
  pid_t me = getpid();
  for (int depth = 0; depth < 64 && pid > 1; depth++) {
    if (pid == me)
      return 1;
    pid_t up = 0;
    if (lc_proc_stat(pid, NULL, &up) != 0)
      return 0;
    pid = up;
  }
  return 0;
}

/* 1 if /dev/shm/<name> is this test's: its name says parc (parc names
 * nothing there -- its shared memory is memfd -- so a name of its own
 * would be a regression), or this process or one of its descendants has
 * it open or mapped. /dev/shm is the whole machine's: another program's
 * entries (a Python semaphore, joblib's memmapping folders) come and go
 * while a test runs, and are no leak of ours. Matched by inode: sem_open
 * maps a temporary name, then links it. */
static inline int shm_entry_is_ours(const char *name) {
  char path[300], dir[64], line[512];
  struct stat want, st;
  if (strstr(name, "parc") != NULL)
    return 1;
  snprintf(path, sizeof path, "/dev/shm/%s", name);
  if (stat(path, &want) != 0)
    return 0; /* gone */
  DIR *d = opendir("/proc");
  if (!d)
    return 1;
  int held = 0;
  struct dirent *e;
  while (!held && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    pid_t pid = (pid_t)atoi(e->d_name);
    if (!shm_pid_is_ours(pid))
      continue;
    snprintf(dir, sizeof dir, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(dir, "re");
    while (f && !held && fgets(line, sizeof line, f)) {
      unsigned long long ino = 0;
      held = sscanf(line, "%*s %*s %*s %*s %llu", &ino) == 1 &&
             ino == (unsigned long long)want.st_ino &&
             strstr(line, " /dev/shm/") != NULL;
    }
    if (f)
      fclose(f);
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *fds = held ? NULL : opendir(dir);
    struct dirent *fe;
    while (fds && !held && (fe = readdir(fds)) != NULL) {
      snprintf(line, sizeof line, "%s/%s", dir, fe->d_name);
      held = stat(line, &st) == 0 && st.st_ino == want.st_ino &&
             st.st_dev == want.st_dev;
    }
    if (fds)
      closedir(fds);
  }
  closedir(d);
  return held;
}

/* The names in `after` that are not in `before` (as lc_shm_new_names)
 * and are this test's (shm_entry_is_ours); the first goes to `first`. */
static inline int shm_new_names_ours(const lc_names *before,
                                     const lc_names *after, char *first) {
  int added = 0;
  for (int i = 0; i < after->n; i++) {
    lc_names one = {.n = 1};
    memcpy(one.names[0], after->names[i], sizeof one.names[0]);
    if (lc_shm_new_names(before, &one, NULL) == 0 ||
        !shm_entry_is_ours(one.names[0]))
      continue;
    if (added++ == 0 && first)
      snprintf(first, 256, "%s", one.names[0]);
  }
  return added;
}

/* Crashing workers must not write core files (slow, and litter the tree). */
static inline void no_core_dumps(void) {
  struct rlimit rl = {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
}

#endif /* PARC_TESTUTIL_H */
