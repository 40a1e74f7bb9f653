/* mpi.c -- the MPI backend, rank 0's side (see mpi_int.h for the shape).
 *
 * parc_pool_create is collective over MPI_COMM_WORLD: count() duplicates
 * the communicator (so a pool's messages never meet another's) and
 * gathers how many workers each serving rank runs. Rank 0 then gets an
 * ordinary pool whose worker w is thread `local` of rank `rank`; the other
 * ranks serve (mpi_serve.c) until rank 0 destroys the pool.
 *
 * Rank 0 makes every MPI call from its courier thread (so MPI needs
 * MPI_THREAD_SERIALIZED, not MULTIPLE). The courier owns the lanes of the
 * workers it is attached to; the manager detaches a worker (under
 * st->lock) before it settles or resets its lanes.
 *
 * Lock order: pool->lock, then st->lock. The courier takes only st->lock.
 *
 * A task's question (parc_task_ask, from a serving rank) is answered by
 * the courier with opts.answer, outside st->lock (it is the caller's
 * code), and the answer goes back to the asking rank. Once the pool is
 * closing, questions are dropped: the ranks settle theirs at BYE.
 *
 * A rank that is lost (an MPI call about it fails, which needs an MPI that
 * reports failures instead of ending the job) loses its workers: poll
 * reports each as lost: its running task is charged, the rest are retried
 * elsewhere, and no replacement starts on that rank.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/mpi_int.h"
#include "parc_mpi.h"

typedef struct mlink {
  int rank;
  unsigned local;
  uint32_t epoch;
  bool attached;       /* the courier moves its lanes */
  parc__msg_batch hdr; /* the batch being read from the lane */
  size_t hdr_got;
  unsigned char *msg; /* ... assembled as a message */
  size_t msg_len, msg_got;
  mpi_fifo rx; /* results waiting for room in the lane */
} mlink;

typedef struct mctl {
  int rank;
  uint32_t local, epoch, kind;
} mctl;

typedef struct mstate {
  mpi_courier c;
  unsigned *counts, *bases; /* per rank: workers, index of the first */
  parc__event doorbell;
  mlink *links; /* one per worker */
  void **cells;
  pthread_mutex_t lock; /* links, ctl, closing, asks */
  mpi_fifo asks;        /* questions to answer, the asking rank in head.b */
  mctl *ctl;            /* control messages to send */
  size_t nctl, ctl_cap;
  bool closing, kill_all, bye_sent;
  bool *fin; /* rank has closed */
  pthread_t courier;
  bool courier_started;
} mstate;

static bool mpi_ready(int *level) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin)
    return false;
  MPI_Query_thread(level);
  return true;
}

/* ---------------------------------------------------------------- courier */

/* A whole batch header is in: make its message. False: no memory now. */
static bool tx_begin(mstate *st, mlink *l) {
  parc__msg_batch m = l->hdr;
  mpi_fnref fn, comb;
  int rc = parc__mpi_fn_encode(&st->c, m.fn, &fn);
  if (rc == 0)
    rc = parc__mpi_fn_encode(&st->c, m.kind == MSG_REDUCE ? m.combine : 0,
                             &comb);
  if (rc != 0) /* not in any object: the rank fails its units, in order */
    fn = comb = (mpi_fnref){"", PARC__MPI_NO_FN};
  size_t pay = parc__mpi_payload(&m);
  size_t na = strlen(fn.name), nb = strlen(comb.name);
  l->msg_len = sizeof(mpi_head) + sizeof m + na + nb + pay;
  l->msg = parc__malloc(l->msg_len);
  if (!l->msg)
    return false; /* the next round tries again */
  mpi_head h = {.local = l->local,
                .epoch = l->epoch,
                .a = (uint32_t)na,
                .b = (uint32_t)nb,
                .fn_off = fn.off,
                .combine_off = comb.off};
  m.fn = m.combine = 0;
  if (m.kind == MSG_FOR && m.in_size == 0)
    m.ctx = 0; /* a pointer of this process means nothing there */
  unsigned char *q = l->msg;
  memcpy(q, &h, sizeof h);
  memcpy(q += sizeof h, &m, sizeof m);
  memcpy(q += sizeof m, fn.name, na);
  memcpy(q + na, comb.name, nb);
  l->msg_got = l->msg_len - pay;
  return true;
}

