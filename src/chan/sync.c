/* sync.c -- locks, semaphores and barriers, between threads or processes.
 *
 * A parc_lock is a robust mutex (process-shared with PARC_SHARED): when
 * its holder dies, the kernel marks it and the next acquirer is told
 * (PARC_EOWNERDEAD) instead of waiting forever. A semaphore is a POSIX
 * semaphore; a barrier is a robust mutex, a condition variable on the
 * monotonic clock and a generation count. Each object lives wholly in the
 * memory parc__obj_alloc gives, so with PARC_SHARED a process forked later
 * uses it through the same pointer.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include "chan/chan.h"
#include "parc.h"
#include "sys/sys.h"

struct parc_lock {
  pthread_mutex_t m;
  _Atomic int suspect; /* held after its owner died, not yet consistent */
  _Atomic int broken;  /* released while suspect: unusable for good */
  int shared;
  int owner; /* the creator's pid (see parc__foreign) */
};

struct parc_sem {
  sem_t s;
  int shared;
  int owner;
};

struct parc_barrier {
  pthread_mutex_t m;
  pthread_cond_t cv;
  unsigned parties, arrived;
  uint64_t generation;
  int shared;
  int owner;
};

/* ---------------------------------------------------------------- mutex */

int parc__mutex_init(pthread_mutex_t *m, int shared) {
  pthread_mutexattr_t a;
  int e = parc__fault("pthread_mutexattr_init", ENOMEM)
              ? ENOMEM
              : pthread_mutexattr_init(&a);
  if (e)
    return parc__sys_fail("pthread_mutexattr_init", e);
  const char *call = "pthread_mutexattr_setrobust";
  e = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (e == 0 && shared) {
    call = "pthread_mutexattr_setpshared";
    e = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  }
  if (e == 0) {
    call = "pthread_mutex_init";
    e = parc__fault(call, ENOMEM) ? ENOMEM : pthread_mutex_init(m, &a);
  }
  pthread_mutexattr_destroy(&a);
  return e ? parc__sys_fail(call, e) : 0;
}

/* Blocking waits on a robust mutex go in slices of SLICE_S, for three
 * reasons. Between slices a waiter can see that the lock has broken (see
 * parc_lock_acquire). A waiter that an unlock woke and that is killed before it takes
 * the lock takes the wake-up with it (glibc's robust mutexes), leaving the
 * others asleep on a free lock: a slice bounds that stall. And each slice
 * is a pthread_mutex_timedlock, which ThreadSanitizer understands (it does
 * not know pthread_mutex_clocklock); its realtime deadline is a fraction of
 * a second away, so a clock step hardly matters. */
#define SLICE_S PARC__LOCK_SLICE_S /* policy.h */

static int mutex_lock_once(pthread_mutex_t *m, double timeout,
                           const _Atomic int *give_up) {
  int rc = pthread_mutex_trylock(m); /* free: no clock, no slices */
  if (rc != EBUSY || timeout == 0)
    return rc;
  uint64_t deadline = parc__deadline(timeout);
  for (;;) {
    if (give_up && atomic_load(give_up))
      return ENOTRECOVERABLE;
    double slice = SLICE_S;
    if (deadline != PARC__FOREVER) {
      uint64_t now = parc__now_ns();
      if (now >= deadline)
        return ETIMEDOUT;
      double left = (double)(deadline - now) / 1e9;
      slice = left < SLICE_S ? left : SLICE_S;
    }
    struct timespec ts;
    parc__realtime_in(slice, &ts);
    rc = pthread_mutex_timedlock(m, &ts);
    if (rc != ETIMEDOUT)
      return rc;
  }
}

/* Locks with the library's timeout convention; errno-style results mapped
 * to PARC_E*: EOWNERDEAD means the caller holds it, state suspect. */
int parc__mutex_lock(pthread_mutex_t *m, double timeout,
                     const _Atomic int *give_up) {
  int rc = mutex_lock_once(m, timeout, give_up);
  switch (rc) {
  case 0: return 0;
  case EOWNERDEAD: return PARC_EOWNERDEAD;
  case ENOTRECOVERABLE: return PARC_EBROKEN;
  case EBUSY: return PARC_EAGAIN;
  case ETIMEDOUT: return PARC_ETIMEDOUT;
  default: return parc__sys_fail("pthread_mutex_timedlock", rc);
  }
}

