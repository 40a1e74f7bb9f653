/* ring.c -- the SPSC byte ring (see ring.h for the design). */
#include <string.h>

#include "chan/ring.h"
#include "parc.h"

size_t parc__ring_footprint(size_t capacity) {
  return sizeof(parc__ring) + capacity;
}

void parc__ring_init(parc__ring *r, size_t capacity, int shared, int flags,
                     parc__event *data_bell, parc__event *room_bell,
                     unsigned spin) {
  r->flags = flags;
  atomic_init(&r->tail, 0);
  atomic_init(&r->head, 0);
  parc__event_init(&r->readable);
  parc__event_init(&r->writable);
  r->capacity = capacity;
  atomic_init(&r->want_room, 0);
  r->data_bell = data_bell;
  r->room_bell = room_bell;
  r->shared = shared;
  r->spin = spin;
  parc__spin_init(&r->spin_budget);
}

static int aborted(const _Atomic uint32_t *abort) {
  return abort && atomic_load_explicit(abort, memory_order_acquire) != 0;
}

void parc__ring_notify(parc__ring *r) {
  if (r->flags & PARC__RING_READER_BLOCKS)
    parc__event_signal(&r->readable, r->shared);
  if (r->data_bell)
    parc__event_signal(r->data_bell, r->shared);
}

static void publish(parc__ring *r, uint64_t tail, bool quiet) {
  atomic_store_explicit(&r->tail, tail, memory_order_release);
  if (!quiet)
    parc__ring_notify(r);
}

static void consume(parc__ring *r, uint64_t head) {
  atomic_store_explicit(&r->head, head, memory_order_seq_cst);
  if (r->flags & PARC__RING_WRITER_BLOCKS)
    parc__event_signal(&r->writable, r->shared);
  if (r->room_bell &&
      atomic_load_explicit(&r->want_room, memory_order_seq_cst) &&
      atomic_exchange_explicit(&r->want_room, 0, memory_order_seq_cst))
    parc__event_signal(r->room_bell, r->shared);
}

/* Copies n bytes into the arena at stream position pos (may wrap). */
static void copy_in(parc__ring *r, uint64_t pos, const unsigned char *p,
                    size_t n) {
  size_t off = (size_t)(pos & (r->capacity - 1));
  size_t first = r->capacity - off < n ? r->capacity - off : n;
  memcpy(r->data + off, p, first);
  memcpy(r->data, p + first, n - first);
}

static void copy_out(parc__ring *r, uint64_t pos, unsigned char *p, size_t n) {
  size_t off = (size_t)(pos & (r->capacity - 1));
  size_t first = r->capacity - off < n ? r->capacity - off : n;
  memcpy(p, r->data + off, first);
  memcpy(p + first, r->data, n - first);
}

/* Waits until `ev` moves past `seen` or the deadline / abort ends it. */
static int wait_event(parc__ring *r, parc__event *ev, uint32_t seen,
                      uint64_t deadline, const _Atomic uint32_t *abort) {
  if (aborted(abort))
    return PARC_ECLOSED;
  parc__spin_try t = {0, 0};
  if (r->spin)
    t = parc__spin_begin(&r->spin_budget);
  bool hit = parc__event_spin(ev, seen, t.rounds);
  parc__spin_end(&r->spin_budget, t, hit);
  int rc = hit ? 0 : parc__event_wait(ev, seen, deadline, 0, r->shared);
  if (aborted(abort))
    return PARC_ECLOSED;
  return rc;
}

int parc__ring_writev(parc__ring *r, const struct iovec *iov, int iovcnt,
                      bool quiet, uint64_t deadline,
                      const _Atomic uint32_t *abort) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  for (int i = 0; i < iovcnt; i++) {
    const unsigned char *p = iov[i].iov_base;
    size_t left = iov[i].iov_len;
    while (left > 0) {
      uint32_t seen = parc__event_seq(&r->writable);
      uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
      size_t room = (size_t)(r->capacity - (tail - head));
      if (room == 0) {
        publish(r, tail, false); /* the reader must drain: ring it */
        int rc = wait_event(r, &r->writable, seen, deadline, abort);
        if (rc != 0)
          return rc;
        continue;
      }
      size_t n = left < room ? left : room;
      copy_in(r, tail, p, n);
      tail += n;
      p += n;
      left -= n;
    }
  }
  publish(r, tail, quiet);
  return 0;
}

int parc__ring_read(parc__ring *r, void *p, size_t n, uint64_t deadline,
                    const _Atomic uint32_t *abort) {
  unsigned char *dst = p;
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  while (n > 0) {
    uint32_t seen = parc__event_seq(&r->readable);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t avail = (size_t)(tail - head);
    if (avail == 0) {
      int rc = wait_event(r, &r->readable, seen, deadline, abort);
      if (rc != 0)
        return rc;
      continue;
    }
    size_t k = n < avail ? n : avail;
    if (dst) {
      copy_out(r, head, dst, k);
      dst += k;
    }
    head += k;
    n -= k;
    consume(r, head);
  }
  return 0;
}

static size_t write_some(parc__ring *r, const void *p, size_t n, bool quiet) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  size_t room = (size_t)(r->capacity - (tail - head));
  if (room < n) {
    /* Dekker with consume(): set the flag, then look at head again. */
    atomic_store_explicit(&r->want_room, 1, memory_order_seq_cst);
    head = atomic_load_explicit(&r->head, memory_order_seq_cst);
    room = (size_t)(r->capacity - (tail - head));
  }
  size_t k = n < room ? n : room;
  if (k > 0) {
    copy_in(r, tail, p, k);
    publish(r, tail + k, quiet);
  }
  return k;
}

size_t parc__ring_write_some(parc__ring *r, const void *p, size_t n) {
  return write_some(r, p, n, false);
}

size_t parc__ring_write_some_quiet(parc__ring *r, const void *p, size_t n) {
  return write_some(r, p, n, true);
}

size_t parc__ring_read_some(parc__ring *r, void *p, size_t n) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  size_t avail = (size_t)(tail - head);
  size_t k = n < avail ? n : avail;
  if (k > 0) {
    if (p)
      copy_out(r, head, p, k);
    consume(r, head + k);
  }
  return k;
}

void parc__ring_write_at(parc__ring *r, size_t off, const void *p, size_t n) {
  copy_in(r, atomic_load_explicit(&r->tail, memory_order_relaxed) + off, p, n);
}

void parc__ring_publish(parc__ring *r, size_t n) {
  publish(r, atomic_load_explicit(&r->tail, memory_order_relaxed) + n, false);
}

void parc__ring_copy_at(parc__ring *r, size_t off, void *p, size_t n) {
  copy_out(r, atomic_load_explicit(&r->head, memory_order_relaxed) + off, p, n);
}

void parc__ring_consume(parc__ring *r, size_t n) {
  if (n > 0)
    consume(r, atomic_load_explicit(&r->head, memory_order_relaxed) + n);
}

int parc__ring_peek(parc__ring *r, void *p, size_t n) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  if (tail - head < n)
    return PARC_EAGAIN;
  copy_out(r, head, p, n);
  return 0;
}
