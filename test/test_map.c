/* test_map.c -- parc_map: results in input order for any n, chunk and item
 * size on both backends; task errors reported per task with the lowest
 * failing index; progress; ctx; several threads sharing one pool. */
#include "testutil.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

TestSuite(map, .timeout = 60);

/* ------------------------------------------------------------ u64 map */

static int mix_task(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  x = mix64(x);
  memcpy(out, &x, 8);
  return 0;
}

/* Maps n random u64 with mix64 and checks every output. */
static void check_u64_map(parc_backend backend, unsigned workers, size_t n,
                          size_t chunk) {
  uint64_t *in = malloc((n ? n : 1) * 8), *out = malloc((n ? n : 1) * 8);
  cr_assert(in && out);
  uint64_t seed = 0x5EED0000 + n;
  for (size_t i = 0; i < n; i++) in[i] = splitmix64(&seed);
  memset(out, 0, (n ? n : 1) * 8);
  parc_pool *p = pool_simple(backend, workers, NULL);
  parc_map_opts o = {.chunk = chunk};
  int rc = parc_map(p, mix_task, in, 8, out, 8, n, &o);
  cr_assert_eq(rc, 0, "parc_map(%s, n=%zu, chunk=%zu): got %d (%s), want 0",
               backend_name(backend), n, chunk, rc, errname(rc));
  for (size_t i = 0; i < n; i++)
    if (out[i] != mix64(in[i]))
      cr_assert_fail("%s n=%zu chunk=%zu: out[%zu] = %#llx, want %#llx",
                     backend_name(backend), n, chunk, i,
                     (unsigned long long)out[i],
                     (unsigned long long)mix64(in[i]));
  parc_pool_destroy(p);
  free(in);
  free(out);
}

static int counting_task(const void *in, void *out, void *ctx) {
  _Atomic int *calls = ctx;
  atomic_fetch_add(calls, 1);
  return mix_task(in, out, NULL);
}

BOTH_BACKENDS(map, n0_returns_0_and_runs_no_task) {
  _Atomic int *calls = shm_new(sizeof *calls);
  parc_pool *p = pool_simple(backend, 2, (void *)calls);
  uint64_t in[1] = {1}, out[1] = {0xdead};
  ASSERT_RC(parc_map(p, counting_task, in, 8, out, 8, 0, NULL), 0);
  ASSERT_I64(atomic_load(calls), 0, "tasks run for n=0");
  ASSERT_U64(out[0], 0xdead, "out[0] written for n=0");
  parc_pool_destroy(p);
  parc_shm_free((void *)calls);
}

BOTH_BACKENDS(map, n1_gives_the_one_result) { check_u64_map(backend, 2, 1, 0); }

BOTH_BACKENDS(map, n7_in_order_for_every_chunk) {
  size_t chunks[] = {0, 1, 3, 1000};
  for (size_t c = 0; c < 4; c++) check_u64_map(backend, 3, 7, chunks[c]);
}

BOTH_BACKENDS(map, n1e6_in_order_auto_chunk) {
  check_u64_map(backend, 4, 1000000, 0);
}
BOTH_BACKENDS(map, n1e6_in_order_chunk_1000) {
  check_u64_map(backend, 4, 1000000, 1000);
}
BOTH_BACKENDS(map, n1e6_in_order_chunk_3) {
  check_u64_map(backend, 2, 1000000, 3);
}
BOTH_BACKENDS(map, n1e6_in_order_chunk_1) {
  check_u64_map(backend, 2, 1000000, 1);
}

BOTH_BACKENDS(map, runs_every_task_exactly_once) {
  _Atomic int *calls = shm_new(sizeof *calls);
  parc_pool *p = pool_simple(backend, 4, (void *)calls);
  enum { N = 5000 };
  static uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  ASSERT_RC(parc_map(p, counting_task, in, 8, out, 8, N, NULL), 0);
  ASSERT_I64(atomic_load(calls), N, "task calls");
  parc_pool_destroy(p);
  parc_shm_free((void *)calls);
}

