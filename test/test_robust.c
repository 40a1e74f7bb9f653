/* test_robust.c -- what happens when tasks misbehave: process workers that
 * die (SIGKILL from inside or outside, SIGSEGV, abort, _exit) cost exactly
 * their task, are retried when allowed, and leave a working pool; task
 * timeouts on both backends; worker recycling; the init hook.
 *
 * Each task counts its attempts in a parc_shm_alloc block allocated before
 * the pool, so a task can crash on its first attempt only. */
#include "testutil.h"
#include "leakcheck.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

TestSuite(robust, .init = no_core_dumps, .timeout = 60);

enum { NT = 24 };

typedef struct shared {
  _Atomic int attempts[NT];
  _Atomic int victim_pid;   /* published by a task that waits to be killed */
  _Atomic int crash_worker; /* parc_worker_id() of the task that crashed */
  _Atomic int init_calls;
  _Atomic int init_by_worker[16];
  _Atomic int init_pid[16];
  _Atomic int init_fail_worker; /* init fails for this index + 1 (0: none) */
  _Atomic int init_crash;       /* init _exits in worker 1 */
  _Atomic int release;          /* ends HELD tasks */
} shared;

/* PUBLISH_AND_WAIT: publish the pid, then sleep HOLD_S (to be killed).
 * HELD: wait until sh->release, HOLD_S at most (every attempt). So a call
 * that waits for such a task where it must not costs HOLD_S, and the
 * checks that it did not are relative to that (testutil.h). */
enum action { NONE, KILL_SELF, SEGV, ABRT, EXIT3, PUBLISH_AND_WAIT, HELD };

typedef struct rjob {
  uint32_t idx;
  uint32_t action;
  uint32_t always; /* misbehave on every attempt, not just the first */
} rjob;

static void misbehave(shared *sh, const rjob *j) {
  atomic_store(&sh->crash_worker, parc_worker_id());
  switch (j->action) {
  case KILL_SELF: kill(getpid(), SIGKILL); break;
  case SEGV:
    /* default action even under a sanitizer that catches SIGSEGV */
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    break;
  case ABRT: signal(SIGABRT, SIG_DFL); abort();
  case EXIT3: _exit(3);
  case PUBLISH_AND_WAIT:
    atomic_store(&sh->victim_pid, (int)getpid());
    sleep_s(HOLD_S);
    break;
  case HELD: wait_flag(&sh->release, 1, HOLD_S); break;
  default: break;
  }
}

static int robust_task(const void *in, void *out, void *ctx) {
  shared *sh = ctx;
  rjob j;
  memcpy(&j, in, sizeof j);
  int a = atomic_fetch_add(&sh->attempts[j.idx], 1);
  if (j.action != NONE && (j.action == HELD || j.always || a == 0))
    misbehave(sh, &j);
  uint64_t r = mix64(j.idx);
  memcpy(out, &r, 8);
  return 0;
}

static int count_init(void *ctx, unsigned worker) {
  shared *sh = ctx;
  atomic_fetch_add(&sh->init_calls, 1);
  if (worker < 16) {
    atomic_fetch_add(&sh->init_by_worker[worker], 1);
    atomic_store(&sh->init_pid[worker], (int)getpid());
  }
  if (atomic_load(&sh->init_crash) && worker == 1)
    _exit(9);
  return atomic_load(&sh->init_fail_worker) == (int)worker + 1 ? 1 : 0;
}

static parc_pool *robust_pool(parc_backend b, shared *sh, unsigned workers,
                              unsigned retries, double timeout) {
  parc_pool_opts o = {.backend = b,
                      .workers = workers,
                      .max_retries = retries,
                      .task_timeout = timeout,
                      .init = count_init,
                      .ctx = sh};
  return pool_new(&o);
}

static void fill_jobs(rjob *in, size_t n, size_t victim, enum action a,
                      uint32_t always) {
  for (size_t i = 0; i < n; i++) in[i] = (rjob){(uint32_t)i, NONE, 0};
  in[victim].action = (uint32_t)a;
  in[victim].always = always;
}

