/* test_proc.c -- processes and threads by hand: parc_proc_start / join /
 * pid / kill / free and parc_thread_start / join. How a process ended
 * (return, _exit, signal), join timeouts, freeing a running process kills
 * and reaps it, and 50 processes leave no descriptor, child, zombie or
 * mapping behind. */
#include "chanutil.h"
#include "leakcheck.h"

#include <malloc.h>

static void proc_init(void) {
  no_core_dumps();
  mallopt(M_ARENA_MAX, 1); /* see test_leaks.c: keeps the maps count still */
}

TestSuite(proc, .init = proc_init, .timeout = 60);

typedef struct pbox {
  _Atomic int pid; /* getpid() in the child */
  _Atomic int started;
  _Atomic int release;
  _Atomic uint64_t sum;
} pbox;

static parc_proc *proc_new(parc_proc_fn fn, const void *arg, size_t size) {
  parc_proc *p = NULL;
  int rc = parc_proc_start(&p, fn, arg, size);
  cr_assert_eq(rc, 0, "parc_proc_start: got %d (%s)", rc, errname(rc));
  cr_assert_not_null(p, "parc_proc_start returned 0 but no handle");
  return p;
}

static parc_proc_status join_ok(parc_proc *p, double timeout) {
  parc_proc_status st;
  memset(&st, 0x7f, sizeof st);
  ASSERT_RC(parc_proc_join(p, &st, timeout), 0);
  return st;
}

#define ASSERT_EXITED(st, code)                                                \
  do {                                                                         \
    ASSERT_I64((st).exited, 1, "status.exited");                               \
    ASSERT_I64((st).exit_code, (code), "status.exit_code");                    \
    ASSERT_I64((st).signal, 0, "status.signal");                               \
  } while (0)

#define ASSERT_KILLED(st, sig)                                                 \
  do {                                                                         \
    ASSERT_I64((st).exited, 0, "status.exited");                               \
    ASSERT_I64((st).signal, (sig), "status.signal");                           \
  } while (0)

/* ------------------------------------------------------------ processes */

static int return_arg(void *arg) {
  int v;
  memcpy(&v, arg, sizeof v);
  return v;
}

Test(proc, join_reports_the_return_value_as_exit_code) {
  int v = 42;
  parc_proc *p = proc_new(return_arg, &v, sizeof v);
  parc_proc_status st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 42);
  parc_proc_free(p);
}

Test(proc, exit_code_keeps_the_low_8_bits_like_exit) {
  int v = 300;
  parc_proc *p = proc_new(return_arg, &v, sizeof v);
  parc_proc_status st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 300 & 0xff);
  parc_proc_free(p);
  v = 0;
  p = proc_new(return_arg, &v, sizeof v);
  st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 0);
  parc_proc_free(p);
}

typedef struct bigarg {
  pbox *box;
  size_t n;
  uint64_t want;
  unsigned char bytes[1 << 20];
} bigarg;

static int check_big_arg(void *arg) {
  bigarg *a = arg;
  uint64_t h = fnv1a(a->bytes, a->n);
  atomic_store(&a->box->sum, h);
  return h == a->want ? 0 : 1;
}

Test(proc, the_argument_is_a_copy_of_its_bytes) {
  pbox *box = shm_new(sizeof *box);
  bigarg *a = malloc(sizeof *a);
  cr_assert_not_null(a);
  a->box = box;
  a->n = sizeof a->bytes;
  fill_bytes(a->bytes, a->n, 2024);
  a->want = fnv1a(a->bytes, a->n);
  parc_proc *p = proc_new(check_big_arg, a, sizeof *a);
  memset(a->bytes, 0, a->n); /* the child has its own copy */
  free(a);
  parc_proc_status st = join_ok(p, 10.0);
  ASSERT_EXITED(st, 0);
  cr_assert_neq(atomic_load(&box->sum), 0, "the child did not run");
  parc_proc_free(p);
  parc_shm_free(box);
}

static int no_arg(void *arg) { return arg == NULL ? 3 : 4; }

Test(proc, start_without_an_argument) {
  parc_proc *p = proc_new(no_arg, NULL, 0);
  parc_proc_status st = join_ok(p, 5.0);
  cr_assert(st.exited && (st.exit_code == 3 || st.exit_code == 4) &&
                st.signal == 0,
            "status {exited %d, exit_code %d, signal %d}", st.exited,
            st.exit_code, st.signal);
  parc_proc_free(p);
}

