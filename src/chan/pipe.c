/* pipe.c -- a duplex pipe between two threads or two processes.
 *
 * Two rings, one each way; end i reads to[i] and writes to[1 - i]. Each
 * end has one user at a time, so the rings stay single-producer single-
 * consumer, and a message may stream through its ring in pieces: any size
 * up to max_msg fits a ring of at most 2 MiB.
 *
 * Large messages are pipelined: the sender publishes a message CHUNK bytes
 * at a time and the receiver copies each piece out while the sender writes
 * the next, so the copy into the ring and the copy out of it run at the
 * same time on two cores instead of one after the other. A message that
 * fits the ring is begun only when all of it has room, so its sender never
 * waits in the middle; its receiver copies the pieces as they come but
 * consumes the message with one store when the last has arrived, so a
 * timeout or a sender's death leaves it unconsumed, never half. A message
 * larger than the ring streams: both sides consume as they go. A sender
 * that finds the ring empty past its middle starts a large message at the
 * arena's start (after a skip frame, which the receiver consumes), so
 * messages sent one at a time reuse the same, cache-warm, memory.
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

#include "chan/chan.h"
#include "chan/ring.h"
#include "parc.h"
#include "sys/sys.h"

#define FRAME 8u
/* Bytes published at a time: PARC__CHAN_CHUNK (policy.h). Small enough
 * that the receiver starts soon and the two copies overlap; large enough
 * that the per-piece publish and wake-up check cost nothing beside the
 * copy (tuned in docs/performance.md). */
#define CHUNK PARC__CHAN_CHUNK
#define SKIP UINT64_MAX /* a frame that says: go on at the arena's start */

typedef struct pipe_side {            /* each end writes only its own side */
  _Alignas(64) _Atomic int32_t owner; /* pid bound to this end; 0: none */
  _Atomic uint32_t closed;            /* closed by its owner */
  _Atomic uint32_t sleeping; /* its user is about to poll its eventfd */
  int efd;                   /* wakes this end's user; the same number in
                                every process forked after create */
  parc__spin spin;           /* how long its user spins before it polls */
  /* on a line of its own: written at every recv that waits, while the
   * sender reads `sleeping` at every piece it sends */
  _Alignas(64) _Atomic uint32_t receiving; /* its user waits in recv */
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
  int made_by;     /* the process that created it; others inherited it */
  int *local_refs; /* this process's open handles on sh */
  int peer_pid;    /* whose pidfd peer_fd is */
  int peer_fd;     /* -1: none */
  bool peer_dead;
};

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

/* ---------------------------------------------------------------- create */

static size_t ring_bytes_for(size_t max_msg) {
  size_t c = PARC__PIPE_RING_MIN;
  while (c < max_msg + FRAME && c < PARC__PIPE_RING_MAX) c <<= 1;
  return c;
}

static parc_pipe *new_end(pipe_shared *sh, int me, int *refs) {
  parc_pipe *e = parc__calloc(1, sizeof *e);
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
  for (int i = 0; i < 2; i++) parc__close(sh->side[i].efd);
  parc__obj_free(sh, sh->shared);
}

int parc_pipe_create(parc_pipe **a, parc_pipe **b, size_t max_msg, int flags) {
  if (!a || !b || max_msg > ((size_t)1 << 40))
    return PARC_EINVAL;
  int shared = (flags & PARC_SHARED) != 0;
  size_t rb = ring_bytes_for(max_msg);
  size_t ring = ALIGN64(parc__ring_footprint(rb));
  pipe_shared *sh = parc__obj_alloc(ALIGN64(sizeof *sh) + 2 * ring, shared);
  if (!sh)
    return parc__obj_alloc_error(shared);
  sh->shared = shared;
  sh->max_msg = max_msg;
  sh->ring_bytes = rb;
  int rc = 0;
  sh->side[0].efd = sh->side[1].efd = -1; /* free_shared closes only these */
  for (int i = 0; i < 2; i++) {
    sh->to[i] = (parc__ring *)((char *)sh + ALIGN64(sizeof *sh) + i * ring);
    parc__ring_init(sh->to[i], rb, shared, 0, NULL, NULL, 0);
    parc__spin_init(&sh->side[i].spin);
    sh->side[i].efd = parc__eventfd();
    if (sh->side[i].efd < 0 && rc == 0)
      rc = parc__sys_fail("eventfd", errno);
  }
  int *refs = parc__malloc(sizeof *refs);
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
  parc__eventfd_post(e->sh->side[1 - e->me].efd);
}

