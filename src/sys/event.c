/* event.c -- futex-backed events.
 *
 * Correctness rests on one Dekker pair, both sides sequentially consistent:
 * the signaller increments seq, then reads sleepers; the waiter increments
 * sleepers, then re-reads seq. One of the two must see the other's write,
 * so a waiter either sees the new seq and does not sleep, or is counted
 * and woken. FUTEX_WAIT re-checks seq in the kernel, closing the last gap.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "parc.h"
#include "sys/sys.h"

static long futex(_Atomic uint32_t *addr, int op, uint32_t val,
                  const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

void parc__event_init(parc__event *e) {
  atomic_init(&e->seq, 0);
  atomic_init(&e->sleepers, 0);
}

void parc__event_signal(parc__event *e, int shared) {
  atomic_fetch_add_explicit(&e->seq, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&e->sleepers, memory_order_seq_cst) != 0)
    futex(&e->seq, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

void parc__spin_init(parc__spin *s) {
  atomic_init(&s->rounds, PARC__SPIN_MAX);
  atomic_init(&s->waits, 0);
}

parc__spin_try parc__spin_begin(parc__spin *s) {
  unsigned r = atomic_load_explicit(&s->rounds, memory_order_relaxed);
  if (r == 0 && atomic_fetch_add_explicit(&s->waits, 1, memory_order_relaxed) %
                        PARC__SPIN_RETRY ==
                    0)
    r = PARC__SPIN_MAX / 4;
  return (parc__spin_try){r, r ? parc__now_ns() : 0};
}

/* Racing waits may each store: the budget is a hint, not an invariant. A
 * spin that ended the wait late paid no more than sleeping would have --
 * on a busy machine its peer only ran once the spinner's own time slice
 * was up -- so it counts as a miss. */
void parc__spin_end(parc__spin *s, parc__spin_try t, bool hit) {
  if (t.rounds == 0)
    return;
  bool paid = hit && parc__now_ns() - t.t0 <= PARC__SPIN_PAYS_NS;
  unsigned next = paid ? (2 * t.rounds < PARC__SPIN_MAX ? 2 * t.rounds
                                                        : PARC__SPIN_MAX)
                       : (t.rounds / 2 < PARC__SPIN_MIN ? 0 : t.rounds / 2);
  atomic_store_explicit(&s->rounds, next, memory_order_relaxed);
}

bool parc__event_spin(parc__event *e, uint32_t seen, unsigned spin) {
  for (unsigned i = 0; i < spin; i++) {
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != seen)
      return true;
    parc__cpu_relax();
  }
  return false;
}

int parc__event_wait(parc__event *e, uint32_t seen, uint64_t deadline,
                     unsigned spin, int shared) {
  if (parc__event_spin(e, seen, spin))
    return 0;
  struct timespec ts, *tsp = NULL;
  if (deadline != PARC__FOREVER) {
    uint64_t now = parc__now_ns();
    if (now >= deadline)
      return PARC_ETIMEDOUT;
    uint64_t left = deadline - now;
    ts.tv_sec = (time_t)(left / 1000000000u);
    ts.tv_nsec = (long)(left % 1000000000u);
    tsp = &ts;
  }
  atomic_fetch_add_explicit(&e->sleepers, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&e->seq, memory_order_seq_cst) == seen)
    futex(&e->seq, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, seen, tsp);
  atomic_fetch_sub_explicit(&e->sleepers, 1, memory_order_seq_cst);
  return 0;
}
