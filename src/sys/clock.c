/* clock.c -- monotonic time and deadlines. */
#include <stdatomic.h>
#include <time.h>

#include "sys/sys.h"

uint64_t parc__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t parc__deadline(double seconds) {
  if (seconds < 0 || seconds > 1e9)
    return PARC__FOREVER;
  return parc__now_ns() + (uint64_t)(seconds * 1e9);
}

void parc__abs_time(double seconds, struct timespec *ts) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  if (seconds > 1e9)
    seconds = 1e9;
  time_t whole = (time_t)seconds;
  ts->tv_sec += whole;
  ts->tv_nsec += (long)((seconds - (double)whole) * 1e9);
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* ---- the pid, cached (here for want of a better home: it is as cheap a
 * question as the clock) */
#include <pthread.h>
#include <unistd.h>

static _Atomic int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void) { atomic_store(&cached_pid, 0); }
static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_pid); }

int parc__pid(void) {
  int pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
  if (pid == 0) {
    pthread_once(&pid_once, watch_forks);
    pid = (int)getpid();
    atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
  }
  return pid;
}