/* ---------------------------------------------------------------- lock */

int parc_lock_create(parc_lock **out, int flags) {
  if (!out)
    return PARC_EINVAL;
  int shared = (flags & PARC_SHARED) != 0;
  parc_lock *l = parc__obj_alloc(sizeof *l, shared);
  if (!l)
    return parc__obj_alloc_error(shared);
  l->shared = shared;
  l->owner = parc__pid();
  int rc = parc__mutex_init(&l->m, shared);
  if (rc != 0) {
    parc__obj_free(l, shared);
    return rc;
  }
  *out = l;
  return 0;
}

/* glibc reports a robust mutex left unrecoverable only to trylock: a
 * blocking or timed lock on it waits forever. So the lock keeps that state
 * itself (`broken`), and the sliced wait of parc__mutex_lock gives up when
 * it is set, so an acquire already waiting when the lock breaks hears of
 * it too. */
int parc_lock_acquire(parc_lock *l, double timeout) {
  if (!l)
    return PARC_EINVAL;
  if (parc__foreign(l->shared, l->owner))
    return PARC_ENOTSHARED;
  if (atomic_load(&l->broken))
    return PARC_EBROKEN;
  int rc = parc__mutex_lock(&l->m, timeout, &l->broken);
  if (rc == PARC_EOWNERDEAD)
    atomic_store(&l->suspect, 1);
  if (rc == PARC_EBROKEN)
    atomic_store(&l->broken, 1);
  return rc;
}

int parc_lock_consistent(parc_lock *l) {
  if (l && parc__foreign(l->shared, l->owner))
    return PARC_ENOTSHARED;
  if (!l || pthread_mutex_consistent(&l->m) != 0)
    return PARC_EINVAL;
  atomic_store(&l->suspect, 0);
  return 0;
}

int parc_lock_release(parc_lock *l) {
  if (!l)
    return PARC_EINVAL;
  if (parc__foreign(l->shared, l->owner))
    return PARC_ENOTSHARED;
  if (atomic_exchange(&l->suspect, 0))
    atomic_store(&l->broken, 1); /* before anyone can take it again */
  return pthread_mutex_unlock(&l->m) == 0 ? 0 : PARC_EINVAL;
}

/* Shared objects are only unmapped (parc__obj_free): other processes may
 * still use them, and their mutexes, conditions and semaphores hold no
 * resource to release (Linux). */
void parc_lock_destroy(parc_lock *l) {
  if (!l)
    return;
  if (!l->shared)
    pthread_mutex_destroy(&l->m);
  parc__obj_free(l, l->shared);
}

/* ---------------------------------------------------------------- sem */

int parc_sem_create(parc_sem **out, unsigned value, int flags) {
  if (!out || value > SEM_VALUE_MAX)
    return PARC_EINVAL;
  int shared = (flags & PARC_SHARED) != 0;
  parc_sem *s = parc__obj_alloc(sizeof *s, shared);
  if (!s)
    return parc__obj_alloc_error(shared);
  s->shared = shared;
  s->owner = parc__pid();
  if (parc__fault("sem_init", ENOSYS) || sem_init(&s->s, shared, value) != 0) {
    int rc = parc__sys_fail("sem_init", errno);
    parc__obj_free(s, shared);
    return rc;
  }
  *out = s;
  return 0;
}

/* Timed waits go in slices of sem_timedwait against a near realtime
 * deadline (ThreadSanitizer knows it; it does not know sem_clockwait). */
int parc_sem_wait(parc_sem *s, double timeout) {
  if (!s)
    return PARC_EINVAL;
  if (parc__foreign(s->shared, s->owner))
    return PARC_ENOTSHARED;
  uint64_t deadline = parc__deadline(timeout);
  for (;;) {
    int rc;
    if (timeout == 0) {
      rc = sem_trywait(&s->s);
    } else if (timeout < 0) {
      rc = sem_wait(&s->s);
    } else {
      uint64_t now = parc__now_ns();
      if (now >= deadline)
        return PARC_ETIMEDOUT;
      double left = (double)(deadline - now) / 1e9;
      struct timespec ts;
      parc__realtime_in(left < SLICE_S ? left : SLICE_S, &ts);
      rc = sem_timedwait(&s->s, &ts);
      if (rc != 0 && errno == ETIMEDOUT)
        continue; /* next slice, or the deadline above */
    }
    if (rc == 0)
      return 0;
    if (errno == EINTR)
      continue;
    return errno == EAGAIN ? PARC_EAGAIN : parc__sys_fail("sem_wait", errno);
  }
}

