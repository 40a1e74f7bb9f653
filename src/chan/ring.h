/* ring.h -- a bounded single-producer single-consumer byte ring.
 *
 * The ring is a byte stream over an arena of `capacity` bytes (a power of
 * two): the producer owns `tail`, the consumer owns `head`, and both only
 * ever grow. Messages are framed by the caller; a message larger than the
 * arena streams through it in pieces, so no message size is too big.
 *
 * The ring may live in private memory (threads) or in a shared mapping made
 * before fork (processes): it holds no pointers except the bells, which are
 * valid in every process forked after the mapping was made.
 *
 * Waiting: a bounded spin (adaptive: parc__spin), then a futex on the
 * readable/writable event.
 * A wait also ends when *abort becomes non-zero (whoever sets it signals
 * both events), so a reader never blocks on a writer that has died.
 */
#ifndef PARC_RING_H
#define PARC_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sys/sys.h"

typedef struct parc__ring {
  _Alignas(64) _Atomic uint64_t tail; /* bytes published by the producer */
  parc__event readable;               /* signalled when tail moves */
  _Alignas(64) _Atomic uint64_t head; /* bytes consumed */
  parc__event writable;               /* signalled when head moves */
  _Atomic uint32_t want_room;         /* producer waits for room elsewhere */
  _Alignas(64) uint64_t capacity;     /* arena size, a power of two */
  parc__event *data_bell;             /* also signalled when tail moves */
  parc__event *room_bell;             /* signalled when head moves and
                                         want_room was set */
  int shared;                         /* process-shared futexes */
  int flags;                          /* PARC__RING_*_BLOCKS */
  unsigned spin;                      /* 0: never spin before sleeping */
  parc__spin spin_budget;             /* else this long (it adapts) */
  _Alignas(64) unsigned char data[];
} parc__ring;

/* Which side may sleep in a blocking call: only those events are
 * signalled, so a side that never blocks costs the other nothing. */
#define PARC__RING_READER_BLOCKS 1
#define PARC__RING_WRITER_BLOCKS 2

size_t parc__ring_footprint(size_t capacity);
void parc__ring_init(parc__ring *r, size_t capacity, int shared, int flags,
                     parc__event *data_bell, parc__event *room_bell,
                     unsigned spin);

static inline size_t parc__ring_readable(parc__ring *r) {
  return (size_t)(atomic_load_explicit(&r->tail, memory_order_acquire) -
                  atomic_load_explicit(&r->head, memory_order_relaxed));
}
static inline size_t parc__ring_writable(parc__ring *r) {
  return (size_t)(r->capacity -
                  (atomic_load_explicit(&r->tail, memory_order_relaxed) -
                   atomic_load_explicit(&r->head, memory_order_acquire)));
}

/* Writes every byte of the pieces, waiting for room as needed; the bytes
 * become visible when the arena is full or at the end. With `quiet` the
 * end publishes without ringing anyone (parc__ring_notify does later).
 * Returns 0, PARC_ETIMEDOUT or PARC_ECLOSED (abort was set). Producer only. */
int parc__ring_writev(parc__ring *r, const struct iovec *iov, int iovcnt,
                      bool quiet, uint64_t deadline,
                      const _Atomic uint32_t *abort);
/* Rings the reader for what was published quietly. Producer only. */
void parc__ring_notify(parc__ring *r);
/* Reads exactly n bytes into p (p may be NULL to discard), waiting as
 * needed. Same returns. Consumer only. */
int parc__ring_read(parc__ring *r, void *p, size_t n, uint64_t deadline,
                    const _Atomic uint32_t *abort);
/* Never blocking, for a producer or consumer that waits on a bell instead:
 * copies as much of n as fits / is there, publishes it, returns the count.
 * A write that finds no room sets want_room, so room_bell rings later. */
size_t parc__ring_write_some(parc__ring *r, const void *p, size_t n);
/* The same without telling the reader (parc__ring_notify does, once). */
size_t parc__ring_write_some_quiet(parc__ring *r, const void *p, size_t n);
size_t parc__ring_read_some(parc__ring *r, void *p, size_t n);

/* For a producer that writes a message in pieces before it publishes it
 * whole: copy to `off` bytes past the tail without publishing (the caller
 * has made sure of the room), then publish n bytes at once. */
void parc__ring_write_at(parc__ring *r, size_t off, const void *p, size_t n);
void parc__ring_publish(parc__ring *r, size_t n);

/* For a consumer that parses several messages in one pass: copy from `off`
 * bytes past the head without consuming, then consume them all at once. */
void parc__ring_copy_at(parc__ring *r, size_t off, void *p, size_t n);
void parc__ring_consume(parc__ring *r, size_t n);

/* Copies the first n bytes without consuming them: 0, or PARC_EAGAIN if
 * fewer than n are readable. Consumer only. */
int parc__ring_peek(parc__ring *r, void *p, size_t n);

#endif