Test(proc, start_rejects_a_null_function) {
  parc_proc *p = NULL;
  ASSERT_RC(parc_proc_start(&p, NULL, NULL, 0), PARC_EINVAL);
  parc_proc_free(NULL);
}

static int exit_7(void *arg) {
  (void)arg;
  _exit(7);
}

static int libc_exit_9(void *arg) {
  (void)arg;
  exit(9);
}

Test(proc, exit_code_of_exit_and__exit) {
  parc_proc *p = proc_new(exit_7, NULL, 0);
  parc_proc_status st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 7);
  parc_proc_free(p);
  p = proc_new(libc_exit_9, NULL, 0);
  st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 9);
  parc_proc_free(p);
}

static int raise_arg(void *arg) {
  int sig;
  memcpy(&sig, arg, sizeof sig);
  signal(sig, SIG_DFL); /* die of it even under a sanitizer that catches it */
  raise(sig);
  return 0;
}

Test(proc, a_process_killed_by_a_signal_reports_it) {
  static const int sigs[] = {SIGKILL, SIGSEGV, SIGTERM, SIGABRT};
  for (int i = 0; i < 4; i++) {
    parc_proc *p = proc_new(raise_arg, &sigs[i], sizeof sigs[i]);
    parc_proc_status st = join_ok(p, 5.0);
    ASSERT_KILLED(st, sigs[i]);
    parc_proc_free(p);
  }
}

static int record_pid_and_wait(void *arg) {
  pbox *b = *(pbox **)arg;
  atomic_store(&b->pid, (int)getpid());
  atomic_store(&b->started, 1);
  wait_flag(&b->release, 1, HOLD_S);
  return 5;
}

Test(proc, pid_is_the_childs_pid) {
  pbox *b = shm_new(sizeof *b);
  parc_proc *p = proc_new(record_pid_and_wait, &b, sizeof b);
  cr_assert(wait_flag(&b->started, 1, 5.0), "child did not start");
  ASSERT_I64(parc_proc_pid(p), atomic_load(&b->pid), "parc_proc_pid");
  cr_assert_neq(parc_proc_pid(p), getpid());
  atomic_store(&b->release, 1);
  parc_proc_status st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 5);
  parc_proc_free(p);
  parc_shm_free(b);
}

Test(proc, join_times_out_then_succeeds_later) {
  pbox *b = shm_new(sizeof *b);
  parc_proc *p = proc_new(record_pid_and_wait, &b, sizeof b);
  parc_proc_status st;
  ASSERT_RC(parc_proc_join(p, &st, 0), PARC_EAGAIN);
  double t0 = now_s();
  ASSERT_RC(parc_proc_join(p, &st, 0.2), PARC_ETIMEDOUT);
  /* the process lives until the release, HOLD_S at most */
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S,
                "parc_proc_join(0.2 s) of a running process");
  cr_assert(wait_flag(&b->started, 1, 5.0), "child did not start");
  cr_assert(lc_pid_alive(parc_proc_pid(p)),
            "a join that timed out hurt the process");
  atomic_store(&b->release, 1);
  st = join_ok(p, 5.0);
  ASSERT_EXITED(st, 5);
  parc_proc_free(p);
  parc_shm_free(b);
}

static int end_after_200ms(void *arg) {
  (void)arg;
  sleep_s(0.2);
  return 6;
}

Test(proc, join_wakes_promptly_when_the_process_ends) {
  parc_proc *p = proc_new(end_after_200ms, NULL, 0);
  double t0 = now_s();
  parc_proc_status st = join_ok(p, HOLD_S);
  /* wrong: not woken by the end, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "join of a process that lives 0.2 s");
  ASSERT_EXITED(st, 6);
  parc_proc_free(p);
}

/* Lives HOLD_S unless killed. */
static int sleeper(void *arg) {
  pbox *b = *(pbox **)arg;
  atomic_store(&b->started, 1);
  sleep_s(HOLD_S);
  return 0;
}

Test(proc, kill_sends_the_signal) {
  pbox *b = shm_new(sizeof *b);
  parc_proc *p = proc_new(sleeper, &b, sizeof b);
  cr_assert(wait_flag(&b->started, 1, 5.0), "child did not start");
  ASSERT_RC(parc_proc_kill(p, SIGTERM), 0);
  double t0 = now_s();
  parc_proc_status st = join_ok(p, HOLD_S);
  /* wrong: no signal sent, the process sleeps its HOLD_S */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "the process sent SIGTERM, to end");
  ASSERT_KILLED(st, SIGTERM);
  parc_proc_kill(p, SIGKILL); /* reaped: sends nothing, must not crash */
  parc_proc_free(p);
  parc_shm_free(b);
}

