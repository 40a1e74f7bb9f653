/* clock.c -- monotonic time and deadlines. */
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

void parc__realtime_in(double seconds, struct timespec *ts) {
  clock_gettime(CLOCK_REALTIME, ts);
  long ns = ts->tv_nsec + (long)(seconds * 1e9);
  ts->tv_sec += ns / 1000000000L;
  ts->tv_nsec = ns % 1000000000L;
}
