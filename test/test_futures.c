/* test_futures.c -- parc_submit / parc_future_wait / parc_future_cancel /
 * parc_wait_any / parc_future_free on both backends.
 *
 * Tasks report into a shared block (parc_shm_alloc, allocated before the
 * pool so forked workers share it): `started` when they begin, `ran` when
 * they finish. WAIT tasks run until the test sets `release` (or HOLD_S
 * pass), which lets a test hold a worker busy for exactly as long as it
 * needs -- and makes waiting for such a task, where a call must not, cost
 * HOLD_S: the checks that a call did not wait are relative to that
 * (testutil.h). */
#include "testutil.h"

#include <pthread.h>

TestSuite(futures, .timeout = 60);

enum { SLOTS = 256 };

typedef struct shared {
  _Atomic int release;
  _Atomic int started[SLOTS];
  _Atomic int ran[SLOTS];
} shared;

enum mode { QUICK, WAIT, SLEEP_HOLD, FAIL, SLEEP100MS };

typedef struct job {
  uint32_t slot;
  uint32_t mode;
  uint64_t value;
} job;

static int job_task(const void *in, void *out, void *ctx) {
  shared *sh = ctx;
  job j;
  memcpy(&j, in, sizeof j);
  atomic_store(&sh->started[j.slot], 1);
  switch (j.mode) {
  case WAIT: wait_flag(&sh->release, 1, HOLD_S); break;
  case SLEEP_HOLD: sleep_s(HOLD_S); break; /* process workers only: killed */
  case SLEEP100MS: sleep_s(0.1); break;
  case FAIL: atomic_fetch_add(&sh->ran[j.slot], 1); return 55;
  default: break;
  }
  atomic_fetch_add(&sh->ran[j.slot], 1);
  uint64_t r = mix64(j.value);
  memcpy(out, &r, 8);
  return 0;
}

static shared *shared_new(void) { return shm_new(sizeof(shared)); }

static parc_future *submit_job(parc_pool *p, uint32_t slot, enum mode m,
                               uint64_t value) {
  job j = {slot, (uint32_t)m, value};
  parc_future *f = NULL;
  int rc = parc_submit(p, job_task, &j, sizeof j, 8, &f);
  cr_assert_eq(rc, 0, "parc_submit(slot %u): got %d (%s), want 0", slot, rc,
               errname(rc));
  cr_assert_not_null(f, "parc_submit returned 0 but no future");
  return f;
}

static void wait_started(shared *sh, uint32_t slot) {
  cr_assert(wait_flag(&sh->started[slot], 1, 5.0),
            "task %u did not start within 5 s", slot);
}

/* ------------------------------------------------------------ results */

BOTH_BACKENDS(futures, submit_then_wait_returns_the_output) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 2, sh);
  parc_future *f = submit_job(p, 0, QUICK, 41);
  uint64_t out = 0;
  parc_task_status st;
  memset(&st, 0x7f, sizeof st);
  ASSERT_RC(parc_future_wait(f, &out, 5.0, &st), 0);
  ASSERT_U64(out, mix64(41), "output");
  ASSERT_STATUS_ERR(st, 0, 0);
  ASSERT_I64(st.attempts, 1, "status.attempts");
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, submit_copies_the_input) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  job j = {0, WAIT, 1234};
  parc_future *f = NULL;
  ASSERT_RC(parc_submit(p, job_task, &j, sizeof j, 8, &f), 0);
  j.value = 9999; /* the task must see the value at submit time */
  j.mode = QUICK;
  atomic_store(&sh->release, 1);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(f, &out, 5.0, NULL), 0);
  ASSERT_U64(out, mix64(1234), "output");
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, negative_timeout_waits_until_done) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, SLEEP100MS, 5);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(f, &out, -1.0, NULL), 0);
  ASSERT_U64(out, mix64(5), "output");
  ASSERT_I64(atomic_load(&sh->ran[0]), 1, "task runs");
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, task_error_is_reported_by_wait_every_time) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, FAIL, 1);
  for (int k = 0; k < 2; k++) {
    parc_task_status st;
    memset(&st, 0, sizeof st);
    ASSERT_RC(parc_future_wait(f, NULL, 5.0, &st), PARC_ETASK);
    ASSERT_STATUS_ERR(st, PARC_ETASK, 0);
    ASSERT_I64(st.task_rc, 55, "status.task_rc (wait #%d)", k + 1);
  }
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, waiting_again_returns_the_same_output) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, QUICK, 77);
  uint64_t a = 0, b = 0;
  ASSERT_RC(parc_future_wait(f, &a, 5.0, NULL), 0);
  ASSERT_RC(parc_future_wait(f, &b, 0, NULL), 0);
  ASSERT_U64(a, mix64(77), "first wait");
  ASSERT_U64(b, mix64(77), "second wait");
  ASSERT_RC(parc_future_wait(f, NULL, 0, NULL), 0);
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, many_futures_all_complete_with_their_outputs) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 4, sh);
  enum { N = 200 };
  parc_future *f[N];
  uint64_t seed = 0xF00D, v[N];
  for (size_t i = 0; i < N; i++) {
    v[i] = splitmix64(&seed);
    f[i] = submit_job(p, (uint32_t)i, QUICK, v[i]);
  }
  for (size_t i = N; i-- > 0;) { /* wait in reverse: order must not matter */
    uint64_t out = 0;
    ASSERT_RC(parc_future_wait(f[i], &out, 10.0, NULL), 0);
    ASSERT_U64(out, mix64(v[i]), "future %zu", i);
    parc_future_free(f[i]);
  }
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ not ready */

