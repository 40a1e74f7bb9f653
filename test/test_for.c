/* test_for.c -- parc_for: every iteration of [begin, end) visited exactly
 * once for each schedule and chunk, chunk shapes as the schedule says, body
 * errors and ctx copying.
 *
 * Thread backend: the counters are ordinary memory allocated after the pool
 * (threads share it). Process backend: they are parc_shm_alloc memory
 * allocated before the pool, the only way a forked body can reach the
 * caller. */
#include "testutil.h"

#include <stdint.h>

TestSuite(forloop, .timeout = 60);

typedef struct counter {
  int64_t begin, end;
  _Atomic int64_t calls;
  _Atomic int64_t bad;      /* chunks outside [begin,end) or empty */
  _Atomic int64_t min_size; /* smallest chunk */
  _Atomic int64_t max_size; /* largest chunk */
  _Atomic int64_t
      small_last; /* guided: chunks under `floor` (must be the last one) */
  _Atomic int64_t small_not_last;
  int64_t floor;
  _Atomic int counts[];
} counter;

enum { MAXN = 1000000 };

static counter *counter_new(parc_backend backend, size_t n) {
  size_t bytes = sizeof(counter) + n * sizeof(_Atomic int);
  counter *c = backend == PARC_PROCESSES ? shm_new(bytes) : calloc(1, bytes);
  cr_assert_not_null(c);
  return c;
}

static void counter_free(parc_backend backend, counter *c) {
  if (backend == PARC_PROCESSES)
    parc_shm_free(c);
  else
    free(c);
}

static void counter_reset(counter *c, int64_t begin, int64_t end,
                          int64_t floor) {
  c->begin = begin;
  c->end = end;
  c->floor = floor;
  atomic_store(&c->calls, 0);
  atomic_store(&c->bad, 0);
  atomic_store(&c->min_size, INT64_MAX);
  atomic_store(&c->max_size, 0);
  atomic_store(&c->small_last, 0);
  atomic_store(&c->small_not_last, 0);
  for (int64_t i = 0; i < end - begin; i++) atomic_store(&c->counts[i], 0);
}

static void atomic_min64(_Atomic int64_t *a, int64_t v) {
  int64_t cur = atomic_load(a);
  while (v < cur && !atomic_compare_exchange_weak(a, &cur, v)) {
  }
}

static void atomic_max64(_Atomic int64_t *a, int64_t v) {
  int64_t cur = atomic_load(a);
  while (v > cur && !atomic_compare_exchange_weak(a, &cur, v)) {
  }
}

static int count_body(int64_t b, int64_t e, void *ctx) {
  counter *c = ctx;
  atomic_fetch_add(&c->calls, 1);
  if (b >= e || b < c->begin || e > c->end) {
    atomic_fetch_add(&c->bad, 1);
    return 0;
  }
  atomic_min64(&c->min_size, e - b);
  atomic_max64(&c->max_size, e - b);
  if (e - b < c->floor)
    atomic_fetch_add(e == c->end ? &c->small_last : &c->small_not_last, 1);
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->counts[i - c->begin], 1);
  return 0;
}

static const char *sched_name(parc_schedule s) {
  return s == PARC_SCHEDULE_STATIC    ? "static"
         : s == PARC_SCHEDULE_DYNAMIC ? "dynamic"
                                      : "guided";
}

static void run_for(parc_pool *p, counter *c, int64_t begin, int64_t end,
                    parc_schedule s, int64_t chunk) {
  counter_reset(c, begin, end, chunk);
  parc_for_opts o = {.schedule = s, .chunk = chunk};
  int rc = parc_for(p, begin, end, count_body, c, &o);
  cr_assert_eq(rc, 0,
               "parc_for([%lld,%lld), %s, chunk %lld): got %d (%s), want 0",
               (long long)begin, (long long)end, sched_name(s),
               (long long)chunk, rc, errname(rc));
}

