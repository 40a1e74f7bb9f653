/* test_leaks.c -- pools leave nothing behind: descriptors, child processes
 * (and zombies), mappings, threads, /dev/shm entries; destroy with work
 * outstanding; workers of a parent that died go away by themselves. */
#include "testutil.h"
#include "leakcheck.h"

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* glibc gives busy threads malloc arenas of their own, one mapping each,
 * and keeps them for later threads: a cache, not a leak, but it moves the
 * count of mappings. One arena keeps the count meaningful. */
static void leaks_init(void) {
  no_core_dumps();
  mallopt(M_ARENA_MAX, 1);
}

TestSuite(leaks, .init = leaks_init, .timeout = 90);

static int mix_task(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  x = mix64(x);
  memcpy(out, &x, 8);
  return 0;
}

/* Creates a pool, runs one small map, destroys it. */
static void one_pool_cycle(parc_backend backend, unsigned workers,
                           uint64_t salt) {
  parc_pool *p = pool_simple(backend, workers, NULL);
  enum { N = 16 };
  uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = salt * N + i;
  ASSERT_RC(parc_map(p, mix_task, in, 8, out, 8, N, NULL), 0);
  for (size_t i = 0; i < N; i++)
    ASSERT_U64(out[i], mix64(in[i]), "cycle %llu out[%zu]",
               (unsigned long long)salt, i);
  parc_pool_destroy(p);
}

static lc_names g_shm_before, g_shm_after;

static void check_same(const lc_snapshot *a, const lc_snapshot *b,
                       const char *what) {
  ASSERT_I64(b->fds, a->fds, "%s: open fds", what);
  ASSERT_I64(b->children, a->children, "%s: child processes", what);
  ASSERT_I64(b->zombies, a->zombies, "%s: zombie children", what);
  ASSERT_I64(b->descendants, a->descendants, "%s: live descendant processes",
             what);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* sanitizer allocators map memory as they go (quarantine, shadow); they
   * find leaked memory themselves */
  ASSERT_I64(b->maps, a->maps, "%s: lines of /proc/self/maps", what);
#endif
  ASSERT_I64(b->threads, a->threads, "%s: threads", what);
  char first[256] = "";
  int added = shm_new_names_ours(&g_shm_before, &g_shm_after, first);
  ASSERT_I64(added, 0, "%s: new entries in /dev/shm (first: %s)", what, first);
}

static void check_hundred_pools(parc_backend backend) {
  /* warm up: first-use allocations (malloc arenas, cached topology) are
   * not leaks */
  for (int i = 0; i < 3; i++) one_pool_cycle(backend, 2, 1000 + i);
  lc_snapshot before, after;
  lc_shm_snapshot(&g_shm_before);
  lc_take(&before);
  cr_assert(before.fds >= 0 && before.maps > 0 && before.threads > 0,
            "cannot read /proc");
  for (int i = 0; i < 100; i++) one_pool_cycle(backend, 2, (uint64_t)i);
  lc_take(&after);
  lc_shm_snapshot(&g_shm_after);
  check_same(&before, &after, backend_name(backend));
}

Test(leaks, hundred_process_pools_leave_nothing_behind) {
  check_hundred_pools(PARC_PROCESSES);
}

Test(leaks, hundred_thread_pools_leave_nothing_behind) {
  check_hundred_pools(PARC_THREADS);
}

/* ------------------------------------------------------------ crashes */

typedef struct crash_shared {
  _Atomic int attempts[32];
} crash_shared;

static int crash_first_task(const void *in, void *out, void *ctx) {
  crash_shared *sh = ctx;
  uint64_t i;
  memcpy(&i, in, 8);
  if (atomic_fetch_add(&sh->attempts[i], 1) == 0 && i == 5)
    kill(getpid(), SIGKILL);
  return mix_task(in, out, ctx);
}

/* Polls until this process has `want` live descendants (or max_s pass). */
static void wait_descendants(int want, double max_s) {
  double end = now_s() + max_s;
  while (lc_descendants() != want && now_s() < end) sleep_s(0.005);
}