BOTH_BACKENDS(futures, wait_with_timeout_0_on_a_running_task_is_eagain) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, WAIT, 3);
  wait_started(sh, 0);
  double t0 = now_s();
  ASSERT_RC(parc_future_wait(f, NULL, 0, NULL), PARC_EAGAIN);
  /* wrong: blocking until the task ends, HOLD_S from now */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "wait(timeout 0) on a running task");
  atomic_store(&sh->release, 1);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(f, &out, 5.0, NULL), 0);
  ASSERT_U64(out, mix64(3), "output after release");
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, wait_with_short_timeout_waits_then_is_eagain) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, WAIT, 3);
  wait_started(sh, 0);
  double t0 = now_s();
  ASSERT_RC(parc_future_wait(f, NULL, 0.2, NULL), PARC_EAGAIN);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S,
                "wait(timeout 0.2) on a running task");
  atomic_store(&sh->release, 1);
  ASSERT_RC(parc_future_wait(f, NULL, 5.0, NULL), 0);
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ cancel */

BOTH_BACKENDS(futures, cancel_of_a_queued_task_means_it_never_runs) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *busy = submit_job(p, 0, WAIT, 1);
  wait_started(sh, 0);
  parc_future *queued = submit_job(p, 1, QUICK, 2);
  ASSERT_RC(parc_future_cancel(queued), 0);
  parc_task_status st;
  memset(&st, 0, sizeof st);
  ASSERT_RC(parc_future_wait(queued, NULL, 5.0, &st), PARC_ECANCELED);
  ASSERT_STATUS_ERR(st, PARC_ECANCELED, 1);
  atomic_store(&sh->release, 1);
  ASSERT_RC(parc_future_wait(busy, NULL, 5.0, NULL), 0);
  /* a task submitted later runs after where the canceled one would have */
  parc_future *later = submit_job(p, 2, QUICK, 3);
  ASSERT_RC(parc_future_wait(later, NULL, 5.0, NULL), 0);
  ASSERT_I64(atomic_load(&sh->started[1]), 0, "canceled task started");
  ASSERT_I64(atomic_load(&sh->ran[1]), 0, "canceled task ran");
  parc_future_free(busy);
  parc_future_free(queued);
  parc_future_free(later);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures,
              cancel_of_a_finished_task_is_eagain_and_keeps_the_output) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, QUICK, 8);
  ASSERT_RC(parc_future_wait(f, NULL, 5.0, NULL), 0);
  ASSERT_RC(parc_future_cancel(f), PARC_EAGAIN);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(f, &out, 0, NULL), 0);
  ASSERT_U64(out, mix64(8), "output after a late cancel");
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(futures, cancel_of_a_running_process_task_kills_it_promptly) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(PARC_PROCESSES, 1, sh);
  parc_future *f = submit_job(p, 0, SLEEP_HOLD, 1);
  wait_started(sh, 0);
  double t0 = now_s();
  ASSERT_RC(parc_future_cancel(f), 0);
  ASSERT_RC(parc_future_wait(f, NULL, HOLD_S, NULL), PARC_ECANCELED);
  /* wrong: the task not killed, waited for until it ends (HOLD_S) */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "cancel + wait of a running process task");
  ASSERT_I64(atomic_load(&sh->ran[0]), 0, "the canceled task finished");
  /* the pool replaced the worker: new work runs */
  parc_future *g = submit_job(p, 1, QUICK, 2);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(g, &out, 5.0, NULL), 0);
  ASSERT_U64(out, mix64(2), "output after the cancel");
  parc_future_free(f);
  parc_future_free(g);
  t0 = now_s();
  parc_pool_destroy(p);
  /* wrong: destroy waits for the canceled task, which sleeps HOLD_S */
  EXPECT_SOONER(now_s() - t0, HOLD_S, "destroy after a cancel");
  parc_shm_free(sh);
}

