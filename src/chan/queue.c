/* queue.c -- the bounded MPMC message queue: one ring, two robust locks.
 *
 * The ring (ring.c) is single-producer single-consumer; a lock on each
 * side makes it multi-producer multi-consumer. A message is one frame
 * [8-byte length][bytes] and goes in or out whole: a producer writes it
 * only when it fits, and publishes it with one store of the tail; a
 * consumer copies it out and consumes it with one store of the head. So
 * whoever dies holding a side's lock -- the robust lock tells the next
 * holder -- leaves the ring with the message either there or gone, never
 * half, and the next holder just declares the lock consistent.
 *
 * Waiting: producers sleep on not_full, consumers on not_empty (futex
 * events, process-shared with PARC_SHARED), holding their side's lock; the
 * others queue on that lock with their own timeouts.
 */
#include <stdbool.h>
#include <string.h>

#include "chan/chan.h"
#include "chan/ring.h"
#include "parc.h"
#include "sys/sys.h"

#define FRAME 8u         /* the length in front of each message */
#define QUEUE_SPIN 2000u /* pause rounds before a futex wait */

struct parc_queue {
  pthread_mutex_t put_lock, get_lock;
  parc__event not_empty, not_full;
  _Atomic uint32_t closing; /* close has begun: puts stop */
  _Atomic uint32_t closed;  /* set under put_lock: every put that
                               succeeded is in the ring before this */
  size_t limit;             /* bytes the queue may hold (frames too) */
  _Atomic uint64_t taken, put_count;
  /* Set under a side's lock just before its one store: where the ring
   * was (+ 1) and what the count was. A holder that dies before clearing
   * it leaves it, and the next holder counts the message if the ring moved
   * and the count did not. */
  struct mark {
    uint64_t pos; /* ring position + 1; 0: no mark */
    uint64_t count;
  } put_mark, get_mark;
  size_t max_msg;
  int shared;
  _Alignas(64) parc__ring ring; /* last: its arena follows */
};

static size_t pow2_at_least(size_t n) {
  size_t c = 64;
  while (c < n)
    c <<= 1;
  return c;
}

int parc_queue_create(parc_queue **out, size_t capacity, size_t max_msg,
                      int flags) {
  if (!out || capacity == 0 || max_msg > ((size_t)1 << 40) ||
      capacity > ((size_t)1 << 40))
    return PARC_EINVAL;
  int shared = (flags & PARC_SHARED) != 0;
  size_t cap = pow2_at_least(capacity > max_msg + FRAME ? capacity
                                                        : max_msg + FRAME);
  parc_queue *q = parc__obj_alloc(sizeof *q + cap, shared);
  if (!q)
    return PARC_ENOMEM;
  q->shared = shared;
  q->max_msg = max_msg;
  q->limit = capacity > max_msg + FRAME ? capacity : max_msg + FRAME;
  parc__event_init(&q->not_empty);
  parc__event_init(&q->not_full);
  parc__ring_init(&q->ring, cap, shared, 0, NULL, NULL, 0);
  if (parc__mutex_init(&q->put_lock, shared) != 0 ||
      parc__mutex_init(&q->get_lock, shared) != 0) {
    parc__obj_free(q, shared);
    return PARC_ESYS;
  }
  *out = q;
  return 0;
}

/* The counts change only under their side's lock: a plain increment,
 * stored atomically for parc_queue_stats to read at any time. */