/* Every task but `victim` succeeded with the right output. */
static void check_others(const parc_task_status *st, const uint64_t *out,
                         size_t n, size_t victim) {
  for (size_t i = 0; i < n; i++) {
    if (i == victim)
      continue;
    ASSERT_STATUS_ERR(st[i], 0, i);
    ASSERT_U64(out[i], mix64(i), "out[%zu]", i);
  }
}

/* A clean map on the pool gives every output. */
static void check_pool_works(parc_pool *p, shared *sh) {
  rjob in[NT];
  uint64_t out[NT];
  fill_jobs(in, NT, 0, NONE, 0);
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, NULL), 0);
  for (size_t i = 0; i < NT; i++)
    ASSERT_U64(out[i], mix64(i), "next map: out[%zu]", i);
}

/* A map of NT tasks where task `victim` dies as `a` says; no retries. */
static void check_crash_reported(enum action a, int want_signal,
                                 int want_exit) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 3, 0, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  size_t victim = 7, err_index = 999;
  fill_jobs(in, NT, victim, a, 0);
  /* wrong: the map waits for the dead worker for good; the call's timeout
   * bounds the test (not the library) and makes that cost HOLD_S */
  parc_map_opts o = {.status = st, .err_index = &err_index, .timeout = HOLD_S};
  double t0 = now_s();
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o),
            PARC_EWORKER);
  EXPECT_SOONER(now_s() - t0, HOLD_S, "a map with one dead worker");
  ASSERT_I64(err_index, victim, "err_index");
  ASSERT_STATUS_ERR(st[victim], PARC_EWORKER, victim);
  ASSERT_I64(st[victim].signal, want_signal, "status[%zu].signal", victim);
  if (want_exit >= 0)
    ASSERT_I64(st[victim].exit_code, want_exit, "status[%zu].exit_code",
               victim);
  ASSERT_I64(st[victim].attempts, 1, "status[%zu].attempts", victim);
  ASSERT_I64(atomic_load(&sh->attempts[victim]), 1,
             "times the crashing task was started");
  check_others(st, out, NT, victim);
  check_pool_works(p, sh);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ crashes */

Test(robust, sigkill_in_a_task_reports_eworker_with_sigkill) {
  check_crash_reported(KILL_SELF, SIGKILL, -1);
}

Test(robust, sigsegv_in_a_task_reports_eworker_with_sigsegv) {
  check_crash_reported(SEGV, SIGSEGV, -1);
}

Test(robust, abort_in_a_task_reports_eworker_with_sigabrt) {
  check_crash_reported(ABRT, SIGABRT, -1);
}

Test(robust, exit_in_a_task_reports_eworker_with_exit_code) {
  check_crash_reported(EXIT3, 0, 3);
}

typedef struct killer {
  shared *sh;
  int killed_pid;
} killer;

static void *killer_main(void *arg) {
  killer *k = arg;
  if (wait_flag(&k->sh->victim_pid, 1, 10.0)) {
    k->killed_pid = atomic_load(&k->sh->victim_pid);
    kill(k->killed_pid, SIGKILL);
  }
  return NULL;
}