Test(futures, cancel_of_a_running_thread_task_returns_without_waiting_for_it) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(PARC_THREADS, 2, sh);
  parc_future *f = submit_job(p, 0, WAIT, 1);
  wait_started(sh, 0);
  double t0 = now_s();
  ASSERT_RC(parc_future_cancel(f), 0);
  ASSERT_RC(parc_future_wait(f, NULL, HOLD_S, NULL), PARC_ECANCELED);
  /* wrong: waiting for the abandoned task, which ends at release */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "cancel + wait of a running thread task");
  ASSERT_I64(atomic_load(&sh->ran[0]), 0,
             "the abandoned task finished before release");
  parc_future *g = submit_job(p, 1, QUICK, 2);
  ASSERT_RC(parc_future_wait(g, NULL, 5.0, NULL), 0);
  atomic_store(&sh->release, 1);
  parc_future_free(f);
  parc_future_free(g);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ wait_any */

BOTH_BACKENDS(futures, wait_any_returns_the_first_finished) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 2, sh);
  parc_future *fs[2];
  fs[0] = submit_job(p, 0, WAIT, 1);
  fs[1] = submit_job(p, 1, QUICK, 2);
  size_t idx = 99;
  ASSERT_RC(parc_wait_any(fs, 2, 5.0, &idx), 0);
  ASSERT_I64(idx, 1, "index of the first finished future");
  ASSERT_I64(atomic_load(&sh->ran[0]), 0, "the slow task finished early");
  atomic_store(&sh->release, 1);
  idx = 99;
  ASSERT_RC(parc_wait_any(fs, 1, 5.0, &idx), 0);
  ASSERT_I64(idx, 0, "index when only the slow one is passed");
  parc_future_free(fs[0]);
  parc_future_free(fs[1]);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, wait_any_returns_the_lowest_finished_index) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 2, sh);
  parc_future *fs[3];
  for (uint32_t i = 0; i < 3; i++) fs[i] = submit_job(p, i, QUICK, i);
  for (int i = 2; i >= 0; i--)
    ASSERT_RC(parc_future_wait(fs[i], NULL, 5.0, NULL), 0);
  size_t idx = 99;
  ASSERT_RC(parc_wait_any(fs, 3, 1.0, &idx), 0);
  ASSERT_I64(idx, 0, "all finished: lowest index");
  ASSERT_RC(parc_wait_any(fs + 1, 2, 1.0, &idx), 0);
  ASSERT_I64(idx, 0, "all finished, from fs+1: lowest index");
  for (int i = 0; i < 3; i++) parc_future_free(fs[i]);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, wait_any_times_out_when_none_finishes) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 2, sh);
  parc_future *fs[2] = {submit_job(p, 0, WAIT, 1), submit_job(p, 1, WAIT, 2)};
  size_t idx = 99;
  double t0 = now_s();
  ASSERT_RC(parc_wait_any(fs, 2, 0.2, &idx), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S,
                "wait_any(timeout 0.2) on two running tasks");
  atomic_store(&sh->release, 1);
  ASSERT_RC(parc_wait_any(fs, 2, 5.0, &idx), 0);
  cr_expect(idx < 2, "index %zu out of range", idx);
  parc_future_free(fs[0]);
  parc_future_free(fs[1]);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ free */

BOTH_BACKENDS(futures,
              free_of_pending_futures_cancels_them_and_the_pool_goes_on) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *running = submit_job(p, 0, WAIT, 1);
  wait_started(sh, 0);
  parc_future *queued = submit_job(p, 1, QUICK, 2);
  parc_future_free(queued);
  parc_future_free(running);
  /* a process worker running a freed task is killed: its task is left
   * waiting until after destroy, which must not wait for it. An abandoned
   * thread is waited for by destroy: released now. */
  if (backend == PARC_THREADS)
    atomic_store(&sh->release, 1);
  parc_future *g = submit_job(p, 2, QUICK, 3);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(g, &out, 5.0, NULL), 0);
  ASSERT_U64(out, mix64(3), "output after freeing pending futures");
  ASSERT_I64(atomic_load(&sh->started[1]), 0, "freed queued task started");
  parc_future_free(g);
  double t0 = now_s();
  parc_pool_destroy(p);
  /* wrong (processes): waiting for the freed running task (HOLD_S) */
  EXPECT_SOONER(now_s() - t0, HOLD_S, "destroy after freeing a running future");
  atomic_store(&sh->release, 1);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ sizes, threads */

static int big_task(const void *in, void *out, void *ctx) {
  fill_bytes(out, (3u << 20) / 2, fnv1a(in, 1u << 20));
  return 0;
}

