/* test_bytes.c -- tasks whose input and result have any length
 * (parc_map_bytes, parc_submit_bytes): every result arrives whole and in
 * order, from nothing to several lanes' worth, on both backends; a failing
 * task's result still arrives; crashes, retries and timeouts behave as for
 * fixed-size tasks, with the worker's pid in the status. */
#include "testutil.h"

#include <signal.h>

TestSuite(bytes, .init = no_core_dumps, .timeout = 120);

/* The result of input x: x reversed, then its length as 8 bytes, then
 * (len % 7) copies of 0xEE -- so results differ in length from inputs. */
static size_t want_len(size_t len) { return len + 8 + len % 7; }

static void want_bytes(const unsigned char *in, size_t len,
                       unsigned char *out) {
  for (size_t i = 0; i < len; i++) out[i] = in[len - 1 - i];
  uint64_t l = len;
  memcpy(out + len, &l, 8);
  memset(out + len + 8, 0xEE, len % 7);
}

static int reverse_task(const void *in, size_t len, parc_result *res,
                        void *ctx) {
  unsigned char *out = parc_result_alloc(res, want_len(len));
  if (!out)
    return 1;
  want_bytes(in, len, out);
  return 0;
}

static void check_result(const parc_bytes *in, const parc_bytes *out,
                         size_t i) {
  size_t wl = want_len(in->len);
  ASSERT_I64(out->len, wl, "length of result %zu", i);
  unsigned char *want = malloc(wl);
  want_bytes(in->data, in->len, want);
  cr_assert(memcmp(out->data, want, wl) == 0, "bytes of result %zu", i);
  free(want);
}

/* n inputs of lengths len(i), filled from a seed. */
static parc_bytes *make_inputs(size_t n, size_t (*len)(size_t)) {
  parc_bytes *in = calloc(n, sizeof *in);
  for (size_t i = 0; i < n; i++) {
    in[i].len = len(i);
    in[i].data = malloc(in[i].len ? in[i].len : 1);
    fill_bytes(in[i].data, in[i].len, i + 1);
  }
  return in;
}

static void free_all(parc_bytes *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].data);
  free(v);
}

static size_t small_len(size_t i) { return (i * 37) % 300; }
static size_t mixed_len(size_t i) {
  static const size_t sizes[] = {0, 1, 7, 4096, 100000, 300000, 3u << 20};
  return sizes[i % 7];
}

static void check_map(parc_backend backend, size_t n, size_t (*len)(size_t),
                      size_t chunk) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  parc_bytes *in = make_inputs(n, len);
  parc_bytes *out = calloc(n, sizeof *out);
  parc_map_opts o = {.chunk = chunk};
  ASSERT_RC(parc_map_bytes(p, reverse_task, in, out, n, &o), 0);
  for (size_t i = 0; i < n; i++) check_result(&in[i], &out[i], i);
  parc_pool_destroy(p);
  free_all(in, n);
  free_all(out, n);
}

BOTH_BACKENDS(bytes, many_small_tasks_give_every_result_in_order) {
  check_map(backend, 20000, small_len, 0);
}

BOTH_BACKENDS(bytes, one_task_per_batch_gives_every_result_in_order) {
  check_map(backend, 2000, small_len, 1);
}

/* 3 MiB is several lanes: inputs and results both stream in pieces. */
BOTH_BACKENDS(bytes, inputs_and_results_larger_than_a_lane_arrive_whole) {
  check_map(backend, 21, mixed_len, 0);
}

/* ------------------------------------------------------------ failures */

/* Fails on odd inputs, saying why in its result. */
static int odd_fails_task(const void *in, size_t len, parc_result *res,
                          void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  char msg[64];
  int n = snprintf(msg, sizeof msg, "%s %llu", x % 2 ? "odd" : "even",
                   (unsigned long long)x);
  ASSERT_RC(parc_result_set(res, msg, (size_t)n), 0);
  return x % 2 ? 40 + (int)(x % 10) : 0;
}