Test(robust, worker_killed_from_outside_reports_eworker_with_sigkill) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 3, 0, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  size_t victim = 11, err_index = 999;
  fill_jobs(in, NT, victim, PUBLISH_AND_WAIT, 0);
  killer k = {sh, 0};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, killer_main, &k), 0);
  parc_map_opts o = {.status = st, .err_index = &err_index};
  double t0 = now_s();
  int rc = parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o);
  double took = now_s() - t0;
  pthread_join(th, NULL);
  cr_assert_neq(k.killed_pid, 0, "the victim task never published its pid");
  cr_assert_neq(k.killed_pid, getpid(), "the task ran in the test process");
  ASSERT_RC(rc, PARC_EWORKER);
  /* wrong: the killed task waited out (it sleeps HOLD_S) */
  EXPECT_SOONER(took, HOLD_S, "a map whose worker was killed from outside");
  ASSERT_I64(err_index, victim, "err_index");
  ASSERT_STATUS_ERR(st[victim], PARC_EWORKER, victim);
  ASSERT_I64(st[victim].signal, SIGKILL, "status.signal");
  check_others(st, out, NT, victim);
  check_pool_works(p, sh);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, killed_task_succeeds_on_retry) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 3, 1, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  size_t victim = 5;
  fill_jobs(in, NT, victim, KILL_SELF, 0);
  parc_map_opts o = {.status = st};
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o), 0);
  ASSERT_STATUS_ERR(st[victim], 0, victim);
  ASSERT_I64(st[victim].attempts, 2, "status[%zu].attempts", victim);
  ASSERT_I64(atomic_load(&sh->attempts[victim]), 2,
             "times the task was started");
  ASSERT_U64(out[victim], mix64(victim), "retried task's output");
  check_others(st, out, NT, victim);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, segfaulting_task_succeeds_on_retry) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 1, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  fill_jobs(in, NT, 0, SEGV, 0);
  parc_map_opts o = {.status = st};
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o), 0);
  ASSERT_I64(st[0].attempts, 2, "status[0].attempts");
  check_others(st, out, NT, 0);
  ASSERT_U64(out[0], mix64(0), "retried task's output");
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, retries_run_out_on_a_task_that_always_crashes) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 2, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  size_t victim = NT - 1;
  fill_jobs(in, NT, victim, KILL_SELF, 1);
  parc_map_opts o = {.status = st};
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o),
            PARC_EWORKER);
  ASSERT_STATUS_ERR(st[victim], PARC_EWORKER, victim);
  ASSERT_I64(st[victim].signal, SIGKILL, "status.signal");
  ASSERT_I64(st[victim].attempts, 3, "status.attempts (1 + max_retries)");
  ASSERT_I64(atomic_load(&sh->attempts[victim]), 3,
             "times the task was started");
  check_others(st, out, NT, victim);
  check_pool_works(p, sh);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, crashes_in_every_worker_at_once_are_all_reported) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 3, 0, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  fill_jobs(in, NT, 0, NONE, 0);
  size_t bad[] = {2, 3, 4, 9, 16};
  for (size_t k = 0; k < 5; k++) in[bad[k]].action = KILL_SELF;
  parc_map_opts o = {.status = st, .chunk = 1};
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o),
            PARC_EWORKER);
  for (size_t i = 0, k = 0; i < NT; i++) {
    if (k < 5 && bad[k] == i) {
      ASSERT_STATUS_ERR(st[i], PARC_EWORKER, i);
      k++;
    } else {
      ASSERT_STATUS_ERR(st[i], 0, i);
      ASSERT_U64(out[i], mix64(i), "out[%zu]", i);
    }
  }
  check_pool_works(p, sh);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, replacement_worker_runs_init_with_the_same_index) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, 0);
  ASSERT_I64(atomic_load(&sh->init_calls), 2, "init calls after create");
  rjob in[NT];
  uint64_t out[NT];
  fill_jobs(in, NT, 3, KILL_SELF, 0);
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, NULL),
            PARC_EWORKER);
  int w = atomic_load(&sh->crash_worker);
  cr_assert(w == 0 || w == 1, "crashing task's parc_worker_id() = %d", w);
  check_pool_works(p, sh);
  /* the replacement may start in the background: wait for it */
  wait_flag(&sh->init_calls, 3, HOLD_S / 2);
  ASSERT_I64(atomic_load(&sh->init_calls), 3,
             "init calls after one worker was replaced");
  ASSERT_I64(atomic_load(&sh->init_by_worker[w]), 2, "init calls for worker %d",
             w);
  ASSERT_I64(atomic_load(&sh->init_by_worker[1 - w]), 1,
             "init calls for worker %d", 1 - w);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ timeouts */

/* A task timeout of 1 s: a thousand times what the other tasks take, so
 * that they finish in time on a loaded machine. */
static void check_timeout_map(parc_backend backend) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(backend, sh, 2, 0, 1.0);
  enum { N = 8 };
  rjob in[N];
  uint64_t out[N];
  parc_task_status st[N];
  size_t victim = 2, err_index = 999;
  fill_jobs(in, N, victim, HELD, 0);
  parc_map_opts o = {.status = st, .err_index = &err_index, .chunk = 1};
  double t0 = now_s();
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, N, &o),
            PARC_ETIMEDOUT);
  double took = now_s() - t0;
  atomic_store(&sh->release, 1); /* threads: the abandoned task ends */
  /* wrong: waiting for the held task (HOLD_S) */
  ASSERT_WAITED(took, 1.0, HOLD_S,
                backend == PARC_THREADS
                    ? "threads: a map with a 1 s task timeout"
                    : "processes: a map with a 1 s task timeout");
  ASSERT_I64(err_index, victim, "err_index");
  ASSERT_STATUS_ERR(st[victim], PARC_ETIMEDOUT, victim);
  check_others(st, out, N, victim);
  check_pool_works(p, sh);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, task_timeout_kills_a_process_task_and_the_pool_goes_on) {
  check_timeout_map(PARC_PROCESSES);
}

