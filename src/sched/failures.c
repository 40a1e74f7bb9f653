/* failures.c -- workers that die, overrun their task, or hold work they do
 * not begin.
 *
 * A backend reports what became of a worker (parc__worker_report); a
 * worker the scheduler gives up on, it kills (parc__kill_for). Either way
 * the worker's record is settled here, and only here: the results it sent
 * whole are kept, the unit it was running is retried or reported
 * (PARC_EWORKER, or what it was killed for), the rest goes back to its
 * jobs, and a replacement starts in its slot. A worker dies costing
 * exactly the unit it held.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Settles a worker that has ended: its finished results are kept, the
 * unit it was running is retried or reported, the rest is requeued.
 * `started`: how many units it began; 0: as its slot says. */
static void settle(parc_pool *p, unsigned id, const parc__worker_event *why,
                   uint64_t started) {
  parc__worker *w = &p->workers[id];
  /* Results that arrived whole are kept (a dead process's lane is still
   * readable); one cut short is dropped with its unit's fate below. */
  parc__collect(p, w);
  if (started == 0)
    started = atomic_load(&w->slot->started);
  bool running = started > w->units_received;
  for (unsigned i = 0; i < w->fifo_len; i++) {
    parc__batch *b = parc__fifo_at(w, i);
    parc__job *j = b->job;
    if (i == 0 && running && b->done < b->units) {
      j->ops->lost(p, w, b, started, why);
      b->done++;
      if (!j->ops->per_task)
        b->done = b->units;
    }
    j->ops->drop(p, w, b); /* what is not done goes back to j */
    parc__job_unref(j);
  }
  w->fifo_len = 0;
  w->tx.active = false;
  free(w->rx.buf); /* a bytes result cut short */
  memset(&w->rx, 0, sizeof w->rx);
  w->kill_err = 0;
}

/* Worker `id` has ended (`why`), or was abandoned (NULL): what it held is
 * settled, and a replacement starts in its slot -- unless the pool is
 * starting or stopping, or starts in this slot keep failing. */
static void worker_ended(parc_pool *p, unsigned id,
                         const parc__worker_event *why) {
  parc__worker *w = &p->workers[id];
  bool clean = why && why->what == PARC__WORKER_EXITED && why->code == 0;
  bool init_failed = w->state == W_STARTING;
  /* A lost worker's slot was not kept up: the unit first in its fifo is
   * taken as the one it was running, and charged. */
  uint64_t started = why && why->what == PARC__WORKER_LOST && w->fifo_len > 0
                         ? w->units_received + 1
                         : 0;
  settle(p, id, why, started);
  w->state = W_DEAD;
  w->pid = 0;
  w->spawn_failures = init_failed && !clean ? w->spawn_failures + 1 : 0;
  if (p->starting || p->stopping || w->spawn_failures >= 3) {
    w->state = W_GONE;
    return;
  }
  parc__worker_reset(p, id);
  if (p->be->spawn(p, id) != 0)
    w->state = W_GONE;
}

void parc__worker_report(parc_pool *p, unsigned id, parc__worker_event ev) {
  parc__worker *w = &p->workers[id];
  if (ev.what == PARC__WORKER_SPAWNED) {
    w->pid = ev.pid;
    return;
  }
  if (w->state == W_GONE || (ev.pid > 0 && ev.pid != w->pid))
    return; /* nothing there, or the end of an earlier life */
  worker_ended(p, id, &ev);
}

void parc__kill_for(parc_pool *p, unsigned id, int err, bool blame) {
  parc__worker *w = &p->workers[id];
  if (w->state != W_READY && w->state != W_RETIRING)
    return;
  /* UINT64_MAX matches no unit: the running one is requeued, not blamed */
  w->kill_started = blame ? atomic_load(&w->slot->started) : UINT64_MAX;
  w->kill_err = err;
  w->state = W_DEAD;
  /* An abandoned worker that reads its job itself (a thread in a parallel
   * for's loop) may read it until it returns: the backend holds it. */
  parc__job *pin = NULL;
  if (p->be->abandons && w->fifo_len > 0 &&
      parc__fifo_at(w, 0)->job->ops->reads_job) {
    pin = parc__fifo_at(w, 0)->job;
    pin->refs++;
  }
  p->be->kill(p, id, pin);
  if (p->be->abandons)
    worker_ended(p, id, NULL); /* gone now: settled at once */
}

