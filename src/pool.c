/* pool.c -- the front of every pool: create, destroy, cancel, drain, and
 * the waiting. Each call (jobs/) becomes a job handed to the scheduler
 * (sched/); a caller waiting for one drives the scheduler itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Puts j on the pending list and hands out what can start now. */
void parc__submit(parc_pool *p, parc__job *j) {
  pthread_mutex_lock(&p->lock);
  j->refs++;
  if (p->pending_tail)
    p->pending_tail->next_pending = j;
  else
    p->pending_head = j;
  p->pending_tail = j;
  p->npending++;
  if (j->deadline != PARC__FOREVER)
    p->timed_jobs++;
  uint64_t wake;
  if (p->broken || p->stopping)
    parc__job_abort(j, p->broken ? PARC_EBROKEN : PARC_ECANCELED);
  else
    parc__round(p, &wake);
  pthread_mutex_unlock(&p->lock);
}

/* A waiting caller spins before it sleeps while that pays (parc__spin:
 * on a busy machine a spinning caller only took the worker's CPU, a round
 * trip measured 120 us with the spin and 9 us without). */
static void wait_doorbell(parc_pool *p, uint32_t seen, uint64_t until) {
  parc__spin_try t = parc__spin_begin(&p->wait_spin);
  bool hit = parc__event_spin(p->doorbell, seen, t.rounds);
  parc__spin_end(&p->wait_spin, t, hit);
  if (!hit)
    parc__event_wait(p->doorbell, seen, until, 0, p->be->shared);
}

/* What a waiting call watches besides its own condition: the job it
 * reports progress of and may be told to stop. */
typedef struct watch {
  parc__job *job;
  parc_progress_fn progress;
  void *progress_arg;
  int (*should_stop)(void *arg);
  void *stop_arg;
} watch;

/* Every tick (PARC__PROGRESS_NS): progress, and whether the call must stop. */
static void tick(parc_pool *p, const watch *w) {
  parc__job *j = w->job;
  if (w->progress)
    w->progress(atomic_load(&j->units_done), j->units_total, w->progress_arg);
  if (w->should_stop && w->should_stop(w->stop_arg)) {
    pthread_mutex_lock(&p->lock);
    parc__job_abort(j, PARC_ECANCELED);
    pthread_mutex_unlock(&p->lock);
  }
}

/* Waits until done(arg), the deadline, or a parc_pool_wake, driving the
 * scheduler meanwhile (every waiting caller runs a round, one at a time
 * under the lock, then sleeps on the doorbell, which every result and
 * every finished job rings). Returns done(arg). */
static bool drive(parc_pool *p, parc__until_fn done, void *arg,
                  uint64_t deadline, const watch *w) {
  pthread_mutex_lock(&p->lock);
  p->drivers++;
  pthread_mutex_unlock(&p->lock);
  uint32_t wakes = atomic_load(&p->wakes);
  bool ticks = w && (w->progress || w->should_stop);
  uint64_t next_tick = ticks ? parc__now_ns() + PARC__PROGRESS_NS
                             : PARC__FOREVER;
  bool ok;
  for (;;) {
    uint32_t seen = parc__event_seq(p->doorbell);
    uint64_t wake = PARC__FOREVER;
    if ((ok = done(arg)))
      break;
    /* Always a round of our own, never a skipped one: the manager steps
     * aside while we drive, so results we leave unread wake no one. */
    pthread_mutex_lock(&p->lock);
    parc__round(p, &wake);
    pthread_mutex_unlock(&p->lock);
    if ((ok = done(arg)))
      break;
    uint64_t now = parc__now_ns();
    if (now >= deadline || atomic_load(&p->wakes) != wakes)
      break;
    if (now >= next_tick) {
      tick(p, w);
      next_tick = now + PARC__PROGRESS_NS;
      continue; /* a stop ended the job: look again */
    }
    uint64_t until = deadline < wake ? deadline : wake;
    if (next_tick < until)
      until = next_tick;
    wait_doorbell(p, seen, until);
  }
  pthread_mutex_lock(&p->lock);
  if (--p->drivers == 0 && parc__busy(p))
    parc__event_signal(&p->manager_bell, 0); /* hand the rest back */
  pthread_mutex_unlock(&p->lock);
  if (w && w->progress)
    w->progress(atomic_load(&w->job->units_done), w->job->units_total,
                w->progress_arg);
  return ok;
}

bool parc__wait_until(parc_pool *p, parc__until_fn done, void *arg,
                      uint64_t deadline) {
  return drive(p, done, arg, deadline, NULL);
}

/* The common tail of map, map-reduce and for: the scheduler enforces j's
 * deadline. */
int parc__run_job(parc_pool *p, parc__job *j, const parc_map_opts *o) {
  if (o->timeout > 0)
    j->deadline = parc__deadline(o->timeout);
  parc__submit(p, j);
  watch w = {j, o->progress, o->progress_arg, o->should_stop, o->stop_arg};
  while (!drive(p, parc__job_done, j, PARC__FOREVER, &w))
    ; /* woken by parc_pool_wake: the call goes on */
  return j->err;
}

void parc__drop_job(parc_pool *p, parc__job *j) {
  pthread_mutex_lock(&p->lock);
  parc__job_unref(j);
  pthread_mutex_unlock(&p->lock);
}

/* ---------------------------------------------------------------- pools */

const parc__backend *parc__mpi_backend;

