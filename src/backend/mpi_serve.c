/* mpi_serve.c -- the MPI backend on ranks 1..N-1: what parc_pool_create
 * does there until rank 0 destroys its pool.
 *
 * The rank runs `count` worker threads (the thread backend's worker loop,
 * parc__worker_main, on lanes of its own) and the calling thread is the
 * courier: batches from rank 0 go into the workers' lanes, with their
 * functions found in this process (a function that is not found is
 * replaced by one that fails with PARC_ENOTSUP, so the batch still gives
 * its results in order); the lanes' result bytes go to rank 0 as they
 * come, and so do the workers' slot states (ready, init failed, exited).
 *
 * ABANDON (rank 0 killed the worker: a canceled or overdue unit): the
 * thread is left to finish its task, its lanes closed, and joined at the
 * end. SPAWN: a new thread on fresh lanes, with the epoch rank 0 gave.
 * BYE: every lane is closed, every thread joined (a task that never
 * returns keeps the rank here, as it keeps the thread backend's destroy),
 * FIN goes to rank 0 and the call returns PARC_ESERVED.
 *
 * A task's question (parc_task_ask) waits in the courier's list until the
 * courier sends it; rank 0 answers it (mpi.c) and the answer, named by
 * the question's id, settles it. At BYE every question still waiting is
 * settled with PARC_ECANCELED, before the threads are joined.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/mpi_int.h"

typedef struct rworker {
  pthread_t th;
  bool running; /* a thread is on this slot, not yet joined */
  void *cell;
  uint32_t epoch;
  uint32_t sent_state; /* last slot state told to rank 0 */
  mpi_fifo tx;         /* batch bytes waiting for room in the lane */
} rworker;

typedef struct rgone {
  pthread_t th;
  void *cell;
  struct rgone *next;
} rgone;

typedef struct serve {
  parc_pool *p;
  mpi_courier *c;
  unsigned base; /* this rank's first worker in the pool */
  rworker *w;
  rgone *gone;
  bool bye;
} serve;

static int missing_task(const void *in, void *out, void *ctx) {
  (void)in, (void)out, (void)ctx;
  return PARC_ENOTSUP;
}

static int missing_combine(void *acc, const void *item, void *ctx) {
  (void)acc, (void)item, (void)ctx;
  return PARC_ENOTSUP;
}

static int missing_body(int64_t b, int64_t e, void *ctx) {
  (void)b, (void)e, (void)ctx;
  return PARC_ENOTSUP;
}

/* A thread on slot k's fresh lanes; on failure its slot says so. */
static void start_worker(serve *sv, unsigned k) {
  parc_pool *p = sv->p;
  rworker *w = &sv->w[k];
  if (!w->cell)
    w->cell = parc__aligned_alloc(64, parc__cell_size());
  if (!w->cell)
    return; /* rank 0 hears nothing and the worker never starts: see poll */
  parc__cell_attach(p, k, w->cell);
  parc__cell_reset(p, k);
  w->sent_state = SLOT_EMPTY;
  int rc = parc__worker_thread(&w->th, p, sv->base + k, p->workers[k].slot);
  if (rc != 0) {
    atomic_store(&p->workers[k].slot->init_rc, rc);
    atomic_store(&p->workers[k].slot->state, SLOT_INIT_FAILED);
    return;
  }
  w->running = true;
}

/* The thread on slot k goes: joined if it has returned, else left to
 * finish (joined at the end) with its lanes closed. */
static void release_worker(serve *sv, unsigned k) {
  rworker *w = &sv->w[k];
  parc__mpi_fifo_free(&w->tx);
  if (!w->running)
    return;
  w->running = false;
  parc__slot *s = sv->p->workers[k].slot;
  uint32_t state = atomic_load(&s->state);
  rgone *g = parc__malloc(sizeof *g);
  if (state == SLOT_EXITED || state == SLOT_INIT_FAILED || !g) {
    parc__slot_close(s);
    pthread_join(w->th, NULL); /* returned, or returns once it sees abort */
    free(g);
    return;
  }
  parc__slot_close(s);
  *g = (rgone){w->th, w->cell, sv->gone};
  sv->gone = g;
  w->cell = NULL;
}

static bool post_head(serve *sv, unsigned k, int tag, uint32_t a, uint32_t b) {
  mpi_head *h = parc__calloc(1, sizeof *h);
  if (!h)
    return false;
  *h = (mpi_head){.local = k, .epoch = sv->w[k].epoch, .a = a, .b = b};
  return parc__mpi_post(sv->c, 0, tag, h, sizeof *h);
}