Test(robust, task_timeout_is_reported_for_a_thread_task) {
  check_timeout_map(PARC_THREADS);
}

/* Workers frozen between tasks (SIGSTOP, as a cgroup freeze or a debugger
 * would) hold the batches they were handed without beginning them: after
 * task_timeout the pool takes the work back, replaces them, and the call
 * completes, each task run once and charged nothing. */
static void check_frozen_workers(unsigned frozen) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, 1.0);
  pid_t pid[2];
  for (unsigned w = 0; w < 2; w++) pid[w] = atomic_load(&sh->init_pid[w]);
  for (unsigned w = 0; w < frozen; w++) cr_assert_eq(kill(pid[w], SIGSTOP), 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  fill_jobs(in, NT, 0, NONE, 0);
  parc_map_opts o = {.status = st, .chunk = 1, .timeout = 30};
  double t0 = now_s();
  int rc = parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o);
  double took = now_s() - t0;
  for (unsigned w = 0; w < frozen; w++) kill(pid[w], SIGCONT); /* if alive */
  ASSERT_RC(rc, 0);
  cr_expect_lt(took, 20.0, "map took %.1f s: the frozen workers' work waited",
               took);
  for (size_t i = 0; i < NT; i++) {
    ASSERT_STATUS_ERR(st[i], 0, i);
    ASSERT_I64(st[i].attempts, 1, "status[%zu].attempts", i);
    ASSERT_I64(atomic_load(&sh->attempts[i]), 1, "runs of task %zu", i);
    ASSERT_U64(out[i], mix64(i), "out[%zu]", i);
  }
  for (unsigned w = 0; w < frozen; w++) {
    double until = now_s() + 10;
    while (lc_pid_alive(pid[w]) && now_s() < until) sleep_s(0.01);
    cr_expect(!lc_pid_alive(pid[w]),
              "frozen worker %u (pid %d) was not replaced", w, (int)pid[w]);
  }
  check_pool_works(p, sh);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, a_frozen_worker_loses_its_work_to_the_others) {
  check_frozen_workers(1);
}

Test(robust, frozen_workers_are_replaced_and_the_call_completes) {
  check_frozen_workers(2);
}

static int sleep_then_write_task(const void *in, void *out, void *ctx) {
  sleep_s(0.8);
  memset(out, 0x11, 8);
  return 0;
}

Test(robust, timed_out_thread_task_does_not_write_out_after_the_map_returns) {
  parc_pool_opts o = {
      .backend = PARC_THREADS, .workers = 1, .task_timeout = 0.2};
  parc_pool *p = pool_new(&o);
  uint64_t in[1] = {0}, out[1] = {0};
  ASSERT_RC(parc_map(p, sleep_then_write_task, in, 8, out, 8, 1, NULL),
            PARC_ETIMEDOUT);
  out[0] = 0xFEEDFACE;
  parc_pool_destroy(p); /* waits for the abandoned task */
  ASSERT_U64(out[0], 0xFEEDFACE,
             "caller's out[0] after the abandoned task finished");
}

BOTH_BACKENDS(robust, task_timeout_applies_to_a_future) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(backend, sh, 1, 0, 0.3);
  rjob j = {0, HELD, 0};
  parc_future *f = NULL;
  ASSERT_RC(parc_submit(p, robust_task, &j, sizeof j, 8, &f), 0);
  parc_task_status st;
  memset(&st, 0, sizeof st);
  double t0 = now_s();
  ASSERT_RC(parc_future_wait(f, NULL, HOLD_S, &st), PARC_ETIMEDOUT);
  atomic_store(&sh->release, 1); /* threads: the abandoned task ends */
  /* wrong: waiting for the held task (HOLD_S) */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "wait on a task with a task timeout of 0.3 s");
  ASSERT_STATUS_ERR(st, PARC_ETIMEDOUT, 0);
  parc_future_free(f);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ recycling */