BOTH_BACKENDS(map, second_map_on_the_same_pool_is_correct) {
  parc_pool *p = pool_simple(backend, 3, NULL);
  enum { N = 1000 };
  static uint64_t in[N], out[N];
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < N; i++) in[i] = i * 7919 + (uint64_t)round;
    ASSERT_RC(parc_map(p, mix_task, in, 8, out, 8, N, NULL), 0);
    for (size_t i = 0; i < N; i++)
      ASSERT_U64(out[i], mix64(in[i]), "round %d out[%zu]", round, i);
  }
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ item sizes */

typedef struct sizes {
  size_t in_size, out_size;
} sizes;

/* out = bytes from a generator seeded by a hash of all of `in`. */
static int sized_task(const void *in, void *out, void *ctx) {
  const sizes *s = ctx;
  fill_bytes(out, s->out_size, fnv1a(in, s->in_size));
  return 0;
}

static void check_sized_map(parc_backend backend, size_t in_size,
                            size_t out_size, size_t n, size_t chunk) {
  static sizes s; /* static: set before the pool forks, seen by workers */
  s.in_size = in_size;
  s.out_size = out_size;
  unsigned char *in = malloc(in_size * n), *out = malloc(out_size * n),
                *want = malloc(out_size);
  cr_assert(in && out && want);
  for (size_t i = 0; i < n; i++)
    fill_bytes(in + i * in_size, in_size, 0xABC000 + i);
  memset(out, 0, out_size * n);
  parc_pool *p = pool_simple(backend, 3, &s);
  parc_map_opts o = {.chunk = chunk};
  int rc = parc_map(p, sized_task, in, in_size, out, out_size, n, &o);
  cr_assert_eq(
      rc, 0,
      "parc_map(%s, in_size=%zu, out_size=%zu, n=%zu): got %d (%s), want 0",
      backend_name(backend), in_size, out_size, n, rc, errname(rc));
  for (size_t i = 0; i < n; i++) {
    fill_bytes(want, out_size, fnv1a(in + i * in_size, in_size));
    if (memcmp(out + i * out_size, want, out_size) != 0) {
      size_t j = 0;
      while (out[i * out_size + j] == want[j]) j++;
      cr_assert_fail(
          "%s in_size=%zu out_size=%zu: out[%zu] byte %zu = %u, want %u",
          backend_name(backend), in_size, out_size, i, j, out[i * out_size + j],
          want[j]);
    }
  }
  parc_pool_destroy(p);
  free(in);
  free(out);
  free(want);
}

BOTH_BACKENDS(map, one_byte_items) { check_sized_map(backend, 1, 1, 10007, 0); }
BOTH_BACKENDS(map, one_byte_items_chunk_3) {
  check_sized_map(backend, 1, 1, 1001, 3);
}
BOTH_BACKENDS(map, four_kib_items) {
  check_sized_map(backend, 4096, 4096, 500, 0);
}
BOTH_BACKENDS(map, four_kib_in_eight_bytes_out) {
  check_sized_map(backend, 4096, 8, 300, 0);
}
BOTH_BACKENDS(map, one_byte_in_four_kib_out) {
  check_sized_map(backend, 1, 4096, 300, 0);
}
BOTH_BACKENDS(map, items_larger_than_1mib) {
  check_sized_map(backend, (3u << 20) / 2 + 3, (3u << 20) / 2 + 5, 5, 0);
}
BOTH_BACKENDS(map, items_larger_than_1mib_chunk_1000) {
  check_sized_map(backend, (5u << 20) / 4, 8, 6, 1000);
}

/* ------------------------------------------------------------ errors */