static void check_once(counter *c, parc_schedule s, int64_t chunk) {
  ASSERT_I64(atomic_load(&c->bad), 0,
             "[%lld,%lld) %s chunk %lld: chunks out of range or empty",
             (long long)c->begin, (long long)c->end, sched_name(s),
             (long long)chunk);
  for (int64_t i = 0; i < c->end - c->begin; i++)
    if (atomic_load(&c->counts[i]) != 1)
      cr_assert_fail(
          "[%lld,%lld) %s chunk %lld: iteration %lld visited %d times, want 1",
          (long long)c->begin, (long long)c->end, sched_name(s),
          (long long)chunk, (long long)(c->begin + i),
          atomic_load(&c->counts[i]));
}

static void visits_once(parc_backend backend, parc_schedule s) {
  counter *c = counter_new(backend, 4000);
  parc_pool *p = pool_simple(backend, 3, NULL);
  int64_t ranges[][2] = {{0, 4000}, {-1500, 2500}, {-7, -3},
                         {5, 6},    {-4000, 0},    {0, 2}};
  int64_t chunks[] = {0, 1, 7, 1000};
  for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
    for (size_t k = 0; k < 4; k++) {
      run_for(p, c, ranges[r][0], ranges[r][1], s, chunks[k]);
      check_once(c, s, chunks[k]);
    }
  parc_pool_destroy(p);
  counter_free(backend, c);
}

BOTH_BACKENDS(forloop, static_visits_every_iteration_once) {
  visits_once(backend, PARC_SCHEDULE_STATIC);
}
BOTH_BACKENDS(forloop, dynamic_visits_every_iteration_once) {
  visits_once(backend, PARC_SCHEDULE_DYNAMIC);
}
BOTH_BACKENDS(forloop, guided_visits_every_iteration_once) {
  visits_once(backend, PARC_SCHEDULE_GUIDED);
}

BOTH_BACKENDS(forloop, million_iterations_visited_once) {
  counter *c = counter_new(backend, MAXN);
  parc_pool *p = pool_simple(backend, 4, NULL);
  for (int s = 0; s < 3; s++) {
    run_for(p, c, -MAXN / 2, MAXN / 2, (parc_schedule)s, 0);
    check_once(c, (parc_schedule)s, 0);
  }
  parc_pool_destroy(p);
  counter_free(backend, c);
}

BOTH_BACKENDS(forloop, empty_range_calls_no_body) {
  counter *c = counter_new(backend, 1);
  parc_pool *p = pool_simple(backend, 2, NULL);
  int64_t at[] = {0, -5, 1000};
  for (int s = 0; s < 3; s++)
    for (size_t k = 0; k < 3; k++) {
      run_for(p, c, at[k], at[k], (parc_schedule)s, 0);
      ASSERT_I64(atomic_load(&c->calls), 0, "body calls for [%lld,%lld) %s",
                 (long long)at[k], (long long)at[k],
                 sched_name((parc_schedule)s));
    }
  parc_pool_destroy(p);
  counter_free(backend, c);
}

/* ------------------------------------------------------------ chunk shapes */

BOTH_BACKENDS(forloop, dynamic_chunks_have_the_chunk_size) {
  counter *c = counter_new(backend, 4000);
  parc_pool *p = pool_simple(backend, 3, NULL);
  run_for(p, c, -100, 3900, PARC_SCHEDULE_DYNAMIC, 7);
  check_once(c, PARC_SCHEDULE_DYNAMIC, 7);
  ASSERT_I64(atomic_load(&c->max_size), 7, "largest chunk");
  ASSERT_I64(atomic_load(&c->calls), (4000 + 6) / 7, "body calls");
  parc_pool_destroy(p);
  counter_free(backend, c);
}

BOTH_BACKENDS(forloop, static_with_chunk_uses_chunks_of_that_size) {
  counter *c = counter_new(backend, 4000);
  parc_pool *p = pool_simple(backend, 3, NULL);
  run_for(p, c, 0, 4000, PARC_SCHEDULE_STATIC, 64);
  check_once(c, PARC_SCHEDULE_STATIC, 64);
  ASSERT_I64(atomic_load(&c->max_size), 64, "largest chunk");
  ASSERT_I64(atomic_load(&c->calls), (4000 + 63) / 64, "body calls");
  parc_pool_destroy(p);
  counter_free(backend, c);
}