static int check_opts(const parc_pool_opts *o) {
  if (o->backend == PARC_MPI && !parc__mpi_backend)
    return PARC_ENOTSUP; /* libparc_mpi not linked, or parc_mpi_init not called */
  if (o->backend != PARC_THREADS && o->backend != PARC_PROCESSES &&
      o->backend != PARC_MPI)
    return PARC_EINVAL;
  if (o->task_timeout < 0 || o->workers > 4096)
    return PARC_EINVAL;
  return 0;
}

int parc_pool_create(parc_pool **out, const parc_pool_opts *opts) {
  if (!out)
    return PARC_EINVAL;
  *out = NULL;
  parc_pool_opts o = {0};
  if (opts)
    o = *opts;
  int rc = check_opts(&o);
  if (rc != 0)
    return rc;
  parc_pool *p = parc__calloc(1, sizeof *p);
  if (!p)
    return PARC_ENOMEM;
  p->opts = o;
  p->be = o.backend == PARC_PROCESSES ? &parc__procs_backend
          : o.backend == PARC_MPI     ? parc__mpi_backend
                                      : &parc__threads_backend;
  p->nworkers = o.workers ? o.workers : parc__physical_cores();
  rc = p->be->count ? p->be->count(p, &p->nworkers) : 0;
  if (rc != 0) {
    free(p);
    return rc;
  }
  p->workers = parc__calloc(p->nworkers, sizeof *p->workers);
  rc = p->workers ? parc__mutex_init_plain(&p->lock) : PARC_ENOMEM;
  if (rc != 0) {
    if (p->be->count) /* stop() also frees what a count() left */
      p->be->stop(p, true);
    free(p->workers);
    free(p);
    return rc;
  }
  for (unsigned i = 0; i < p->nworkers; i++) {
    p->workers[i].id = i;
    parc__worker_reset(p, i);
  }
  parc__event_init(&p->manager_bell);
  p->shm_gen = UINT64_MAX; /* threads share every region; procs set it */
  parc__spin_init(&p->wait_spin);
  p->starting = true; /* a worker lost now is not replaced: create fails */
  rc = p->be->start(p);
  if (rc == 0) {
    rc = parc__thread_create(&p->manager, parc__manager_main, p);
    if (rc != 0)
      p->be->stop(p, true);
  }
  if (rc != 0) {
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
    return rc;
  }
  /* Only an init hook can fail a worker's start, so only then is it worth
   * waiting for all of them; without one, the first call finds them. */
  if (o.init)
    rc = parc__wait_ready(p);
  pthread_mutex_lock(&p->lock);
  p->starting = false;
  pthread_mutex_unlock(&p->lock);
  if (rc != 0) {
    parc_pool_destroy_ex(p, 1);
    return rc;
  }
  *out = p;
  return 0;
}

unsigned parc_pool_workers(const parc_pool *pool) {
  return pool ? pool->nworkers : 0;
}

void parc_pool_destroy(parc_pool *pool) { parc_pool_destroy_ex(pool, 0); }

/* Lock held. What parc_pool_cancel and destroy share. */
static void cancel_all(parc_pool *p, int cancel_running) {
  for (parc__job *j = p->pending_head; j; j = j->next_pending)
    if (cancel_running || parc__job_queued(p, j))
      parc__job_abort(j, PARC_ECANCELED);
  if (cancel_running)
    for (unsigned i = 0; i < p->nworkers; i++)
      if (p->workers[i].fifo_len > 0)
        parc__kill_for(p, i, PARC_ECANCELED, true);
}

void parc_pool_cancel(parc_pool *p, int cancel_running) {
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  cancel_all(p, cancel_running);
  pthread_mutex_unlock(&p->lock);
  parc__event_signal(p->doorbell, p->be->shared);
}

void parc_pool_wake(parc_pool *p) {
  if (!p)
    return;
  atomic_fetch_add(&p->wakes, 1);
  parc__event_signal(p->doorbell, p->be->shared);
}

static bool pool_idle(void *arg) {
  parc_pool *p = arg;
  pthread_mutex_lock(&p->lock);
  bool idle = !parc__busy(p);
  pthread_mutex_unlock(&p->lock);
  return idle;
}

int parc_pool_drain(parc_pool *p, double timeout) {
  if (!p)
    return PARC_EINVAL;
  uint64_t deadline = timeout == 0 ? parc__now_ns() : parc__deadline(timeout);
  while (!drive(p, pool_idle, p, deadline, NULL))
    if (parc__now_ns() >= deadline)
      return PARC_ETIMEDOUT; /* (else woken: go on waiting) */
  return 0;
}

void parc_pool_destroy_ex(parc_pool *p, int cancel_running) {
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  p->stopping = true;
  cancel_all(p, cancel_running);
  pthread_mutex_unlock(&p->lock);
  parc__event_signal(p->doorbell, p->be->shared);
  parc__event_signal(&p->manager_bell, 0);
  pthread_join(p->manager, NULL);
  p->be->stop(p, cancel_running != 0);
  /* Every future is finished now; detach the ones their owners still hold. */
  while (p->futures) {
    parc__job *j = p->futures;
    p->futures = j->next_future;
    j->pool = NULL;
  }
  while (p->pending_head) {
    parc__job *j = p->pending_head;
    p->pending_head = j->next_pending;
    parc__job_unref(j);
  }
  pthread_mutex_destroy(&p->lock);
  free(p->workers);
  free(p);
}
