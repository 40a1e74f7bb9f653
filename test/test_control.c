/* test_control.c -- watching and steering work in flight: a future's
 * state, cancel of a queued task only, a map told to stop, waking a
 * waiting thread, canceling a whole pool's work without destroying it,
 * and draining it. What a language binding needs (the Python package's
 * concurrent.futures and Ctrl-C rely on each). */
#include "testutil.h"

#include <pthread.h>

TestSuite(control, .init = no_core_dumps, .timeout = 120);

typedef struct gate {
  _Atomic int open;    /* tasks wait for it, at most HOLD_S */
  _Atomic int started; /* tasks that began */
} gate;

static int held_task(const void *in, void *out, void *ctx) {
  gate *g = ctx;
  atomic_fetch_add(&g->started, 1);
  wait_flag(&g->open, 1, HOLD_S);
  memcpy(out, in, 8);
  return 0;
}

static parc_pool *gated_pool(parc_backend b, unsigned workers, gate *g) {
  parc_pool_opts o = {.backend = b, .workers = workers, .ctx = g};
  return pool_new(&o);
}

BOTH_BACKENDS(control, a_future_is_queued_then_running_then_done) {
  gate *g = shm_new(sizeof *g);
  parc_pool *p = gated_pool(backend, 1, g);
  uint64_t x = 7, y = 0;
  parc_future *a, *b;
  ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &a), 0);
  ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &b), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "the first task never started");
  ASSERT_I64(parc_future_get_state(a), PARC_FUTURE_RUNNING, "a, running");
  ASSERT_I64(parc_future_get_state(b), PARC_FUTURE_QUEUED, "b, behind it");
  atomic_store(&g->open, 1);
  ASSERT_RC(parc_future_wait(a, &y, HOLD_S, NULL), 0);
  ASSERT_RC(parc_future_wait(b, &y, HOLD_S, NULL), 0);
  ASSERT_I64(parc_future_get_state(a), PARC_FUTURE_DONE, "a, done");
  ASSERT_I64(parc_future_get_state(b), PARC_FUTURE_DONE, "b, done");
  parc_future_free(a);
  parc_future_free(b);
  parc_pool_destroy(p);
  parc_shm_free(g);
}

BOTH_BACKENDS(control, cancel_of_queued_only_leaves_a_running_task_alone) {
  gate *g = shm_new(sizeof *g);
  parc_pool *p = gated_pool(backend, 1, g);
  uint64_t x = 9, y = 0;
  parc_future *a, *b;
  ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &a), 0);
  ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &b), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "the first task never started");
  ASSERT_RC(parc_future_cancel_ex(a, 0), PARC_EAGAIN); /* running: left */
  ASSERT_RC(parc_future_cancel_ex(b, 0), 0);           /* queued: canceled */
  ASSERT_RC(parc_future_wait(b, &y, 0, NULL), PARC_ECANCELED);
  atomic_store(&g->open, 1);
  ASSERT_RC(parc_future_wait(a, &y, HOLD_S, NULL), 0);
  ASSERT_U64(y, 9, "the running task's result");
  ASSERT_I64(atomic_load(&g->started), 1,
             "tasks started (the canceled one never)");
  parc_future_free(a);
  parc_future_free(b);
  parc_pool_destroy(p);
  parc_shm_free(g);
}

typedef struct stopper {
  _Atomic int asked;
  _Atomic int stop;
} stopper;

static int stop_when_told(void *arg) {
  stopper *s = arg;
  atomic_fetch_add(&s->asked, 1);
  return atomic_load(&s->stop);
}

typedef struct stop_run {
  parc_pool *p;
  stopper st;
  int rc;
  double took;
} stop_run;

static void *run_held_map(void *arg) {
  stop_run *r = arg;
  enum { N = 8 };
  uint64_t in[N] = {0}, out[N];
  parc_map_opts o = {
      .chunk = 1, .should_stop = stop_when_told, .stop_arg = &r->st};
  double t0 = now_s();
  r->rc = parc_map(r->p, held_task, in, 8, out, 8, N, &o);
  r->took = now_s() - t0;
  return NULL;
}