static void bump(_Atomic uint64_t *count) {
  atomic_store_explicit(count,
                        atomic_load_explicit(count, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

/* Takes a side's lock. A holder that died left the ring consistent (see
 * the top of the file); if it died between moving the ring and counting
 * the message, its mark says so, and the count is made good here. */
static int side_lock(pthread_mutex_t *m, double timeout, struct mark *mark,
                     _Atomic uint64_t *pos, _Atomic uint64_t *count) {
  int rc = parc__mutex_lock(m, timeout, NULL);
  if (rc == PARC_EOWNERDEAD) {
    if (mark->pos && atomic_load(pos) != mark->pos - 1 &&
        atomic_load(count) == mark->count)
      atomic_fetch_add(count, 1);
    mark->pos = 0;
    pthread_mutex_consistent(m);
    rc = 0;
  }
  return rc;
}

/* Sleeps on ev until it moves, the deadline, or (timeout 0) at once. */
static int side_wait(parc_queue *q, parc__event *ev, uint32_t seen,
                     double timeout, uint64_t deadline) {
  if (timeout == 0)
    return PARC_EAGAIN;
  return parc__event_wait(ev, seen, deadline, QUEUE_SPIN, q->shared);
}

int parc_queue_put(parc_queue *q, const void *msg, size_t len,
                   double timeout) {
  if (!q || (len && !msg))
    return PARC_EINVAL;
  if (len > q->max_msg)
    return PARC_ETOOBIG;
  uint64_t deadline = parc__deadline(timeout);
  int rc = side_lock(&q->put_lock, timeout, &q->put_mark, &q->ring.tail,
                     &q->put_count);
  if (rc != 0)
    return rc;
  for (;;) {
    uint32_t seen = parc__event_seq(&q->not_full);
    if (atomic_load(&q->closing)) {
      rc = PARC_ECLOSED;
      break;
    }
    size_t used = q->ring.capacity - parc__ring_writable(&q->ring);
    if (used + FRAME + len <= q->limit) { /* the ring itself is larger */
      uint64_t frame = len;
      struct iovec iov[2] = {{&frame, FRAME}, {(void *)msg, len}};
      q->put_mark.count = atomic_load(&q->put_count);
      q->put_mark.pos = atomic_load(&q->ring.tail) + 1;
      parc__ring_writev(&q->ring, iov, 2, false, PARC__FOREVER, NULL);
      bump(&q->put_count);
      q->put_mark.pos = 0;
      parc__event_signal(&q->not_empty, q->shared);
      break;
    }
    if ((rc = side_wait(q, &q->not_full, seen, timeout, deadline)) != 0)
      break;
  }
  pthread_mutex_unlock(&q->put_lock);
  return rc;
}

int parc_queue_try_put(parc_queue *q, const void *msg, size_t len) {
  return parc_queue_put(q, msg, len, 0);
}

int parc_queue_get(parc_queue *q, void *buf, size_t cap, size_t *len,
                   double timeout) {
  if (!q || !len || (cap && !buf))
    return PARC_EINVAL;
  uint64_t deadline = parc__deadline(timeout);
  int rc = side_lock(&q->get_lock, timeout, &q->get_mark, &q->ring.head,
                     &q->taken);
  if (rc != 0)
    return rc;
  for (;;) {
    uint32_t seen = parc__event_seq(&q->not_empty);
    /* Read before looking: once closed is seen, every message put is. */
    bool closed = atomic_load(&q->closed);
    uint64_t frame;
    if (parc__ring_peek(&q->ring, &frame, FRAME) == 0) {
      *len = (size_t)frame;
      if (frame > cap) {
        rc = PARC_ETOOBIG; /* stays queued */
        break;
      }
      /* Copy, then consume in one store: taken whole or not at all. */
      parc__ring_copy_at(&q->ring, FRAME, buf, (size_t)frame);
      q->get_mark.count = atomic_load(&q->taken);
      q->get_mark.pos = atomic_load(&q->ring.head) + 1;
      parc__ring_consume(&q->ring, FRAME + (size_t)frame);
      bump(&q->taken);
      q->get_mark.pos = 0;
      parc__event_signal(&q->not_full, q->shared);
      break;
    }
    if (closed) {
      rc = PARC_ECLOSED;
      break;
    }
    if ((rc = side_wait(q, &q->not_empty, seen, timeout, deadline)) != 0)
      break;
  }
  pthread_mutex_unlock(&q->get_lock);
  return rc;
}

int parc_queue_try_get(parc_queue *q, void *buf, size_t cap, size_t *len) {
  return parc_queue_get(q, buf, cap, len, 0);
}

/* Puts stop first (closing, and producers waiting for room are woken);
 * then, under the put lock, so that no put is half done, the queue is
 * marked closed for the consumers. */
void parc_queue_close(parc_queue *q) {
  if (!q)
    return;
  atomic_store(&q->closing, 1);
  parc__event_signal(&q->not_full, q->shared);
  bool locked = side_lock(&q->put_lock, -1, &q->put_mark, &q->ring.tail,
                          &q->put_count) == 0;
  atomic_store(&q->closed, 1);
  if (locked)
    pthread_mutex_unlock(&q->put_lock);
  parc__event_signal(&q->not_empty, q->shared);
  parc__event_signal(&q->not_full, q->shared);
}

void parc_queue_stats(parc_queue *q, uint64_t *taken, uint64_t *queued) {
  uint64_t t = q ? atomic_load(&q->taken) : 0;
  uint64_t p = q ? atomic_load(&q->put_count) : 0;
  if (taken)
    *taken = t;
  if (queued)
    *queued = p - t;
}

void parc_queue_destroy(parc_queue *q) {
  if (!q)
    return;
  pthread_mutex_destroy(&q->put_lock);
  pthread_mutex_destroy(&q->get_lock);
  parc__obj_free(q, q->shared);
}