BOTH_BACKENDS(forloop, static_without_chunk_gives_each_worker_one_equal_share) {
  counter *c = counter_new(backend, 4000);
  parc_pool *p = pool_simple(backend, 3, NULL);
  run_for(p, c, 0, 4000, PARC_SCHEDULE_STATIC, 0);
  check_once(c, PARC_SCHEDULE_STATIC, 0);
  ASSERT_I64(atomic_load(&c->calls), 3, "body calls (one share per worker)");
  int64_t lo = atomic_load(&c->min_size), hi = atomic_load(&c->max_size);
  cr_assert_leq(hi - lo, 1,
                "shares of %lld to %lld iterations, want equal (+-1)",
                (long long)lo, (long long)hi);
  parc_pool_destroy(p);
  counter_free(backend, c);
}

BOTH_BACKENDS(forloop, guided_chunks_shrink_but_not_below_the_chunk) {
  counter *c = counter_new(backend, 4000);
  parc_pool *p = pool_simple(backend, 3, NULL);
  run_for(p, c, 0, 4000, PARC_SCHEDULE_GUIDED, 16);
  check_once(c, PARC_SCHEDULE_GUIDED, 16);
  ASSERT_I64(atomic_load(&c->small_not_last), 0,
             "chunks under 16 before the last one");
  int64_t hi = atomic_load(&c->max_size), calls = atomic_load(&c->calls);
  /* remaining / workers: the first chunk is about 4000 / 3 */
  cr_assert(hi > 16 * 4 && hi <= 4000 / 3 + 1, "largest guided chunk %lld",
            (long long)hi);
  cr_assert(calls > 3 && calls < 4000 / 16, "guided body calls: %lld",
            (long long)calls);
  parc_pool_destroy(p);
  counter_free(backend, c);
}

/* ------------------------------------------------------------ errors */

static int failing_body(int64_t b, int64_t e, void *ctx) {
  if (b <= 3005 && 3005 < e)
    return 6;
  if (b <= 505 && 505 < e)
    return 5;
  return 0;
}

