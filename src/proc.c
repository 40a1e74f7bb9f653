/* proc.c -- a process or a thread started by hand, and joined with a
 * timeout: the "full control" counterparts of a pool.
 *
 * A process is watched through a pidfd, so joining with a timeout is a
 * poll, and reaping takes exactly this child (waitpid on its pid), never
 * another. A thread signals an event when its function returns, so joining
 * with a timeout needs no pthread_timedjoin.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <pthread.h>

#include "parc.h"
#include "sys/sys.h"

struct parc_proc {
  pid_t pid;
  int pidfd;
  bool reaped;
  parc_proc_status status;
};

struct parc_thread {
  pthread_t th;
  parc_proc_fn fn;
  void *arg;
  int rc;
  _Atomic int done;
  parc__event ended;
};

/* ---------------------------------------------------------------- process */

int parc_proc_start(parc_proc **out, parc_proc_fn fn, const void *arg,
                    size_t arg_size) {
  if (!out || !fn || (arg_size && !arg))
    return PARC_EINVAL;
  *out = NULL;
  parc_proc *p = parc__calloc(1, sizeof *p);
  void *copy = parc__malloc(arg_size ? arg_size : 1);
  if (!p || !copy) {
    free(p);
    free(copy);
    return PARC_ENOMEM;
  }
  if (arg_size)
    memcpy(copy, arg, arg_size);
  pid_t pid = parc__fork();
  if (pid == 0) {
    int rc = fn(copy);
    fflush(NULL);
    parc__exit_now(rc & 0xff);
  }
  free(copy);
  if (pid < 0) {
    free(p);
    return PARC_ESYS; /* reason noted by parc__fork */
  }
  p->pid = pid;
  p->pidfd = parc__pidfd_open(pid);
  *out = p;
  return 0;
}

static void decode(int wstatus, parc_proc_status *st) {
  memset(st, 0, sizeof *st);
  if (WIFEXITED(wstatus)) {
    st->exited = 1;
    st->exit_code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    st->signal = WTERMSIG(wstatus);
  }
}

/* Reaps the child if it has ended (block: wait for it). True if reaped. */
static bool reap(parc_proc *p, bool block) {
  if (p->reaped)
    return true;
  int wstatus;
  pid_t r = parc__wait_child(p->pid, &wstatus, block);
  if (r == p->pid) {
    decode(wstatus, &p->status);
    p->reaped = true;
  } else if (r < 0 && errno == ECHILD) {
    p->reaped = true; /* reaped elsewhere (SIGCHLD ignored?): status lost */
  }
  return p->reaped;
}

int parc_proc_join(parc_proc *p, parc_proc_status *status, double timeout) {
  if (!p)
    return PARC_EINVAL;
  if (!reap(p, false) && timeout != 0) {
    if (p->pidfd < 0) {
      reap(p, true); /* no pidfd: no timeout either */
    } else {
      struct pollfd pf = {p->pidfd, POLLIN, 0};
      uint64_t deadline = parc__deadline(timeout);
      while (!reap(p, false)) {
        if (deadline != PARC__FOREVER && parc__now_ns() >= deadline)
          break;
        parc__poll(&pf, 1, deadline); /* readable when the child has exited */
      }
    }
  }
  if (!p->reaped)
    return timeout == 0 ? PARC_EAGAIN : PARC_ETIMEDOUT;
  if (status)
    *status = p->status;
  return 0;
}

int parc_proc_pid(const parc_proc *p) { return p ? (int)p->pid : -1; }

int parc_proc_kill(parc_proc *p, int sig) {
  if (!p)
    return PARC_EINVAL;
  if (p->reaped)
    return PARC_EAGAIN; /* gone: its pid may belong to another process */
  return parc__kill(p->pid, sig) == 0 ? 0 : parc__sys_fail("kill", errno);
}

void parc_proc_free(parc_proc *p) {
  if (!p)
    return;
  if (!reap(p, false)) {
    parc__kill(p->pid, SIGKILL);
    reap(p, true);
  }
  parc__close(p->pidfd);
  free(p);
}

/* ---------------------------------------------------------------- thread */

static void *thread_main(void *arg) {
  parc_thread *t = arg;
  t->rc = t->fn(t->arg);
  atomic_store_explicit(&t->done, 1, memory_order_release);
  parc__event_signal(&t->ended, 0);
  return NULL;
}

int parc_thread_start(parc_thread **out, parc_proc_fn fn, void *arg) {
  if (!out || !fn)
    return PARC_EINVAL;
  parc_thread *t = parc__calloc(1, sizeof *t);
  if (!t)
    return PARC_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  parc__event_init(&t->ended);
  int rc = parc__thread_create(&t->th, thread_main, t);
  if (rc != 0) {
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int parc_thread_join(parc_thread *t, int *rc, double timeout) {
  if (!t)
    return PARC_EINVAL;
  uint64_t deadline = timeout == 0 ? parc__now_ns() : parc__deadline(timeout);
  for (;;) {
    uint32_t seen = parc__event_seq(&t->ended);
    if (atomic_load_explicit(&t->done, memory_order_acquire))
      break;
    if (parc__event_wait(&t->ended, seen, deadline, 0, 0) == PARC_ETIMEDOUT)
      return timeout == 0 ? PARC_EAGAIN : PARC_ETIMEDOUT;
  }
  pthread_join(t->th, NULL);
  if (rc)
    *rc = t->rc;
  free(t);
  return 0;
}