/* Reads batches from w's lane and sends each once it is whole. */
static bool tx_lane(mstate *st, parc_pool *p, unsigned w, mlink *l) {
  parc__ring *r = p->workers[w].slot->to_worker;
  bool moved = false;
  for (;;) {
    if (l->hdr_got < sizeof l->hdr) {
      size_t n = parc__ring_read_some(r, (char *)&l->hdr + l->hdr_got,
                                      sizeof l->hdr - l->hdr_got);
      l->hdr_got += n;
      moved |= n > 0;
      if (l->hdr_got < sizeof l->hdr)
        return moved;
      if (l->hdr.kind == MSG_STOP) { /* the rank stops them at BYE */
        l->hdr_got = 0;
        continue;
      }
    }
    if (!l->msg && !tx_begin(st, l))
      return moved;
    size_t want = l->msg_len - l->msg_got;
    size_t n = want ? parc__ring_read_some(r, l->msg + l->msg_got, want) : 0;
    l->msg_got += n;
    moved |= n > 0;
    if (l->msg_got < l->msg_len)
      return moved;
    parc__mpi_post(&st->c, l->rank, TAG_BATCH, l->msg, l->msg_len);
    l->msg = NULL;
    l->hdr_got = 0;
  }
}

static void on_message(mstate *st, parc_pool *p, mpi_chunk *k, int tag,
                       int from) {
  mpi_head h;
  if (k->len < sizeof h || from <= 0 || from >= st->c.size) {
    free(k);
    return;
  }
  memcpy(&h, k->data, sizeof h);
  if (tag == TAG_ASK) {
    h.b = (uint32_t)from;
    memcpy(k->data, &h, sizeof h);
    parc__mpi_fifo_push(&st->asks, k);
    return;
  }
  if (tag == TAG_CTRL && h.a == CTRL_FIN)
    st->fin[from] = true;
  if (h.local >= st->counts[from] || tag == TAG_CTRL) {
    free(k);
    return;
  }
  unsigned w = st->bases[from] + h.local;
  mlink *l = &st->links[w];
  if (!l->attached || h.epoch != l->epoch) {
    free(k); /* of a life that is over */
  } else if (tag == TAG_RESULT) {
    k->off = sizeof h;
    parc__mpi_fifo_push(&l->rx, k);
  } else {
    parc__slot *s = p->workers[w].slot;
    atomic_store(&s->init_rc, (int32_t)h.b);
    atomic_store(&s->state, h.a);
    parc__event_signal(p->doorbell, 0);
    free(k);
  }
}

static bool send_ctl(mstate *st) {
  for (size_t i = 0; i < st->nctl; i++) {
    mpi_head *h = parc__calloc(1, sizeof *h);
    if (!h)
      return false; /* next round */
    *h = (mpi_head){.local = st->ctl[i].local,
                    .epoch = st->ctl[i].epoch,
                    .a = st->ctl[i].kind};
    parc__mpi_post(&st->c, st->ctl[i].rank, TAG_CTRL, h, sizeof *h);
  }
  bool moved = st->nctl > 0;
  st->nctl = 0;
  return moved;
}

static void send_bye(mstate *st) {
  for (int r = 1; r < st->c.size; r++) {
    mpi_head *h = parc__calloc(1, sizeof *h);
    if (h)
      *h = (mpi_head){.a = CTRL_BYE, .b = st->kill_all};
    if (!h || !parc__mpi_post(&st->c, r, TAG_CTRL, h, sizeof *h))
      st->fin[r] = true; /* cannot tell it: do not wait for it */
  }
  st->bye_sent = true;
}

static bool all_closed(mstate *st) {
  for (int r = 1; r < st->c.size; r++)
    if (!st->fin[r] && !st->c.rank_lost[r])
      return false;
  return true;
}

/* One round: lanes to messages, messages to lanes. st->lock held. */
static bool courier_round(mstate *st, parc_pool *p) {
  bool moved = false;
  for (unsigned w = 0; st->links && w < p->nworkers; w++) {
    mlink *l = &st->links[w];
    if (!l->attached)
      continue;
    moved |= tx_lane(st, p, w, l);
    moved |= parc__mpi_fifo_flush(&l->rx, p->workers[w].slot->from_worker);
  }
  moved |= send_ctl(st);
  if (st->closing && !st->bye_sent)
    send_bye(st);
  moved |= parc__mpi_sends(&st->c);
  mpi_chunk *k;
  int tag, from;
  for (int i = 0; i < PARC__MPI_TAKE_MAX &&
                  (k = parc__mpi_take(&st->c, MPI_ANY_SOURCE, &tag, &from));
       i++) {
    on_message(st, p, k, tag, from);
    moved = true;
  }
  for (int r = 1; r < st->c.size; r++)
    if (st->c.rank_lost[r])
      parc__event_signal(p->doorbell, 0); /* poll reports its workers */
  return moved;
}