BOTH_BACKENDS(control, a_map_told_to_stop_ends_with_ecanceled) {
  gate *g = shm_new(sizeof *g);
  stop_run r = {.p = gated_pool(backend, 2, g)};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, run_held_map, &r), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "no task started");
  cr_assert(wait_flag(&r.st.asked, 1, HOLD_S), "should_stop was never asked");
  atomic_store(&r.st.stop, 1);
  pthread_join(th, NULL);
  ASSERT_RC(r.rc, PARC_ECANCELED);
  ASSERT_SOONER(r.took, HOLD_S, "a stopped map");
  atomic_store(&g->open, 1); /* abandoned threads may finish */
  parc_pool_destroy(r.p);
  /* a map that is never told runs to its end */
  memset(g, 0, sizeof *g);
  atomic_store(&g->open, 1);
  stop_run q = {.p = gated_pool(backend, 2, g)};
  run_held_map(&q);
  ASSERT_RC(q.rc, 0);
  parc_pool_destroy(q.p);
  parc_shm_free(g);
}

typedef struct waiter {
  parc_future *f;
  int rc;
  double took;
} waiter;

static void *wait_any_one(void *arg) {
  waiter *w = arg;
  size_t i;
  double t0 = now_s();
  w->rc = parc_wait_any(&w->f, 1, HOLD_S, &i);
  w->took = now_s() - t0;
  return NULL;
}

BOTH_BACKENDS(control, wake_ends_the_waits_on_a_pool_at_once) {
  gate *g = shm_new(sizeof *g);
  parc_pool *p = gated_pool(backend, 1, g);
  uint64_t x = 1, y;
  waiter w = {0};
  ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &w.f), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "the task never started");
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, wait_any_one, &w), 0);
  sleep_s(0.05); /* most likely waiting by now; if not, it sees the wake */
  parc_pool_wake(p);
  pthread_join(th, NULL);
  ASSERT_RC(w.rc, PARC_ETIMEDOUT);
  ASSERT_SOONER(w.took, HOLD_S, "a woken wait_any");
  atomic_store(&g->open, 1);
  ASSERT_RC(parc_future_wait(w.f, &y, HOLD_S, NULL), 0); /* still works */
  parc_future_free(w.f);
  parc_pool_destroy(p);
  parc_shm_free(g);
}

BOTH_BACKENDS(control, pool_cancel_ends_queued_work_and_keeps_the_pool) {
  gate *g = shm_new(sizeof *g);
  parc_pool *p = gated_pool(backend, 1, g);
  uint64_t x = 5, y = 0;
  enum { F = 6 };
  parc_future *f[F];
  for (int i = 0; i < F; i++)
    ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &f[i]), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "no task started");
  parc_pool_cancel(p, 0);
  for (int i = 1; i < F; i++)
    ASSERT_RC(parc_future_wait(f[i], &y, 0, NULL), PARC_ECANCELED);
  atomic_store(&g->open, 1);
  ASSERT_RC(parc_future_wait(f[0], &y, HOLD_S, NULL),
            0); /* the running one ran */
  for (int i = 0; i < F; i++) parc_future_free(f[i]);
  /* with running: the running task too */
  atomic_store(&g->open, 0);
  atomic_store(&g->started, 0);
  parc_future *r;
  ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &r), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "the task never started");
  parc_pool_cancel(p, 1);
  ASSERT_RC(parc_future_wait(r, &y, HOLD_S, NULL), PARC_ECANCELED);
  parc_future_free(r);
  atomic_store(&g->open, 1);
  /* and the pool goes on */
  uint64_t in[4] = {1, 2, 3, 4}, out[4];
  ASSERT_RC(parc_map(p, held_task, in, 8, out, 8, 4, NULL), 0);
  ASSERT_U64(out[3], 4, "map after a cancel");
  parc_pool_destroy(p);
  parc_shm_free(g);
}