static int no_init(void *ctx, unsigned worker) {
  (void)ctx, (void)worker;
  return 0;
}

Test(leaks, replacing_crashed_workers_leaves_nothing_behind) {
  crash_shared *sh = shm_new(sizeof *sh);
  /* with an init hook, create returns once every worker is up */
  parc_pool_opts o = {
      .backend = PARC_PROCESSES, .workers = 2, .init = no_init, .ctx = sh};
  parc_pool *p = pool_new(&o);
  int full = lc_descendants();
  enum { N = 16 };
  uint64_t in[N], out[N];
  for (size_t i = 0; i < N; i++) in[i] = i;
  /* warm up: the first replacement allocates once (e.g. a malloc arena in
   * the pool's threads) */
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < N; i++) atomic_store(&sh->attempts[i], 0);
    ASSERT_RC(parc_map(p, crash_first_task, in, 8, out, 8, N, NULL),
              PARC_EWORKER);
  }
  for (size_t i = 0; i < N; i++) atomic_store(&sh->attempts[i], 1);
  ASSERT_RC(parc_map(p, crash_first_task, in, 8, out, 8, N, NULL), 0);
  wait_descendants(full, HOLD_S / 2); /* a replacement may still be starting */
  lc_snapshot before, after;
  lc_shm_snapshot(&g_shm_before);
  lc_take(&before);
  for (int round = 0; round < 20; round++) {
    for (size_t i = 0; i < N; i++) atomic_store(&sh->attempts[i], 0);
    ASSERT_RC(parc_map(p, crash_first_task, in, 8, out, 8, N, NULL),
              PARC_EWORKER);
  }
  /* one clean map: a replacement started lazily is running by now */
  for (size_t i = 0; i < N; i++) atomic_store(&sh->attempts[i], 1);
  ASSERT_RC(parc_map(p, crash_first_task, in, 8, out, 8, N, NULL), 0);
  wait_descendants(full, HOLD_S / 2);
  lc_take(&after);
  lc_shm_snapshot(&g_shm_after);
  check_same(&before, &after, "after 20 worker crashes");
  parc_pool_destroy(p);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ destroy */

typedef struct dshared {
  _Atomic int started[8];
  _Atomic int release;
} dshared;

typedef struct djob {
  uint32_t slot;
  uint32_t ms; /* sleep; 0: wait for release (HOLD_S at most) */
} djob;

static int slow_task(const void *in, void *out, void *ctx) {
  dshared *sh = ctx;
  djob j;
  memcpy(&j, in, sizeof j);
  atomic_store(&sh->started[j.slot], 1);
  if (j.ms)
    sleep_s(j.ms / 1000.0);
  else
    wait_flag(&sh->release, 1, HOLD_S);
  uint64_t r = mix64(j.slot);
  memcpy(out, &r, 8);
  return 0;
}

static parc_future *submit_slow(parc_pool *p, uint32_t slot, uint32_t ms) {
  djob j = {slot, ms};
  parc_future *f = NULL;
  ASSERT_RC(parc_submit(p, slow_task, &j, sizeof j, 8, &f), 0);
  return f;
}

