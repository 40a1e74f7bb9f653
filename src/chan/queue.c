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
 * Large messages are pipelined without giving that up. A producer writes a
 * message of STREAM_MIN bytes or more a piece at a time and says how far it
 * got in `partial` (tagged with the message's epoch, which its frame
 * carries too) before the one store that publishes it. A consumer that
 * finds the ring empty but a message under way copies the pieces as they
 * come and takes the message with its one store once it is published, so
 * the copy in and the copy out run at the same time on two cores. The
 * epoch in the published frame proves that the bytes copied early belong
 * to that message. A producer that dies under way leaves `partial` set;
 * whoever takes the producers' lock next clears it (a consumer whose bytes
 * stop coming takes it to find out), and the consumer starts over.
 *
 * A consumer that empties a ring far into a large arena, while no producer
 * is inside a put, moves both positions on to the start of the arena (a
 * skip frame, published and consumed: two stores, each leaving the ring
 * consistent). So a queue used a message at a time keeps reusing the same,
 * cache-warm, memory instead of sweeping an arena sized for its largest
 * message.
 *
 * Waiting: consumers spin on the ring, then sleep on not_empty; producers
 * spin on the room, then sleep on not_full -- holding their side's lock,
 * while the others queue on that lock with their own timeouts. A sleeper
 * first counts itself in its side's `sleepers`; the other side, after its
 * one store and a full fence, rings the event only when that count is
 * non-zero (a Dekker pair), so a put or get that nobody sleeps on touches
 * no cache line of the other side's but the ring's.
 *
 * Lock order: a consumer holding get_lock may try put_lock without waiting
 * (rewind, dead-producer check); nobody waits for get_lock holding
 * put_lock.
 */
#include <stdbool.h>
#include <string.h>

#include "chan/chan.h"
#include "chan/ring.h"
#include "parc.h"
#include "sys/sys.h"

#define FRAME 8u /* the length in front of each message */
/* A pipelined put publishes CHUNK bytes at a time (as pipe.c; tuned in
 * docs/performance.md), for messages of STREAM_MIN bytes and more; the
 * numbers, with REWIND_MIN and PROBE_NS, are in policy.h. */
#define CHUNK PARC__CHAN_CHUNK
#define STREAM_MIN PARC__QUEUE_STREAM_MIN
#define REWIND_MIN PARC__QUEUE_REWIND_MIN
#define PROBE_NS PARC__QUEUE_PROBE_NS

/* A frame: the length in the low LEN_BITS bits (max_msg <= 2^40), the
 * epoch of a pipelined message above them (0 for the others). */
#define LEN_BITS 42
#define LEN_MASK (((uint64_t)1 << LEN_BITS) - 1)
#define EPOCH_MAX (((uint32_t)1 << (64 - LEN_BITS)) - 2)
#define SKIP UINT64_MAX /* frame of a rewind: skip to the arena's start */

void (*parc__chan_piece_hook)(size_t written);

/* Set under a side's lock just before its one store: where the ring was
 * (+ 1) and what the count was. A holder that dies before clearing it
 * leaves it, and the next holder counts the message if the ring moved and
 * the count did not. */
struct mark {
  uint64_t pos; /* ring position + 1; 0: no mark */
  uint64_t count;
};

struct parc_queue {
  /* the producers' line, touched only under put_lock */
  _Alignas(64) pthread_mutex_t put_lock;
  struct mark put_mark;
  _Atomic uint64_t put_count; /* stored plainly under put_lock */
  uint32_t epoch;             /* of the last pipelined message */
  /* the consumers' line, touched only under get_lock */
  _Alignas(64) pthread_mutex_t get_lock;
  struct mark get_mark;
  _Atomic uint64_t taken; /* stored plainly under get_lock */
  /* the progress of a pipelined put: (epoch << LEN_BITS) | bytes written
   * past the tail; 0: none under way */
  _Alignas(64) _Atomic uint64_t partial;
  /* sleeping: written only by sleepers and by whoever wakes them */
  _Alignas(64) parc__event not_empty, not_full;
  _Atomic uint32_t get_sleepers, put_sleepers;
  parc__spin get_spin, put_spin; /* how long each side spins first */
  /* read-mostly */
  _Alignas(64) _Atomic uint32_t closing; /* close has begun: puts stop */
  _Atomic uint32_t closed; /* set under put_lock: every put that succeeded
                              is in the ring before this */
  size_t limit;            /* bytes the queue may hold (frames too) */
  size_t max_msg;
  int shared;
  int owner;                    /* the creator's pid (see parc__foreign) */
  _Alignas(64) parc__ring ring; /* last: its arena follows */
};