BOTH_BACKENDS(control, drain_waits_until_nothing_is_queued_or_running) {
  gate *g = shm_new(sizeof *g);
  parc_pool *p = gated_pool(backend, 2, g);
  uint64_t x = 3;
  parc_future *f[3];
  for (int i = 0; i < 3; i++)
    ASSERT_RC(parc_submit(p, held_task, &x, 8, 8, &f[i]), 0);
  cr_assert(wait_flag(&g->started, 1, HOLD_S), "no task started");
  ASSERT_RC(parc_pool_drain(p, 0.2), PARC_ETIMEDOUT);
  atomic_store(&g->open, 1);
  ASSERT_RC(parc_pool_drain(p, HOLD_S), 0);
  for (int i = 0; i < 3; i++)
    ASSERT_I64(parc_future_get_state(f[i]), PARC_FUTURE_DONE, "future %d", i);
  ASSERT_RC(parc_pool_drain(p, 0), 0); /* idle: at once */
  for (int i = 0; i < 3; i++) parc_future_free(f[i]);
  parc_pool_destroy(p);
  parc_shm_free(g);
}

/* Long tasks go one at a time: a worker does not keep a second one queued
 * behind a long one while another worker is free. */
static int sleep_ms_task(const void *in, void *out, void *ctx) {
  uint64_t ms;
  memcpy(&ms, in, 8);
  sleep_s((double)ms / 1000);
  uint64_t w = (uint64_t)parc_worker_id();
  memcpy(out, &w, 8);
  return 0;
}

Test(control, long_tasks_are_not_queued_behind_each_other) {
  parc_pool *p = pool_simple(PARC_PROCESSES, 2, NULL);
  /* one long task, then short ones: the worker holding the long one must
   * not be given a short one to keep behind it */
  uint64_t in[6] = {1500, 10, 10, 10, 10, 10}, out[6];
  parc_map_opts o = {.chunk = 1};
  ASSERT_RC(parc_map(p, sleep_ms_task, in, 8, out, 8, 6, &o), 0);
  for (int i = 1; i < 6; i++)
    cr_expect_neq(out[i], out[0], "short task %d ran on the long task's worker",
                  i);
  parc_pool_destroy(p);
}

/* A task asks its caller (parc_task_ask): opts.answer doubles the number
 * asked, counts its calls, and fails the question about 7 with 77. */
static int double_it(const void *q, size_t qlen, void *a, size_t acap,
                     size_t *alen, void *arg) {
  _Atomic int *calls = arg;
  atomic_fetch_add(calls, 1);
  uint64_t x;
  if (qlen != sizeof x || acap < sizeof x)
    return -1000;
  memcpy(&x, q, sizeof x);
  x *= 2;
  memcpy(a, &x, sizeof x);
  *alen = sizeof x;
  return x == 14 ? 77 : 0;
}

/* Asks about its input; room for 16 bytes, so a length the answer did
 * not set shows. */
static int asking_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t y[2] = {0, 0};
  size_t n = 99;
  int rc = parc_task_ask(in, 8, y, sizeof y, &n, 10);
  if (rc != 0)
    return rc;
  if (n != 8)
    return -2000;
  memcpy(out, y, 8);
  return 0;
}

Test(control, a_task_asks_its_caller) {
  _Atomic int calls = 0;
  parc_pool_opts o = {.workers = 3, .answer = double_it, .answer_arg = &calls};
  parc_pool *p = pool_new(&o);
  enum { N = 200 };
  uint64_t in[N], out[N];
  parc_task_status st[N];
  for (int i = 0; i < N; i++) in[i] = (uint64_t)i;
  parc_map_opts mo = {.status = st};
  ASSERT_RC(parc_map(p, asking_task, in, 8, out, 8, N, &mo), PARC_ETASK);
  for (int i = 0; i < N; i++)
    if (i == 7) {
      ASSERT_I64(st[i].task_rc, 77, "the answer's error reaches task 7");
    } else {
      ASSERT_I64(st[i].error, 0, "task %d", i);
      ASSERT_I64(out[i], 2 * i, "task %d's answer", i);
    }
  ASSERT_I64(atomic_load(&calls), N, "one answer per question");
  parc_pool_destroy(p);
}

