/* pipe.c -- a duplex pipe between two threads or two processes.
 *
 * Two rings, one each way; end i reads to[i] and writes to[1 - i]. Each
 * end has one user at a time, so the rings stay single-producer single-
 * consumer, and a message may stream through its ring in pieces: any size
 * up to max_msg fits a ring of at most 2 MiB.
 *
 * Waiting covers two things no futex can watch together: the other end
 * making data or room, and the other end's process dying. So a waiter
 * polls an eventfd of its own end (the other end writes it only while the
 * waiter is marked sleeping: a Dekker pair with the ring's positions) and
 * a pidfd of the process bound to the other end. A dead peer is a closed
 * peer: what it sent is still received, then PARC_ECLOSED.
 *
 * An end belongs to the process that binds it (send and recv bind on
 * first use): its death closes the end. Closing a handle closes the end
 * for both sides if the end is bound to the calling process, or is not
 * bound and the handle was made here; otherwise (an end another process
 * uses, or an unused copy inherited through fork) it only drops this
 * process's handle, as closing an inherited descriptor would. The shared
 * block is unmapped when this process has closed both its handles.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan/ring.h"
#include "parc.h"
#include "sys/sys.h"

#define FRAME 8u
#define PIPE_SPIN 2000u
#define RING_MIN ((size_t)64 << 10)
#define RING_MAX ((size_t)2 << 20)

typedef struct pipe_side {
  _Atomic int32_t owner;     /* pid bound to this end; 0: none yet */
  _Atomic uint32_t closed;   /* closed by its owner */
  _Atomic uint32_t sleeping; /* its user is about to poll its eventfd */
  _Atomic uint32_t receiving; /* its user waits in recv for a message */
  int efd;                   /* wakes this end's user; the same number in
                                every process forked after create */
} pipe_side;

typedef struct pipe_shared {
  pipe_side side[2];
  size_t max_msg, ring_bytes;
  int shared;
  parc__ring *to[2]; /* to[i] is read by end i */
} pipe_shared;

struct parc_pipe { /* one process's handle on one end */
  pipe_shared *sh;
  int me;
  int made_by;       /* the process that created it; others inherited it */
  int *local_refs;   /* this process's open handles on sh */
  int peer_pid;      /* whose pidfd peer_fd is */
  int peer_fd;       /* -1: none */
  bool peer_dead;
};

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

/* ---------------------------------------------------------------- create */

static size_t ring_bytes_for(size_t max_msg) {
  size_t c = RING_MIN;
  while (c < max_msg + FRAME && c < RING_MAX)
    c <<= 1;
  return c;
}

static parc_pipe *new_end(pipe_shared *sh, int me, int *refs) {
  parc_pipe *e = calloc(1, sizeof *e);
  if (e) {
    e->sh = sh;
    e->me = me;
    e->made_by = parc__pid();
    e->local_refs = refs;
    e->peer_fd = -1;
  }
  return e;
}

static void free_shared(pipe_shared *sh) {
  for (int i = 0; i < 2; i++)
    if (sh->side[i].efd >= 0)
      close(sh->side[i].efd);
  parc__obj_free(sh, sh->shared);
}

int parc_pipe_create(parc_pipe **a, parc_pipe **b, size_t max_msg,
                     int flags) {
  if (!a || !b || max_msg > ((size_t)1 << 40))
    return PARC_EINVAL;
  int shared = (flags & PARC_SHARED) != 0;
  size_t rb = ring_bytes_for(max_msg);
  size_t ring = ALIGN64(parc__ring_footprint(rb));
  pipe_shared *sh = parc__obj_alloc(ALIGN64(sizeof *sh) + 2 * ring, shared);
  if (!sh)
    return PARC_ENOMEM;
  sh->shared = shared;
  sh->max_msg = max_msg;
  sh->ring_bytes = rb;
  int rc = 0;
  sh->side[0].efd = sh->side[1].efd = -1; /* free_shared closes only these */
  for (int i = 0; i < 2; i++) {
    sh->to[i] = (parc__ring *)((char *)sh + ALIGN64(sizeof *sh) + i * ring);
    parc__ring_init(sh->to[i], rb, shared, 0, NULL, NULL, 0);
    sh->side[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sh->side[i].efd < 0)
      rc = PARC_ESYS;
  }
  int *refs = malloc(sizeof *refs);
  *a = rc == 0 && refs ? new_end(sh, 0, refs) : NULL;
  *b = *a ? new_end(sh, 1, refs) : NULL;
  if (!*b) {
    free(*a);
    free(refs);
    *a = NULL;
    free_shared(sh);
    return rc ? rc : PARC_ENOMEM;
  }
  *refs = 2;
  return 0;
}

