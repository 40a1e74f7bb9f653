/* chanutil.h -- helpers shared by the channel suites (queue, pipe, sync,
 * proc).
 *
 * - Children are made with plain fork() here, not parc_proc_start, so that a
 *   bug in src/proc.c cannot pass for a bug in a channel (test_proc.c tests
 *   parc_proc_* on its own). A child runs fn(arg) and _exits with its value;
 *   it never returns into Criterion. It dies with the test process
 *   (PR_SET_PDEATHSIG), so a failed or timed-out test leaves no orphan.
 * - Children report through parc_shm_alloc memory and their exit code; they
 *   never call cr_assert (that would report from the wrong process).
 * - Every wait has a deadline: a library bug fails a test, never hangs it.
 */
#ifndef PARC_CHANUTIL_H
#define PARC_CHANUTIL_H

#include "testutil.h"
#include "leakcheck.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

typedef int (*child_fn)(void *arg);

/* Forks a child that runs fn(arg) and _exits with its return value. */
static inline pid_t spawn_child(child_fn fn, void *arg) {
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(99); /* the parent is already gone */
    _exit(fn(arg) & 0xff);
  }
  return pid;
}

/* Waits for `pid` up to max_s seconds. Returns 1 and writes the wait status,
 * or 0 on timeout -- the child is then SIGKILLed and reaped. */
static inline int reap_child(pid_t pid, double max_s, int *status) {
  double end = now_s() + max_s;
  int st = 0;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) {
      if (status)
        *status = st;
      return 1;
    }
    if (w < 0 && errno != EINTR)
      return 0;
    if (now_s() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      if (status)
        *status = st;
      return 0;
    }
    sleep_s(0.001);
  }
}

/* Reaps a child that must exit 0 within max_s seconds; `what` names it. */
#define ASSERT_CHILD_OK(pid, max_s, what)                                      \
  do {                                                                         \
    int st_ = 0;                                                               \
    int ok_ = reap_child((pid), (max_s), &st_);                                \
    cr_assert(ok_, "%s (pid %d) did not end within %.1f s (killed)", (what),   \
              (int)(pid), (double)(max_s));                                    \
    cr_assert(WIFEXITED(st_) && WEXITSTATUS(st_) == 0,                         \
              "%s (pid %d) ended badly: %s %d", (what), (int)(pid),            \
              WIFEXITED(st_) ? "exit" : "signal",                              \
              WIFEXITED(st_) ? WEXITSTATUS(st_) : WTERMSIG(st_));              \
  } while (0)

/* A child exit code that names what went wrong (1..63 free for tests). */
static inline int rc_code(int rc) { return rc == 0 ? 0 : 64 + (-rc & 63); }

/* ------------------------------------------------------------ threads */

typedef struct tjob {
  pthread_t t;
  child_fn fn;
  void *arg;
  int rc;
} tjob;

static inline void *tjob_main(void *p) {
  tjob *j = p;
  j->rc = j->fn(j->arg);
  return NULL;
}

static inline void tjob_start(tjob *j, child_fn fn, void *arg) {
  j->fn = fn;
  j->arg = arg;
  j->rc = -1;
  int e = pthread_create(&j->t, NULL, tjob_main, j);
  cr_assert_eq(e, 0, "pthread_create: %s", strerror(e));
}

/* Joins with a deadline: 1 when the thread ended within max_s seconds. */
static inline int tjob_join(tjob *j, double max_s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + max_s;
  ts.tv_sec = (time_t)end;
  ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
  return pthread_timedjoin_np(j->t, NULL, &ts) == 0;
}

#define ASSERT_THREAD_OK(j, max_s, what)                                       \
  do {                                                                         \
    cr_assert(tjob_join((j), (max_s)), "%s did not end within %.1f s", (what), \
              (double)(max_s));                                                \
    cr_assert_eq((j)->rc, 0, "%s returned %d", (what), (j)->rc);               \
  } while (0)

/* ------------------------------------------------------------ senders stopped mid-message */

#include "chan/chan.h" /* parc__chan_piece_hook */

/* A sender of a large (pipelined) message stopped after its first piece,
 * through the library's test hook: it says so in `reached`, then dies by
 * SIGKILL (`die`) or waits until `release` is set (HOLD_S at most). With
 * `at_rewind` it stops instead where a queue consumer rewinds the ring (the
 * hook is called with 0 there). Lives in parc_shm_alloc memory when
 * processes share it. */
typedef struct piece_stop {
  _Atomic int reached;
  _Atomic int release;
  int die;
  int at_rewind;
} piece_stop;

static inline piece_stop **piece_stop_slot(void) {
  static piece_stop *ps;
  return &ps;
}

static inline void piece_stop_hook(size_t written) {
  piece_stop *ps = *piece_stop_slot();
  if ((written == 0) != (ps->at_rewind != 0) ||
      atomic_exchange(&ps->reached, 1))
    return; /* only the first stop */
  if (ps->die)
    raise(SIGKILL);
  wait_flag(&ps->release, 1, HOLD_S);
}

/* From now on, in this process, senders stop as `ps` says. */
static inline void stop_senders(piece_stop *ps) {
  *piece_stop_slot() = ps;
  parc__chan_piece_hook = piece_stop_hook;
}

/* ------------------------------------------------------------ timing */

/* ASSERT_WAITED, ASSERT_SOONER and HOLD_S are in testutil.h: a timed wait
 * is checked against its timeout (at least) and against what not keeping
 * it would cost (well under), never against an absolute bound. */

/* ------------------------------------------------------------ leaks */

/* What the process holds (leakcheck.h) plus the names in /dev/shm, which a
 * channel must never add: shared memory is memfd (Criterion's own bxfi_*
 * files are ignored by lc_shm_new_names, and another program's entries by
 * shm_new_names_ours, testutil.h). */
typedef struct chan_snap {
  lc_snapshot s;
  lc_names shm;
} chan_snap;

static inline void snap_take(chan_snap *c) {
  lc_take(&c->s);
  lc_shm_snapshot(&c->shm);
  cr_assert(c->s.fds >= 0 && c->s.maps > 0 && c->s.threads > 0,
            "cannot read /proc");
}

static inline void snap_check_same(const chan_snap *a, const chan_snap *b,
                                   const char *what) {
  ASSERT_I64(b->s.fds, a->s.fds, "%s: open fds", what);
  ASSERT_I64(b->s.children, a->s.children, "%s: child processes", what);
  ASSERT_I64(b->s.zombies, a->s.zombies, "%s: zombie children", what);
  ASSERT_I64(b->s.descendants, a->s.descendants, "%s: live descendants", what);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* a sanitizer's allocator maps memory as it goes */
  ASSERT_I64(b->s.maps, a->s.maps, "%s: lines of /proc/self/maps", what);
#endif
  ASSERT_I64(b->s.threads, a->s.threads, "%s: threads", what);
  char first[256] = "";
  int added = shm_new_names_ours(&a->shm, &b->shm, first);
  ASSERT_I64(added, 0, "%s: new entries in /dev/shm (first: %s)", what, first);
}

#endif /* PARC_CHANUTIL_H */
