/* fault.c -- the failure-injection switch (fault.h). Compiled only into
 * the library the fault tests link. */
#include <stdatomic.h>

#include "sys/fault.h"

static _Atomic uint64_t countdown;      /* checks left before the failure */
static const char *_Atomic failed_site; /* set when it fired */

bool parc__fault(const char *site, int err) {
  uint64_t left = atomic_load_explicit(&countdown, memory_order_relaxed);
  while (left > 0) {
    if (atomic_compare_exchange_weak(&countdown, &left, left - 1)) {
      if (left != 1)
        return false;
      atomic_store(&failed_site, site);
      errno = err;
      return true;
    }
  }
  return false;
}

void parc__fault_arm(uint64_t nth) {
  atomic_store(&failed_site, NULL);
  atomic_store(&countdown, nth);
}

const char *parc__fault_disarm(void) {
  atomic_store(&countdown, 0);
  return atomic_load(&failed_site);
}
