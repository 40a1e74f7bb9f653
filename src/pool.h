/* pool.h -- a pool, and what the calls on it (jobs/) share: submitting a
 * job and waiting for it.
 *
 * pool.c is the front of every pool: create, destroy, cancel, drain, and
 * the waiting (a waiting caller drives the scheduler itself). The calls
 * that make jobs live with their kind in jobs/.
 */
#ifndef PARC_POOL_H
#define PARC_POOL_H

#include <pthread.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "jobs/job.h"
#include "parc.h"
#include "sched/sched.h"
#include "sys/sys.h"

struct parc_pool {
  parc_pool_opts opts;
  const parc__backend *be;
  void *be_state;
  unsigned nworkers;
  parc__worker *workers;    /* nworkers, indexed by slot */
  parc__event *doorbell;    /* rung by workers, callers, finished jobs
                                (shared for processes) */
  parc__event manager_bell; /* the manager sleeps here while callers drive */
  unsigned drivers;         /* callers driving the scheduler as they wait */
  parc__spin wait_spin;     /* how long they spin before they sleep */
  _Atomic uint32_t wakes;   /* parc_pool_wake calls: waits end */
  unsigned warm;            /* the worker that last sent a result */

  pthread_mutex_t lock;
  parc__job *pending_head, *pending_tail;
  size_t npending;     /* jobs on the pending list ... */
  size_t nfinished;    /* ... of which finished, to be pruned */
  unsigned timed_jobs; /* pending jobs with a deadline */
  parc__job *futures;  /* futures not yet freed by their owners */
  uint64_t next_seq;
  bool starting, stopping, broken;
  uint64_t shm_gen; /* parc_shm_alloc regions its workers map */
  pthread_t manager;
};

/* Puts j on the pending list and hands out what can start now. */
void parc__submit(parc_pool *p, parc__job *j);
/* Waits until done(arg), the deadline, or a parc_pool_wake, driving the
 * scheduler meanwhile. Returns done(arg). */
typedef bool (*parc__until_fn)(void *arg);
bool parc__wait_until(parc_pool *p, parc__until_fn done, void *arg,
                      uint64_t deadline);
/* Submits j and runs it to its end, within o->timeout, reporting progress,
 * stopping when told to. Returns its error. */
int parc__run_job(parc_pool *p, parc__job *j, const parc_map_opts *o);
/* Drops the caller's reference. */
void parc__drop_job(parc_pool *p, parc__job *j);
static inline bool parc__job_done(void *arg) {
  return atomic_load_explicit(&((parc__job *)arg)->finished,
                              memory_order_acquire);
}
static inline bool parc__too_big(size_t n, size_t size) {
  return size != 0 && n > SIZE_MAX / size;
}

#endif