BOTH_BACKENDS(futures, megabyte_input_and_output) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  size_t in_size = 1u << 20, out_size = (3u << 20) / 2;
  unsigned char *in = malloc(in_size), *out = malloc(out_size),
                *want = malloc(out_size);
  fill_bytes(in, in_size, 0xB16);
  fill_bytes(want, out_size, fnv1a(in, in_size));
  parc_future *f = NULL;
  ASSERT_RC(parc_submit(p, big_task, in, in_size, out_size, &f), 0);
  free(in); /* copied by submit */
  ASSERT_RC(parc_future_wait(f, out, 10.0, NULL), 0);
  cr_assert_eq(memcmp(out, want, out_size), 0, "1.5 MiB output differs");
  parc_future_free(f);
  parc_pool_destroy(p);
  free(out);
  free(want);
}

typedef struct submitter {
  parc_pool *pool;
  uint32_t base;
  int bad;
} submitter;

static void *submitter_main(void *arg) {
  submitter *s = arg;
  enum { K = 50 };
  parc_future *f[K];
  for (uint32_t i = 0; i < K; i++) {
    job j = {s->base + i, QUICK, (uint64_t)(s->base + i) * 1000003u};
    if (parc_submit(s->pool, job_task, &j, sizeof j, 8, &f[i]) != 0) {
      s->bad++;
      f[i] = NULL;
    }
  }
  for (uint32_t i = 0; i < K; i++) {
    uint64_t out = 0;
    if (!f[i])
      continue;
    if (parc_future_wait(f[i], &out, 10.0, NULL) != 0 ||
        out != mix64((uint64_t)(s->base + i) * 1000003u))
      s->bad++;
    parc_future_free(f[i]);
  }
  return NULL;
}

BOTH_BACKENDS(futures, several_callers_submit_to_one_pool) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 3, sh);
  enum { T = 4 };
  submitter s[T];
  pthread_t th[T];
  for (int t = 0; t < T; t++) {
    s[t] = (submitter){p, (uint32_t)t * 50, 0};
    cr_assert_eq(pthread_create(&th[t], NULL, submitter_main, &s[t]), 0);
  }
  for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < T; t++)
    ASSERT_I64(s[t].bad, 0, "failed or wrong futures in thread %d", t);
  for (int i = 0; i < T * 50; i++)
    ASSERT_I64(atomic_load(&sh->ran[i]), 1, "runs of task %d", i);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ final states */

Test(futures, timed_out_thread_task_stays_timed_out_after_it_finishes) {
  shared *sh = shared_new();
  parc_pool_opts o = {
      .backend = PARC_THREADS, .workers = 1, .task_timeout = 0.2, .ctx = sh};
  parc_pool *p = pool_new(&o);
  parc_future *f = submit_job(p, 0, WAIT, 1);
  ASSERT_RC(parc_future_wait(f, NULL, 5.0, NULL), PARC_ETIMEDOUT);
  atomic_store(&sh->release, 1);
  cr_assert(wait_flag(&sh->ran[0], 1, 5.0),
            "the abandoned task never finished");
  sleep_s(0.1);
  parc_task_status st;
  memset(&st, 0, sizeof st);
  ASSERT_RC(parc_future_wait(f, NULL, 0, &st), PARC_ETIMEDOUT);
  ASSERT_STATUS_ERR(st, PARC_ETIMEDOUT, 0);
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(futures, canceled_thread_task_stays_canceled_after_it_finishes) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(PARC_THREADS, 1, sh);
  parc_future *f = submit_job(p, 0, WAIT, 1);
  wait_started(sh, 0);
  ASSERT_RC(parc_future_cancel(f), 0);
  atomic_store(&sh->release, 1);
  cr_assert(wait_flag(&sh->ran[0], 1, 5.0),
            "the abandoned task never finished");
  sleep_s(0.1);
  ASSERT_RC(parc_future_wait(f, NULL, 1.0, NULL), PARC_ECANCELED);
  ASSERT_RC(parc_future_cancel(f), PARC_EAGAIN);
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, wait_any_counts_a_canceled_future_as_finished) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *fs[2];
  fs[0] = submit_job(p, 0, WAIT, 1);
  wait_started(sh, 0);
  fs[1] = submit_job(p, 1, QUICK, 2); /* queued behind the busy worker */
  ASSERT_RC(parc_future_cancel(fs[1]), 0);
  size_t idx = 99;
  ASSERT_RC(parc_wait_any(fs, 2, 2.0, &idx), 0);
  ASSERT_I64(idx, 1, "index of the canceled future");
  atomic_store(&sh->release, 1);
  parc_future_free(fs[0]);
  parc_future_free(fs[1]);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(futures, failed_task_cannot_be_canceled) {
  shared *sh = shared_new();
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f = submit_job(p, 0, FAIL, 1);
  ASSERT_RC(parc_future_wait(f, NULL, 5.0, NULL), PARC_ETASK);
  ASSERT_RC(parc_future_cancel(f), PARC_EAGAIN);
  ASSERT_RC(parc_future_wait(f, NULL, 0, NULL), PARC_ETASK);
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}