Test(proc, free_of_a_running_process_kills_and_reaps_it) {
  pbox *b = shm_new(sizeof *b);
  parc_proc *p = proc_new(sleeper, &b, sizeof b);
  cr_assert(wait_flag(&b->started, 1, 5.0), "child did not start");
  pid_t pid = parc_proc_pid(p);
  double t0 = now_s();
  parc_proc_free(p);
  /* wrong: waiting for the process to end by itself (HOLD_S) */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "parc_proc_free of a running process");
  /* reaped: not even a zombie is left */
  errno = 0;
  cr_assert(kill(pid, 0) != 0 && errno == ESRCH,
            "pid %d still exists (alive %d)", pid, lc_pid_alive(pid));
  int zombies = 0;
  ASSERT_I64(lc_children(&zombies), 0, "children after free");
  ASSERT_I64(zombies, 0, "zombies after free");
  parc_shm_free(b);
}

static int quick(void *arg) {
  (void)arg;
  return 1;
}

Test(proc, free_of_an_ended_unjoined_process_reaps_it) {
  parc_proc *p = proc_new(quick, NULL, 0);
  pid_t pid = parc_proc_pid(p);
  double end = now_s() + 5.0;
  while (lc_pid_alive(pid) && now_s() < end) sleep_s(0.005);
  cr_assert(!lc_pid_alive(pid), "the child did not end");
  parc_proc_free(p);
  errno = 0;
  cr_assert(kill(pid, 0) != 0 && errno == ESRCH, "pid %d left as a zombie",
            pid);
}

typedef struct qarg {
  parc_queue *q;
  uint32_t base;
} qarg;

static int put_three(void *arg) {
  qarg *a = arg;
  for (uint32_t i = 0; i < 3; i++) {
    uint32_t v = a->base + i;
    int rc = parc_queue_put(a->q, &v, 4, 5.0);
    if (rc)
      return rc_code(rc);
  }
  return 0;
}

Test(proc, started_processes_share_channels_made_before) {
  parc_queue *q = NULL;
  ASSERT_RC(parc_queue_create(&q, 4096, 16, PARC_SHARED), 0);
  parc_proc *p[4];
  for (uint32_t i = 0; i < 4; i++) {
    qarg a = {q, 100 * i};
    p[i] = proc_new(put_three, &a, sizeof a);
  }
  uint32_t sum = 0;
  for (int i = 0; i < 12; i++) {
    uint32_t v;
    size_t len;
    ASSERT_RC(parc_queue_get(q, &v, 4, &len, 5.0), 0);
    sum += v;
  }
  ASSERT_I64(sum, 3 * (0 + 100 + 200 + 300) + 4 * (0 + 1 + 2),
             "sum of the 12 messages");
  for (int i = 0; i < 4; i++) {
    parc_proc_status st = join_ok(p[i], 5.0);
    ASSERT_EXITED(st, 0);
    parc_proc_free(p[i]);
  }
  parc_queue_destroy(q);
}

/* ------------------------------------------------------------ threads */

static int thread_ret(void *arg) {
  int *v = arg;
  int r = *v;
  *v = r + 1000; /* arg is not copied: the caller sees this */
  return r;
}

static parc_thread *thread_new(parc_proc_fn fn, void *arg) {
  parc_thread *t = NULL;
  int rc = parc_thread_start(&t, fn, arg);
  cr_assert_eq(rc, 0, "parc_thread_start: got %d (%s)", rc, errname(rc));
  cr_assert_not_null(t);
  return t;
}

Test(proc, thread_join_returns_fn_return_and_shares_arg) {
  int v = 42;
  parc_thread *t = thread_new(thread_ret, &v);
  int rc = -1;
  ASSERT_RC(parc_thread_join(t, &rc, 5.0), 0);
  ASSERT_I64(rc, 42, "fn's return");
  ASSERT_I64(v, 1042, "arg as the thread left it");
}