Test(leaks, destroy_with_cancel_running_kills_workers_promptly) {
  dshared *sh = shm_new(sizeof *sh);
  int zombies = 0;
  ASSERT_I64(lc_children(&zombies), 0, "children before the test");
  parc_pool *p = pool_simple(PARC_PROCESSES, 2, sh);
  parc_future *f[4];
  f[0] = submit_slow(p, 0, 0);
  f[1] = submit_slow(p, 1, 0);
  cr_assert(wait_flag(&sh->started[0], 1, 5.0) &&
                wait_flag(&sh->started[1], 1, 5.0),
            "the two long tasks did not start");
  f[2] = submit_slow(p, 2, 0);
  f[3] = submit_slow(p, 3, 0);
  double t0 = now_s();
  parc_pool_destroy_ex(p, 1);
  double took = now_s() - t0;
  /* wrong: waiting for the running tasks (held until the release, HOLD_S),
   * or giving their workers the grace period before killing them */
  ASSERT_SOONER(took, HOLD_S,
                "destroy_ex(cancel_running) with two running tasks");
  ASSERT_BEFORE_TIMER(took, POOL_GRACE_S,
                      "destroy_ex(cancel_running) with two running tasks");
  atomic_store(&sh->release, 1);
  ASSERT_I64(lc_children(&zombies), 0, "children after destroy_ex");
  ASSERT_I64(zombies, 0, "zombies after destroy_ex");
  ASSERT_I64(lc_descendants(), 0, "descendant processes after destroy_ex");
  for (int i = 0; i < 2; i++) {
    int rc = parc_future_wait(f[i], NULL, 1.0, NULL);
    cr_expect(
        rc == PARC_ECANCELED || rc == PARC_EWORKER,
        "killed running task %d: got %d (%s), want ECANCELED (or EWORKER)", i,
        rc, errname(rc));
  }
  for (int i = 2; i < 4; i++) {
    ASSERT_RC(parc_future_wait(f[i], NULL, 1.0, NULL), PARC_ECANCELED);
    ASSERT_I64(atomic_load(&sh->started[i]), 0, "queued task %d started", i);
  }
  for (int i = 0; i < 4; i++) parc_future_free(f[i]);
  parc_shm_free(sh);
}

BOTH_BACKENDS(leaks, destroy_waits_for_running_tasks_and_cancels_queued_ones) {
  dshared *sh = shm_new(sizeof *sh);
  parc_pool *p = pool_simple(backend, 1, sh);
  parc_future *f[3];
  f[0] = submit_slow(p, 0, 300);
  cr_assert(wait_flag(&sh->started[0], 1, 5.0),
            "the running task did not start");
  /* queued: if run, they would wait for a release that comes after destroy */
  f[1] = submit_slow(p, 1, 0);
  f[2] = submit_slow(p, 2, 0);
  double t0 = now_s();
  parc_pool_destroy(p);
  /* wrong: running the queued tasks too (HOLD_S each) */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "destroy with one running and two queued tasks");
  atomic_store(&sh->release, 1);
  uint64_t out = 0;
  ASSERT_RC(parc_future_wait(f[0], &out, 1.0, NULL), 0);
  ASSERT_U64(out, mix64(0), "output of the task destroy waited for");
  for (int i = 1; i < 3; i++) {
    ASSERT_RC(parc_future_wait(f[i], NULL, 1.0, NULL), PARC_ECANCELED);
    ASSERT_I64(atomic_load(&sh->started[i]), 0, "queued task %d started", i);
  }
  for (int i = 0; i < 3; i++) parc_future_free(f[i]);
  int zombies = 0;
  ASSERT_I64(lc_children(&zombies), 0, "children after destroy");
  ASSERT_I64(zombies, 0, "zombies after destroy");
  ASSERT_I64(lc_descendants(), 0, "descendant processes after destroy");
  parc_shm_free(sh);
}

Test(leaks, destroy_with_cancel_running_cancels_queued_thread_tasks) {
  dshared *sh = shm_new(sizeof *sh);
  parc_pool *p = pool_simple(PARC_THREADS, 1, sh);
  int threads_before = lc_threads();
  parc_future *f[3];
  f[0] = submit_slow(p, 0, 0);
  cr_assert(wait_flag(&sh->started[0], 1, 5.0),
            "the running task did not start");
  f[1] = submit_slow(p, 1, 0);
  f[2] = submit_slow(p, 2, 0);
  atomic_store(&sh->release, 1); /* the abandoned task ends soon */
  parc_pool_destroy_ex(p, 1);
  for (int i = 1; i < 3; i++) {
    ASSERT_RC(parc_future_wait(f[i], NULL, 1.0, NULL), PARC_ECANCELED);
    ASSERT_I64(atomic_load(&sh->started[i]), 0, "queued task %d started", i);
  }
  for (int i = 0; i < 3; i++) parc_future_free(f[i]);
  cr_assert_lt(lc_threads(), threads_before,
               "threads: %d after destroy, %d with the pool", lc_threads(),
               threads_before);
  parc_shm_free(sh);
}