static int pid_task(const void *in, void *out, void *ctx) {
  int64_t id = (int64_t)syscall(
      SYS_gettid); /* == getpid() in a worker process */
  sleep_s(0.001);
  memcpy(out, &id, 8);
  return 0;
}

static int distinct(const int64_t *v, size_t n) {
  int d = 0;
  for (size_t i = 0; i < n; i++) {
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++) seen = v[j] == v[i];
    d += !seen;
  }
  return d;
}

BOTH_BACKENDS(robust, max_tasks_per_worker_recycles_workers) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool_opts o = {.backend = backend,
                      .workers = 2,
                      .max_tasks_per_worker = 3,
                      .init = count_init,
                      .ctx = sh};
  parc_pool *p = pool_new(&o);
  enum { N = 20 };
  uint64_t in[N] = {0};
  int64_t ids[N];
  parc_task_status st[N];
  parc_map_opts mo = {.status = st};
  ASSERT_RC(parc_map(p, pid_task, in, 8, ids, 8, N, &mo), 0);
  for (size_t i = 0; i < N; i++) {
    ASSERT_STATUS_ERR(st[i], 0, i);
    cr_assert_neq(ids[i], (int64_t)getpid(),
                  "task %zu ran in the test's main thread", i);
  }
  int d = distinct(ids, N);
  cr_assert_geq(
      d, 7, "%s: %d distinct workers ran 20 tasks, want >= 7 (3 tasks each)",
      backend_name(backend), d);
  cr_assert_geq(atomic_load(&sh->init_calls), 7,
                "init calls: %d, want one per worker (>= 7)",
                atomic_load(&sh->init_calls));
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ init */

BOTH_BACKENDS(robust, init_runs_once_in_each_worker_with_its_index) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(backend, sh, 4, 0, 0);
  /* create returns after every worker has run init */
  ASSERT_I64(atomic_load(&sh->init_calls), 4, "init calls");
  for (int w = 0; w < 4; w++)
    ASSERT_I64(atomic_load(&sh->init_by_worker[w]), 1, "init for %d", w);
  if (backend == PARC_PROCESSES) {
    for (int w = 0; w < 4; w++) {
      int pid = atomic_load(&sh->init_pid[w]);
      cr_assert(pid != 0 && pid != getpid(),
                "worker %d init ran in pid %d (test is %d)", w, pid, getpid());
      for (int v = 0; v < w; v++)
        cr_assert_neq(pid, atomic_load(&sh->init_pid[v]),
                      "workers %d and %d share pid %d", v, w, pid);
    }
  }
  check_pool_works(p, sh);
  ASSERT_I64(atomic_load(&sh->init_calls), 4, "init calls after a map");
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

BOTH_BACKENDS(robust, failing_init_makes_create_return_einit) {
  shared *sh = shm_new(sizeof *sh);
  atomic_store(&sh->init_fail_worker, 2 + 1);
  lc_snapshot before, after;
  lc_take(&before);
  parc_pool_opts o = {
      .backend = backend, .workers = 4, .init = count_init, .ctx = sh};
  parc_pool *p = NULL;
  ASSERT_RC(parc_pool_create(&p, &o), PARC_EINIT);
  cr_assert_null(p, "failed create wrote a pool");
  lc_take(&after);
  ASSERT_I64(after.children, before.children,
             "child processes after a failed create");
  ASSERT_I64(after.zombies, before.zombies, "zombies after a failed create");
  ASSERT_I64(after.fds, before.fds, "open fds after a failed create");
  ASSERT_I64(after.threads, before.threads, "threads after a failed create");
  parc_shm_free(sh);
}

