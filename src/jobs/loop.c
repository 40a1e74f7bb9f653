/* loop.c -- the iteration space of a parallel for.
 *
 * Chunk arithmetic shared by both ways a loop runs: the scheduler handing
 * chunks to process workers one batch at a time (parc__for_ops), and thread
 * workers taking chunks themselves from the job, as OpenMP's runtime does
 * (parc__loop_ops). Offsets count from `begin`, so a range as wide as 2^64 - 1
 * works; nothing here computes a + b - 1 or end - begin in signed types.
 *
 * Taking is lock-free: dynamic and guided chunks by compare-and-swap on
 * the next offset, static chunks by fetch-and-add on the worker's own
 * cursor (chunks w, w + W, w + 2W, ...).
 */
#include "pool.h"

static uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

bool parc__static_bounds(uint64_t total, int64_t chunk, unsigned workers,
                         uint64_t k, uint64_t *first, uint64_t *count) {
  if (chunk > 0) {
    uint64_t cs = (uint64_t)chunk;
    if (k >= div_up(total, cs))
      return false;
    *first = k * cs;
    *count = total - *first < cs ? total - *first : cs;
    return true;
  }
  uint64_t W = workers, q = total / W, r = total % W;
  if (k >= W || (q == 0 && k >= r))
    return false; /* past the end, or an empty share (total < workers) */
  *first = k * q + (k < r ? k : r); /* the first r shares get one more */
  *count = q + (k < r);
  return true;
}

uint64_t parc__chunk_size(parc_schedule s, int64_t chunk, unsigned workers,
                          uint64_t left) {
  uint64_t c = chunk > 0 ? (uint64_t)chunk : 1;
  if (s == PARC_SCHEDULE_GUIDED) {
    uint64_t g = div_up(left, workers);
    if (g > c)
      c = g;
  }
  return c < left ? c : left;
}

bool parc__loop_take(parc__job *j, unsigned workers, unsigned w, uint64_t *off,
                     uint64_t *count) {
  uint64_t total = (uint64_t)j->end - (uint64_t)j->begin;
  if (atomic_load_explicit(&j->loop_stop, memory_order_acquire))
    return false;
  if (j->schedule == PARC_SCHEDULE_STATIC) {
    uint64_t k = atomic_fetch_add_explicit(&j->static_next[w], workers,
                                           memory_order_relaxed);
    return parc__static_bounds(total, j->for_chunk, workers, k, off, count);
  }
  uint64_t n = atomic_load_explicit(&j->loop_next, memory_order_relaxed);
  for (;;) {
    if (n >= total)
      return false;
    uint64_t c = parc__chunk_size(j->schedule, j->for_chunk, workers,
                                  total - n);
    if (atomic_compare_exchange_weak_explicit(&j->loop_next, &n, n + c,
                                              memory_order_relaxed,
                                              memory_order_relaxed)) {
      *off = n;
      *count = c;
      return true;
    }
  }
}

bool parc__loop_exhausted(const parc__job *j, unsigned workers) {
  uint64_t total = (uint64_t)j->end - (uint64_t)j->begin, f, c;
  if (j->schedule != PARC_SCHEDULE_STATIC)
    return atomic_load(&j->loop_next) >= total;
  for (unsigned w = 0; w < workers; w++)
    if (parc__static_bounds(total, j->for_chunk, workers,
                            atomic_load(&j->static_next[w]), &f, &c))
      return false;
  return true;
}

void parc__loop_fail(parc__job *j, uint64_t off, int rc) {
  while (atomic_flag_test_and_set_explicit(&j->loop_fail_lock,
                                           memory_order_acquire))
    parc__cpu_relax(); /* held for two stores, by a failing chunk only */
  if (j->loop_fail_rc == 0 || off < j->loop_fail) {
    j->loop_fail = off;
    j->loop_fail_rc = rc;
  }
  atomic_flag_clear_explicit(&j->loop_fail_lock, memory_order_release);
}

bool parc__loop_failed(parc__job *j, uint64_t *off, int *rc) {
  while (atomic_flag_test_and_set_explicit(&j->loop_fail_lock,
                                           memory_order_acquire))
    parc__cpu_relax();
  *off = j->loop_fail;
  *rc = j->loop_fail_rc;
  atomic_flag_clear_explicit(&j->loop_fail_lock, memory_order_release);
  return *rc != 0;
}