/* ------------------------------------------------------------ parent death */

typedef struct orphan_shared {
  _Atomic int pids[8];
  _Atomic int ready;
} orphan_shared;

static int record_pid_init(void *ctx, unsigned worker) {
  orphan_shared *sh = ctx;
  if (worker < 8)
    atomic_store(&sh->pids[worker], (int)getpid());
  return 0;
}

enum { ORPHAN_WORKERS = 3 };

/* The child: a process pool, one map, then death without destroy. */
static void orphan_child(orphan_shared *sh, int by_signal) {
  parc_pool_opts o = {.backend = PARC_PROCESSES,
                      .workers = ORPHAN_WORKERS,
                      .init = record_pid_init,
                      .ctx = sh};
  parc_pool *p = NULL;
  if (parc_pool_create(&p, &o) != 0)
    _exit(2);
  uint64_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
  if (parc_map(p, mix_task, in, 8, out, 8, 8, NULL) != 0)
    _exit(3);
  atomic_store(&sh->ready, 1);
  if (by_signal)
    kill(getpid(), SIGKILL);
  _exit(0);
}

/* Reaps whatever became our child (we are a subreaper) without blocking. */
static void reap_all(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static void check_workers_die_with_parent(int by_signal) {
  /* orphaned workers are re-parented to us, so none escapes the check */
  cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0,
               "PR_SET_CHILD_SUBREAPER");
  orphan_shared *sh = shm_new(sizeof *sh);
  pid_t child = fork();
  cr_assert_geq(child, 0, "fork: %s", strerror(errno));
  if (child == 0)
    orphan_child(sh, by_signal);
  int status = 0;
  double end = now_s() + 20.0;
  pid_t w;
  while ((w = waitpid(child, &status, WNOHANG)) == 0 && now_s() < end)
    sleep_s(0.01);
  cr_assert_eq(w, child,
               "the child that made the pool did not end within 20 s");
  ASSERT_I64(atomic_load(&sh->ready), 1, "child ran its map (exit status %#x)",
             status);
  if (by_signal)
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "child status %#x", status);
  else
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x",
              status);
  int pids[ORPHAN_WORKERS];
  for (int i = 0; i < ORPHAN_WORKERS; i++) {
    pids[i] = atomic_load(&sh->pids[i]);
    cr_assert(pids[i] > 0, "worker %d did not record its pid", i);
  }
  /* wrong: the workers outlive their parent for good; right, they go at
   * once. Only the wrong behaviour waits out this deadline. */
  double t0 = now_s();
  int alive = ORPHAN_WORKERS;
  while (alive > 0 && now_s() - t0 < HOLD_S / 2) {
    reap_all();
    alive = 0;
    for (int i = 0; i < ORPHAN_WORKERS; i++) alive += lc_pid_alive(pids[i]);
    if (alive)
      sleep_s(0.02);
  }
  for (int i = 0; i < ORPHAN_WORKERS; i++)
    cr_assert(!lc_pid_alive(pids[i]),
              "worker %d (pid %d) still alive %.1f s after its parent died", i,
              pids[i], now_s() - t0);
  /* nothing else the child started (helpers, grandchildren) survives */
  int others = lc_descendants();
  while (others > 0 && now_s() - t0 < HOLD_S / 2) {
    sleep_s(0.02);
    reap_all();
    others = lc_descendants();
  }
  ASSERT_I64(others, 0, "descendants of the dead child still running");
  reap_all();
  parc_shm_free(sh);
}

Test(leaks, workers_exit_when_the_parent_is_killed) {
  check_workers_die_with_parent(1);
}

Test(leaks, workers_exit_when_the_parent_exits_without_destroy) {
  check_workers_die_with_parent(0);
}