Test(robust, worker_dying_in_init_makes_create_fail_not_hang) {
  shared *sh = shm_new(sizeof *sh);
  atomic_store(&sh->init_crash, 1);
  parc_pool_opts o = {
      .backend = PARC_PROCESSES, .workers = 3, .init = count_init, .ctx = sh};
  parc_pool *p = NULL;
  double t0 = now_s();
  int rc = parc_pool_create(&p, &o);
  cr_assert_neq(rc, 0, "create succeeded though worker 1 died in init");
  cr_expect_eq(rc, PARC_EINIT, "got %d (%s), want EINIT", rc, errname(rc));
  /* wrong: create waits for the dead worker for good. Nothing shorter to
   * compare with: a generous bound that only a hang exceeds (the suite's
   * timeout would catch it too, without this message). */
  cr_expect_lt(now_s() - t0, HOLD_S / 2,
               "create with a worker dead in init took %.2f s", now_s() - t0);
  int zombies = 0;
  ASSERT_I64(lc_children(&zombies), 0, "child processes after a failed create");
  ASSERT_I64(zombies, 0, "zombies after a failed create");
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ destroy */

/* The pool has just replaced a worker (crash or timeout kill): destroy
 * has nothing to wait for, so it must not take a grace period. */
static void check_prompt_destroy_after(enum action a, double task_timeout) {
  for (int round = 0; round < 4; round++) {
    shared *sh = shm_new(sizeof *sh);
    parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, task_timeout);
    rjob in[4];
    uint64_t out[4];
    fill_jobs(in, 4, 1, a, 0);
    int rc = parc_map(p, robust_task, in, sizeof(rjob), out, 8, 4, NULL);
    cr_assert(rc == PARC_EWORKER || rc == PARC_ETIMEDOUT,
              "round %d: map got %d (%s)", round, rc, errname(rc));
    double t0 = now_s();
    parc_pool_destroy(p);
    /* wrong: waiting out the grace period for a worker that is not there */
    ASSERT_BEFORE_TIMER(now_s() - t0, POOL_GRACE_S,
                        "round %d: destroy right after a worker was replaced",
                        round);
    ASSERT_I64(lc_descendants(), 0, "round %d: processes left after destroy",
               round);
    parc_shm_free(sh);
  }
}

Test(robust, destroy_right_after_a_worker_crash_is_prompt) {
  check_prompt_destroy_after(KILL_SELF, 0);
}

Test(robust, destroy_right_after_a_task_timeout_is_prompt) {
  check_prompt_destroy_after(HELD, 0.2);
}

/* ------------------------------------------------------------ isolation */

Test(robust, a_crash_in_one_pool_leaves_another_pool_untouched) {
  shared *sa = shm_new(sizeof *sa), *sb = shm_new(sizeof *sb);
  parc_pool *a = robust_pool(PARC_PROCESSES, sa, 2, 0, 0);
  parc_pool *b = robust_pool(PARC_PROCESSES, sb, 2, 0, 0);
  rjob in[NT];
  uint64_t out[NT];
  fill_jobs(in, NT, 4, KILL_SELF, 1);
  ASSERT_RC(parc_map(a, robust_task, in, sizeof(rjob), out, 8, NT, NULL),
            PARC_EWORKER);
  ASSERT_I64(atomic_load(&sb->init_calls), 2, "init calls in the other pool");
  check_pool_works(b, sb);
  ASSERT_I64(atomic_load(&sb->init_calls), 2,
             "init calls in the other pool after its map");
  parc_pool_destroy(a);
  check_pool_works(b, sb);
  parc_pool_destroy(b);
  parc_shm_free(sa);
  parc_shm_free(sb);
}

/* ------------------------------------------------------------ the caller's process */

typedef struct destroyer {
  parc_pool *pool;
  _Atomic int done;
} destroyer;

static void *destroyer_main(void *arg) {
  destroyer *d = arg;
  parc_pool_destroy(d->pool);
  atomic_store(&d->done, 1);
  return NULL;
}

/* Destroys the pool in a helper thread: seconds it took, or -1 when it had
 * not returned after max_s (the helper is left behind; the test fails). */
static double timed_destroy(parc_pool *p, double max_s) {
  static destroyer d; /* outlives this call if destroy hangs */
  d.pool = p;
  atomic_store(&d.done, 0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, destroyer_main, &d), 0);
  pthread_detach(th);
  double t0 = now_s();
  return wait_flag(&d.done, 1, max_s) ? now_s() - t0 : -1.0;
}