/* Result bytes to rank 0, as they are in the lane. */
static bool fwd_results(serve *sv, unsigned k) {
  parc__ring *r = sv->p->workers[k].slot->from_worker;
  size_t n = parc__ring_readable(r);
  if (n == 0)
    return false;
  unsigned char *buf = parc__malloc(sizeof(mpi_head) + n);
  if (!buf)
    return false;
  mpi_head h = {.local = k, .epoch = sv->w[k].epoch};
  memcpy(buf, &h, sizeof h);
  n = parc__ring_read_some(r, buf + sizeof h, n);
  parc__mpi_post(sv->c, 0, TAG_RESULT, buf, sizeof h + n);
  return true;
}

static bool tx_flush(serve *sv, unsigned k) {
  return parc__mpi_fifo_flush(&sv->w[k].tx, sv->p->workers[k].slot->to_worker);
}

/* ---------------------------------------------------------------- asks */

/* ask_lock held: k gets its outcome and leaves the list; its asker wakes
 * (and may return) once the lock is let go. */
static void settle(mpi_courier *c, mpi_ask *k, int rc) {
  for (mpi_ask **pp = &c->asks; *pp; pp = &(*pp)->next)
    if (*pp == k) {
      *pp = k->next;
      break;
    }
  k->rc = rc;
  k->settled = true;
  parc__event_signal(&k->done, 0);
}

int parc__mpi_ask(mpi_courier *c, unsigned local, const void *q, size_t qlen,
                  void *a, size_t acap, size_t *alen, uint64_t deadline) {
  mpi_ask k = {.local = local, .q = q, .qlen = qlen, .a = a, .acap = acap};
  parc__event_init(&k.done);
  pthread_mutex_lock(&c->ask_lock);
  if (c->asks_closed) {
    pthread_mutex_unlock(&c->ask_lock);
    return PARC_ECANCELED;
  }
  k.id = ++c->ask_ids;
  k.next = c->asks;
  c->asks = &k;
  pthread_mutex_unlock(&c->ask_lock);
  parc__event_signal(&c->bell, 0);
  for (;;) {
    uint32_t seen = parc__event_seq(&k.done);
    pthread_mutex_lock(&c->ask_lock);
    if (!k.settled && parc__now_ns() >= deadline)
      settle(c, &k, PARC_ETIMEDOUT); /* an answer that comes later is
                                        dropped: no question has its id */
    bool settled = k.settled;
    pthread_mutex_unlock(&c->ask_lock);
    if (settled)
      break;
    parc__event_wait(&k.done, seen, deadline, 0, 0);
  }
  *alen = k.alen; /* 0 unless an answer came */
  return k.rc;
}

/* The questions not yet sent, to rank 0. */
static bool send_asks(serve *sv) {
  mpi_courier *c = sv->c;
  bool moved = false;
  pthread_mutex_lock(&c->ask_lock);
  for (mpi_ask *k = c->asks, *next; k; k = next) {
    next = k->next;
    if (k->sent)
      continue;
    unsigned char *buf = parc__malloc(sizeof(mpi_head) + k->qlen);
    if (!buf)
      break; /* the next round tries again */
    mpi_head h = {.local = k->local,
                  .a = (uint32_t)k->acap, /* at most PARC_ASK_MAX */
                  .fn_off = k->id};
    memcpy(buf, &h, sizeof h);
    if (k->qlen)
      memcpy(buf + sizeof h, k->q, k->qlen);
    k->sent = moved = true;
    if (!parc__mpi_post(c, 0, TAG_ASK, buf, sizeof h + k->qlen))
      settle(c, k, PARC_ECANCELED); /* rank 0 is out of reach */
  }
  pthread_mutex_unlock(&c->ask_lock);
  return moved;
}

static void on_answer(serve *sv, const mpi_chunk *m) {
  mpi_courier *c = sv->c;
  mpi_head h;
  if (m->len < sizeof h)
    return;
  memcpy(&h, m->data, sizeof h);
  pthread_mutex_lock(&c->ask_lock);
  for (mpi_ask *k = c->asks; k; k = k->next) {
    if (k->id != h.fn_off || !k->sent)
      continue;
    size_t n = m->len - sizeof h;
    k->alen = n < k->acap ? n : k->acap;
    if (k->alen)
      memcpy(k->a, m->data + sizeof h, k->alen);
    settle(c, k, (int32_t)h.a);
    break;
  }
  pthread_mutex_unlock(&c->ask_lock);
}

/* BYE: no answer will come. */
static void close_asks(mpi_courier *c) {
  pthread_mutex_lock(&c->ask_lock);
  c->asks_closed = true;
  while (c->asks) settle(c, c->asks, PARC_ECANCELED);
  pthread_mutex_unlock(&c->ask_lock);
}

/* ---------------------------------------------------------------- batches */

/* A batch: its functions found here, then header and payload queued for
 * the worker's lane. */