static void wake_peer(parc_pipe *e) {
  uint64_t one = 1;
  ssize_t w = write(e->sh->side[1 - e->me].efd, &one, sizeof one);
  (void)w; /* EAGAIN: the counter is already non-zero, it will wake */
}

int parc_pipe_bind(parc_pipe *e) {
  if (!e)
    return PARC_EINVAL;
  atomic_store(&e->sh->side[e->me].owner, (int32_t)parc__pid());
  wake_peer(e); /* a peer already waiting must watch the new owner */
  return 0;
}

/* ---------------------------------------------------------------- waiting */

static pipe_side *peer(parc_pipe *e) { return &e->sh->side[1 - e->me]; }

static bool peer_gone(parc_pipe *e) {
  return e->peer_dead || atomic_load(&peer(e)->closed);
}

/* The other end's waiter may sleep: wake it if it does. */
static void kick(parc_pipe *e) {
  atomic_thread_fence(memory_order_seq_cst); /* pairs with pipe_wait */
  if (atomic_load_explicit(&peer(e)->sleeping, memory_order_relaxed))
    wake_peer(e);
}

/* A pidfd of the process bound to the other end, if another process. */
static int peer_pidfd(parc_pipe *e) {
  int pid = atomic_load(&peer(e)->owner);
  if (pid == 0 || pid == parc__pid())
    return -1;
  if (pid != e->peer_pid) {
    if (e->peer_fd >= 0)
      close(e->peer_fd);
    e->peer_pid = pid;
    e->peer_fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (e->peer_fd < 0 && errno == ESRCH)
      e->peer_dead = true;
  }
  return e->peer_fd;
}

typedef bool (*ready_fn)(parc_pipe *e, size_t need);

static bool can_read(parc_pipe *e, size_t need) {
  return parc__ring_readable(e->sh->to[e->me]) >= need;
}

static bool can_write(parc_pipe *e, size_t need) {
  return parc__ring_writable(e->sh->to[1 - e->me]) >= need;
}

/* Waits until ready(e, need), the peer is gone, or the deadline: 0, or
 * PARC_ETIMEDOUT. */