Test(proc, many_threads_each_return_their_own_value) {
  enum { N = 32 };
  int v[N];
  parc_thread *t[N];
  for (int i = 0; i < N; i++) {
    v[i] = i * 7 - 50;
    t[i] = thread_new(thread_ret, &v[i]);
  }
  for (int i = N - 1; i >= 0; i--) {
    int rc = 12345;
    ASSERT_RC(parc_thread_join(t[i], &rc, 5.0), 0);
    ASSERT_I64(rc, i * 7 - 50, "thread %d", i);
  }
}

static int wait_release(void *arg) {
  pbox *b = arg;
  atomic_store(&b->started, 1);
  return wait_flag(&b->release, 1, HOLD_S) ? 77 : -1;
}

Test(proc, thread_join_times_out_then_succeeds_later) {
  pbox *b = shm_new(sizeof *b);
  parc_thread *t = thread_new(wait_release, b);
  int rc = 0;
  /* 0 does not wait: EAGAIN by the channels' convention; the thread
   * comment says ETIMEDOUT for "still running" -- either is fine here */
  int r0 = parc_thread_join(t, &rc, 0);
  cr_assert(r0 == PARC_EAGAIN || r0 == PARC_ETIMEDOUT, "join(0): got %d (%s)",
            r0, errname(r0));
  double t0 = now_s();
  ASSERT_RC(parc_thread_join(t, &rc, 0.2), PARC_ETIMEDOUT);
  /* the thread runs until the release, HOLD_S at most */
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S,
                "parc_thread_join(0.2 s) of a running thread");
  atomic_store(&b->release, 1);
  t0 = now_s();
  ASSERT_RC(parc_thread_join(t, &rc, HOLD_S), 0);
  /* wrong: not woken by the end, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "parc_thread_join after the release");
  ASSERT_I64(rc, 77, "fn's return");
  parc_shm_free(b);
}

Test(proc, thread_start_rejects_a_null_function) {
  parc_thread *t = NULL;
  ASSERT_RC(parc_thread_start(&t, NULL, NULL), PARC_EINVAL);
}

/* ------------------------------------------------------------ leaks */

static void proc_cycle(int i) {
  static const int sigs[] = {SIGKILL, SIGSEGV};
  parc_proc *p;
  if (i % 5 == 4) {
    p = proc_new(raise_arg, &sigs[i & 1], sizeof sigs[0]);
    parc_proc_status st = join_ok(p, 5.0);
    ASSERT_KILLED(st, sigs[i & 1]);
  } else if (i % 5 == 3) {
    p = proc_new(exit_7, NULL, 0);
    parc_proc_status st = join_ok(p, 5.0);
    ASSERT_EXITED(st, 7);
  } else {
    p = proc_new(return_arg, &i, sizeof i);
    parc_proc_status st = join_ok(p, 5.0);
    ASSERT_EXITED(st, i & 0xff);
  }
  parc_proc_free(p);
}

Test(proc, fifty_processes_leave_nothing_behind) {
  for (int i = 0; i < 3; i++) proc_cycle(i);
  chan_snap before, after;
  snap_take(&before);
  for (int i = 0; i < 50; i++) proc_cycle(i);
  /* and some freed while still running */
  pbox *b = shm_new(sizeof *b);
  for (int i = 0; i < 5; i++) {
    atomic_store(&b->started, 0);
    parc_proc *p = proc_new(sleeper, &b, sizeof b);
    cr_assert(wait_flag(&b->started, 1, 5.0), "sleeper %d did not start", i);
    parc_proc_free(p);
  }
  parc_shm_free(b);
  snap_take(&after);
  snap_check_same(&before, &after, "50 processes");
}

Test(proc, hundred_threads_leave_nothing_behind) {
  int v = 0;
  for (int i = 0; i < 3; i++) {
    int rc;
    ASSERT_RC(parc_thread_join(thread_new(thread_ret, &v), &rc, 5.0), 0);
  }
  chan_snap before, after;
  snap_take(&before);
  for (int i = 0; i < 100; i++) {
    int rc;
    v = i;
    ASSERT_RC(parc_thread_join(thread_new(thread_ret, &v), &rc, 5.0), 0);
    ASSERT_I64(rc, i, "thread %d", i);
  }
  snap_take(&after);
  snap_check_same(&before, &after, "100 threads");
}