/* Fails (returns 100 + i) for i % 5 == 3; counts its calls in ctx. */
static int failing_task(const void *in, void *out, void *ctx) {
  uint64_t i;
  memcpy(&i, in, 8);
  if (ctx)
    atomic_fetch_add((_Atomic int *)ctx, 1);
  if (i % 5 == 3)
    return (int)(100 + i);
  uint64_t y = mix64(i);
  memcpy(out, &y, 8);
  return 0;
}

BOTH_BACKENDS(map, task_error_returns_etask_with_lowest_index) {
  parc_pool *p = pool_simple(backend, 3, NULL);
  enum { N = 40 };
  uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  size_t err_index = 12345;
  parc_map_opts o = {.err_index = &err_index};
  ASSERT_RC(parc_map(p, failing_task, in, 8, out, 8, N, &o), PARC_ETASK);
  ASSERT_I64(err_index, 3, "err_index");
  parc_pool_destroy(p);
}

BOTH_BACKENDS(map, task_error_status_has_task_rc_per_task) {
  parc_pool *p = pool_simple(backend, 3, NULL);
  enum { N = 40 };
  uint64_t in[N], out[N];
  parc_task_status st[N];
  memset(st, 0x7f, sizeof st);
  for (size_t i = 0; i < N; i++) in[i] = i;
  parc_map_opts o = {.status = st, .chunk = 3};
  ASSERT_RC(parc_map(p, failing_task, in, 8, out, 8, N, &o), PARC_ETASK);
  for (size_t i = 0; i < N; i++) {
    if (i % 5 == 3) {
      ASSERT_STATUS_ERR(st[i], PARC_ETASK, i);
      ASSERT_I64(st[i].task_rc, 100 + (int)i, "status[%zu].task_rc", i);
    } else {
      ASSERT_STATUS_ERR(st[i], 0, i);
    }
    ASSERT_I64(st[i].attempts, 1, "status[%zu].attempts", i);
  }
  parc_pool_destroy(p);
}

BOTH_BACKENDS(map, task_errors_leave_other_outputs_correct) {
  _Atomic int *calls = shm_new(sizeof *calls);
  parc_pool *p = pool_simple(backend, 4, (void *)calls);
  enum { N = 2000 };
  static uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  ASSERT_RC(parc_map(p, failing_task, in, 8, out, 8, N, NULL), PARC_ETASK);
  ASSERT_I64(atomic_load(calls), N,
             "tasks run (every task runs even when some fail)");
  for (size_t i = 0; i < N; i++)
    if (i % 5 != 3)
      ASSERT_U64(out[i], mix64(i), "out[%zu]", i);
  parc_pool_destroy(p);
  parc_shm_free((void *)calls);
}

static int fail_at_end_task(const void *in, void *out, void *ctx) {
  uint64_t i;
  memcpy(&i, in, 8);
  memcpy(out, &i, 8);
  return i == 9998 || i == 9999 ? -77 : 0;
}

BOTH_BACKENDS(map, only_the_last_tasks_failing_reports_their_index) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  enum { N = 10000 };
  static uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  size_t err_index = 0;
  static parc_task_status st[N];
  parc_map_opts o = {.err_index = &err_index, .status = st};
  ASSERT_RC(parc_map(p, fail_at_end_task, in, 8, out, 8, N, &o), PARC_ETASK);
  ASSERT_I64(err_index, 9998, "err_index");
  ASSERT_I64(st[9999].task_rc, -77, "status[9999].task_rc");
  ASSERT_STATUS_ERR(st[9997], 0, 9997);
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ progress */

typedef struct progress_log {
  pthread_t caller;
  int calls, wrong_thread, backwards, bad_total;
  uint64_t last_done, total;
} progress_log;

static void on_progress(uint64_t done, uint64_t total, void *arg) {
  progress_log *l = arg;
  if (!pthread_equal(pthread_self(), l->caller))
    l->wrong_thread++;
  if (done < l->last_done)
    l->backwards++;
  if (total != l->total)
    l->bad_total++;
  l->last_done = done;
  l->calls++;
}