/* The questions courier_round took, each answered outside st->lock and
 * its answer sent under it. st->lock held. */
static bool answer_asks(mstate *st, parc_pool *p) {
  mpi_chunk *k = st->asks.head;
  st->asks = (mpi_fifo){0};
  if (!k)
    return false;
  pthread_mutex_unlock(&st->lock);
  while (k) {
    mpi_chunk *next = k->next;
    pthread_mutex_lock(&st->lock);
    bool closing = st->closing;
    pthread_mutex_unlock(&st->lock);
    if (closing) { /* unanswered: the rank settles it at BYE */
      free(k);
      k = next;
      continue;
    }
    mpi_head h;
    memcpy(&h, k->data, sizeof h);
    int dest = (int)h.b;
    if (h.a > PARC_ASK_MAX)
      h.a = (uint32_t)PARC_ASK_MAX; /* the asker asks no more */
    unsigned char *buf = parc__malloc(sizeof h + h.a);
    size_t alen = 0;
    int rc = buf ? parc__answer(p, k->data + sizeof h, k->len - sizeof h,
                                buf + sizeof h, h.a, &alen)
                 : PARC_ENOMEM;
    if (!buf) /* say so at least, else the task waits for its deadline */
      buf = parc__malloc(sizeof h);
    free(k);
    h.a = (uint32_t)rc;
    h.b = 0;
    pthread_mutex_lock(&st->lock);
    if (buf && !st->closing) {
      memcpy(buf, &h, sizeof h);
      parc__mpi_post(&st->c, dest, TAG_ANSWER, buf, sizeof h + alen);
    } else {
      free(buf);
    }
    pthread_mutex_unlock(&st->lock);
    k = next;
  }
  pthread_mutex_lock(&st->lock);
  return true;
}

static void *courier_main(void *arg) {
  parc_pool *p = arg;
  mstate *st = p->be_state;
  pthread_mutex_lock(&st->lock);
  while (!(st->bye_sent && all_closed(st))) {
    uint32_t seen = parc__event_seq(&st->c.bell);
    bool moved = courier_round(st, p);
    moved |= answer_asks(st, p);
    pthread_mutex_unlock(&st->lock);
    parc__mpi_nap(&st->c, seen, moved);
    pthread_mutex_lock(&st->lock);
  }
  parc__mpi_drain(&st->c);
  pthread_mutex_unlock(&st->lock);
  return NULL;
}

/* ---------------------------------------------------------------- vtable */

static void detach(mlink *l) {
  l->attached = false;
  l->epoch++;
  free(l->msg);
  l->msg = NULL;
  l->hdr_got = 0;
  parc__mpi_fifo_free(&l->rx);
}

static void attach(mstate *st, parc_pool *p, unsigned w) {
  parc__slot *s = p->workers[w].slot;
  s->to_worker->data_bell = &st->c.bell;   /* batches to carry */
  s->from_worker->room_bell = &st->c.bell; /* room for results */
  st->links[w].attached = true;
}

static void queue_ctl(mstate *st, mlink *l, uint32_t kind) {
  if (st->nctl == st->ctl_cap) {
    size_t cap = st->ctl_cap ? 2 * st->ctl_cap : 16;
    mctl *q = parc__realloc(st->ctl, cap * sizeof *q);
    if (!q)
      return; /* the worker's rank keeps its old thread: nothing is lost */
    st->ctl = q;
    st->ctl_cap = cap;
  }
  st->ctl[st->nctl++] = (mctl){l->rank, l->local, l->epoch, kind};
}

static int m_spawn(parc_pool *p, unsigned w) {
  mstate *st = p->be_state;
  mlink *l = &st->links[w];
  pthread_mutex_lock(&st->lock);
  bool lost = st->c.rank_lost[l->rank] || st->closing;
  if (!lost) {
    detach(l); /* a new life */
    parc__cell_reset(p, w);
    attach(st, p, w);
    queue_ctl(st, l, CTRL_SPAWN);
  }
  pthread_mutex_unlock(&st->lock);
  parc__event_signal(&st->c.bell, 0);
  return lost ? PARC_EBROKEN : 0;
}

/* As the thread backend: the rank's thread is abandoned (its task runs to
 * its end there, its result is dropped); the scheduler then starts a new
 * one in the slot (m_spawn). */