static int pipe_wait(parc_pipe *e, ready_fn ready, size_t need,
                     uint64_t deadline) {
  for (unsigned i = 0; i < PIPE_SPIN; i++) {
    if (ready(e, need) || peer_gone(e))
      return 0;
    parc__cpu_relax();
  }
  pipe_side *me = &e->sh->side[e->me];
  int pidfd = peer_pidfd(e); /* may find the peer already gone */
  atomic_store(&me->sleeping, 1);
  atomic_thread_fence(memory_order_seq_cst); /* pairs with kick */
  int rc = 0;
  if (!ready(e, need) && !peer_gone(e)) {
    struct pollfd pf[2] = {{me->efd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    struct timespec ts, *tsp = NULL;
    if (deadline != PARC__FOREVER) {
      uint64_t now = parc__now_ns();
      uint64_t left = deadline > now ? deadline - now : 0;
      ts.tv_sec = (time_t)(left / 1000000000u);
      ts.tv_nsec = (long)(left % 1000000000u);
      tsp = &ts;
    }
    int n = ppoll(pf, pf[1].fd >= 0 ? 2 : 1, tsp, NULL);
    uint64_t drain;
    if (n > 0 && (pf[0].revents & POLLIN))
      while (read(me->efd, &drain, sizeof drain) > 0)
        ;
    if (n > 0 && pf[1].fd >= 0 && pf[1].revents)
      e->peer_dead = true;
    if (n == 0 && !ready(e, need))
      rc = PARC_ETIMEDOUT;
  }
  atomic_store(&me->sleeping, 0);
  return rc;
}

/* A message larger than the ring cannot go in whole, so it is begun only
 * toward a receiver waiting in recv (which reads all of it): a send with
 * no receiver then keeps its timeout and leaves nothing half-written. */
static bool receiver_waits(parc_pipe *e, size_t need) {
  return atomic_load(&peer(e)->receiving) && can_write(e, need);
}

/* ---------------------------------------------------------------- send */

/* Streams n bytes into the ring, waiting for room as the reader makes it;
 * the message has begun, so only the peer's end stops it. */
static int stream_out(parc_pipe *e, const unsigned char *p, size_t n) {
  parc__ring *r = e->sh->to[1 - e->me];
  while (n > 0) {
    size_t k = parc__ring_write_some(r, p, n);
    if (k > 0) {
      kick(e);
      p += k;
      n -= k;
    } else if (peer_gone(e)) {
      return PARC_ECLOSED;
    } else {
      pipe_wait(e, can_write, 1, PARC__FOREVER);
    }
  }
  return 0;
}

int parc_pipe_send(parc_pipe *e, const void *msg, size_t len,
                   double timeout) {
  if (!e || (len && !msg))
    return PARC_EINVAL;
  if (len > e->sh->max_msg)
    return PARC_ETOOBIG;
  if (atomic_load(&e->sh->side[e->me].owner) == 0)
    parc_pipe_bind(e);
  peer_pidfd(e); /* early: a pidfd held before the peer dies is exact */
  uint64_t deadline = parc__deadline(timeout);
  bool whole = FRAME + len <= e->sh->ring_bytes;
  ready_fn ready = whole ? can_write : receiver_waits;
  size_t need = whole ? FRAME + len : FRAME;
  while (!ready(e, need)) { /* the start waits within the timeout */
    if (peer_gone(e))
      return PARC_ECLOSED;
    if (timeout == 0)
      return PARC_EAGAIN;
    if (pipe_wait(e, ready, need, deadline) != 0)
      return PARC_ETIMEDOUT;
  }
  if (peer_gone(e))
    return PARC_ECLOSED;
  uint64_t frame = len;
  if (whole) { /* room for all of it: one publish, one wake-up check */
    struct iovec iov[2] = {{&frame, FRAME}, {(void *)msg, len}};
    parc__ring_writev(e->sh->to[1 - e->me], iov, 2, false, PARC__FOREVER,
                      NULL);
    kick(e);
    return 0;
  }
  int rc = stream_out(e, (const unsigned char *)&frame, FRAME);
  return rc ? rc : stream_out(e, msg, len);
}

/* ---------------------------------------------------------------- recv */

static int stream_in(parc_pipe *e, unsigned char *p, size_t n) {
  parc__ring *r = e->sh->to[e->me];
  while (n > 0) {
    size_t k = parc__ring_read_some(r, p, n);
    if (k > 0) {
      kick(e);
      p += k;
      n -= k;
    } else if (peer_gone(e) && !can_read(e, 1)) {
      return PARC_ECLOSED; /* the sender died inside the message */
    } else {
      pipe_wait(e, can_read, 1, PARC__FOREVER);
    }
  }
  return 0;
}

int parc_pipe_recv(parc_pipe *e, void *buf, size_t cap, size_t *len,
                   double timeout) {
  if (!e || !len || (cap && !buf))
    return PARC_EINVAL;
  if (atomic_load(&e->sh->side[e->me].owner) == 0)
    parc_pipe_bind(e);
  peer_pidfd(e); /* early: a pidfd held before the peer dies is exact */
  parc__ring *r = e->sh->to[e->me];
  uint64_t deadline = parc__deadline(timeout);
  uint64_t frame;
  pipe_side *mine = &e->sh->side[e->me];
  int rc = 0;
  while (parc__ring_peek(r, &frame, FRAME) != 0) {
    if (peer_gone(e) && !can_read(e, FRAME))
      rc = PARC_ECLOSED;
    else if (timeout == 0)
      rc = PARC_EAGAIN;
    else if (!atomic_load(&mine->receiving)) { /* a big sender may start */
      atomic_store(&mine->receiving, 1);
      kick(e);
      continue;
    } else if (pipe_wait(e, can_read, FRAME, deadline) != 0)
      rc = PARC_ETIMEDOUT;
    if (rc != 0)
      break;
  }
  atomic_store(&mine->receiving, 0);
  if (rc != 0)
    return rc;
  *len = (size_t)frame;
  if (frame > cap)
    return PARC_ETOOBIG; /* the message stays */
  if (can_read(e, FRAME + (size_t)frame)) { /* all here: one consume */
    parc__ring_copy_at(r, FRAME, buf, (size_t)frame);
    parc__ring_consume(r, FRAME + (size_t)frame);
    kick(e);
    return 0;
  }
  parc__ring_consume(r, FRAME);
  kick(e);
  return stream_in(e, buf, (size_t)frame);
}

/* ---------------------------------------------------------------- close */

void parc_pipe_close(parc_pipe *e) {
  if (!e)
    return;
  pipe_shared *sh = e->sh;
  pipe_side *mine = &sh->side[e->me];
  int owner = atomic_load(&mine->owner), self = parc__pid();
  if (owner == self || (owner == 0 && e->made_by == self)) {
    atomic_store(&mine->closed, 1);
    wake_peer(e);
  }
  if (e->peer_fd >= 0)
    close(e->peer_fd);
  if (--*e->local_refs == 0) {
    free(e->local_refs);
    free_shared(sh);
  }
  free(e);
}