BOTH_BACKENDS(forloop, body_error_returns_the_error_of_the_lowest_chunk) {
  parc_pool *p = pool_simple(backend, 3, NULL);
  int64_t err_index = -1;
  parc_for_opts o = {
      .schedule = PARC_SCHEDULE_DYNAMIC, .chunk = 10, .err_index = &err_index};
  int rc = parc_for(p, 0, 4000, failing_body, NULL, &o);
  cr_assert(
      rc == PARC_ETASK || rc == 5,
      "parc_for with failing chunks: got %d (%s), want ETASK or the body's 5",
      rc, errname(rc));
  ASSERT_I64(err_index, 500, "err_index (first iteration of the failed chunk)");
  /* the pool still works */
  ASSERT_RC(parc_for(p, 0, 100, failing_body, NULL, &o), 0);
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ ctx */

typedef struct copied_ctx {
  uint64_t magic;
  counter *c; /* shm: valid in every process */
} copied_ctx;

static int magic_body(int64_t b, int64_t e, void *ctx) {
  const copied_ctx *x = ctx;
  if (x->magic != 0x5EC0DE)
    return 3;
  return count_body(b, e, x->c);
}

Test(forloop, ctx_size_copies_the_ctx_to_process_workers) {
  counter *c = counter_new(PARC_PROCESSES, 1000);
  parc_pool *p = pool_simple(PARC_PROCESSES, 3, NULL);
  /* built after the fork: the workers' copy of this stack is stale */
  copied_ctx x = {0x5EC0DE, c};
  counter_reset(c, 0, 1000, 0);
  parc_for_opts o = {
      .schedule = PARC_SCHEDULE_DYNAMIC, .chunk = 50, .ctx_size = sizeof x};
  ASSERT_RC(parc_for(p, 0, 1000, magic_body, &x, &o), 0);
  check_once(c, PARC_SCHEDULE_DYNAMIC, 50);
  parc_pool_destroy(p);
  counter_free(PARC_PROCESSES, c);
}

Test(forloop, thread_body_sees_the_ctx_pointer_itself) {
  parc_pool *p = pool_simple(PARC_THREADS, 3, NULL);
  counter *c = counter_new(PARC_THREADS, 1000);
  copied_ctx x = {0x5EC0DE, c};
  counter_reset(c, 0, 1000, 0);
  parc_for_opts o = {.schedule = PARC_SCHEDULE_GUIDED};
  ASSERT_RC(parc_for(p, 0, 1000, magic_body, &x, &o), 0);
  check_once(c, PARC_SCHEDULE_GUIDED, 0);
  parc_pool_destroy(p);
  counter_free(PARC_THREADS, c);
}

/* ------------------------------------------------------------ timeout, progress */

/* Waits until *ctx (parc_shm_alloc memory) is set, HOLD_S at most. */
static int held_body(int64_t b, int64_t e, void *ctx) {
  wait_flag(ctx, 1, HOLD_S);
  return 0;
}

BOTH_BACKENDS(forloop, call_timeout_returns_etimedout) {
  _Atomic int *release = shm_new(sizeof *release);
  parc_pool *p = pool_simple(backend, 2, NULL);
  parc_for_opts o = {
      .schedule = PARC_SCHEDULE_DYNAMIC, .chunk = 1, .timeout = 0.3};
  double t0 = now_s();
  ASSERT_RC(parc_for(p, 0, 8, held_body, (void *)release, &o), PARC_ETIMEDOUT);
  /* wrong: waiting for the chunks, held until the release (HOLD_S) */
  ASSERT_WAITED(now_s() - t0, 0.3, HOLD_S, "parc_for with a timeout of 0.3 s");
  atomic_store(release,
               1); /* threads: destroy waits for the abandoned chunks */
  parc_pool_destroy_ex(p, 1);
  parc_shm_free((void *)release);
}

typedef struct progress_seen {
  int calls, backwards;
  uint64_t last_done, last_total;
} progress_seen;

static void on_progress(uint64_t done, uint64_t total, void *arg) {
  progress_seen *s = arg;
  if (done < s->last_done)
    s->backwards++;
  s->last_done = done;
  s->last_total = total;
  s->calls++;
}

BOTH_BACKENDS(forloop, progress_ends_with_done_equal_to_total) {
  counter *c = counter_new(backend, 2000);
  parc_pool *p = pool_simple(backend, 2, NULL);
  progress_seen s = {0};
  counter_reset(c, 0, 2000, 0);
  parc_for_opts o = {.schedule = PARC_SCHEDULE_DYNAMIC,
                     .chunk = 10,
                     .progress = on_progress,
                     .progress_arg = &s};
  ASSERT_RC(parc_for(p, 0, 2000, count_body, c, &o), 0);
  cr_assert_geq(s.calls, 1, "progress calls: %d", s.calls);
  cr_assert_gt(s.last_total, 0, "progress total: %llu",
               (unsigned long long)s.last_total);
  ASSERT_I64(s.last_done, s.last_total, "done in the last progress call");
  ASSERT_I64(s.backwards, 0, "progress calls where done went down");
  parc_pool_destroy(p);
  counter_free(backend, c);
}

/* ------------------------------------------------------------ cancellation */

typedef struct marks {
  _Atomic int started[16];
} marks;

/* Chunk [b, b+1): marks b as started, then sleeps 1 s. */
static int mark_slow_body(int64_t b, int64_t e, void *ctx) {
  marks *m = ctx;
  if (b >= 0 && b < 16)
    atomic_store(&m->started[b], 1);
  sleep_s(1.0);
  return 0;
}

BOTH_BACKENDS(forloop, chunks_canceled_by_the_call_timeout_never_start) {
  marks *m = shm_new(sizeof *m);
  parc_pool *p = pool_simple(backend, 2, NULL);
  parc_for_opts o = {
      .schedule = PARC_SCHEDULE_DYNAMIC, .chunk = 1, .timeout = 0.3};
  ASSERT_RC(parc_for(p, 0, 8, mark_slow_body, m, &o), PARC_ETIMEDOUT);
  int at_return[8], not_started = 0;
  for (int i = 0; i < 8; i++) at_return[i] = atomic_load(&m->started[i]);
  /* threads: destroy waits for the abandoned chunks; a canceled chunk that
   * starts meanwhile writes through ctx after parc_for has returned */
  parc_pool_destroy_ex(p, 1);
  for (int i = 0; i < 8; i++) {
    if (at_return[i])
      continue;
    not_started++;
    ASSERT_I64(atomic_load(&m->started[i]), 0,
               "chunk [%d,%d) (not started when parc_for returned ETIMEDOUT) "
               "started later",
               i, i + 1);
  }
  cr_assert_geq(not_started, 1,
                "every chunk had started by the timeout: test premise broken");
  parc_shm_free(m);
}

/* ------------------------------------------------------------ int64 edges */

static void visits_once_at(parc_backend backend, int64_t begin, int64_t end) {
  counter *c = counter_new(backend, (size_t)(end - begin));
  parc_pool *p = pool_simple(backend, 3, NULL);
  int64_t chunks[] = {0, 7};
  for (int s = 0; s < 3; s++)
    for (size_t k = 0; k < 2; k++) {
      run_for(p, c, begin, end, (parc_schedule)s, chunks[k]);
      check_once(c, (parc_schedule)s, chunks[k]);
    }
  parc_pool_destroy(p);
  counter_free(backend, c);
}

BOTH_BACKENDS(forloop, range_ending_at_int64_max_is_visited_once) {
  visits_once_at(backend, INT64_MAX - 1000, INT64_MAX);
}

BOTH_BACKENDS(forloop, range_starting_at_int64_min_is_visited_once) {
  visits_once_at(backend, INT64_MIN, INT64_MIN + 1000);
}

enum { MAXCHUNKS = 8192 };

typedef struct chunk_log {
  _Atomic int n;
  int64_t b[MAXCHUNKS], e[MAXCHUNKS];
} chunk_log;

static int log_body(int64_t b, int64_t e, void *ctx) {
  chunk_log *l = ctx;
  int k = atomic_fetch_add(&l->n, 1);
  if (k < MAXCHUNKS) {
    l->b[k] = b;
    l->e[k] = e;
  }
  return 0;
}

static int cmp_i64_pair(const void *x, const void *y) {
  const int64_t *a = x, *b = y;
  return a[0] < b[0] ? -1 : a[0] > b[0];
}

/* The chunks logged tile [begin, end) exactly: sorted, each starts where
 * the previous ended. */
static void check_tiling(chunk_log *l, int64_t begin, int64_t end,
                         const char *what) {
  int n = atomic_load(&l->n);
  cr_assert(n > 0 && n <= MAXCHUNKS, "%s: %d chunks", what, n);
  static int64_t pairs[MAXCHUNKS][2];
  for (int i = 0; i < n; i++) {
    pairs[i][0] = l->b[i];
    pairs[i][1] = l->e[i];
  }
  qsort(pairs, (size_t)n, sizeof pairs[0], cmp_i64_pair);
  int64_t at = begin;
  for (int i = 0; i < n; i++) {
    cr_assert(pairs[i][0] == at && pairs[i][1] > pairs[i][0],
              "%s: chunk %d is [%lld,%lld), expected it to start at %lld", what,
              i, (long long)pairs[i][0], (long long)pairs[i][1], (long long)at);
    at = pairs[i][1];
  }
  ASSERT_I64(at, end, "%s: end of the last chunk", what);
}

BOTH_BACKENDS(forloop, huge_range_is_tiled_exactly) {
  chunk_log *l = shm_new(sizeof *l);
  parc_pool *p = pool_simple(backend, 3, NULL);
  const int64_t begin = -(INT64_C(1) << 61), end = INT64_C(1) << 61;
  struct {
    parc_schedule s;
    int64_t chunk;
    const char *what;
  } cases[] = {{PARC_SCHEDULE_STATIC, 0, "static"},
               {PARC_SCHEDULE_STATIC, INT64_C(1) << 52, "static, chunk 2^52"},
               {PARC_SCHEDULE_DYNAMIC, INT64_C(1) << 52, "dynamic, chunk 2^52"},
               {PARC_SCHEDULE_GUIDED, 0, "guided"},
               {PARC_SCHEDULE_GUIDED, INT64_C(1) << 50, "guided, chunk 2^50"}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    atomic_store(&l->n, 0);
    parc_for_opts o = {.schedule = cases[k].s, .chunk = cases[k].chunk};
    ASSERT_RC(parc_for(p, begin, end, log_body, l, &o), 0);
    check_tiling(l, begin, end, cases[k].what);
  }
  parc_pool_destroy(p);
  parc_shm_free(l);
}

/* ------------------------------------------------------------ big ctx */

enum { BIG_CTX_DATA = 600 * 1024 };

typedef struct big_ctx {
  uint64_t hash;
  counter *c;
  unsigned char data[BIG_CTX_DATA];
} big_ctx;

static int big_ctx_body(int64_t b, int64_t e, void *ctx) {
  const big_ctx *x = ctx;
  if (fnv1a(x->data, BIG_CTX_DATA) != x->hash)
    return 3;
  return count_body(b, e, x->c);
}

/* No size limit is documented: a big ctx is copied, or refused with the
 * code for "argument too large". */
Test(forloop, big_ctx_size_is_copied_or_refused_with_etoobig) {
  counter *c = counter_new(PARC_PROCESSES, 200);
  parc_pool *p = pool_simple(PARC_PROCESSES, 2, NULL);
  big_ctx *x = malloc(sizeof *x); /* after the fork: workers cannot see it */
  fill_bytes(x->data, BIG_CTX_DATA, 0xC7);
  x->hash = fnv1a(x->data, BIG_CTX_DATA);
  x->c = c;
  counter_reset(c, 0, 200, 0);
  parc_for_opts o = {
      .schedule = PARC_SCHEDULE_DYNAMIC, .chunk = 20, .ctx_size = sizeof *x};
  int rc = parc_for(p, 0, 200, big_ctx_body, x, &o);
  cr_assert(rc == 0 || rc == PARC_ETOOBIG,
            "parc_for with a %zu-byte ctx: got %d (%s), want 0 "
            "or ETOOBIG",
            sizeof *x, rc, errname(rc));
  if (rc == 0)
    check_once(c, PARC_SCHEDULE_DYNAMIC, 20);
  parc_pool_destroy(p);
  free(x);
  counter_free(PARC_PROCESSES, c);
}

Test(forloop, ctx_size_is_harmless_on_threads_whatever_its_size) {
  parc_pool *p = pool_simple(PARC_THREADS, 2, NULL);
  counter *c = counter_new(PARC_THREADS, 200);
  big_ctx *x = malloc(sizeof *x);
  fill_bytes(x->data, BIG_CTX_DATA, 0xC7);
  x->hash = fnv1a(x->data, BIG_CTX_DATA);
  x->c = c;
  counter_reset(c, 0, 200, 0);
  parc_for_opts o = {
      .schedule = PARC_SCHEDULE_DYNAMIC, .chunk = 20, .ctx_size = sizeof *x};
  ASSERT_RC(parc_for(p, 0, 200, big_ctx_body, x, &o), 0);
  check_once(c, PARC_SCHEDULE_DYNAMIC, 20);
  parc_pool_destroy(p);
  free(x);
  counter_free(PARC_THREADS, c);
}

static int fail_150_body(int64_t b, int64_t e, void *ctx) {
  return b <= 150 && 150 < e ? 8 : 0;
}

BOTH_BACKENDS(forloop, static_share_error_reports_the_share_start) {
  parc_pool *p = pool_simple(backend, 3, NULL);
  int64_t err_index = -1;
  parc_for_opts o = {.schedule = PARC_SCHEDULE_STATIC, .err_index = &err_index};
  int rc = parc_for(p, 0, 300, fail_150_body, NULL, &o);
  cr_assert(rc == PARC_ETASK || rc == 8,
            "got %d (%s), want ETASK or the body's 8", rc, errname(rc));
  ASSERT_I64(err_index, 100, "err_index (start of the share [100,200))");
  parc_pool_destroy(p);
}
