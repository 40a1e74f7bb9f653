/* test_sync.c -- parc_lock, parc_sem, parc_barrier between threads and
 * between processes (PARC_SHARED): mutual exclusion, timeouts, owner death
 * (PARC_EOWNERDEAD, parc_lock_consistent, PARC_EBROKEN), counting, barrier
 * rounds that nobody passes early, a party that times out does not pass;
 * and creating and destroying them leaves nothing behind. */
#include "chanutil.h"
#include "leakcheck.h"

#include <malloc.h>
#include <sched.h>

static void sync_init(void) {
  no_core_dumps();
  mallopt(M_ARENA_MAX, 1); /* see test_leaks.c: keeps the maps count still */
}

TestSuite(sync, .init = sync_init, .timeout = 120);

#define BOTH_MODES(name)                                                       \
  static void sync__##name(int flags);                                         \
  Test(sync, name##_private) { sync__##name(0); }                              \
  Test(sync, name##_shared) { sync__##name(PARC_SHARED); }                     \
  static void sync__##name(int flags)

static parc_lock *lock_new(int flags) {
  parc_lock *l = NULL;
  int rc = parc_lock_create(&l, flags);
  cr_assert_eq(rc, 0, "parc_lock_create(%d): got %d (%s)", flags, rc,
               errname(rc));
  cr_assert_not_null(l);
  return l;
}

static parc_sem *sem_new(unsigned value, int flags) {
  parc_sem *s = NULL;
  int rc = parc_sem_create(&s, value, flags);
  cr_assert_eq(rc, 0, "parc_sem_create(%u, %d): got %d (%s)", value, flags, rc,
               errname(rc));
  cr_assert_not_null(s);
  return s;
}

static parc_barrier *barrier_new(unsigned parties, int flags) {
  parc_barrier *b = NULL;
  int rc = parc_barrier_create(&b, parties, flags);
  cr_assert_eq(rc, 0, "parc_barrier_create(%u, %d): got %d (%s)", parties,
               flags, rc, errname(rc));
  cr_assert_not_null(b);
  return b;
}

/* Everything the parties of a test share; in parc_shm_alloc memory so that
 * the same code serves threads and forked processes. */
typedef struct box {
  parc_lock *lock;
  parc_sem *sem, *sem2;
  parc_barrier *bar;
  unsigned parties;
  unsigned rounds;
  uint32_t iters;
  uint64_t counter;   /* guarded by `lock` (or the semaphores) */
  _Atomic int inside; /* parties inside the critical section now */
  _Atomic int max_inside;
  _Atomic int violations; /* mutual exclusion / barrier order broken */
  _Atomic int errors;
  _Atomic int first_err;
  _Atomic int ready;
  _Atomic int go;
  _Atomic int step;
  _Atomic int rc;
  _Atomic int done;
  _Atomic uint32_t arrived[256]; /* per barrier round */
} box;

static box *box_new(void) { return shm_new(sizeof(box)); }

static void box_error(box *x, int rc) {
  int zero = 0;
  atomic_compare_exchange_strong(&x->first_err, &zero, rc);
  atomic_fetch_add(&x->errors, 1);
}

static void enter(box *x) {
  int n = atomic_fetch_add(&x->inside, 1) + 1;
  int m = atomic_load(&x->max_inside);
  while (n > m && !atomic_compare_exchange_weak(&x->max_inside, &m, n)) {
  }
}

static void leave(box *x) { atomic_fetch_sub(&x->inside, 1); }

/* Runs fn(x) in `n` threads or `n` forked processes and waits for all. */
static void run_parties(int procs, unsigned n, child_fn fn, box *x,
                        double max_s) {
  pid_t pid[16];
  tjob j[16];
  cr_assert_leq(n, 16u);
  for (unsigned i = 0; i < n; i++) {
    if (procs)
      pid[i] = spawn_child(fn, x);
    else
      tjob_start(&j[i], fn, x);
  }
  for (unsigned i = 0; i < n; i++) {
    if (procs)
      ASSERT_CHILD_OK(pid[i], max_s, "party process");
    else
      ASSERT_THREAD_OK(&j[i], max_s, "party thread");
  }
}

/* ================================================================ lock */

static int lock_counter(void *p) {
  box *x = p;
  for (uint32_t i = 0; i < x->iters; i++) {
    int rc = parc_lock_acquire(x->lock, 10.0);
    if (rc) {
      box_error(x, rc);
      return 1;
    }
    if (atomic_fetch_add(&x->inside, 1) != 0)
      atomic_fetch_add(&x->violations, 1);
    uint64_t c = x->counter; /* a plain read-modify-write: only the lock */
    if ((i & 63) == 0)
      sched_yield(); /* ... keeps another party out here */
    x->counter = c + 1;
    atomic_fetch_sub(&x->inside, 1);
    rc = parc_lock_release(x->lock);
    if (rc) {
      box_error(x, rc);
      return 1;
    }
  }
  return 0;
}

static void check_lock_counter(int flags, int procs) {
  box *x = box_new();
  x->lock = lock_new(flags);
  x->iters = 20000;
  run_parties(procs, 4, lock_counter, x, 60.0);
  ASSERT_I64(atomic_load(&x->errors), 0, "errors (first: %s)",
             errname(atomic_load(&x->first_err)));
  ASSERT_I64(atomic_load(&x->violations), 0, "times two parties held the lock");
  ASSERT_I64(x->counter, 4 * 20000, "counter incremented under the lock");
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

BOTH_MODES(lock_excludes_threads) { check_lock_counter(flags, 0); }

Test(sync, lock_excludes_processes) { check_lock_counter(PARC_SHARED, 1); }

Test(sync, create_rejects_zero_parties_and_destroy_accepts_null) {
  parc_barrier *b = NULL;
  ASSERT_RC(parc_barrier_create(&b, 0, 0), PARC_EINVAL);
  ASSERT_RC(parc_barrier_create(&b, 0, PARC_SHARED), PARC_EINVAL);
  parc_lock_destroy(NULL);
  parc_sem_destroy(NULL);
  parc_barrier_destroy(NULL);
}

/* Holds the lock until the test sets `go`, then releases it. */
static int hold_until_go(void *p) {
  box *x = p;
  int rc = parc_lock_acquire(x->lock, 5.0);
  atomic_store(&x->rc, rc);
  atomic_store(&x->ready, 1);
  if (rc)
    return rc_code(rc);
  wait_flag(&x->go, 1, HOLD_S);
  return rc_code(parc_lock_release(x->lock));
}

static void check_acquire_timeout(int flags, int procs) {
  box *x = box_new();
  x->lock = lock_new(flags);
  pid_t pid = 0;
  tjob j;
  if (procs)
    pid = spawn_child(hold_until_go, x);
  else
    tjob_start(&j, hold_until_go, x);
  cr_assert(wait_flag(&x->ready, 1, 5.0), "holder did not start");
  ASSERT_RC(atomic_load(&x->rc), 0); /* the holder's acquire */
  ASSERT_RC(parc_lock_acquire(x->lock, 0), PARC_EAGAIN);
  double t0 = now_s();
  ASSERT_RC(parc_lock_acquire(x->lock, 0.2), PARC_ETIMEDOUT);
  /* the holder holds it until `go`, HOLD_S at most */
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "acquire(0.2 s) of a held lock");
  atomic_store(&x->go, 1);
  t0 = now_s();
  ASSERT_RC(parc_lock_acquire(x->lock, HOLD_S), 0);
  /* wrong: not woken by the release, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "acquire, once the holder releases");
  ASSERT_RC(parc_lock_release(x->lock), 0);
  if (procs)
    ASSERT_CHILD_OK(pid, 5.0, "holder");
  else
    ASSERT_THREAD_OK(&j, 5.0, "holder");
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

BOTH_MODES(acquire_of_a_held_lock_times_out_threads) {
  check_acquire_timeout(flags, 0);
}

Test(sync, acquire_of_a_lock_held_by_another_process_times_out) {
  check_acquire_timeout(PARC_SHARED, 1);
}

/* Acquires the lock and dies holding it: by return (thread), _exit, or
 * SIGKILL after `go` plus 0.2 s (the test blocks in acquire meanwhile). */
enum { DIE_RETURN, DIE_EXIT, DIE_KILL_LATER };

typedef struct dier {
  box *x;
  int how;
} dier;

static int acquire_and_die(void *p) {
  dier *d = p;
  box *x = d->x;
  int rc = parc_lock_acquire(x->lock, 5.0);
  atomic_store(&x->rc, rc);
  atomic_store(&x->ready, 1);
  if (rc)
    return rc_code(rc);
  switch (d->how) {
  case DIE_EXIT: _exit(0);
  case DIE_KILL_LATER:
    wait_flag(&x->go, 1, HOLD_S);
    sleep_s(0.2);
    raise(SIGKILL);
    break;
  default: break;
  }
  return 0; /* a thread ends holding the lock */
}

/* Makes the lock's owner die; returns when it has. */
static void owner_dies(box *x, int procs, int how) {
  static dier d;
  d = (dier){x, how};
  if (procs) {
    pid_t pid = spawn_child(acquire_and_die, &d);
    int st = 0;
    cr_assert(reap_child(pid, 5.0, &st), "the owner did not die");
    cr_assert(atomic_load(&x->ready), "the owner never acquired (status %#x)",
              st);
  } else {
    tjob j;
    tjob_start(&j, acquire_and_die, &d);
    ASSERT_THREAD_OK(&j, 5.0, "owner thread");
  }
  ASSERT_RC(atomic_load(&x->rc), 0); /* the owner's acquire */
}

static int try_acquire_in_thread(void *p) {
  box *x = p;
  int rc = parc_lock_acquire(x->lock, 0.05);
  atomic_store(&x->rc, rc);
  if (rc == 0)
    parc_lock_release(x->lock);
  return 0;
}

/* The caller holds the lock: another party's acquire must fail. */
static void check_held_by_me(box *x) {
  tjob j;
  atomic_store(&x->rc, 12345);
  tjob_start(&j, try_acquire_in_thread, x);
  ASSERT_THREAD_OK(&j, 5.0, "probe thread");
  ASSERT_RC(atomic_load(&x->rc), PARC_ETIMEDOUT);
}

static int acquire_release_child(void *p) {
  box *x = p;
  int rc = parc_lock_acquire(x->lock, 2.0);
  if (rc)
    return rc_code(rc);
  return rc_code(parc_lock_release(x->lock));
}

static void check_owner_dead_then_consistent(int flags, int procs, int how) {
  box *x = box_new();
  x->lock = lock_new(flags);
  owner_dies(x, procs, how);
  ASSERT_RC(parc_lock_acquire(x->lock, 5.0), PARC_EOWNERDEAD);
  check_held_by_me(x); /* EOWNERDEAD means: you hold it now */
  ASSERT_RC(parc_lock_consistent(x->lock), 0);
  ASSERT_RC(parc_lock_release(x->lock), 0);
  /* back to normal */
  ASSERT_RC(parc_lock_acquire(x->lock, 1.0), 0);
  check_held_by_me(x);
  ASSERT_RC(parc_lock_release(x->lock), 0);
  if (flags & PARC_SHARED) {
    pid_t pid = spawn_child(acquire_release_child, x);
    ASSERT_CHILD_OK(pid, 5.0, "a child using the repaired lock");
  }
  x->iters = 2000;
  run_parties(0, 2, lock_counter, x, 30.0);
  ASSERT_I64(atomic_load(&x->errors), 0, "errors after repair (first: %s)",
             errname(atomic_load(&x->first_err)));
  ASSERT_I64(x->counter, 4000, "counter under the repaired lock");
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

Test(sync,
     process_exiting_with_the_lock_gives_eownerdead_then_consistent_repairs) {
  check_owner_dead_then_consistent(PARC_SHARED, 1, DIE_EXIT);
}

BOTH_MODES(
    thread_ending_with_the_lock_gives_eownerdead_then_consistent_repairs) {
  check_owner_dead_then_consistent(flags, 0, DIE_RETURN);
}

Test(sync, owner_killed_while_another_process_waits_gives_eownerdead_promptly) {
  box *x = box_new();
  x->lock = lock_new(PARC_SHARED);
  static dier d;
  d = (dier){x, DIE_KILL_LATER};
  pid_t pid = spawn_child(acquire_and_die, &d);
  cr_assert(wait_flag(&x->ready, 1, 5.0), "owner did not start");
  ASSERT_RC(atomic_load(&x->rc), 0);
  atomic_store(&x->go, 1);
  double t0 = now_s();
  /* the owner is not reaped while we wait: a zombie holds nothing */
  ASSERT_RC(parc_lock_acquire(x->lock, HOLD_S), PARC_EOWNERDEAD);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "acquire, to see the owner die (0.2 s in)");
  ASSERT_RC(parc_lock_consistent(x->lock), 0);
  ASSERT_RC(parc_lock_release(x->lock), 0);
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "owner status %#x",
            st);
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

static int hold_then_end(void *p) {
  box *x = p;
  int rc = parc_lock_acquire(x->lock, 5.0);
  atomic_store(&x->rc, rc);
  atomic_store(&x->ready, 1);
  wait_flag(&x->go, 1, HOLD_S);
  sleep_s(0.2);
  return 0; /* ends holding the lock */
}

BOTH_MODES(thread_ending_while_another_waits_gives_eownerdead_promptly) {
  box *x = box_new();
  x->lock = lock_new(flags);
  tjob j;
  tjob_start(&j, hold_then_end, x);
  cr_assert(wait_flag(&x->ready, 1, 5.0), "owner thread did not start");
  ASSERT_RC(atomic_load(&x->rc), 0);
  atomic_store(&x->go, 1);
  double t0 = now_s();
  ASSERT_RC(parc_lock_acquire(x->lock, HOLD_S), PARC_EOWNERDEAD);
  /* wrong: not seeing the end, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "acquire, to see the owner thread end (0.2 s in)");
  ASSERT_THREAD_OK(&j, 5.0, "owner thread");
  ASSERT_RC(parc_lock_consistent(x->lock), 0);
  ASSERT_RC(parc_lock_release(x->lock), 0);
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

static int acquire_expect_broken_child(void *p) {
  box *x = p;
  int rc = parc_lock_acquire(x->lock, 1.0);
  return rc == PARC_EBROKEN ? 0 : rc == 0 ? 1 : rc_code(rc);
}

static int acquire_forever(void *p) {
  box *x = p;
  atomic_store(&x->rc, parc_lock_acquire(x->lock, -1));
  return 0;
}

static void check_release_without_consistent_breaks(int flags, int procs,
                                                    int how) {
  box *x = box_new();
  x->lock = lock_new(flags);
  owner_dies(x, procs, how);
  ASSERT_RC(parc_lock_acquire(x->lock, 5.0), PARC_EOWNERDEAD);
  parc_lock_release(x->lock); /* without parc_lock_consistent */
  for (int i = 0; i < 3; i++) {
    double t0 = now_s();
    ASSERT_RC(parc_lock_acquire(x->lock, HOLD_S), PARC_EBROKEN);
    /* wrong: waiting out the timeout */
    ASSERT_SOONER(now_s() - t0, HOLD_S, "acquire of a broken lock");
  }
  if (flags & PARC_SHARED) {
    /* exit 1: it acquired; 64+: another error */
    pid_t pid = spawn_child(acquire_expect_broken_child, x);
    ASSERT_CHILD_OK(pid, 5.0, "a child acquiring the broken lock");
  }
  /* "every acquire": also one that would wait forever -- in a thread, so
   * that a hang fails this test with a message, not at its timeout */
  tjob j;
  atomic_store(&x->rc, 12345);
  tjob_start(&j, acquire_forever, x);
  cr_assert(tjob_join(&j, HOLD_S / 2),
            "acquire(-1) of a broken lock did not return in %.0f s",
            HOLD_S / 2);
  ASSERT_RC(atomic_load(&x->rc), PARC_EBROKEN);
  /* and one that does not wait -- which must not change the state */
  ASSERT_RC(parc_lock_acquire(x->lock, 0), PARC_EBROKEN);
  ASSERT_RC(parc_lock_acquire(x->lock, 0), PARC_EBROKEN);
  ASSERT_RC(parc_lock_acquire(x->lock, 0.2), PARC_EBROKEN);
  if (flags & PARC_SHARED) {
    pid_t pid = spawn_child(acquire_expect_broken_child, x);
    ASSERT_CHILD_OK(pid, 5.0,
                    "a child acquiring the broken lock after acquire(0)");
  }
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

Test(sync, release_without_consistent_leaves_the_lock_broken_processes) {
  check_release_without_consistent_breaks(PARC_SHARED, 1, DIE_EXIT);
}

BOTH_MODES(release_without_consistent_leaves_the_lock_broken_threads) {
  check_release_without_consistent_breaks(flags, 0, DIE_RETURN);
}

/* An acquire already waiting when the lock breaks (released after
 * EOWNERDEAD without parc_lock_consistent) is an acquire too: it returns
 * PARC_EBROKEN, it does not wait out its timeout. */
static int wait_for_broken_child(void *p) {
  box *x = p;
  atomic_store(&x->ready, 1);
  double t0 = now_s();
  int rc = parc_lock_acquire(x->lock, HOLD_S);
  if (rc != PARC_EBROKEN)
    return rc == 0 ? 1 : rc_code(rc);
  /* wrong: waiting out the timeout */
  return now_s() - t0 < HOLD_S / 2 ? 0 : 2;
}

static void check_waiter_sees_the_lock_break(int flags, int procs) {
  box *x = box_new();
  x->lock = lock_new(flags);
  owner_dies(x, procs, procs ? DIE_EXIT : DIE_RETURN);
  ASSERT_RC(parc_lock_acquire(x->lock, 5.0), PARC_EOWNERDEAD);
  atomic_store(&x->ready, 0);
  pid_t pid = 0;
  tjob j;
  if (procs)
    pid = spawn_child(wait_for_broken_child, x);
  else
    tjob_start(&j, wait_for_broken_child, x);
  cr_assert(wait_flag(&x->ready, 1, 5.0), "waiter did not start");
  sleep_s(0.2);               /* it is blocked in acquire now */
  parc_lock_release(x->lock); /* without parc_lock_consistent */
  /* exit 1: it acquired; 2: EBROKEN took HOLD_S / 2 or more; 64+: another
   * code. Its acquire times out at HOLD_S at the latest. */
  if (procs)
    ASSERT_CHILD_OK(pid, HOLD_S, "waiting process");
  else
    ASSERT_THREAD_OK(&j, HOLD_S, "waiting thread");
  ASSERT_RC(parc_lock_acquire(x->lock, 0), PARC_EBROKEN);
  parc_lock_destroy(x->lock);
  parc_shm_free(x);
}

BOTH_MODES(a_thread_waiting_when_the_lock_breaks_gets_ebroken) {
  check_waiter_sees_the_lock_break(flags, 0);
}

Test(sync, a_process_waiting_when_the_lock_breaks_gets_ebroken) {
  check_waiter_sees_the_lock_break(PARC_SHARED, 1);
}

/* ================================================================ sem */

BOTH_MODES(sem_counts) {
  parc_sem *s = sem_new(3, flags);
  for (int i = 0; i < 3; i++) ASSERT_RC(parc_sem_wait(s, 0), 0);
  ASSERT_RC(parc_sem_wait(s, 0), PARC_EAGAIN);
  ASSERT_RC(parc_sem_post(s), 0);
  ASSERT_RC(parc_sem_post(s), 0);
  ASSERT_RC(parc_sem_wait(s, 1.0), 0);
  ASSERT_RC(parc_sem_wait(s, 0), 0);
  ASSERT_RC(parc_sem_wait(s, 0), PARC_EAGAIN);
  for (int i = 0; i < 1000; i++) ASSERT_RC(parc_sem_post(s), 0);
  for (int i = 0; i < 1000; i++) ASSERT_RC(parc_sem_wait(s, 0), 0);
  ASSERT_RC(parc_sem_wait(s, 0), PARC_EAGAIN);
  parc_sem_destroy(s);
}

BOTH_MODES(sem_wait_times_out) {
  parc_sem *s = sem_new(0, flags);
  double t0 = now_s();
  ASSERT_RC(parc_sem_wait(s, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "sem_wait(0.2 s) at 0");
  /* a timed-out wait took nothing: one post, one wait */
  ASSERT_RC(parc_sem_post(s), 0);
  ASSERT_RC(parc_sem_wait(s, 0), 0);
  ASSERT_RC(parc_sem_wait(s, 0), PARC_EAGAIN);
  parc_sem_destroy(s);
}

static int sem_waiter(void *p) {
  box *x = p;
  atomic_fetch_add(&x->ready, 1);
  int rc = parc_sem_wait(x->sem, HOLD_S);
  if (rc == 0)
    atomic_fetch_add(&x->done, 1);
  return rc_code(rc);
}

BOTH_MODES(each_post_wakes_exactly_one_blocked_waiter) {
  enum { W = 4 };
  box *x = box_new();
  x->sem = sem_new(0, flags);
  tjob j[W];
  for (int i = 0; i < W; i++) tjob_start(&j[i], sem_waiter, x);
  cr_assert(wait_flag(&x->ready, W, 5.0), "waiters did not start");
  sleep_s(0.1);
  ASSERT_RC(parc_sem_post(x->sem), 0);
  ASSERT_RC(parc_sem_post(x->sem), 0);
  /* wrong: not woken, waiting out their timeout of HOLD_S */
  cr_assert(wait_flag(&x->done, 2, HOLD_S / 2), "two posts woke %d waiters",
            atomic_load(&x->done));
  sleep_s(0.3);
  ASSERT_I64(atomic_load(&x->done), 2, "waiters through after two posts");
  ASSERT_RC(parc_sem_post(x->sem), 0);
  ASSERT_RC(parc_sem_post(x->sem), 0);
  for (int i = 0; i < W; i++) ASSERT_THREAD_OK(&j[i], HOLD_S / 2, "waiter");
  ASSERT_RC(parc_sem_wait(x->sem, 0), PARC_EAGAIN);
  parc_sem_destroy(x->sem);
  parc_shm_free(x);
}

static int poster(void *p) {
  box *x = p;
  for (uint32_t i = 0; i < x->iters; i++) {
    int rc = parc_sem_post(x->sem);
    if (rc)
      return rc_code(rc);
    if ((i & 255) == 0)
      sched_yield();
  }
  return 0;
}

Test(sync, sem_posts_from_processes_are_all_counted) {
  box *x = box_new();
  x->sem = sem_new(0, PARC_SHARED);
  x->iters = 5000;
  pid_t pid[4];
  for (int i = 0; i < 4; i++) pid[i] = spawn_child(poster, x);
  for (int i = 0; i < 4 * 5000; i++) ASSERT_RC(parc_sem_wait(x->sem, 10.0), 0);
  for (int i = 0; i < 4; i++) ASSERT_CHILD_OK(pid[i], 10.0, "poster");
  ASSERT_RC(parc_sem_wait(x->sem, 0), PARC_EAGAIN);
  parc_sem_destroy(x->sem);
  parc_shm_free(x);
}

/* Ping-pong: the child waits on sem, bumps the counter, posts sem2. */
static int pong_child(void *p) {
  box *x = p;
  for (uint32_t i = 0; i < x->iters; i++) {
    int rc = parc_sem_wait(x->sem, 10.0);
    if (rc)
      return rc_code(rc);
    if (x->counter != 2 * (uint64_t)i + 1)
      return 1;
    x->counter++;
    rc = parc_sem_post(x->sem2);
    if (rc)
      return rc_code(rc);
  }
  return 0;
}

Test(sync, sem_ping_pong_between_processes) {
  box *x = box_new();
  x->sem = sem_new(0, PARC_SHARED);
  x->sem2 = sem_new(0, PARC_SHARED);
  x->iters = 3000;
  pid_t pid = spawn_child(pong_child, x);
  for (uint32_t i = 0; i < x->iters; i++) {
    ASSERT_I64(x->counter, 2 * (uint64_t)i, "counter before ping %u", i);
    x->counter++;
    ASSERT_RC(parc_sem_post(x->sem), 0);
    ASSERT_RC(parc_sem_wait(x->sem2, 10.0), 0);
  }
  ASSERT_CHILD_OK(pid, 10.0, "pong child");
  ASSERT_I64(x->counter, 2 * (uint64_t)x->iters, "counter at the end");
  parc_sem_destroy(x->sem);
  parc_sem_destroy(x->sem2);
  parc_shm_free(x);
}

static int bounded_party(void *p) {
  box *x = p;
  for (uint32_t i = 0; i < x->iters; i++) {
    int rc = parc_sem_wait(x->sem, 10.0);
    if (rc)
      return rc_code(rc);
    enter(x);
    if ((i & 7) == 0)
      sched_yield();
    leave(x);
    rc = parc_sem_post(x->sem);
    if (rc)
      return rc_code(rc);
  }
  return 0;
}

static void check_sem_bounds(int procs) {
  box *x = box_new();
  x->sem = sem_new(2, procs ? PARC_SHARED : 0);
  x->iters = 3000;
  run_parties(procs, 6, bounded_party, x, 60.0);
  cr_assert_leq(atomic_load(&x->max_inside), 2,
                "%d parties inside a semaphore of 2",
                atomic_load(&x->max_inside));
  ASSERT_RC(parc_sem_wait(x->sem, 0), 0);
  ASSERT_RC(parc_sem_wait(x->sem, 0), 0);
  ASSERT_RC(parc_sem_wait(x->sem, 0), PARC_EAGAIN);
  parc_sem_destroy(x->sem);
  parc_shm_free(x);
}

Test(sync, sem_of_two_admits_at_most_two_threads) { check_sem_bounds(0); }

Test(sync, sem_of_two_admits_at_most_two_processes) { check_sem_bounds(1); }

/* ================================================================ barrier */

/* Every party: for each round, count itself in, wait, and check that every
 * party had arrived before anyone passed. */
static int barrier_party(void *p) {
  box *x = p;
  for (unsigned r = 0; r < x->rounds; r++) {
    atomic_fetch_add(&x->arrived[r], 1);
    int rc = parc_barrier_wait(x->bar, 10.0);
    if (rc) {
      box_error(x, rc);
      return rc_code(rc);
    }
    if (atomic_load(&x->arrived[r]) != x->parties)
      atomic_fetch_add(&x->violations, 1);
  }
  return 0;
}

static void check_barrier_rounds(int procs) {
  for (unsigned parties = 2; parties <= 8; parties++) {
    box *x = box_new();
    x->parties = parties;
    x->rounds = 200;
    x->bar = barrier_new(parties, procs ? PARC_SHARED : 0);
    run_parties(procs, parties, barrier_party, x, 60.0);
    ASSERT_I64(atomic_load(&x->errors), 0, "%u parties: errors (first: %s)",
               parties, errname(atomic_load(&x->first_err)));
    ASSERT_I64(atomic_load(&x->violations), 0,
               "%u parties: a party passed a round before all had arrived",
               parties);
    for (unsigned r = 0; r < x->rounds; r++)
      ASSERT_I64(atomic_load(&x->arrived[r]), parties,
                 "%u parties: arrivals in round %u", parties, r);
    parc_barrier_destroy(x->bar);
    parc_shm_free(x);
  }
}

Test(sync, barrier_rounds_threads_2_to_8_parties) { check_barrier_rounds(0); }

Test(sync, barrier_rounds_processes_2_to_8_parties) { check_barrier_rounds(1); }

/* Waits at the barrier once (HOLD_S at most); returns 1 if that took
 * HOLD_S / 2 or more (wrong: not let through when the round is full). */
static int barrier_wait_once(void *p) {
  box *x = p;
  atomic_fetch_add(&x->ready, 1);
  double t0 = now_s();
  int rc = parc_barrier_wait(x->bar, HOLD_S);
  atomic_store(&x->rc, rc);
  return now_s() - t0 < HOLD_S / 2 ? 0 : 1;
}

static int barrier_wait_short(void *p) {
  box *x = p;
  int rc = parc_barrier_wait(x->bar, 0.3);
  atomic_store(&x->step, rc);
  return 0;
}

BOTH_MODES(a_party_that_times_out_does_not_pass) {
  box *x = box_new();
  x->bar = barrier_new(2, flags);
  ASSERT_RC(parc_barrier_wait(x->bar, 0), PARC_EAGAIN);
  double t0 = now_s();
  ASSERT_RC(parc_barrier_wait(x->bar, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "barrier_wait(0.2 s) alone");
  /* both gave up and left: a second lone party must time out too, not pass
   * on the strength of the ones that left */
  tjob j;
  tjob_start(&j, barrier_wait_short, x);
  ASSERT_THREAD_OK(&j, 5.0, "second party");
  ASSERT_RC(atomic_load(&x->step), PARC_ETIMEDOUT);
  /* and a full round still works */
  tjob_start(&j, barrier_wait_once, x);
  ASSERT_RC(parc_barrier_wait(x->bar, HOLD_S), 0);
  ASSERT_THREAD_OK(&j, HOLD_S, "partner");
  ASSERT_RC(atomic_load(&x->rc), 0);
  parc_barrier_destroy(x->bar);
  parc_shm_free(x);
}

BOTH_MODES(the_others_keep_waiting_for_a_full_round_after_a_timeout) {
  box *x = box_new();
  x->bar = barrier_new(3, flags);
  atomic_store(&x->rc, 12345);
  tjob a;
  tjob_start(&a, barrier_wait_once, x); /* waits up to HOLD_S */
  cr_assert(wait_flag(&x->ready, 1, 5.0), "first party did not start");
  sleep_s(0.05);
  ASSERT_RC(parc_barrier_wait(x->bar, 0.2), PARC_ETIMEDOUT); /* gives up */
  sleep_s(0.1);
  cr_assert(!tjob_join(&a, 0.0),
            "the first party passed with only 2 of 3 arrived (rc %d)",
            atomic_load(&x->rc));
  tjob b;
  tjob_start(&b, barrier_wait_short, x); /* the second party */
  ASSERT_RC(parc_barrier_wait(x->bar, HOLD_S),
            0); /* and this one, again: a full round */
  ASSERT_THREAD_OK(&a, HOLD_S, "first party");
  ASSERT_RC(atomic_load(&x->rc), 0);
  ASSERT_THREAD_OK(&b, HOLD_S, "second party");
  ASSERT_RC(atomic_load(&x->step), 0);
  parc_barrier_destroy(x->bar);
  parc_shm_free(x);
}

BOTH_MODES(the_last_party_passes_with_timeout_zero) {
  box *x = box_new();
  x->bar = barrier_new(2, flags);
  tjob j;
  tjob_start(&j, barrier_wait_once, x);
  /* until the partner is in, wait(0) gives EAGAIN (and leaves); then 0 */
  int rc, eagains = 0;
  double end = now_s() + HOLD_S / 2;
  while ((rc = parc_barrier_wait(x->bar, 0)) == PARC_EAGAIN && now_s() < end) {
    eagains++;
    sleep_s(0.001);
  }
  ASSERT_RC(rc, 0);
  ASSERT_THREAD_OK(&j, HOLD_S, "partner");
  ASSERT_RC(atomic_load(&x->rc), 0);
  parc_barrier_destroy(x->bar);
  parc_shm_free(x);
}

static int barrier_timeout_child(void *p) {
  box *x = p;
  int rc = parc_barrier_wait(x->bar, 0.2);
  return rc == PARC_ETIMEDOUT ? 0 : rc == 0 ? 1 : rc_code(rc);
}

Test(sync, a_process_that_times_out_at_a_barrier_does_not_pass) {
  box *x = box_new();
  x->bar = barrier_new(2, PARC_SHARED);
  pid_t pid = spawn_child(barrier_timeout_child, x);
  ASSERT_CHILD_OK(pid, 5.0, "timing-out child");
  ASSERT_RC(parc_barrier_wait(x->bar, 0.2), PARC_ETIMEDOUT);
  x->parties = 2;
  x->rounds = 50;
  run_parties(1, 2, barrier_party, x, 30.0);
  ASSERT_I64(atomic_load(&x->errors), 0,
             "errors after the timeouts (first: %s)",
             errname(atomic_load(&x->first_err)));
  ASSERT_I64(atomic_load(&x->violations), 0, "early passes after the timeouts");
  parc_barrier_destroy(x->bar);
  parc_shm_free(x);
}

/* ================================================================ leaks */

static void sync_cycle(int flags) {
  parc_lock *l = lock_new(flags);
  ASSERT_RC(parc_lock_acquire(l, 1.0), 0);
  ASSERT_RC(parc_lock_release(l), 0);
  parc_lock_destroy(l);
  parc_sem *s = sem_new(1, flags);
  ASSERT_RC(parc_sem_wait(s, 1.0), 0);
  ASSERT_RC(parc_sem_post(s), 0);
  parc_sem_destroy(s);
  parc_barrier *b = barrier_new(2, flags);
  ASSERT_RC(parc_barrier_wait(b, 0), PARC_EAGAIN);
  parc_barrier_destroy(b);
}

Test(sync, hundred_locks_sems_and_barriers_leave_nothing_behind) {
  for (int flags = 0; flags <= PARC_SHARED; flags++) {
    for (int i = 0; i < 3; i++) sync_cycle(flags);
    chan_snap before, after;
    snap_take(&before);
    for (int i = 0; i < 100; i++) sync_cycle(flags);
    snap_take(&after);
    snap_check_same(&before, &after, flags ? "shared" : "private");
  }
}

Test(sync, sem_value_reads_the_count) {
  for (int flags = 0; flags <= PARC_SHARED; flags++) {
    parc_sem *s = sem_new(3, flags);
    unsigned v = 99;
    ASSERT_RC(parc_sem_value(s, &v), 0);
    ASSERT_I64(v, 3, "count at start");
    ASSERT_RC(parc_sem_wait(s, 0), 0);
    ASSERT_RC(parc_sem_value(s, &v), 0);
    ASSERT_I64(v, 2, "after a wait");
    ASSERT_RC(parc_sem_post(s), 0);
    ASSERT_RC(parc_sem_post(s), 0);
    ASSERT_RC(parc_sem_value(s, &v), 0);
    ASSERT_I64(v, 4, "after two posts");
    ASSERT_RC(parc_sem_value(s, NULL), PARC_EINVAL);
    parc_sem_destroy(s);
  }
}

/* A shared object is destroyed per process: a child that is done destroys
 * its handle, and the creator may destroy its own while a child still uses
 * the object. */
typedef struct after_destroy {
  parc_queue *q;
  parc_sem *go;
} after_destroy;

static int child_uses_after_parent_destroys(void *arg) {
  after_destroy *a = arg;
  if (parc_sem_wait(a->go, HOLD_S) != 0)
    return 1; /* the parent has destroyed */
  char buf[8];
  size_t len;
  if (parc_queue_get(a->q, buf, sizeof buf, &len, HOLD_S) != 0 || len != 2)
    return 2;
  if (parc_queue_put(a->q, "ok", 2, HOLD_S) != 0)
    return 3;
  parc_queue_destroy(a->q); /* its own handle */
  parc_sem_destroy(a->go);
  return 0;
}

Test(sync, shared_objects_are_destroyed_per_process) {
  after_destroy a;
  ASSERT_RC(parc_queue_create(&a.q, 1024, 8, PARC_SHARED), 0);
  ASSERT_RC(parc_sem_create(&a.go, 0, PARC_SHARED), 0);
  ASSERT_RC(parc_queue_put(a.q, "hi", 2, 0), 0);
  parc_proc *c;
  ASSERT_RC(parc_proc_start(&c, child_uses_after_parent_destroys, &a, sizeof a),
            0);
  /* the child's verdict comes back as its exit code: we drop our handles */
  ASSERT_RC(parc_sem_post(a.go), 0);
  parc_queue_destroy(a.q); /* the child still maps it */
  parc_sem_destroy(a.go);
  parc_proc_status st;
  ASSERT_RC(parc_proc_join(c, &st, HOLD_S), 0);
  parc_proc_free(c);
  cr_assert(st.exited, "the child died of signal %d", st.signal);
  ASSERT_I64(st.exit_code, 0, "child (1: no go, 2: get, 3: put)");
}