static void m_kill(parc_pool *p, unsigned w, parc__job *pin) {
  (void)pin; /* remote workers are handed chunks: never given one */
  mstate *st = p->be_state;
  mlink *l = &st->links[w];
  pthread_mutex_lock(&st->lock);
  detach(l);
  queue_ctl(st, l, CTRL_ABANDON);
  pthread_mutex_unlock(&st->lock);
}

static void m_poll(parc_pool *p) {
  mstate *st = p->be_state;
  for (unsigned w = 0; w < p->nworkers; w++) {
    mlink *l = &st->links[w];
    parc__slot *s = p->workers[w].slot;
    pthread_mutex_lock(&st->lock);
    uint32_t state = atomic_load(&s->state);
    bool lost = l->attached && st->c.rank_lost[l->rank];
    bool ended = l->attached &&
                 (lost || state == SLOT_EXITED || state == SLOT_INIT_FAILED);
    if (ended)
      detach(l);
    pthread_mutex_unlock(&st->lock);
    parc__worker_event ev = {.what = lost ? PARC__WORKER_LOST
                                     : state == SLOT_INIT_FAILED
                                         ? PARC__WORKER_INIT_FAILED
                                         : PARC__WORKER_EXITED};
    if (ended)
      parc__worker_report(p, w, ev);
  }
}

static void free_state(mstate *st) {
  if (!st)
    return;
  parc__mpi_fifo_free(&st->asks);
  pthread_mutex_destroy(&st->c.ask_lock);
  pthread_mutex_destroy(&st->lock);
  free(st->c.rank_lost);
  free(st->counts);
  free(st->bases);
  free(st->links);
  free(st->cells);
  free(st->ctl);
  free(st->fin);
  free(st);
}

static void m_stop(parc_pool *p, bool kill_all) {
  mstate *st = p->be_state;
  if (st->courier_started) {
    pthread_mutex_lock(&st->lock);
    st->closing = true;
    st->kill_all = kill_all;
    pthread_mutex_unlock(&st->lock);
    parc__event_signal(&st->c.bell, 0);
    pthread_join(st->courier, NULL);
  }
  /* Collective: the serving ranks free theirs as they leave. */
  MPI_Comm_free(&st->c.comm);
  for (unsigned w = 0; st->links && st->cells && w < p->nworkers; w++) {
    detach(&st->links[w]);
    free(st->cells[w]);
  }
  free_state(st);
  p->be_state = NULL;
}

/* An MPI call failed with `code`: PARC_ESYS, with MPI's reason noted. */
static int mpi_fail(const char *call, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    len = 0;
  text[len] = '\0';
  return parc__mpi_fail(call, code, text);
}

/* Collective: every rank gets here from parc_pool_create. */
static int m_count(parc_pool *p, unsigned *nworkers) {
  int level = 0;
  if (!mpi_ready(&level) || level < MPI_THREAD_SERIALIZED)
    return PARC_ENOTSUP;
  if (p->opts.task_timeout > 0)
    return PARC_ENOTSUP; /* a remote task cannot be stopped */
  mstate *st = parc__calloc(1, sizeof *st);
  if (!st)
    return PARC_ENOMEM;
  int rc = parc__mutex_init_plain(&st->lock);
  if (rc == 0 && (rc = parc__mutex_init_plain(&st->c.ask_lock)) != 0)
    pthread_mutex_destroy(&st->lock);
  if (rc != 0) {
    free(st);
    return rc;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &st->c.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &st->c.size);
  if (st->c.size < 2)
    rc = PARC_EINVAL; /* rank 0 calls, the others serve: two at least */
  int e = rc ? MPI_SUCCESS : MPI_Comm_dup(MPI_COMM_WORLD, &st->c.comm);
  if (rc == 0 && e != MPI_SUCCESS)
    rc = mpi_fail("MPI_Comm_dup", e);
  if (rc != 0) {
    free_state(st);
    return rc;
  }
  MPI_Comm_set_errhandler(st->c.comm, MPI_ERRORS_RETURN);
  size_t n = (size_t)st->c.size;
  st->counts = parc__calloc(n, sizeof *st->counts);
  st->bases = parc__calloc(n, sizeof *st->bases);
  st->c.rank_lost = parc__calloc(n, sizeof *st->c.rank_lost);
  st->fin = parc__calloc(n, sizeof *st->fin);
  unsigned mine = st->c.rank == 0 ? 0 : p->opts.workers ? p->opts.workers : 1;
  /* Every rank takes part in the gather, even one short of memory. */
  unsigned *counts = st->counts ? st->counts : parc__calloc(n, sizeof *counts);
  e = counts ? MPI_Allgather(&mine, 1, MPI_UNSIGNED, counts, 1, MPI_UNSIGNED,
                             st->c.comm)
             : MPI_ERR_NO_MEM;
  if (counts != st->counts)
    free(counts);
  rc = e == MPI_ERR_NO_MEM ? PARC_ENOMEM
       : e != MPI_SUCCESS  ? mpi_fail("MPI_Allgather", e)
       : !st->bases || !st->c.rank_lost || !st->fin ? PARC_ENOMEM
                                                    : 0;
  if (rc != 0) {
    MPI_Comm_free(&st->c.comm);
    free_state(st);
    return rc;
  }
  unsigned total = 0;
  for (size_t r = 0; r < n; r++) {
    st->bases[r] = total;
    total += st->counts[r];
  }
  parc__event_init(&st->c.bell);
  p->be_state = st;
  *nworkers = st->c.rank == 0 ? total : mine;
  return 0;
}