int parc_pipe_bind(parc_pipe *e) {
  if (!e)
    return PARC_EINVAL;
  if (parc__foreign(e->sh->shared, e->made_by))
    return PARC_ENOTSHARED;
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
    parc__close(e->peer_fd);
    e->peer_pid = pid;
    e->peer_fd = parc__pidfd_open(pid);
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
  pipe_side *me = &e->sh->side[e->me];
  parc__spin_try t = parc__spin_begin(&me->spin);
  bool hit = false;
  for (unsigned i = 0; i < t.rounds && !(hit = ready(e, need) || peer_gone(e));
       i++)
    parc__cpu_relax();
  parc__spin_end(&me->spin, t, hit);
  if (hit)
    return 0;
  int pidfd = peer_pidfd(e); /* may find the peer already gone */
  atomic_store(&me->sleeping, 1);
  atomic_thread_fence(memory_order_seq_cst); /* pairs with kick */
  int rc = 0;
  if (!ready(e, need) && !peer_gone(e)) {
    struct pollfd pf[2] = {{me->efd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int n = parc__poll(pf, pf[1].fd >= 0 ? 2 : 1, deadline);
    if (n > 0 && (pf[0].revents & POLLIN))
      parc__eventfd_drain(me->efd);
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
  for (size_t done = 0; n > 0;) {
    size_t k = parc__ring_write_some(r, p, n < CHUNK ? n : CHUNK);
    if (k > 0) {
      kick(e);
      p += k;
      n -= k;
      done += k;
      if (n > 0 && parc__chan_piece_hook)
        parc__chan_piece_hook(done); /* tests: a sender that stops here */
    } else if (peer_gone(e)) {
      return PARC_ECLOSED;
    } else {
      pipe_wait(e, can_write, 1, PARC__FOREVER);
    }
  }
  return 0;
}

/* A message the ring has room for: written without waiting, published a
 * piece at a time (a small one: in one piece, one publish, one wake-up
 * check). */
static void write_whole(parc_pipe *e, const uint64_t *frame,
                        const unsigned char *p, size_t len) {
  parc__ring *r = e->sh->to[1 - e->me];
  size_t done = len < CHUNK ? len : CHUNK;
  struct iovec iov[2] = {{(void *)frame, FRAME}, {(void *)p, done}};
  parc__ring_writev(r, iov, 2, false, PARC__FOREVER, NULL);
  kick(e);
  while (done < len) {
    if (parc__chan_piece_hook)
      parc__chan_piece_hook(done); /* tests: a sender that stops here */
    size_t k = len - done < CHUNK ? len - done : CHUNK;
    iov[0] = (struct iovec){(void *)(p + done), k};
    parc__ring_writev(r, iov, 1, false, PARC__FOREVER, NULL);
    kick(e);
    done += k;
  }
}

/* A large message into an empty ring, past the middle of its arena, with
 * room for the message before that point: publish a skip frame (the
 * receiver consumes it) and begin the arena again. So a pipe used a
 * message at a time keeps its large messages in the same, cache-warm,
 * memory instead of alternating between the halves of the ring (measured:
 * 1 MiB round trips some 8% faster; see docs/performance.md). */
static void skip_to_start(parc_pipe *e, size_t len) {
  parc__ring *r = e->sh->to[1 - e->me];
  size_t cap = r->capacity;
  size_t off = (size_t)(atomic_load_explicit(&r->tail, memory_order_relaxed) &
                        (cap - 1));
  if (off < cap / 2 || off < FRAME + len || cap - off < FRAME ||
      parc__ring_writable(r) != cap)
    return; /* (the skip frame itself must not wrap) */
  uint64_t skip = SKIP;
  parc__ring_write_at(r, 0, &skip, FRAME);
  parc__ring_publish(r, cap - off);
}

int parc_pipe_send(parc_pipe *e, const void *msg, size_t len, double timeout) {
  if (!e || (len && !msg))
    return PARC_EINVAL;
  if (parc__foreign(e->sh->shared, e->made_by))
    return PARC_ENOTSHARED;
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
  if (whole) {
    if (len >= CHUNK)
      skip_to_start(e, len);
    write_whole(e, &frame, msg, len);
    return 0;
  }
  int rc = stream_out(e, (const unsigned char *)&frame, FRAME);
  return rc ? rc : stream_out(e, msg, len);
}

/* ---------------------------------------------------------------- recv */

static int stream_in(parc_pipe *e, unsigned char *p, size_t n) {
  parc__ring *r = e->sh->to[e->me];
  while (n > 0) {
    size_t k = parc__ring_read_some(r, p, n < CHUNK ? n : CHUNK);
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

/* A message that fits the ring (its frame is here): copies its pieces as
 * they are published, then consumes it with one store. A timeout or a dead
 * sender leaves it where it was, unconsumed. */
static int read_whole(parc_pipe *e, unsigned char *dst, size_t n,
                      uint64_t deadline) {
  parc__ring *r = e->sh->to[e->me];
  size_t got = 0;
  for (;;) {
    size_t here = parc__ring_readable(r) - FRAME;
    if (here > n)
      here = n; /* the rest is the next message */
    if (here > got) {
      parc__ring_copy_at(r, FRAME + got, dst + got, here - got);
      got = here;
    }
    if (got == n)
      break;
    if (peer_gone(e) && !can_read(e, FRAME + got + 1))
      return PARC_ECLOSED; /* the sender died inside the message */
    if (pipe_wait(e, can_read, FRAME + got + 1, deadline) != 0)
      return PARC_ETIMEDOUT;
  }
  parc__ring_consume(r, FRAME + n);
  kick(e);
  return 0;
}

/* Waits for the frame of the next message, consuming a skip frame on the
 * way: 0, PARC_ECLOSED, PARC_EAGAIN (timeout 0) or PARC_ETIMEDOUT. */
static int wait_frame(parc_pipe *e, uint64_t *frame, double timeout,
                      uint64_t deadline) {
  parc__ring *r = e->sh->to[e->me];
  pipe_side *mine = &e->sh->side[e->me];
  bool waiting = false; /* mine->receiving is set */
  int rc = 0;
  for (;;) {
    if (parc__ring_peek(r, frame, FRAME) == 0) {
      if (*frame != SKIP)
        break;
      uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
      parc__ring_consume(r, r->capacity - (head & (r->capacity - 1)));
      kick(e);
      continue;
    }
    if (peer_gone(e) && !can_read(e, FRAME))
      rc = PARC_ECLOSED;
    else if (timeout == 0)
      rc = PARC_EAGAIN;
    else if (!waiting) { /* a big sender may start */
      atomic_store(&mine->receiving, 1);
      waiting = true;
      kick(e);
      continue;
    } else if (pipe_wait(e, can_read, FRAME, deadline) != 0)
      rc = PARC_ETIMEDOUT;
    if (rc != 0)
      break;
  }
  if (waiting) /* only then: the sender reads this line at every piece */
    atomic_store(&mine->receiving, 0);
  return rc;
}

int parc_pipe_recv(parc_pipe *e, void *buf, size_t cap, size_t *len,
                   double timeout) {
  if (!e || !len || (cap && !buf))
    return PARC_EINVAL;
  if (parc__foreign(e->sh->shared, e->made_by))
    return PARC_ENOTSHARED;
  if (atomic_load(&e->sh->side[e->me].owner) == 0)
    parc_pipe_bind(e);
  peer_pidfd(e); /* early: a pidfd held before the peer dies is exact */
  parc__ring *r = e->sh->to[e->me];
  uint64_t deadline = parc__deadline(timeout);
  uint64_t frame;
  int rc = wait_frame(e, &frame, timeout, deadline);
  if (rc != 0)
    return rc;
  *len = (size_t)frame;
  if (frame > cap)
    return PARC_ETOOBIG; /* the message stays */
  if (FRAME + (size_t)frame <= e->sh->ring_bytes) {
    rc = read_whole(e, buf, (size_t)frame, deadline);
    return rc == PARC_ETIMEDOUT && timeout == 0 ? PARC_EAGAIN : rc;
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
  parc__close(e->peer_fd);
  if (--*e->local_refs == 0) {
    free(e->local_refs);
    free_shared(sh);
  }
  free(e);
}