/* Questions refused inside a task: over PARC_ASK_MAX, NULL with a length,
 * no *alen. Each check that holds sets a bit. */
static int misasking_task(const void *in, void *out, void *ctx) {
  (void)in, (void)ctx;
  static char big[PARC_ASK_MAX + 1];
  char a = 0;
  size_t n = 7;
  uint64_t bits = 0;
  bits |= (uint64_t)(parc_task_ask(big, sizeof big, &a, 1, &n, 1) ==
                         PARC_EINVAL &&
                     n == 0)
          << 0;
  n = 7;
  bits |=
      (uint64_t)(parc_task_ask(NULL, 1, &a, 1, &n, 1) == PARC_EINVAL && n == 0)
      << 1;
  bits |= (uint64_t)(parc_task_ask(&a, 1, NULL, 1, &n, 1) == PARC_EINVAL) << 2;
  bits |= (uint64_t)(parc_task_ask(&a, 1, &a, 1, NULL, 1) == PARC_EINVAL) << 3;
  bits |=
      (uint64_t)(parc_task_ask(big, PARC_ASK_MAX, &a, 1, &n, 1) == 0 && n == 1)
      << 4;
  memcpy(out, &bits, 8);
  return 0;
}

static int answer_one_byte(const void *q, size_t qlen, void *a, size_t acap,
                           size_t *alen, void *arg) {
  (void)q, (void)qlen, (void)arg;
  if (acap < 1)
    return -1;
  *(char *)a = 'y';
  *alen = 5; /* more than acap: the caller gets acap */
  return 0;
}

Test(control, a_task_asks_amiss) {
  parc_pool_opts o = {.workers = 1, .answer = answer_one_byte};
  parc_pool *p = pool_new(&o);
  uint64_t x = 0, bits = 0;
  ASSERT_RC(parc_map(p, misasking_task, &x, 8, &bits, 8, 1, NULL), 0);
  ASSERT_I64(bits, 0x1f,
             "checks held (bit 0: over PARC_ASK_MAX, 1: NULL "
             "question, 2: NULL answer, 3: no alen, 4: at "
             "PARC_ASK_MAX, answer kept within acap)");
  parc_pool_destroy(p);
}

Test(control, a_task_asks_in_vain) {
  /* no answer function; a process pool; not inside a task */
  for (int b = 0; b < 2; b++) {
    _Atomic int calls = 0;
    parc_pool_opts o = {.backend = b ? PARC_PROCESSES : PARC_THREADS,
                        .workers = 1,
                        .answer = b ? double_it : NULL,
                        .answer_arg = &calls};
    parc_pool *p = pool_new(&o);
    uint64_t x = 3, y = 0;
    parc_task_status st;
    parc_map_opts mo = {.status = &st};
    ASSERT_RC(parc_map(p, asking_task, &x, 8, &y, 8, 1, &mo), PARC_ETASK);
    ASSERT_I64(st.task_rc, PARC_ENOTSUP, "%s pool",
               b ? "a process" : "an answerless");
    ASSERT_I64(atomic_load(&calls), 0, "nothing answered");
    parc_pool_destroy(p);
  }
  uint64_t x = 3, y = 0;
  size_t n = 5;
  ASSERT_RC(parc_task_ask(&x, 8, &y, 8, &n, 0), PARC_EINVAL);
  ASSERT_RC(parc_task_ask(NULL, 8, &y, 8, &n, 0), PARC_EINVAL);
}