static int m_start(parc_pool *p) {
  mstate *st = p->be_state;
  p->shm_gen = 0; /* no memory is shared with another rank */
  if (st->c.rank != 0) {
    int rc = parc__mpi_serve(p, &st->c, st->bases[st->c.rank]);
    m_stop(p, false); /* no courier, no links here: frees what count() made */
    return rc;
  }
  parc__event_init(&st->doorbell);
  p->doorbell = &st->doorbell;
  st->links = parc__calloc(p->nworkers, sizeof *st->links);
  st->cells = parc__calloc(p->nworkers, sizeof *st->cells);
  int rc = st->links && st->cells ? 0 : PARC_ENOMEM;
  for (int r = 1; rc == 0 && r < st->c.size; r++)
    for (unsigned k = 0; rc == 0 && k < st->counts[r]; k++) {
      unsigned w = st->bases[r] + k;
      st->links[w] = (mlink){.rank = r, .local = k, .epoch = 1};
      st->cells[w] = parc__aligned_alloc(64, parc__cell_size());
      if (!st->cells[w]) {
        rc = PARC_ENOMEM;
        break;
      }
      parc__cell_attach(p, w, st->cells[w]);
      parc__cell_reset(p, w);
      attach(st, p, w);
    }
  if (rc == 0)
    rc = parc__thread_create(&st->courier, courier_main, p);
  st->courier_started = rc == 0;
  if (rc != 0) {
    /* The serving ranks wait for work: tell them, from this thread. */
    st->closing = st->kill_all = true;
    courier_main(p);
    m_stop(p, true);
  }
  return rc;
}

/* Only the serving ranks run tasks. */
static int m_ask(parc_pool *p, unsigned w, const void *q, size_t qlen, void *a,
                 size_t acap, size_t *alen, uint64_t deadline) {
  mstate *st = p->be_state;
  if (st->c.rank == 0)
    return PARC_ENOTSUP;
  return parc__mpi_ask(&st->c, w - st->bases[st->c.rank], q, qlen, a, acap,
                       alen, deadline);
}

static const parc__backend mpi_backend = {
    .name = "mpi",
    .shared = false,
    .remote = true,
    .abandons = true,
    .count = m_count,
    .start = m_start,
    .spawn = m_spawn,
    .kill = m_kill,
    .poll = m_poll,
    .stop = m_stop,
    .ask = m_ask,
};

/* ---------------------------------------------------------------- public */

static bool we_initialised;

int parc_mpi_init(int *argc, char ***argv) {
  int init = 0, level = 0;
  MPI_Initialized(&init);
  if (!init) {
    int e = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &level);
    if (e != MPI_SUCCESS)
      return mpi_fail("MPI_Init_thread", e);
    we_initialised = true;
  } else {
    MPI_Query_thread(&level);
  }
  if (level < MPI_THREAD_SERIALIZED)
    return PARC_ENOTSUP;
  parc__mpi_backend = &mpi_backend;
  return 0;
}

int parc_mpi_finalize(void) {
  if (!we_initialised)
    return 0;
  we_initialised = false;
  int e = MPI_Finalize();
  return e == MPI_SUCCESS ? 0 : mpi_fail("MPI_Finalize", e);
}

int parc_mpi_rank(void) {
  int level, r = -1;
  if (mpi_ready(&level))
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int parc_mpi_size(void) {
  int level, n = 0;
  if (mpi_ready(&level))
    MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}
