/* stress_threads.c -- every path of the thread backend, as one plain
 * program (no Criterion), so that it can run under ThreadSanitizer:
 * Criterion cannot (its inheritable arena collides with TSan's memory
 * layout; Criterion issue #274). The Criterion suites test the same
 * behaviours one by one; this runs them concurrently and repeatedly.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed. */
#include <parc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stresscheck.h"

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static parc_pool *pool(unsigned workers, double timeout, unsigned quota) {
  parc_pool *p = NULL;
  parc_pool_opts o = {.backend = PARC_THREADS,
                      .workers = workers,
                      .task_timeout = timeout,
                      .max_tasks_per_worker = quota};
  int rc = parc_pool_create(&p, &o);
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create: %s\n", parc_strerror(rc));
    exit(1);
  }
  return p;
}

/* ------------------------------------------------------------ tasks */

static int mix_task(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  x = mix64(x);
  memcpy(out, &x, 8);
  return 0;
}

static int fail_on_7s(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  if (x % 7 == 3)
    return 42;
  return mix_task(in, out, ctx);
}

/* Opened by a scenario that holds a task on it (ms 0 below). A task that
 * must still be running when the scenario looks waits for the gate rather
 * than for a time: a loaded machine can stall the scenario for longer than
 * any sleep, never past a gate (issue #12). Open it before destroy, which
 * waits for abandoned tasks. */
static _Atomic int gate;
enum { GATE_MS = 30000 }; /* the most a gated task waits */

static void gate_close(void) { atomic_store(&gate, 0); }
static void gate_open(void) { atomic_store(&gate, 1); }

/* Sleeps `in` milliseconds; 0: waits for the gate (GATE_MS at most). */
static int sleepy_task(const void *in, void *out, void *ctx) {
  uint32_t ms;
  memcpy(&ms, in, 4);
  if (ms == 0)
    for (unsigned i = 0; i < GATE_MS && !atomic_load(&gate); i++) sleep_ms(1);
  else
    sleep_ms(ms);
  memcpy(out, &ms, 4);
  return 0;
}

static int double_task(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  double d = 1.0 / (double)(x + 1);
  memcpy(out, &d, 8);
  return 0;
}

static int add_doubles(void *acc, const void *item, void *ctx) {
  double a, b;
  memcpy(&a, acc, 8);
  memcpy(&b, item, 8);
  a += b;
  memcpy(acc, &a, 8);
  return 0;
}

/* ------------------------------------------------------------ scenarios */

static void map_sizes(void) {
  parc_pool *p = pool(3, 0, 0);
  static const size_t ns[] = {0, 1, 7, 100000};
  static const size_t chunks[] = {0, 1, 1000};
  for (size_t a = 0; a < 4; a++)
    for (size_t c = 0; c < 3; c++) {
      size_t n = ns[a];
      uint64_t *in = malloc((n + 1) * 8), *out = malloc((n + 1) * 8);
      for (size_t i = 0; i < n; i++) in[i] = i;
      parc_map_opts o = {.chunk = chunks[c]};
      CHECK_RC(parc_map(p, mix_task, in, 8, out, 8, n, &o), 0);
      size_t bad = 0;
      for (size_t i = 0; i < n; i++) bad += out[i] != mix64(i);
      CHECK(bad == 0, "n=%zu chunk=%zu: %zu wrong outputs", n, chunks[c], bad);
      free(in);
      free(out);
    }
  parc_pool_destroy(p);
}