static void on_batch(serve *sv, mpi_chunk *k) {
  mpi_head h;
  parc__msg_batch m;
  if (k->len < sizeof h + sizeof m)
    goto drop;
  memcpy(&h, k->data, sizeof h);
  memcpy(&m, k->data + sizeof h, sizeof m);
  size_t names = sizeof h + sizeof m, pay = names + h.a + h.b;
  if (h.local >= sv->p->nworkers || h.epoch != sv->w[h.local].epoch ||
      pay > k->len || !sv->w[h.local].running)
    goto drop;
  const char *na = (const char *)k->data + names;
  m.fn = parc__mpi_fn_decode(sv->c, na, h.a, h.fn_off);
  m.combine = parc__mpi_fn_decode(sv->c, na + h.a, h.b, h.combine_off);
  if (!m.fn)
    m.fn = m.kind == MSG_FOR ? (uint64_t)(uintptr_t)missing_body
                             : (uint64_t)(uintptr_t)missing_task;
  if (m.kind == MSG_REDUCE && !m.combine)
    m.combine = (uint64_t)(uintptr_t)missing_combine;
  /* The header goes where the names end, just before the payload. */
  memcpy(k->data + pay - sizeof m, &m, sizeof m);
  k->off = pay - sizeof m;
  parc__mpi_fifo_push(&sv->w[h.local].tx, k);
  tx_flush(sv, h.local);
  return;
drop:
  free(k);
}

static void on_ctrl(serve *sv, const mpi_head *h) {
  if (h->a == CTRL_BYE) {
    sv->bye = true;
    return;
  }
  if (h->local >= sv->p->nworkers)
    return;
  release_worker(sv, h->local);
  sv->w[h->local].epoch = h->epoch;
  if (h->a == CTRL_SPAWN)
    start_worker(sv, h->local);
}

static bool round_once(serve *sv) {
  bool moved = false;
  for (unsigned k = 0; k < sv->p->nworkers; k++) {
    rworker *w = &sv->w[k];
    if (!w->cell)
      continue;
    /* The state first: results written before it are read after it. */
    uint32_t state = atomic_load(&sv->p->workers[k].slot->state);
    moved |= fwd_results(sv, k);
    if (state != w->sent_state &&
        (state == SLOT_READY || state == SLOT_INIT_FAILED ||
         state == SLOT_EXITED) &&
        post_head(sv, k, TAG_STATE, state,
                  (uint32_t)atomic_load(&sv->p->workers[k].slot->init_rc))) {
      w->sent_state = state;
      moved = true;
    }
    moved |= tx_flush(sv, k);
  }
  moved |= send_asks(sv);
  moved |= parc__mpi_sends(sv->c);
  mpi_chunk *k;
  int tag, from;
  for (int i = 0; i < PARC__MPI_TAKE_MAX && !sv->bye &&
                  (k = parc__mpi_take(sv->c, 0, &tag, &from));
       i++) {
    moved = true;
    if (tag == TAG_BATCH) {
      on_batch(sv, k);
      continue;
    }
    if (tag == TAG_ANSWER)
      on_answer(sv, k);
    mpi_head h;
    if (tag == TAG_CTRL && k->len >= sizeof h) {
      memcpy(&h, k->data, sizeof h);
      on_ctrl(sv, &h);
    }
    free(k);
  }
  return moved;
}

int parc__mpi_serve(parc_pool *p, mpi_courier *c, unsigned base) {
  serve sv = {.p = p, .c = c, .base = base};
  p->doorbell = &c->bell; /* the workers ring the courier */
  sv.w = parc__calloc(p->nworkers, sizeof *sv.w);
  for (unsigned k = 0; sv.w && k < p->nworkers; k++) {
    sv.w[k].epoch = 1;
    start_worker(&sv, k);
  }
  while (sv.w && !sv.bye) {
    uint32_t seen = parc__event_seq(&c->bell);
    parc__mpi_nap(c, seen, round_once(&sv));
  }
  if (!sv.w) { /* no memory: wait for BYE only, serving nothing */
    mpi_chunk *k;
    int tag, from;
    while (!sv.bye) {
      uint32_t seen = parc__event_seq(&c->bell);
      k = parc__mpi_take(c, 0, &tag, &from);
      if (k && tag == TAG_CTRL && k->len >= sizeof(mpi_head) &&
          ((mpi_head *)(void *)k->data)->a == CTRL_BYE)
        sv.bye = true;
      free(k);
      parc__mpi_nap(c, seen, k != NULL);
    }
  }
  close_asks(c); /* a task waiting for an answer returns, to be joined */
  for (unsigned k = 0; sv.w && k < p->nworkers; k++) {
    release_worker(&sv, k); /* closes the lanes of a running one */
    free(sv.w[k].cell);
  }
  while (sv.gone) {
    rgone *g = sv.gone;
    sv.gone = g->next;
    pthread_join(g->th, NULL);
    free(g->cell);
    free(g);
  }
  mpi_head *fin = parc__calloc(1, sizeof *fin);
  if (fin) {
    fin->a = CTRL_FIN;
    parc__mpi_post(c, 0, TAG_CTRL, fin, sizeof *fin);
  }
  parc__mpi_drain(c);
  free(sv.w);
  return PARC_ESERVED;
}