static int slowish_task(const void *in, void *out, void *ctx) {
  sleep_s(0.0002);
  return mix_task(in, out, ctx);
}

BOTH_BACKENDS(map, progress_runs_in_caller_and_ends_at_total) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  enum { N = 3000 };
  static uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  progress_log l = {.caller = pthread_self(), .total = N};
  parc_map_opts o = {.progress = on_progress, .progress_arg = &l};
  double t0 = now_s();
  ASSERT_RC(parc_map(p, slowish_task, in, 8, out, 8, N, &o), 0);
  double took = now_s() - t0;
  cr_assert_geq(l.calls, 1, "progress calls: got %d, want >= 1", l.calls);
  /* "at most about 10 times a second, and once at the end" */
  cr_assert_leq(l.calls, (int)(20 * took) + 3, "%d progress calls in %.2f s",
                l.calls, took);
  ASSERT_I64(l.last_done, N, "done in the last progress call");
  ASSERT_I64(l.wrong_thread, 0, "progress calls outside the calling thread");
  ASSERT_I64(l.backwards, 0, "progress calls where done went down");
  ASSERT_I64(l.bad_total, 0, "progress calls with total != n");
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ ctx, ids */

typedef struct id_out {
  int worker;
  int ctx_ok;
} id_out;

static int id_task(const void *in, void *out, void *ctx) {
  id_out r = {parc_worker_id(),
              ctx != NULL && *(const uint64_t *)ctx == 0xC0FFEE};
  sleep_s(0.0005);
  memcpy(out, &r, sizeof r);
  return 0;
}