static void map_errors(void) {
  parc_pool *p = pool(2, 0, 0);
  enum { N = 1000 };
  uint64_t in[N], out[N];
  parc_task_status st[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  size_t at = 0;
  parc_map_opts o = {.status = st, .err_index = &at};
  CHECK_RC(parc_map(p, fail_on_7s, in, 8, out, 8, N, &o), PARC_ETASK);
  CHECK(at == 3, "err_index: got %zu, want 3", at);
  size_t bad = 0;
  for (size_t i = 0; i < N; i++) {
    bool fails = i % 7 == 3;
    bad += fails ? (st[i].error != PARC_ETASK || st[i].task_rc != 42)
                 : (st[i].error != 0 || out[i] != mix64(i));
  }
  CHECK(bad == 0, "%zu tasks with a wrong status or output", bad);
  parc_pool_destroy(p);
}

static void futures(void) {
  parc_pool *p = pool(2, 0, 0);
  enum { N = 64 };
  parc_future *fs[N];
  for (uint64_t i = 0; i < N; i++)
    CHECK_RC(parc_submit(p, mix_task, &i, 8, 8, &fs[i]), 0);
  for (uint64_t i = 0; i < N; i++) {
    uint64_t y = 0;
    CHECK_RC(parc_future_wait(fs[i], &y, -1, NULL), 0);
    CHECK(y == mix64(i), "future %llu: wrong output", (unsigned long long)i);
    parc_future_free(fs[i]);
  }
  /* as completed: a held one and a fast one */
  uint32_t slow = 0, fast = 1;
  parc_future *two[2];
  gate_close();
  CHECK_RC(parc_submit(p, sleepy_task, &slow, 4, 4, &two[0]), 0);
  CHECK_RC(parc_submit(p, sleepy_task, &fast, 4, 4, &two[1]), 0);
  size_t first = 9;
  CHECK_RC(parc_wait_any(two, 2, 5.0, &first), 0);
  CHECK(first == 1, "wait_any: got %zu, want the fast one (1)", first);
  CHECK_RC(parc_future_wait(two[0], NULL, 0, NULL), PARC_EAGAIN);
  parc_future_free(two[0]); /* pending: canceled and freed */
  parc_future_free(two[1]);
  gate_open(); /* the abandoned task ends: destroy waits for it */
  parc_pool_destroy(p);
}

static void cancel(void) {
  parc_pool *p = pool(1, 0, 0);
  uint32_t long_ms = 0, short_ms = 1; /* busy: held until the gate opens */
  parc_future *busy, *queued;
  gate_close();
  CHECK_RC(parc_submit(p, sleepy_task, &long_ms, 4, 4, &busy), 0);
  CHECK_RC(parc_submit(p, sleepy_task, &short_ms, 4, 4, &queued), 0);
  CHECK_RC(parc_future_cancel(queued), 0);
  CHECK_RC(parc_future_wait(queued, NULL, -1, NULL), PARC_ECANCELED);
  CHECK_RC(parc_future_cancel(busy), 0); /* running: abandoned */
  CHECK_RC(parc_future_wait(busy, NULL, 1.0, NULL), PARC_ECANCELED);
  uint64_t x = 5, y = 0;
  parc_future *after;
  CHECK_RC(parc_submit(p, mix_task, &x, 8, 8, &after), 0);
  CHECK_RC(parc_future_wait(after, &y, 5.0, NULL), 0);
  CHECK(y == mix64(5), "the pool works after a cancel");
  parc_future_free(busy);
  parc_future_free(queued);
  parc_future_free(after);
  gate_open();
  parc_pool_destroy(p); /* joins the abandoned thread */
}

static void reduce(void) {
  enum { N = 100003 };
  uint64_t *in = malloc(N * 8);
  for (size_t i = 0; i < N; i++) in[i] = i;
  double zero = 0, first = 0;
  static const unsigned workers[] = {1, 2, 3, 8};
  for (size_t k = 0; k < 4; k++) {
    parc_pool *p = pool(workers[k], 0, 0);
    double r = -1;
    CHECK_RC(parc_map_reduce(p, double_task, in, 8, N, add_doubles, &zero, &r,
                             8, NULL),
             0);
    if (k == 0)
      first = r;
    CHECK(memcmp(&r, &first, 8) == 0, "%u workers: %.17g, 1 worker: %.17g",
          workers[k], r, first);
    parc_pool_destroy(p);
  }
  free(in);
}

static _Atomic int visits[20000];

static int count_body(int64_t b, int64_t e, void *ctx) {
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&visits[i + 10000], 1);
  return 0;
}

static void loops(void) {
  parc_pool *p = pool(4, 0, 0);
  for (int s = 0; s < 3; s++)
    for (int64_t chunk = 0; chunk <= 64; chunk += 16) {
      for (int i = 0; i < 20000; i++) atomic_store(&visits[i], 0);
      parc_for_opts o = {.schedule = (parc_schedule)s, .chunk = chunk};
      CHECK_RC(parc_for(p, -10000, 10000, count_body, NULL, &o), 0);
      int bad = 0;
      for (int i = 0; i < 20000; i++) bad += atomic_load(&visits[i]) != 1;
      CHECK(bad == 0, "schedule %d chunk %lld: %d iterations not run once", s,
            (long long)chunk, bad);
    }
  parc_pool_destroy(p);
}

