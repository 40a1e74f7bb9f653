/* manager.c -- the round, and who runs it.
 *
 * A round (parc__round) takes the backend's events, reads results, hands
 * out work and polices timeouts, under pool->lock. A caller that waits
 * runs rounds itself; the pool's manager thread runs them when no caller
 * does, and at destroy stops the workers once the work is done.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

void parc__worker_reset(parc_pool *p, unsigned w) {
  parc__worker *wk = &p->workers[w];
  wk->units_sent = 0;
  wk->units_received = 0;
  wk->fifo_head = 0;
  wk->fifo_len = 0;
  wk->kill_started = 0;
  wk->kill_err = 0;
  wk->held_since = 0;
  memset(&wk->tx, 0, sizeof wk->tx);
  free(wk->rx.buf);
  memset(&wk->rx, 0, sizeof wk->rx);
  wk->units_quota_left = p->opts.max_tasks_per_worker
                             ? p->opts.max_tasks_per_worker
                             : UINT64_MAX;
  wk->state = W_STARTING;
}

static void readiness(parc_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state == W_STARTING && atomic_load(&w->slot->state) == SLOT_READY)
      w->state = W_READY;
    if (w->state == W_READY && w->units_quota_left == 0 && parc__worker_idle(w))
      w->state = W_RETIRING; /* it leaves by itself; poll sees it go */
  }
}

static bool all_quiet(parc_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state == W_DEAD || (w->state == W_READY && !parc__worker_idle(w)))
      return false;
  }
  return true;
}

bool parc__busy(const parc_pool *p) {
  if (p->pending_head)
    return true;
  for (unsigned i = 0; i < p->nworkers; i++)
    if (p->workers[i].fifo_len > 0 || p->workers[i].tx.active)
      return true;
  return false;
}

bool parc__round(parc_pool *p, uint64_t *wake) {
  bool moved = false;
  p->be->poll(p);
  readiness(p);
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state == W_READY || w->state == W_RETIRING) {
      moved |= parc__collect(p, w);
      moved |= parc__tx_pump(w);
    }
  }
  uint64_t expiry = parc__expire_jobs(p, parc__now_ns());
  parc__fail_if_broken(p);
  parc__prune_pending(p);
  /* The worker that answered last is likely still spinning: it goes
   * first, so a lone future finds a worker that is awake. */
  for (unsigned k = 0; k < p->nworkers; k++)
    moved |= parc__dispatch(p, &p->workers[(p->warm + k) % p->nworkers]);
  /* After dispatch, so what was just handed out is timed too. */
  uint64_t overdue = parc__police(p, parc__now_ns());
  *wake = overdue < expiry ? overdue : expiry;
  return moved;
}

/* While callers drive, the manager sleeps on its own bell, waking every
 * PARC__STEP_ASIDE_NS to look: so results wake only the caller that waits
 * for them, and a caller that stops waiting leaves work in flight to the
 * manager within that time (at once, if it rings the bell). */
void *parc__manager_main(void *arg) {
  parc_pool *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    if (p->drivers > 0 && !p->stopping) {
      uint32_t seen = parc__event_seq(&p->manager_bell);
      pthread_mutex_unlock(&p->lock);
      parc__event_wait(&p->manager_bell, seen,
                       parc__now_ns() + PARC__STEP_ASIDE_NS, 0, 0);
      pthread_mutex_lock(&p->lock);
      continue;
    }
    uint32_t seen = parc__event_seq(p->doorbell);
    uint64_t wake;
    bool moved = parc__round(p, &wake);
    if (p->stopping && !p->pending_head && all_quiet(p))
      break;
    if (moved)
      continue;
    /* No spinning: the manager is the background, and on a busy machine
     * a spinning manager takes the core a worker or a caller needs. */
    pthread_mutex_unlock(&p->lock);
    parc__event_wait(p->doorbell, seen, wake, 0, p->be->shared);
    pthread_mutex_lock(&p->lock);
  }
  /* A worker still starting reads its STOP once its init is done. */
  for (unsigned i = 0; i < p->nworkers; i++)
    if (p->workers[i].state == W_READY || p->workers[i].state == W_STARTING)
      parc__send_stop(&p->workers[i]);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int parc__wait_ready(parc_pool *p) {
  for (;;) {
    uint32_t seen = parc__event_seq(p->doorbell);
    unsigned ready = 0;
    bool failed = false;
    pthread_mutex_lock(&p->lock);
    p->be->poll(p);
    for (unsigned i = 0; i < p->nworkers; i++) {
      uint32_t s = atomic_load(&p->workers[i].slot->state);
      int st = p->workers[i].state;
      if (st == W_GONE || st == W_DEAD || s == SLOT_INIT_FAILED)
        failed = true;
      else if (s == SLOT_READY)
        ready++;
    }
    pthread_mutex_unlock(&p->lock);
    if (failed)
      return PARC_EINIT;
    if (ready == p->nworkers)
      return 0;
    parc__event_wait(p->doorbell, seen, PARC__FOREVER, PARC__SPIN,
                     p->be->shared);
  }
}