BOTH_BACKENDS(map, tasks_see_ctx_and_a_worker_id_in_range) {
  static uint64_t magic = 0xC0FFEE;
  parc_pool *p = pool_simple(backend, 4, &magic);
  enum { N = 200 };
  uint64_t in[N];
  id_out out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  ASSERT_RC(parc_map(p, id_task, in, 8, out, sizeof(id_out), N, NULL), 0);
  for (size_t i = 0; i < N; i++) {
    ASSERT_I64(out[i].ctx_ok, 1, "task %zu saw the pool's ctx", i);
    cr_assert(out[i].worker >= 0 && out[i].worker < 4,
              "task %zu: parc_worker_id() = %d, want 0..3", i, out[i].worker);
  }
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ sharing */

typedef struct sharer {
  parc_pool *pool;
  int id, rc, bad;
} sharer;

static void *sharer_main(void *arg) {
  sharer *s = arg;
  enum { N = 2000 };
  uint64_t *in = malloc(N * 8), *out = malloc(N * 8);
  for (int round = 0; round < 5 && s->rc == 0; round++) {
    for (size_t i = 0; i < N; i++)
      in[i] = ((uint64_t)s->id << 40) + round * N + i;
    s->rc = parc_map(s->pool, mix_task, in, 8, out, 8, N, NULL);
    for (size_t i = 0; i < N; i++) s->bad += out[i] != mix64(in[i]);
  }
  free(in);
  free(out);
  return NULL;
}

BOTH_BACKENDS(map, several_callers_share_one_pool) {
  parc_pool *p = pool_simple(backend, 3, NULL);
  enum { T = 4 };
  sharer s[T];
  pthread_t th[T];
  for (int t = 0; t < T; t++) {
    s[t] = (sharer){.pool = p, .id = t + 1};
    cr_assert_eq(pthread_create(&th[t], NULL, sharer_main, &s[t]), 0);
  }
  for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < T; t++) {
    ASSERT_RC(s[t].rc, 0);
    ASSERT_I64(s[t].bad, 0, "wrong outputs in thread %d", t);
  }
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ timeout */

/* Sleeps `in` milliseconds; 0: waits until *ctx is set (HOLD_S at most). */
static int sleep_or_held_task(const void *in, void *out, void *ctx) {
  uint64_t ms;
  memcpy(&ms, in, 8);
  if (ms == 0)
    wait_flag(ctx, 1, HOLD_S);
  else
    sleep_s((double)ms / 1000.0);
  memcpy(out, &ms, 8);
  return 0;
}

BOTH_BACKENDS(map, call_timeout_cancels_unfinished_tasks) {
  _Atomic int *release = shm_new(sizeof *release);
  parc_pool *p = pool_simple(backend, 2, (void *)release);
  enum { N = 6 };
  /* two quick tasks, then four held until the release: past the timeout */
  uint64_t in[N] = {1, 1, 0, 0, 0, 0}, out[N];
  parc_task_status st[N];
  size_t err_index = 99;
  /* the workers are up before the clock starts (a fork can take long on a
   * loaded machine), and the quick tasks have 1000 times their time */
  ASSERT_RC(parc_map(p, sleep_or_held_task, in, 8, out, 8, 2, NULL), 0);
  parc_map_opts o = {
      .timeout = 1.0, .status = st, .err_index = &err_index, .chunk = 1};
  double t0 = now_s();
  ASSERT_RC(parc_map(p, sleep_or_held_task, in, 8, out, 8, N, &o),
            PARC_ETIMEDOUT);
  /* wrong: waiting for the held tasks (HOLD_S) */
  ASSERT_WAITED(now_s() - t0, 1.0, HOLD_S, "parc_map with a timeout of 1 s");
  atomic_store(release, 1); /* threads: destroy waits for the abandoned tasks */
  ASSERT_STATUS_ERR(st[0], 0, 0);
  ASSERT_STATUS_ERR(st[1], 0, 1);
  ASSERT_U64(out[0], 1, "out[0]");
  for (size_t i = 2; i < N; i++)
    cr_assert(st[i].error == PARC_ETIMEDOUT,
              "status[%zu].error: got %d (%s), want ETIMEDOUT", i, st[i].error,
              errname(st[i].error));
  ASSERT_I64(err_index, 2, "err_index");
  parc_pool_destroy_ex(p, 1);
  parc_shm_free((void *)release);
}

/* Records that it started in ctx (shm), then sleeps `in` milliseconds. */
static int mark_sleep_task(const void *in, void *out, void *ctx) {
  uint64_t v;
  memcpy(&v, in, 8);
  atomic_store(&((_Atomic int *)ctx)[v >> 32], 1);
  sleep_s((double)(v & 0xffffffffu) / 1000.0);
  memcpy(out, &v, 8);
  return 0;
}

BOTH_BACKENDS(map, tasks_canceled_by_the_call_timeout_never_start) {
  enum { N = 6 };
  _Atomic int *started = shm_new(N * sizeof *started);
  parc_pool *p = pool_simple(backend, 2, (void *)started);
  /* two quick tasks; the two slow ones that follow take both workers
   * past the timeout, so the last two are still queued when it expires */
  uint64_t ms[N] = {1, 1, 1500, 1500, 1500, 1500}, in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = ((uint64_t)i << 32) | ms[i];
  parc_task_status st[N];
  parc_map_opts o = {.timeout = 0.3, .status = st, .chunk = 1};
  ASSERT_RC(parc_map(p, mark_sleep_task, in, 8, out, 8, N, &o), PARC_ETIMEDOUT);
  int at_return[N];
  for (size_t i = 0; i < N; i++) at_return[i] = atomic_load(&started[i]);
  parc_pool_destroy_ex(p, 1); /* threads: waits for the abandoned tasks */
  int not_started = 0;
  for (size_t i = 0; i < N; i++) {
    if (at_return[i])
      continue;
    not_started++;
    ASSERT_STATUS_ERR(st[i], PARC_ETIMEDOUT, i);
    ASSERT_I64(atomic_load(&started[i]), 0,
               "task %zu (canceled by the timeout, not started when parc_map "
               "returned) "
               "started later",
               i);
  }
  cr_assert_geq(not_started, 1,
                "every task had started by the timeout: test premise broken");
  parc_shm_free((void *)started);
}

/* ------------------------------------------------------------ task rc */

/* Returns values that look like library codes: they are still the task's. */
static int parc_code_task(const void *in, void *out, void *ctx) {
  uint64_t i;
  memcpy(&i, in, 8);
  memcpy(out, &i, 8);
  return i == 2 ? PARC_EWORKER : i == 4 ? PARC_ETIMEDOUT : 0;
}

BOTH_BACKENDS(map, task_returning_a_parc_code_is_still_etask) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  enum { N = 6 };
  uint64_t in[N] = {0, 1, 2, 3, 4, 5}, out[N];
  parc_task_status st[N];
  size_t err_index = 99;
  parc_map_opts o = {.status = st, .err_index = &err_index};
  ASSERT_RC(parc_map(p, parc_code_task, in, 8, out, 8, N, &o), PARC_ETASK);
  ASSERT_I64(err_index, 2, "err_index");
  ASSERT_STATUS_ERR(st[2], PARC_ETASK, 2);
  ASSERT_I64(st[2].task_rc, PARC_EWORKER, "status[2].task_rc");
  ASSERT_STATUS_ERR(st[4], PARC_ETASK, 4);
  ASSERT_I64(st[4].task_rc, PARC_ETIMEDOUT, "status[4].task_rc");
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ pools */

BOTH_BACKENDS(map, more_workers_than_tasks) { check_u64_map(backend, 8, 3, 0); }

typedef struct pool_runner {
  parc_pool *pool;
  uint64_t salt;
  int rc, bad;
} pool_runner;

static void *pool_runner_main(void *arg) {
  pool_runner *r = arg;
  enum { N = 20000 };
  uint64_t *in = malloc(N * 8), *out = malloc(N * 8);
  for (int round = 0; round < 10 && r->rc == 0; round++) {
    for (size_t i = 0; i < N; i++) in[i] = r->salt + (uint64_t)round * N + i;
    r->rc = parc_map(r->pool, mix_task, in, 8, out, 8, N, NULL);
    for (size_t i = 0; i < N; i++) r->bad += out[i] != mix64(in[i]);
  }
  free(in);
  free(out);
  return NULL;
}

Test(map, pools_of_both_backends_run_side_by_side) {
  parc_pool *a = pool_simple(PARC_THREADS, 2, NULL);
  parc_pool *b = pool_simple(PARC_PROCESSES, 2, NULL);
  parc_pool *c = pool_simple(PARC_PROCESSES, 3, NULL);
  pool_runner r[3] = {
      {a, 1ull << 40, 0, 0}, {b, 2ull << 40, 0, 0}, {c, 3ull << 40, 0, 0}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    cr_assert_eq(pthread_create(&th[i], NULL, pool_runner_main, &r[i]), 0);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) {
    ASSERT_RC(r[i].rc, 0);
    ASSERT_I64(r[i].bad, 0, "wrong outputs from pool %d", i);
  }
  /* destroying one leaves the others working */
  parc_pool_destroy(b);
  r[0].rc = r[2].rc = 0;
  pool_runner_main(&r[0]);
  pool_runner_main(&r[2]);
  ASSERT_RC(r[0].rc, 0);
  ASSERT_RC(r[2].rc, 0);
  ASSERT_I64(r[0].bad + r[2].bad, 0,
             "wrong outputs after another pool was destroyed");
  parc_pool_destroy(a);
  parc_pool_destroy(c);
}

/* ------------------------------------------------------------ memory */

static int first_last_task(const void *in, void *out, void *ctx) {
  const unsigned char *b = in;
  *(unsigned char *)out = (unsigned char)(b[0] ^ b[4095] ^ 0x5A);
  return 0;
}

static long max_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* How much the peak RSS of a process grows by reading one byte of each page
 * of `in` (n bytes, never written): nothing where the kernel maps its one
 * zero page for such reads, all of it where it does not. Measured in a
 * child, so the caller's peak is untouched. */
static long reading_costs_kib(const unsigned char *in, size_t n) {
  int fd[2];
  cr_assert_eq(pipe(fd), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    long before = max_rss_kib();
    for (size_t i = 0; i < n; i += 4096)
      (void)((const volatile unsigned char *)in)[i];
    long grew = max_rss_kib() - before;
    _exit(write(fd[1], &grew, sizeof grew) == sizeof grew ? 0 : 1);
  }
  long grew = -1;
  cr_assert_eq(read(fd[0], &grew, sizeof grew), (ssize_t)sizeof grew);
  waitpid(pid, NULL, 0);
  close(fd[0]);
  close(fd[1]);
  return grew;
}

BOTH_BACKENDS(map, memory_stays_bounded_for_a_gib_of_input) {
  /* 1 GiB of never-written pages. Reading them costs what the kernel says
   * (measured: the baseline); any growth beyond is the library's own
   * copying, which must stay bounded whatever n is. */
  size_t n = 1u << 18, in_size = 4096;
  void *in = mmap(NULL, n * in_size, PROT_READ,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  cr_assert_neq(in, MAP_FAILED, "mmap 1 GiB: %s", strerror(errno));
  long baseline = reading_costs_kib(in, n * in_size);
  unsigned char *out = malloc(n);
  memset(out, 0, n);
  parc_pool *p = pool_simple(backend, 2, NULL);
  long before = max_rss_kib();
  ASSERT_RC(parc_map(p, first_last_task, in, in_size, out, 1, n, NULL), 0);
  long grew = max_rss_kib() - before;
  for (size_t i = 0; i < n; i++)
    if (out[i] != 0x5A)
      cr_assert_fail("out[%zu] = %#x, want 0x5a", i, out[i]);
  cr_assert_lt(grew, baseline + 128 * 1024,
               "peak RSS grew by %ld MiB mapping 1 GiB of input (reading it "
               "costs %ld MiB)",
               grew / 1024, baseline / 1024);
  parc_pool_destroy(p);
  munmap(in, n * in_size);
  free(out);
}

/* ------------------------------------------------------------ zero copy */

typedef struct zc_in {
  uint64_t value;
  const struct zc_in *self; /* where the caller put this input */
} zc_in;

/* out = 1 if the task reads its input where the caller wrote it (no
 * copy), 2 if it reads a copy; either way the value must come through. */
static int where_task(const void *in, void *out, void *ctx) {
  const zc_in *x = in;
  uint64_t r = (x == x->self ? 1 : 2) | (x->value << 8);
  memcpy(out, &r, 8);
  return 0;
}

static void check_where(parc_backend backend, bool before) {
  enum { N = 5000 };
  zc_in *in = NULL;
  if (before)
    in = parc_shm_alloc(N * sizeof *in);
  parc_pool *p = pool_simple(backend, 2, NULL);
  if (!before)
    in = parc_shm_alloc(N * sizeof *in);
  cr_assert(in, "parc_shm_alloc");
  for (size_t i = 0; i < N; i++) in[i] = (zc_in){i * 7, &in[i]};
  uint64_t *out = calloc(N, 8);
  ASSERT_RC(parc_map(p, where_task, in, sizeof *in, out, 8, N, NULL), 0);
  uint64_t want_where = before || backend == PARC_THREADS ? 1 : 2;
  for (size_t i = 0; i < N; i++) {
    ASSERT_U64(out[i] >> 8, i * 7, "value of task %zu", i);
    ASSERT_U64(out[i] & 0xff, want_where,
               "task %zu read in place (1) or a copy (2)", i);
  }
  parc_pool_destroy(p);
  parc_shm_free(in);
  free(out);
}

BOTH_BACKENDS(map, inputs_in_shm_made_before_the_pool_are_read_in_place) {
  check_where(backend, true);
}

Test(map, inputs_in_shm_made_after_a_process_pool_are_copied) {
  check_where(PARC_PROCESSES, false);
}
