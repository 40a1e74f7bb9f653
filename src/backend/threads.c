/* threads.c -- the thread backend: each worker is a thread of this process.
 *
 * Each worker has its own cell (slot and lanes) in private memory. A thread
 * cannot be killed, so "kill" abandons it: its lanes are closed (abort),
 * its unit is settled at once, and a fresh thread with a fresh cell takes
 * its place. The abandoned thread keeps its cell until it returns; destroy
 * joins it, so a task that never returns keeps destroy waiting (docs say).
 */
#include <stdlib.h>
#include <string.h>

#include "pool_int.h"

typedef struct tworker {
  pthread_t th;
  bool running;
  void *cell;
  parc__job *job; /* kept for an abandoned thread left in place (ENOMEM) */
} tworker;

/* A thread left to finish its task. It keeps its cell, and the job of a
 * parallel for it may still be taking chunks from, until it is joined. */
typedef struct abandoned {
  pthread_t th;
  void *cell;
  parc__job *job; /* a reference, or NULL */
  struct abandoned *next;
} abandoned;

typedef struct tstate {
  parc__event doorbell;
  tworker *t;
  abandoned *gone;
} tstate;

static int t_spawn(parc_pool *p, unsigned w) {
  tstate *st = p->be_state;
  int rc = parc__worker_thread(&st->t[w].th, p, w, p->workers[w].slot);
  if (rc != 0)
    return rc;
  st->t[w].running = true;
  return 0;
}

/* No memset: parc__slot_reset sets every field, and a lane's arena is
 * written before it is read. Untouched pages cost nothing. */
static void *new_cell(void) { return parc__aligned_alloc(64, parc__cell_size()); }

static void t_stop(parc_pool *p, bool kill_all);

static int t_start(parc_pool *p) {
  tstate *st = parc__calloc(1, sizeof *st);
  if (!st)
    return PARC_ENOMEM;
  st->t = parc__calloc(p->nworkers, sizeof *st->t);
  if (!st->t) {
    free(st);
    return PARC_ENOMEM;
  }
  p->be_state = st;
  parc__event_init(&st->doorbell);
  p->doorbell = &st->doorbell;
  int rc = 0;
  for (unsigned w = 0; w < p->nworkers && rc == 0; w++) {
    st->t[w].cell = new_cell();
    if (!st->t[w].cell) {
      rc = PARC_ENOMEM;
      break;
    }
    parc__cell_attach(p, w, st->t[w].cell);
    parc__slot_reset(p, w);
    rc = t_spawn(p, w);
  }
  if (rc != 0)
    t_stop(p, true);
  return rc;
}

static void t_kill(parc_pool *p, unsigned w) {
  tstate *st = p->be_state;
  parc__worker *wk = &p->workers[w];
  abandoned *a = parc__malloc(sizeof *a);
  void *cell = new_cell();
  /* Lanes first: from here the thread begins no unit it could run twice. */
  parc__slot_close(wk->slot);
  parc__job *loop = NULL;
  if (wk->fifo_len > 0 && wk->fifo[wk->fifo_head].job->kind == JOB_LOOP) {
    loop = wk->fifo[wk->fifo_head].job; /* it may be in the loop still */
    loop->refs++;
  }
  parc__worker_settle(p, w, 0);
  if (!a || !cell) {
    /* No memory for a replacement: the slot stays with the abandoned
     * thread (poll joins it when it returns) and serves no more. */
    free(a);
    free(cell);
    st->t[w].job = loop; /* released once the thread is joined */
    wk->state = W_GONE;
    return;
  }
  *a = (abandoned){st->t[w].th, st->t[w].cell, loop, st->gone};
  st->gone = a;
  st->t[w].running = false;
  st->t[w].cell = cell;
  parc__cell_attach(p, w, cell);
  parc__slot_reset(p, w);
  if (p->stopping || t_spawn(p, w) != 0)
    wk->state = W_GONE;
}

/* Joins the abandoned threads that have returned; `wait`: all of them. */
static void reap_abandoned(tstate *st, bool wait) {
  abandoned **pp = &st->gone;
  while (*pp) {
    abandoned *a = *pp;
    if (wait ? pthread_join(a->th, NULL) != 0
             : pthread_tryjoin_np(a->th, NULL) != 0) {
      pp = &a->next;
      continue;
    }
    *pp = a->next;
    free(a->cell);
    if (a->job)
      parc__job_unref(a->job);
    free(a);
  }
}

static void t_poll(parc_pool *p) {
  tstate *st = p->be_state;
  reap_abandoned(st, false);
  for (unsigned w = 0; w < p->nworkers; w++) {
    if (!st->t[w].running)
      continue;
    uint32_t s = atomic_load(&p->workers[w].slot->state);
    if (s != SLOT_EXITED && s != SLOT_INIT_FAILED)
      continue;
    pthread_join(st->t[w].th, NULL);
    st->t[w].running = false;
    if (st->t[w].job) {
      parc__job_unref(st->t[w].job);
      st->t[w].job = NULL;
    }
    parc__worker_exited(p, w, s == SLOT_INIT_FAILED ? 1 << 8 : 0);
  }
}

static void t_stop(parc_pool *p, bool kill_all) {
  (void)kill_all; /* running units were abandoned by the manager already */
  tstate *st = p->be_state;
  for (unsigned w = 0; w < p->nworkers; w++) {
    if (st->t[w].running) {
      /* The manager has quiesced: a STOP already in the lane is still
       * read; a worker with nothing to read sees the abort and returns. */
      parc__slot_close(p->workers[w].slot);
      pthread_join(st->t[w].th, NULL);
    }
    if (st->t[w].job)
      parc__job_unref(st->t[w].job);
    free(st->t[w].cell);
  }
  reap_abandoned(st, true);
  free(st->t);
  free(st);
  p->be_state = NULL;
}

const parc__backend parc__threads_backend = {
    .name = "threads",
    .shared = false,
    .start = t_start,
    .spawn = t_spawn,
    .kill = t_kill,
    .poll = t_poll,
    .stop = t_stop,
};