Test(robust, worker_crash_is_reported_when_the_caller_ignores_sigchld) {
  signal(SIGCHLD, SIG_IGN); /* common in servers; children are auto-reaped */
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  fill_jobs(in, NT, 3, KILL_SELF, 0);
  parc_map_opts o = {.status = st,
                     .timeout = HOLD_S}; /* bound the test, not the library */
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o),
            PARC_EWORKER);
  ASSERT_STATUS_ERR(st[3], PARC_EWORKER, 3);
  ASSERT_I64(st[3].signal, SIGKILL, "status[3].signal");
  /* wrong: destroy hangs (a generous bound only a hang exceeds) */
  double took = timed_destroy(p, HOLD_S / 2);
  cr_assert(took >= 0, "parc_pool_destroy did not return within %.0f s",
            HOLD_S / 2);
}

Test(robust, destroy_is_prompt_when_the_caller_ignores_sigchld) {
  signal(SIGCHLD, SIG_IGN);
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, 0);
  check_pool_works(p, sh);
  double took = timed_destroy(p, HOLD_S / 2);
  cr_assert(took >= 0, "parc_pool_destroy did not return within %.0f s",
            HOLD_S / 2);
  /* wrong: waiting out the grace period for workers it cannot reap */
  ASSERT_BEFORE_TIMER(took, POOL_GRACE_S, "parc_pool_destroy of an idle pool");
  parc_shm_free(sh);
}

typedef struct creator {
  shared *sh;
  parc_pool *pool;
  int rc;
} creator;

static void *creator_main(void *arg) {
  creator *c = arg;
  parc_pool_opts o = {.backend = PARC_PROCESSES,
                      .workers = 2,
                      .init = count_init,
                      .ctx = c->sh};
  c->rc = parc_pool_create(&c->pool, &o);
  return NULL;
}

Test(robust, process_pool_outlives_its_short_lived_creator) {
  shared *sh = shm_new(sizeof *sh);
  creator c = {sh, NULL, -100};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, creator_main, &c), 0);
  pthread_join(th, NULL);
  ASSERT_RC(c.rc, 0);
  sleep_s(0.1); /* give a death signal tied to that thread time to land */
  check_pool_works(c.pool, sh);
  ASSERT_I64(atomic_load(&sh->init_calls), 2,
             "init calls (workers replaced after the thread ended?)");
  parc_pool_destroy(c.pool);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ chunks */

Test(robust, crash_mid_chunk_costs_only_the_task_it_held) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 1, 0, 0);
  enum { N = 10 };
  rjob in[N];
  uint64_t out[N];
  parc_task_status st[N];
  fill_jobs(in, N, 5, KILL_SELF, 0);
  parc_map_opts o = {.status = st,
                     .chunk = N}; /* one dispatch holds every task */
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, N, &o),
            PARC_EWORKER);
  ASSERT_STATUS_ERR(st[5], PARC_EWORKER, 5);
  check_others(st, out, N, 5);
  for (size_t i = 0; i < N; i++)
    ASSERT_I64(atomic_load(&sh->attempts[i]), 1, "times task %zu was started",
               i);
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

Test(robust, lowest_failing_index_wins_whatever_the_kind_of_failure) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, 0);
  rjob in[NT];
  uint64_t out[NT];
  parc_task_status st[NT];
  size_t err_index = 999;
  fill_jobs(in, NT, 2, KILL_SELF, 0); /* task 2 dies ... */
  parc_map_opts o = {.status = st, .err_index = &err_index, .chunk = 1};
  /* ... and task 9 fails by itself: the worker death at 2 is the answer */
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o),
            PARC_EWORKER);
  ASSERT_I64(err_index, 2, "err_index");
  fill_jobs(in, NT, 9, KILL_SELF, 0);
  for (size_t i = 0; i < NT; i++) atomic_store(&sh->attempts[i], 0);
  ASSERT_RC(parc_map(p, robust_task, in, sizeof(rjob), out, 8, NT, &o),
            PARC_EWORKER);
  ASSERT_I64(err_index, 9, "err_index with the crash at 9");
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

static int fail_or_die_task(const void *in, void *out, void *ctx) {
  shared *sh = ctx;
  uint64_t i;
  memcpy(&i, in, 8);
  if (i == 6 && atomic_fetch_add(&sh->attempts[i], 1) == 0)
    kill(getpid(), SIGKILL);
  memcpy(out, &i, 8);
  return i == 11 ? 21 : 0;
}