BOTH_BACKENDS(bytes, a_failing_task_delivers_its_result_and_its_code) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  enum { N = 50 };
  uint64_t v[N];
  parc_bytes in[N], out[N];
  parc_task_status st[N];
  for (size_t i = 0; i < N; i++) {
    v[i] = i;
    in[i] = (parc_bytes){&v[i], 8};
  }
  size_t err_index = 0;
  parc_map_opts o = {.status = st, .err_index = &err_index};
  ASSERT_RC(parc_map_bytes(p, odd_fails_task, in, out, N, &o), PARC_ETASK);
  ASSERT_I64(err_index, 1, "err_index");
  for (size_t i = 0; i < N; i++) {
    char want[64];
    int n = snprintf(want, sizeof want, "%s %zu", i % 2 ? "odd" : "even", i);
    ASSERT_I64(out[i].len, n, "result %zu length", i);
    cr_assert(memcmp(out[i].data, want, (size_t)n) == 0, "result %zu", i);
    ASSERT_STATUS_ERR(st[i], i % 2 ? PARC_ETASK : 0, i);
    if (i % 2)
      ASSERT_I64(st[i].task_rc, 40 + (int)(i % 10), "task_rc of %zu", i);
    free(out[i].data);
  }
  parc_pool_destroy(p);
}

static int empty_task(const void *in, size_t len, parc_result *res, void *ctx) {
  return 0;
}

BOTH_BACKENDS(bytes, a_task_that_sets_nothing_has_an_empty_result) {
  parc_pool *p = pool_simple(backend, 1, NULL);
  char c = 'x';
  parc_bytes in[2] = {{&c, 1}, {NULL, 0}}, out[2];
  ASSERT_RC(parc_map_bytes(p, empty_task, in, out, 2, NULL), 0);
  for (int i = 0; i < 2; i++) {
    cr_assert_null(out[i].data, "result %d", i);
    ASSERT_I64(out[i].len, 0, "result %d length", i);
  }
  parc_pool_destroy(p);
}

typedef struct crash_ctl {
  _Atomic int runs;
} crash_ctl;

/* Input 3 kills its worker on its first run. */
static int crash_once_task(const void *in, size_t len, parc_result *res,
                           void *ctx) {
  crash_ctl *c = ctx;
  uint64_t x;
  memcpy(&x, in, 8);
  if (x == 3 && atomic_fetch_add(&c->runs, 1) == 0)
    raise(SIGKILL);
  return parc_result_set(res, &x, 8);
}

static void check_crash(unsigned retries) {
  crash_ctl *c = shm_new(sizeof *c);
  parc_pool_opts po = {.backend = PARC_PROCESSES,
                       .workers = 2,
                       .max_retries = retries,
                       .ctx = c};
  parc_pool *p = pool_new(&po);
  enum { N = 8 };
  uint64_t v[N];
  parc_bytes in[N], out[N];
  parc_task_status st[N];
  for (size_t i = 0; i < N; i++) {
    v[i] = i;
    in[i] = (parc_bytes){&v[i], 8};
  }
  parc_map_opts o = {.status = st, .chunk = 1};
  ASSERT_RC(parc_map_bytes(p, crash_once_task, in, out, N, &o),
            retries ? 0 : PARC_EWORKER);
  for (size_t i = 0; i < N; i++) {
    if (i == 3 && !retries) {
      ASSERT_STATUS_ERR(st[i], PARC_EWORKER, i);
      ASSERT_I64(st[i].signal, SIGKILL, "signal");
      cr_assert_gt(st[i].pid, 0, "the dead worker's pid");
      cr_assert_neq(st[i].pid, getpid(), "the pid is the worker's");
      cr_assert_null(out[i].data, "a crashed task's result");
      continue;
    }
    ASSERT_STATUS_ERR(st[i], 0, i);
    ASSERT_I64(out[i].len, 8, "result %zu", i);
    ASSERT_U64(*(uint64_t *)out[i].data, i, "result %zu", i);
    free(out[i].data);
  }
  parc_pool_destroy(p);
  parc_shm_free(c);
}

Test(bytes, a_crash_is_reported_with_the_signal_and_the_pid) { check_crash(0); }

Test(bytes, a_crashed_task_succeeds_on_retry) { check_crash(1); }

static int sleepy_task(const void *in, size_t len, parc_result *res,
                       void *ctx) {
  sleep_s(30);
  return 0;
}