int parc_sem_value(parc_sem *s, unsigned *value) {
  if (!s || !value)
    return PARC_EINVAL;
  if (parc__foreign(s->shared, s->owner))
    return PARC_ENOTSHARED;
  int v = 0;
  if (sem_getvalue(&s->s, &v) != 0)
    return parc__sys_fail("sem_getvalue", errno);
  *value = v > 0 ? (unsigned)v : 0;
  return 0;
}

int parc_sem_post(parc_sem *s) {
  if (!s)
    return PARC_EINVAL;
  if (parc__foreign(s->shared, s->owner))
    return PARC_ENOTSHARED;
  if (sem_post(&s->s) == 0)
    return 0;
  return errno == EOVERFLOW ? PARC_EINVAL : parc__sys_fail("sem_post", errno);
}

void parc_sem_destroy(parc_sem *s) {
  if (!s)
    return;
  if (!s->shared)
    sem_destroy(&s->s);
  parc__obj_free(s, s->shared);
}

/* ---------------------------------------------------------------- barrier */

int parc_barrier_create(parc_barrier **out, unsigned parties, int flags) {
  if (!out || parties == 0)
    return PARC_EINVAL;
  int shared = (flags & PARC_SHARED) != 0;
  parc_barrier *b = parc__obj_alloc(sizeof *b, shared);
  if (!b)
    return parc__obj_alloc_error(shared);
  b->shared = shared;
  b->owner = parc__pid();
  b->parties = parties;
  int rc = parc__cond_init(&b->cv, shared);
  if (rc == 0 && (rc = parc__mutex_init(&b->m, shared)) != 0)
    pthread_cond_destroy(&b->cv);
  if (rc != 0) {
    parc__obj_free(b, shared);
    return rc;
  }
  *out = b;
  return 0;
}

/* A party that died inside the barrier's lock left only counters, which
 * are consistent at every instant it could die: take the lock over. */
static int barrier_lock(parc_barrier *b) {
  int rc = parc__mutex_lock(&b->m, -1, NULL);
  if (rc == PARC_EOWNERDEAD) {
    pthread_mutex_consistent(&b->m);
    rc = 0;
  }
  return rc;
}

int parc_barrier_wait(parc_barrier *b, double timeout) {
  if (!b)
    return PARC_EINVAL;
  if (parc__foreign(b->shared, b->owner))
    return PARC_ENOTSHARED;
  struct timespec ts;
  if (timeout > 0)
    parc__abs_time(timeout, &ts);
  int rc = barrier_lock(b);
  if (rc != 0)
    return rc;
  uint64_t gen = b->generation;
  if (++b->arrived == b->parties) { /* the last one opens the round */
    b->arrived = 0;
    b->generation++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->m);
    return 0;
  }
  if (timeout == 0) { /* would block: withdraw */
    b->arrived--;
    pthread_mutex_unlock(&b->m);
    return PARC_EAGAIN;
  }
  while (gen == b->generation) {
    int w = timeout < 0 ? pthread_cond_wait(&b->cv, &b->m)
                        : pthread_cond_timedwait(&b->cv, &b->m, &ts);
    if (w == EOWNERDEAD)
      pthread_mutex_consistent(&b->m);
    if (w == ETIMEDOUT && gen == b->generation) {
      b->arrived--; /* gives up: the round still needs all parties */
      pthread_mutex_unlock(&b->m);
      return PARC_ETIMEDOUT;
    }
  }
  pthread_mutex_unlock(&b->m);
  return 0;
}

void parc_barrier_destroy(parc_barrier *b) {
  if (!b)
    return;
  if (!b->shared) {
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->m);
  }
  parc__obj_free(b, b->shared);
}