static size_t pow2_at_least(size_t n) {
  size_t c = 64;
  while (c < n) c <<= 1;
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
    return parc__obj_alloc_error(shared);
  q->shared = shared;
  q->owner = parc__pid();
  q->max_msg = max_msg;
  q->limit = capacity > max_msg + FRAME ? capacity : max_msg + FRAME;
  parc__event_init(&q->not_empty);
  parc__event_init(&q->not_full);
  parc__spin_init(&q->get_spin);
  parc__spin_init(&q->put_spin);
  parc__ring_init(&q->ring, cap, shared, 0, NULL, NULL, 0);
  int rc = parc__mutex_init(&q->put_lock, shared);
  if (rc == 0 && (rc = parc__mutex_init(&q->get_lock, shared)) != 0)
    pthread_mutex_destroy(&q->put_lock);
  if (rc != 0) {
    parc__obj_free(q, shared);
    return rc;
  }
  *out = q;
  return 0;
}

/* ---------------------------------------------------------------- locks */

/* The counts change only under their side's lock: a plain increment,
 * stored atomically for parc_queue_stats to read at any time. */
static void bump(_Atomic uint64_t *count) {
  atomic_store_explicit(count,
                        atomic_load_explicit(count, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

static void settle_mark(struct mark *mark, _Atomic uint64_t *pos,
                        _Atomic uint64_t *count) {
  if (mark->pos && atomic_load(pos) != mark->pos - 1 &&
      atomic_load(count) == mark->count)
    atomic_fetch_add(count, 1);
  mark->pos = 0;
}

/* Takes the producers' lock. A holder that died left the ring consistent
 * (see the top of the file); its mark makes the count good, and a
 * pipelined message it left under way is declared gone -- before this
 * holder writes a byte where it was, so a consumer copying it sees that
 * (the store is sequentially consistent: a full fence before those
 * bytes). */
static int put_lock(parc_queue *q, double timeout) {
  int rc = parc__mutex_lock(&q->put_lock, timeout, NULL);
  if (rc == PARC_EOWNERDEAD) {
    settle_mark(&q->put_mark, &q->ring.tail, &q->put_count);
    atomic_store_explicit(&q->partial, 0, memory_order_seq_cst);
    pthread_mutex_consistent(&q->put_lock);
    rc = 0;
  }
  return rc;
}

static int get_lock(parc_queue *q, double timeout) {
  int rc = parc__mutex_lock(&q->get_lock, timeout, NULL);
  if (rc == PARC_EOWNERDEAD) {
    settle_mark(&q->get_mark, &q->ring.head, &q->taken);
    pthread_mutex_consistent(&q->get_lock);
    rc = 0;
  }
  return rc;
}

/* ---------------------------------------------------------------- waiting */

typedef bool (*ready_fn)(parc_queue *q, size_t need);

/* Spins until ready(q, need), then sleeps on ev until it moves: 0 (look
 * again), PARC_EAGAIN (timeout 0) or PARC_ETIMEDOUT. */
/* Spins (as long as parc__spin says pays) for ready(q, need). */
static bool spin_until(parc_queue *q, parc__spin *sp, ready_fn ready,
                       size_t need) {
  parc__spin_try t = parc__spin_begin(sp);
  bool hit = false;
  for (unsigned i = 0; i < t.rounds && !(hit = ready(q, need)); i++)
    parc__cpu_relax();
  parc__spin_end(sp, t, hit);
  return hit;
}

static int side_wait(parc_queue *q, parc__event *ev, _Atomic uint32_t *sleepers,
                     ready_fn ready, size_t need, double timeout,
                     uint64_t deadline) {
  if (timeout == 0)
    return PARC_EAGAIN;
  if (spin_until(q, ev == &q->not_empty ? &q->get_spin : &q->put_spin, ready,
                 need))
    return 0;
  atomic_fetch_add_explicit(sleepers, 1, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst); /* pairs with wake() */
  uint32_t seen = parc__event_seq(ev);
  int rc = 0;
  if (!ready(q, need))
    rc = parc__event_wait(ev, seen, deadline, 0, q->shared);
  atomic_fetch_sub_explicit(sleepers, 1, memory_order_relaxed);
  return rc;
}

/* After a store the other side may sleep for: wake it if it does. */
static void wake(parc_queue *q, parc__event *ev, _Atomic uint32_t *sleepers) {
  atomic_thread_fence(memory_order_seq_cst); /* pairs with side_wait */
  if (atomic_load_explicit(sleepers, memory_order_relaxed) != 0)
    parc__event_signal(ev, q->shared);
}

static bool has_room(parc_queue *q, size_t need) {
  size_t used = q->ring.capacity - parc__ring_writable(&q->ring);
  return used + need <= q->limit || atomic_load(&q->closing);
}

/* A message, a pipelined one under way, or the close. */
static bool has_news(parc_queue *q, size_t need) {
  (void)need;
  return parc__ring_readable(&q->ring) >= FRAME ||
         atomic_load_explicit(&q->partial, memory_order_relaxed) != 0 ||
         atomic_load(&q->closed);
}

/* ---------------------------------------------------------------- put */

/* The producers' one store: the message, written `n` bytes past the tail,
 * goes in. */
static void put_publish(parc_queue *q, size_t n) {
  q->put_mark.count = atomic_load_explicit(&q->put_count, memory_order_relaxed);
  q->put_mark.pos = atomic_load_explicit(&q->ring.tail, memory_order_relaxed) +
                    1;
  parc__ring_publish(&q->ring, n);
  bump(&q->put_count);
  q->put_mark.pos = 0;
}

/* Writes a large message a piece at a time, saying how far it got. */
static void put_pipelined(parc_queue *q, const unsigned char *p, size_t len) {
  q->epoch = q->epoch % EPOCH_MAX + 1;
  uint64_t tag = (uint64_t)q->epoch << LEN_BITS, frame = tag | len;
  parc__ring_write_at(&q->ring, 0, &frame, FRAME);
  for (size_t done = 0; done < len;) {
    size_t k = len - done < CHUNK ? len - done : CHUNK;
    parc__ring_write_at(&q->ring, FRAME + done, p + done, k);
    done += k;
    if (done < len) {
      atomic_store_explicit(&q->partial, tag | (FRAME + done),
                            memory_order_release);
      wake(q, &q->not_empty, &q->get_sleepers);
      if (parc__chan_piece_hook)
        parc__chan_piece_hook(done);
    }
  }
  put_publish(q, FRAME + len);
  atomic_store_explicit(&q->partial, 0, memory_order_release);
}

int parc_queue_put(parc_queue *q, const void *msg, size_t len, double timeout) {
  if (!q || (len && !msg))
    return PARC_EINVAL;
  if (parc__foreign(q->shared, q->owner))
    return PARC_ENOTSHARED;
  if (len > q->max_msg)
    return PARC_ETOOBIG;
  uint64_t deadline = parc__deadline(timeout);
  int rc = put_lock(q, timeout);
  if (rc != 0)
    return rc;
  for (;;) {
    if (atomic_load(&q->closing)) {
      rc = PARC_ECLOSED;
      break;
    }
    size_t used = q->ring.capacity - parc__ring_writable(&q->ring);
    if (used + FRAME + len <= q->limit) { /* the ring itself is larger */
      if (len >= STREAM_MIN) {
        put_pipelined(q, msg, len);
      } else {
        uint64_t frame = len;
        parc__ring_write_at(&q->ring, 0, &frame, FRAME);
        parc__ring_write_at(&q->ring, FRAME, msg, len);
        put_publish(q, FRAME + len);
      }
      wake(q, &q->not_empty, &q->get_sleepers);
      break;
    }
    rc = side_wait(q, &q->not_full, &q->put_sleepers, has_room, FRAME + len,
                   timeout, deadline);
    if (rc != 0)
      break;
  }
  pthread_mutex_unlock(&q->put_lock);
  return rc;
}

int parc_queue_try_put(parc_queue *q, const void *msg, size_t len) {
  return parc_queue_put(q, msg, len, 0);
}

/* ---------------------------------------------------------------- get */

/* The consumers' one store: the message of n bytes (frame included) at
 * the head is taken. */
static void take(parc_queue *q, size_t n) {
  q->get_mark.count = atomic_load_explicit(&q->taken, memory_order_relaxed);
  q->get_mark.pos = atomic_load_explicit(&q->ring.head, memory_order_relaxed) +
                    1;
  parc__ring_consume(&q->ring, n);
  bump(&q->taken);
  q->get_mark.pos = 0;
  wake(q, &q->not_full, &q->put_sleepers);
}

/* Consumes a skip frame at the head: on to the start of the arena. */
static void skip(parc_queue *q) {
  size_t cap = q->ring.capacity;
  uint64_t head = atomic_load_explicit(&q->ring.head, memory_order_relaxed);
  parc__ring_consume(&q->ring, cap - (size_t)(head & (cap - 1)));
  wake(q, &q->not_full, &q->put_sleepers);
}

/* After a get that left the ring empty far into a large arena: if no
 * producer is inside a put (its lock is free right now), publish a skip
 * frame and consume it, so that the next message starts the arena again. */
static void maybe_rewind(parc_queue *q) {
  parc__ring *r = &q->ring;
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  size_t off = (size_t)(head & (r->capacity - 1));
  if (off < REWIND_MIN || r->capacity - off < FRAME ||
      atomic_load_explicit(&r->tail, memory_order_relaxed) != head)
    return;
  if (put_lock(q, 0) != 0)
    return; /* a producer is in: not now */
  if (atomic_load_explicit(&r->tail, memory_order_relaxed) == head) {
    uint64_t frame = SKIP;
    parc__ring_write_at(r, 0, &frame, FRAME);
    parc__ring_publish(r, r->capacity - off);
    if (parc__chan_piece_hook)
      parc__chan_piece_hook(0); /* tests: a consumer that dies here */
    parc__ring_consume(r, r->capacity - off);
  }
  pthread_mutex_unlock(&q->put_lock);
}

/* Has the pipelined message under way (last seen as `part`) moved on? */
static bool piece_came(parc_queue *q, uint64_t part) {
  return atomic_load_explicit(&q->partial, memory_order_relaxed) != part ||
         parc__ring_readable(&q->ring) > 0;
}

/* Waits for the next piece of the message under way, or its publication,
 * up to the deadline: 0 (look again) or PARC_ETIMEDOUT. A producer that
 * sends nothing for PROBE_NS may have died: its lock says so, and taking
 * it then clears the message it left (put_lock), so look again. */
static int await_piece(parc_queue *q, uint64_t part, uint64_t deadline) {
  parc__spin_try t = parc__spin_begin(&q->get_spin);
  bool hit = false;
  for (unsigned i = 0; i < t.rounds && !(hit = piece_came(q, part)); i++)
    parc__cpu_relax();
  parc__spin_end(&q->get_spin, t, hit);
  if (hit)
    return 0;
  uint64_t probe = parc__now_ns() + PROBE_NS;
  uint64_t until = deadline < probe ? deadline : probe;
  atomic_fetch_add_explicit(&q->get_sleepers, 1, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst); /* pairs with wake() */
  uint32_t seen = parc__event_seq(&q->not_empty);
  int rc = 0;
  if (!piece_came(q, part))
    rc = parc__event_wait(&q->not_empty, seen, until, 0, q->shared);
  atomic_fetch_sub_explicit(&q->get_sleepers, 1, memory_order_relaxed);
  if (rc == 0)
    return 0;
  if (until == deadline)
    return PARC_ETIMEDOUT;
  if (put_lock(q, 0) == 0)
    pthread_mutex_unlock(&q->put_lock);
  return 0;
}

/* The ring is empty and a pipelined message (`part`) is under way at its
 * head: copies it as its pieces come, and takes it once it is published.
 * Returns 0 (taken), PARC_ETOOBIG, PARC_ETIMEDOUT, or PARC_EAGAIN: it is
 * not the message it was (its producer died, or a race), look again.
 * Bytes are trusted only while `partial` still carries the same epoch, or
 * when the published frame does. */
static int take_pipelined(parc_queue *q, uint64_t part, unsigned char *buf,
                          size_t cap, size_t *len, uint64_t deadline) {
  parc__ring *r = &q->ring;
  uint64_t epoch = part >> LEN_BITS;
  size_t got = 0, n = 0;
  bool framed = false;
  for (;;) {
    if (parc__ring_readable(r) >= FRAME) { /* published: the one we copied? */
      uint64_t frame;
      parc__ring_peek(r, &frame, FRAME);
      if (frame >> LEN_BITS != epoch)
        return PARC_EAGAIN;
      n = (size_t)(frame & LEN_MASK);
      *len = n;
      if (n > cap)
        return PARC_ETOOBIG;
      parc__ring_copy_at(r, FRAME + got, buf + got, n - got);
      take(q, FRAME + n);
      return 0;
    }
    atomic_thread_fence(memory_order_acquire); /* the bytes copied, then: */
    part = atomic_load_explicit(&q->partial, memory_order_acquire);
    if (part >> LEN_BITS != epoch)
      return PARC_EAGAIN; /* published just now, or its producer died */
    size_t here = (size_t)(part & LEN_MASK) - FRAME;
    if (!framed) {
      uint64_t frame;
      parc__ring_copy_at(r, 0, &frame, FRAME);
      framed = true;
      n = (size_t)(frame & LEN_MASK);
      if (frame >> LEN_BITS != epoch)
        return PARC_EAGAIN;
      if (n > cap) { /* it stays; checked once more before saying so */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load(&q->partial) >> LEN_BITS != epoch)
          return PARC_EAGAIN;
        *len = n;
        return PARC_ETOOBIG;
      }
    }
    if (here > got) {
      parc__ring_copy_at(r, FRAME + got, buf + got, here - got);
      got = here;
      continue;
    }
    if (await_piece(q, part, deadline) != 0)
      return PARC_ETIMEDOUT;
  }
}

/* One look at the queue, holding get_lock: 0 (a message taken), PARC_EAGAIN
 * (nothing to take yet: look again, or with timeout 0 say so),
 * PARC_ETOOBIG, PARC_ECLOSED, PARC_ETIMEDOUT. */
static int get_locked(parc_queue *q, unsigned char *buf, size_t cap,
                      size_t *len, double timeout, uint64_t deadline) {
  /* Read before looking: once closed is seen, every message put is. */
  bool closed = atomic_load(&q->closed);
  uint64_t frame;
  if (parc__ring_peek(&q->ring, &frame, FRAME) == 0) {
    if (frame == SKIP) { /* a rewind whose consumer died half-way */
      skip(q);
      return get_locked(q, buf, cap, len, timeout, deadline);
    }
    *len = (size_t)(frame & LEN_MASK);
    if (*len > cap)
      return PARC_ETOOBIG; /* stays queued */
    /* Copy, then consume in one store: taken whole or not at all. */
    parc__ring_copy_at(&q->ring, FRAME, buf, *len);
    take(q, FRAME + *len);
    return 0;
  }
  uint64_t part = atomic_load_explicit(&q->partial, memory_order_acquire);
  if (part != 0 && timeout != 0)
    return take_pipelined(q, part, buf, cap, len, deadline);
  if (closed)
    return PARC_ECLOSED;
  int rc = side_wait(q, &q->not_empty, &q->get_sleepers, has_news, 0, timeout,
                     deadline);
  return rc == 0 ? PARC_EAGAIN : rc;
}

int parc_queue_get(parc_queue *q, void *buf, size_t cap, size_t *len,
                   double timeout) {
  if (!q || !len || (cap && !buf))
    return PARC_EINVAL;
  if (parc__foreign(q->shared, q->owner))
    return PARC_ENOTSHARED;
  uint64_t deadline = parc__deadline(timeout);
  int rc = get_lock(q, timeout);
  if (rc != 0)
    return rc;
  do rc = get_locked(q, buf, cap, len, timeout, deadline);
  while (rc == PARC_EAGAIN && timeout != 0); /* look again */
  if (rc == 0)
    maybe_rewind(q);
  pthread_mutex_unlock(&q->get_lock);
  return rc;
}

int parc_queue_try_get(parc_queue *q, void *buf, size_t cap, size_t *len) {
  return parc_queue_get(q, buf, cap, len, 0);
}

/* ---------------------------------------------------------------- close */

/* Puts stop first (closing, and producers waiting for room are woken);
 * then, under the put lock, so that no put is half done, the queue is
 * marked closed for the consumers. */
void parc_queue_close(parc_queue *q) {
  if (!q || parc__foreign(q->shared, q->owner))
    return; /* another process's copy: closing it would close nothing */
  atomic_store(&q->closing, 1);
  parc__event_signal(&q->not_full, q->shared);
  bool locked = put_lock(q, -1) == 0;
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

/* A shared queue is only unmapped (parc__obj_free): other processes may
 * still use it, and its locks hold no resource to release (Linux). */
void parc_queue_destroy(parc_queue *q) {
  if (!q)
    return;
  if (!q->shared) {
    pthread_mutex_destroy(&q->put_lock);
    pthread_mutex_destroy(&q->get_lock);
  }
  parc__obj_free(q, q->shared);
}