static void timeouts(void) {
  /* 1 s against 1 ms tasks: room for a machine busy with other tests;
   * task 2 is held at the gate, past the timeout however slow the rest */
  parc_pool *p = pool(2, 1.0, 0);
  uint32_t ms[6] = {1, 1, 0, 1, 1, 1};
  uint32_t out[6];
  parc_task_status st[6];
  parc_map_opts o = {.chunk = 1, .status = st};
  gate_close();
  CHECK_RC(parc_map(p, sleepy_task, ms, 4, out, 4, 6, &o), PARC_ETIMEDOUT);
  gate_open(); /* the abandoned task ends: destroy waits for it */
  CHECK(st[2].error == PARC_ETIMEDOUT, "the slow task reports ETIMEDOUT");
  for (int i = 0; i < 6; i++)
    if (i != 2)
      CHECK(st[i].error == 0 && out[i] == 1, "task %d succeeded", i);
  parc_pool_destroy(p);

  p = pool(2, 0, 0); /* the whole call's timeout */
  uint32_t many[8] = {300, 300, 300, 300, 300, 300, 300, 300};
  uint32_t res[8];
  parc_map_opts mo = {.chunk = 1, .timeout = 0.1};
  CHECK_RC(parc_map(p, sleepy_task, many, 4, res, 4, 8, &mo), PARC_ETIMEDOUT);
  parc_pool_destroy_ex(p, 1);
}

static void recycle(void) {
  parc_pool *p = pool(2, 0, 3);
  enum { N = 50 };
  uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  parc_map_opts o = {.chunk = 1};
  CHECK_RC(parc_map(p, mix_task, in, 8, out, 8, N, &o), 0);
  size_t bad = 0;
  for (size_t i = 0; i < N; i++) bad += out[i] != mix64(i);
  CHECK(bad == 0, "recycled workers: %zu wrong outputs", bad);
  parc_pool_destroy(p);
}

static void *caller(void *arg) {
  parc_pool *p = arg;
  enum { N = 20000 };
  uint64_t *in = malloc(N * 8), *out = malloc(N * 8);
  for (size_t i = 0; i < N; i++) in[i] = i * 3;
  for (int r = 0; r < 5; r++) {
    CHECK_RC(parc_map(p, mix_task, in, 8, out, 8, N, NULL), 0);
    for (size_t i = 0; i < N; i++)
      if (out[i] != mix64(i * 3)) {
        CHECK(0, "concurrent map: out[%zu] wrong", i);
        break;
      }
    uint64_t x = (uint64_t)r, y = 0;
    parc_future *f;
    CHECK_RC(parc_submit(p, mix_task, &x, 8, 8, &f), 0);
    CHECK_RC(parc_future_wait(f, &y, -1, NULL), 0);
    parc_future_free(f);
  }
  free(in);
  free(out);
  return NULL;
}

static void concurrent_callers(void) {
  parc_pool *p = pool(2, 0, 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, caller, p);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  parc_pool_destroy(p);
}

static void destroy_busy(void) {
  parc_pool *p = pool(2, 0, 0);
  uint32_t ms = 200;
  parc_future *f[6];
  for (int i = 0; i < 6; i++)
    CHECK_RC(parc_submit(p, sleepy_task, &ms, 4, 4, &f[i]), 0);
  parc_pool_destroy_ex(p, 1);
  for (int i = 0; i < 6; i++) {
    int rc = parc_future_wait(f[i], NULL, 0, NULL);
    CHECK(rc == 0 || rc == PARC_ECANCELED, "future %d after destroy: %s", i,
          parc_err_name(rc));
    parc_future_free(f[i]);
  }
}

int main(void) {
  map_sizes();
  map_errors();
  futures();
  cancel();
  reduce();
  loops();
  timeouts();
  recycle();
  destroy_busy();
  concurrent_callers();
  printf("stress_threads: %d passed, %d failed\n", atomic_load(&passed),
         atomic_load(&failed));
  return atomic_load(&failed) != 0;
}
