/* lanes.c -- batches into a worker's inbound lane, results out of its
 * outbound one, framed as wire.h says.
 *
 * The scheduler never blocks on a lane: batches and results move piece by
 * piece as room or data appears (the worker's reads and writes ring the
 * doorbell), so a worker blocked writing a big result can never deadlock
 * against the scheduler writing it a big input. What a batch carries and
 * where a result's output goes, the job's kind says (j->ops).
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* ---------------------------------------------------------------- sending */

void parc__tx_add_inputs(parc__worker *w, const parc__job *j,
                         const parc__batch *b) {
  const unsigned char *first = j->in + b->first * j->in_size;
  if (j->in_shared)
    w->tx.hdr.in_ptr = (uint64_t)(uintptr_t)first;
  else
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){(void *)first,
                                               b->count * j->in_size};
}

void parc__tx_prepare(parc__worker *w, const parc__batch *b) {
  parc__job *j = b->job;
  parc__msg_batch *m = &w->tx.hdr;
  memset(m, 0, sizeof *m);
  m->seq = b->seq;
  m->count = b->count;
  m->fn = j->fn;
  w->tx.iov[0] = (struct iovec){m, sizeof *m};
  w->tx.iovcnt = 1;
  j->ops->write(w, b);
  w->tx.cur = 0;
  w->tx.off = 0;
  w->tx.active = true;
}

/* Writes what fits of the batch being sent; true if anything moved. */
bool parc__tx_pump(parc__worker *w) {
  bool moved = false;
  while (w->tx.active) {
    struct iovec *v = &w->tx.iov[w->tx.cur];
    size_t left = v->iov_len - w->tx.off;
    size_t k = left ? parc__ring_write_some_quiet(
                          w->slot->to_worker, (char *)v->iov_base + w->tx.off,
                          left)
                    : 0;
    w->tx.off += k;
    moved |= k > 0;
    if (w->tx.off < v->iov_len)
      break; /* lane full: the worker's reads will ring the doorbell */
    w->tx.off = 0;
    if (++w->tx.cur == w->tx.iovcnt)
      w->tx.active = false;
  }
  if (moved)
    parc__ring_notify(w->slot->to_worker); /* once for all the pieces */
  return moved;
}

void parc__send_stop(parc__worker *w) {
  memset(&w->tx.hdr, 0, sizeof w->tx.hdr);
  w->tx.hdr.kind = MSG_STOP;
  w->tx.iov[0] = (struct iovec){&w->tx.hdr, sizeof w->tx.hdr};
  w->tx.iovcnt = 1;
  w->tx.cur = 0;
  w->tx.off = 0;
  w->tx.active = true;
  parc__tx_pump(w);
}

/* ---------------------------------------------------------------- results */

int parc__result_error(const parc__msg_result *r) {
  if (r->flags & PARC__RESULT_LIBRARY_RC)
    return r->rc; /* a library code from the worker */
  return r->rc ? PARC_ETASK : 0;
}

static void fifo_pop(parc__worker *w) {
  w->fifo_head = (w->fifo_head + 1) % PARC__INFLIGHT;
  w->fifo_len--;
}

static void take_result(parc_pool *p, parc__worker *w) {
  parc__batch *b = parc__fifo_at(w, 0);
  parc__job *j = b->job;
  w->units_received++;
  p->warm = w->id;
  j->ops->take(p, w, b, &w->rx.hdr, parc__result_error(&w->rx.hdr));
  if (++b->done == b->units) {
    parc__job_unref(j);
    fifo_pop(w);
  }
  memset(&w->rx, 0, sizeof w->rx);
}

/* Reads whatever results have arrived from w, in one pass over the lane
 * with a single consume at the end; true if anything moved. */
bool parc__collect(parc_pool *p, parc__worker *w) {
  parc__ring *r = w->slot->from_worker;
  size_t avail = parc__ring_readable(r), off = 0;
  bool moved = false;
  while (w->fifo_len > 0) {
    if (w->rx.hdr_got < sizeof w->rx.hdr) {
      size_t k = sizeof w->rx.hdr - w->rx.hdr_got;
      if (k > avail - off)
        k = avail - off;
      parc__ring_copy_at(r, off, (char *)&w->rx.hdr + w->rx.hdr_got, k);
      off += k;
      w->rx.hdr_got += k;
      if (w->rx.hdr_got < sizeof w->rx.hdr)
        break;
    }
    size_t size;
    parc__batch *b = parc__fifo_at(w, 0);
    unsigned char *dst = b->job->ops->result_to(w, b, &size);
    size_t k = size - w->rx.payload_got;
    if (k > avail - off)
      k = avail - off;
    if (dst && k)
      parc__ring_copy_at(r, off, dst + w->rx.payload_got, k);
    off += k;
    w->rx.payload_got += k;
    if (w->rx.payload_got < size)
      break; /* a big result: the rest comes as room appears */
    take_result(p, w);
    moved = true;
  }
  parc__ring_consume(r, off);
  return moved || off > 0;
}
