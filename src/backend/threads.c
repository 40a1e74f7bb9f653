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

#include "pool.h"

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

/* No memset: parc__cell_reset sets every field, and a lane's arena is
 * written before it is read. Untouched pages cost nothing. */
static void *new_cell(void) {
  return parc__aligned_alloc(64, parc__cell_size());
}

/* A thread on slot w's cell, reset. A thread abandoned in place (no memory
 * to set it aside) keeps the slot: it serves no more. */
static int t_spawn(parc_pool *p, unsigned w) {
  tstate *st = p->be_state;
  tworker *t = &st->t[w];
  if (t->running)
    return PARC_ENOMEM;
  parc__cell_attach(p, w, t->cell);
  parc__cell_reset(p, w);
  int rc = parc__worker_thread(&t->th, p, w, p->workers[w].slot);
  if (rc != 0)
    return rc;
  t->running = true;
  return 0;
}

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
    rc = st->t[w].cell ? t_spawn(p, w) : PARC_ENOMEM;
  }
  if (rc != 0)
    t_stop(p, true);
  return rc;
}

/* The thread is set aside, with its cell and `pin`, until it returns; the
 * slot gets a fresh cell, which the next t_spawn attaches (the scheduler
 * still reads the old one as it settles the thread's units). */
static void t_kill(parc_pool *p, unsigned w, parc__job *pin) {
  tstate *st = p->be_state;
  tworker *t = &st->t[w];
  abandoned *a = parc__malloc(sizeof *a);
  void *cell = new_cell();
  /* Lanes first: from here the thread begins no unit it could run twice. */
  parc__slot_close(p->workers[w].slot);
  if (!a || !cell) {
    /* No memory for a replacement: the slot stays with the abandoned
     * thread (poll joins it when it returns), and t_spawn refuses it. */
    free(a);
    free(cell);
    t->job = pin; /* released once the thread is joined */
    return;
  }
  *a = (abandoned){t->th, t->cell, pin, st->gone};
  st->gone = a;
  t->running = false;
  t->cell = cell;
}

/* Joins the abandoned threads that have returned; `wait`: all of them. */
static void reap_abandoned(tstate *st, bool wait) {
  abandoned **pp = &st->gone;
  while (*pp) {
    abandoned *a = *pp;
    if (wait ? pthread_join(a->th, NULL) != 0 : !parc__thread_tryjoin(a->th)) {
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
    parc__worker_event ev = {.what = s == SLOT_INIT_FAILED
                                         ? PARC__WORKER_INIT_FAILED
                                         : PARC__WORKER_EXITED};
    parc__worker_report(p, w, ev);
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

/* The worker shares the caller's memory: it answers itself. */
static int t_ask(parc_pool *p, unsigned w, const void *q, size_t qlen, void *a,
                 size_t acap, size_t *alen, uint64_t deadline) {
  (void)w, (void)deadline;
  return parc__answer(p, q, qlen, a, acap, alen);
}

const parc__backend parc__threads_backend = {
    .name = "threads",
    .shared = false,
    .abandons = true,
    .start = t_start,
    .spawn = t_spawn,
    .kill = t_kill,
    .poll = t_poll,
    .stop = t_stop,
    .ask = t_ask,
};