Test(bytes, an_overdue_task_is_killed_and_reported_with_the_pid) {
  parc_pool_opts po = {
      .backend = PARC_PROCESSES, .workers = 1, .task_timeout = 0.3};
  parc_pool *p = pool_new(&po);
  parc_future *f;
  ASSERT_RC(parc_submit_bytes(p, sleepy_task, "z", 1, &f), 0);
  parc_task_status st;
  ASSERT_RC(parc_future_wait(f, NULL, 20, &st), PARC_ETIMEDOUT);
  cr_assert_gt(st.pid, 0, "the killed worker's pid");
  const void *d;
  size_t len;
  ASSERT_RC(parc_future_bytes(f, &d, &len), 0);
  ASSERT_I64(len, 0, "an overdue task's result");
  parc_future_free(f);
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ futures */

BOTH_BACKENDS(bytes, futures_give_their_results) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  enum { N = 40 };
  parc_bytes *in = make_inputs(N, mixed_len);
  parc_future *f[N];
  for (size_t i = 0; i < N; i++)
    ASSERT_RC(parc_submit_bytes(p, reverse_task, in[i].data, in[i].len, &f[i]),
              0);
  for (size_t k = 0; k < N; k++) {
    size_t i = N - 1 - k; /* waited in the reverse order */
    ASSERT_RC(parc_future_wait(f[i], NULL, 60, NULL), 0);
    parc_bytes out;
    const void *d;
    ASSERT_RC(parc_future_bytes(f[i], &d, &out.len), 0);
    out.data = (void *)d;
    check_result(&in[i], &out, i);
    parc_future_free(f[i]);
  }
  parc_pool_destroy(p);
  free_all(in, N);
}

BOTH_BACKENDS(bytes, wait_any_sees_bytes_futures_finish) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  enum { N = 16 };
  parc_bytes *in = make_inputs(N, small_len);
  parc_future *f[N];
  for (size_t i = 0; i < N; i++)
    ASSERT_RC(parc_submit_bytes(p, reverse_task, in[i].data, in[i].len, &f[i]),
              0);
  bool seen[N] = {false};
  parc_future *left[N];
  size_t idx[N], nleft = N;
  for (size_t i = 0; i < N; i++) {
    left[i] = f[i];
    idx[i] = i;
  }
  while (nleft > 0) {
    size_t k;
    ASSERT_RC(parc_wait_any(left, nleft, 30, &k), 0);
    const void *d;
    parc_bytes out;
    ASSERT_RC(parc_future_bytes(left[k], &d, &out.len), 0);
    out.data = (void *)d;
    check_result(&in[idx[k]], &out, idx[k]);
    cr_assert(!seen[idx[k]], "future %zu seen twice", idx[k]);
    seen[idx[k]] = true;
    left[k] = left[nleft - 1];
    idx[k] = idx[nleft - 1];
    nleft--;
  }
  for (size_t i = 0; i < N; i++) parc_future_free(f[i]);
  parc_pool_destroy(p);
  free_all(in, N);
}

static int square_fixed(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  x *= x;
  memcpy(out, &x, 8);
  return 0;
}

Test(bytes,
     bytes_of_a_fixed_size_future_is_einval_and_of_a_running_one_eagain) {
  parc_pool *p = pool_simple(PARC_THREADS, 1, NULL);
  uint64_t x = 3;
  parc_future *f, *g;
  ASSERT_RC(parc_submit(p, square_fixed, &x, 8, 8, &f), 0);
  const void *d;
  size_t len;
  ASSERT_RC(parc_future_wait(f, NULL, 10, NULL), 0);
  ASSERT_RC(parc_future_bytes(f, &d, &len), PARC_EINVAL);
  parc_pool_opts po = {
      .backend = PARC_PROCESSES, .workers = 1, .task_timeout = 10};
  parc_pool *q = pool_new(&po);
  ASSERT_RC(parc_submit_bytes(q, sleepy_task, "z", 1, &g), 0);
  ASSERT_RC(parc_future_bytes(g, &d, &len), PARC_EAGAIN);
  parc_future_free(g); /* cancels it */
  parc_future_free(f);
  parc_pool_destroy_ex(q, 1);
  parc_pool_destroy(p);
}

Test(bytes, bad_arguments_are_einval) {
  parc_pool *p = pool_simple(PARC_THREADS, 1, NULL);
  parc_bytes in = {NULL, 5}, out;
  parc_future *f = (parc_future *)1;
  ASSERT_RC(parc_map_bytes(p, reverse_task, &in, &out, 1, NULL), PARC_EINVAL);
  ASSERT_RC(parc_map_bytes(p, NULL, &in, &out, 0, NULL), PARC_EINVAL);
  ASSERT_RC(parc_submit_bytes(p, reverse_task, NULL, 3, &f), PARC_EINVAL);
  cr_assert_null(f, "a refused submit wrote a future");
  ASSERT_RC(parc_map_bytes(p, reverse_task, NULL, NULL, 0, NULL), 0);
  parc_pool_destroy(p);
}