/* The unit worker w is running now, if any: its batch and `started`. */
static parc__batch *running_unit(parc__worker *w, uint64_t *started,
                                 uint64_t *since) {
  parc__slot *s = w->slot;
  uint64_t s1 = atomic_load_explicit(&s->started, memory_order_acquire);
  uint64_t t = atomic_load_explicit(&s->task_start, memory_order_acquire);
  if (s1 != atomic_load_explicit(&s->started, memory_order_acquire) ||
      s1 <= w->units_received)
    return NULL;
  /* Walk the fifo to the (s1 - received)-th unit not yet reported. */
  uint64_t ahead = s1 - w->units_received - 1;
  for (unsigned i = 0; i < w->fifo_len; i++) {
    parc__batch *b = parc__fifo_at(w, i);
    uint64_t left = b->units - b->done;
    if (ahead < left) {
      *started = s1;
      *since = t;
      return ahead == 0 ? b : NULL; /* deeper: results are still unread */
    }
    ahead -= left;
  }
  return NULL;
}

/* Is w holding work it has not begun for `limit` or more? A worker that
 * is frozen between units (SIGSTOP, a cgroup freeze, a debugger) would
 * else keep its batches for ever: no unit of theirs starts, so none can
 * overrun. The time runs from the first round that sees w so, and starts
 * again whenever w begins or finishes a unit. Else lowers *wake to when it
 * could be so. */
static bool holds_unbegun(parc__worker *w, uint64_t now, uint64_t limit,
                          uint64_t *wake) {
  uint64_t started = atomic_load_explicit(&w->slot->started,
                                          memory_order_acquire);
  if (w->fifo_len == 0 || started != w->units_received) {
    w->held_since = 0;
    return false;
  }
  if (w->held_since == 0 || w->held_started != started) {
    w->held_since = now;
    w->held_started = started;
  }
  if (now - w->held_since >= limit)
    return true;
  if (w->held_since + limit < *wake)
    *wake = w->held_since + limit;
  return false;
}

/* Kills overdue tasks and the tasks of jobs that ended early, and takes
 * work back from workers that do not begin it; returns the earliest moment
 * something can next become overdue. */
uint64_t parc__police(parc_pool *p, uint64_t now) {
  uint64_t wake = PARC__FOREVER;
  uint64_t limit = p->opts.task_timeout > 0 && p->opts.task_timeout < 1e9
                       ? (uint64_t)(p->opts.task_timeout * 1e9)
                       : PARC__FOREVER; /* over 30 years: no limit */
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state != W_READY && w->state != W_RETIRING)
      continue;
    uint64_t started, since;
    parc__batch *b = running_unit(w, &started, &since);
    if (!b && limit != PARC__FOREVER && holds_unbegun(w, now, limit, &wake)) {
      /* Its batches go to the others, uncharged; a new worker takes its
       * place (a thread is abandoned, as for an overdue task). */
      parc__kill_for(p, i, PARC_ETIMEDOUT, false);
      continue;
    }
    if (b && b->job->aborted) {
      parc__kill_for(p, i, PARC_ECANCELED, true); /* its call ended */
    } else if (b && limit != PARC__FOREVER) {
      /* `since` may be after `now`: the unit began after we read the clock */
      if (since < now && now - since >= limit)
        parc__kill_for(p, i, PARC_ETIMEDOUT, true);
      else if (since + limit < wake)
        wake = since + limit;
    }
    /* A half-sent batch of a job that ended reads memory the caller may
     * free: the worker goes, so the lane can be dropped. (A job that ended
     * normally has nothing left to send.) */
    if (w->state == W_READY && w->tx.active && w->fifo_len > 0 &&
        atomic_load(&parc__fifo_at(w, w->fifo_len - 1)->job->finished))
      parc__kill_for(p, i, PARC_ECANCELED, false);
  }
  return wake;
}

/* Jobs whose whole-call deadline has passed end with PARC_ETIMEDOUT. */
uint64_t parc__expire_jobs(parc_pool *p, uint64_t now) {
  uint64_t wake = PARC__FOREVER;
  for (parc__job *j = p->timed_jobs ? p->pending_head : NULL; j;
       j = j->next_pending) {
    if (atomic_load(&j->finished) || j->deadline == PARC__FOREVER)
      continue;
    if (now >= j->deadline)
      parc__job_abort(j, PARC_ETIMEDOUT);
    else if (j->deadline < wake)
      wake = j->deadline;
  }
  return wake;
}

/* With no worker left to run anything, every pending unit fails. */
void parc__fail_if_broken(parc_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++)
    if (p->workers[i].state != W_GONE)
      return;
  p->broken = true;
  for (parc__job *j = p->pending_head; j; j = j->next_pending)
    if (!atomic_load(&j->finished))
      parc__job_abort(j, PARC_EBROKEN);
}
