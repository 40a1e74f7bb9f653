/* cacheline.c -- the machine's floor for a round trip between two cores.
 *
 *   parc-bench-cacheline ITERS REPS WARM
 *
 * Two threads, pinned to the first two CPUs this process may use, pass a
 * counter back and forth through one cache-line-aligned C11 atomic: the
 * main thread stores 2k+1 and waits for 2k+2, the partner waits for 2k+1
 * and stores 2k+2. One round trip = the line moving to the other core and
 * back. A repetition times ITERS round trips and reports the mean.
 *
 * The waits spin (that is what is being measured) but are bounded: after a
 * while they yield, and past a deadline they give up and the run fails,
 * so a machine where pinning did not work is slow, never hung.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

#define SPINS_BEFORE_YIELD (1ul << 16)
#define DEADLINE_S 30.0

struct line {
  _Alignas(64) atomic_ulong seq; /* alone on its line: the only shared word */
  char pad[64 - sizeof(atomic_ulong)];
};

static struct line g_line;

struct partner {
  unsigned long rounds; /* round trips the main thread will ask for */
  int cpu;              /* CPU to pin to, or -1 */
  int pinned;           /* out: 1 if pinning worked */
  int failed;           /* out: 1 if a wait passed the deadline */
};

/* Waits until seq == want; 0, or -1 past the deadline. */
static int wait_for(unsigned long want, double deadline) {
  for (unsigned long spins = 1;; spins++) {
    if (atomic_load_explicit(&g_line.seq, memory_order_acquire) == want)
      return 0;
    if (spins % SPINS_BEFORE_YIELD == 0) {
      if (bench_now() > deadline)
        return -1;
      sched_yield();
    }
  }
}

static int pin_self(int cpu) {
  if (cpu < 0)
    return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

static void *partner_main(void *arg) {
  struct partner *p = arg;
  p->pinned = pin_self(p->cpu);
  double deadline = bench_now() + DEADLINE_S;
  for (unsigned long k = 0; k < p->rounds; k++) {
    if (wait_for(2 * k + 1, deadline) != 0) {
      p->failed = 1;
      return NULL;
    }
    atomic_store_explicit(&g_line.seq, 2 * k + 2, memory_order_release);
  }
  return NULL;
}

/* The first two CPUs in this process's affinity mask, or -1s. */
static void pick_cpus(int *a, int *b) {
  cpu_set_t set;
  *a = *b = -1;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &set))
      continue;
    if (*a < 0) {
      *a = c;
    } else {
      *b = c;
      return;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: parc-bench-cacheline ITERS REPS WARM\n");
    return 2;
  }
  unsigned long iters = (unsigned long)bench_arg(argv[1], "ITERS", 1,
                                                 1ul << 30);
  unsigned reps = (unsigned)bench_arg(argv[2], "REPS", 1, 1000);
  unsigned warm = (unsigned)bench_arg(argv[3], "WARM", 0, 1000);
  int cpu_a, cpu_b;
  pick_cpus(&cpu_a, &cpu_b);
  if (cpu_b < 0)
    bench_fail("cacheline_rtt", "fewer than two CPUs available: no "
                                "core-to-core round trip to measure");

  struct partner p;
  memset(&p, 0, sizeof p);
  p.rounds = iters * (warm + reps);
  p.cpu = cpu_b;
  atomic_init(&g_line.seq, 0);
  pthread_t tid;
  int rc = pthread_create(&tid, NULL, partner_main, &p);
  if (rc != 0)
    bench_fail("cacheline_rtt", "pthread_create: %s", strerror(rc));
  int pinned_a = pin_self(cpu_a);

  double deadline = bench_now() + DEADLINE_S;
  unsigned long k = 0;
  int failed = 0;
  for (unsigned r = 0; r < warm + reps && !failed; r++) {
    double t0 = bench_now();
    for (unsigned long i = 0; i < iters; i++, k++) {
      atomic_store_explicit(&g_line.seq, 2 * k + 1, memory_order_release);
      if (wait_for(2 * k + 2, deadline) != 0) {
        failed = 1;
        break;
      }
    }
    double t1 = bench_now();
    if (!failed && r >= warm)
      bench_sample("cacheline_rtt", r - warm, (t1 - t0) / (double)iters);
  }
  if (failed) /* let the partner run out its own deadline, then report */
    atomic_store_explicit(&g_line.seq, ~0ul, memory_order_release);
  rc = pthread_join(tid, NULL);
  if (rc != 0)
    bench_fail("cacheline_rtt", "pthread_join: %s", strerror(rc));
  if (failed || p.failed)
    bench_fail("cacheline_rtt", "ping-pong passed its %.0f s deadline",
               DEADLINE_S);
  bench_info("cacheline_rtt", "iters=%lu cpus=%d,%d pinned=%s", iters, cpu_a,
             cpu_b, pinned_a && p.pinned ? "yes" : "no");
  return 0;
}