Test(robust, task_error_below_a_crash_is_the_returned_error) {
  shared *sh = shm_new(sizeof *sh);
  parc_pool *p = robust_pool(PARC_PROCESSES, sh, 2, 0, 0);
  enum { N = 16 };
  uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  parc_task_status st[N];
  size_t err_index = 999;
  parc_map_opts o = {.status = st, .err_index = &err_index};
  /* 6 dies (EWORKER), 11 returns 21 (ETASK): 6 is the lowest */
  ASSERT_RC(parc_map(p, fail_or_die_task, in, 8, out, 8, N, &o), PARC_EWORKER);
  ASSERT_I64(err_index, 6, "err_index");
  ASSERT_STATUS_ERR(st[11], PARC_ETASK, 11);
  ASSERT_I64(st[11].task_rc, 21, "status[11].task_rc");
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* 5 ms each: far under the task timeout (200 times: room for a worker
 * descheduled a while on a loaded machine), twice over it as a whole
 * chunk. */
static int five_ms_task(const void *in, void *out, void *ctx) {
  sleep_s(0.005);
  memcpy(out, in, 8);
  return 0;
}

BOTH_BACKENDS(robust, task_timeout_is_per_task_not_per_chunk) {
  parc_pool_opts po = {.backend = backend, .workers = 1, .task_timeout = 1.0};
  parc_pool *p = pool_new(&po);
  enum { N = 400 }; /* 2 s in one chunk */
  uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  parc_task_status st[N];
  parc_map_opts o = {.status = st, .chunk = N};
  ASSERT_RC(parc_map(p, five_ms_task, in, 8, out, 8, N, &o), 0);
  for (size_t i = 0; i < N; i++) ASSERT_STATUS_ERR(st[i], 0, i);
  parc_pool_destroy(p);
}

static int copy_task(const void *in, void *out, void *ctx) {
  memcpy(out, in, 8);
  return 0;
}

/* Units begin between the scheduler reading its clock and reading their
 * start time; a check that subtracts the two the wrong way round kills
 * tasks that have only just begun. Many short tasks give it every chance. */
BOTH_BACKENDS(robust, short_tasks_under_a_task_timeout_are_never_killed) {
  parc_pool_opts po = {.backend = backend, .workers = 2, .task_timeout = 5};
  parc_pool *p = pool_new(&po);
  enum { N = 50000 };
  uint64_t *in = malloc(N * 8), *out = malloc(N * 8);
  for (size_t i = 0; i < N; i++) in[i] = i;
  for (size_t chunk = 1; chunk <= 64; chunk *= 64) {
    parc_map_opts o = {.chunk = chunk};
    ASSERT_RC(parc_map(p, copy_task, in, 8, out, 8, N, &o), 0);
    for (size_t i = 0; i < N; i++)
      ASSERT_U64(out[i], i, "chunk %zu: out[%zu]", chunk, i);
  }
  parc_pool_destroy(p);
  free(in);
  free(out);
}

/* A task in a process worker creates a pool of its own and uses it: the
 * worker's copy of the library's state (the fork lock) must be usable. */
static int nested_pool_task(const void *in, void *out, void *ctx) {
  parc_pool *inner = NULL;
  parc_pool_opts o = {.backend = PARC_PROCESSES, .workers = 1};
  if (parc_pool_create(&inner, &o) != 0)
    return 1;
  uint64_t x, y = 0;
  memcpy(&x, in, 8);
  int rc = parc_map(inner, copy_task, &x, 8, &y, 8, 1, NULL);
  parc_pool_destroy(inner);
  memcpy(out, &y, 8);
  return rc != 0 ? 2 : 0;
}

Test(robust, a_process_task_can_create_a_pool_of_its_own) {
  parc_pool *p = pool_simple(PARC_PROCESSES, 2, NULL);
  uint64_t in[4] = {7, 8, 9, 10}, out[4] = {0};
  parc_task_status st[4];
  parc_map_opts o = {.status = st, .chunk = 1};
  ASSERT_RC(parc_map(p, nested_pool_task, in, 8, out, 8, 4, &o), 0);
  for (size_t i = 0; i < 4; i++) ASSERT_U64(out[i], in[i], "out[%zu]", i);
  parc_pool_destroy(p);
}
