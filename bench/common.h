/* common.h -- clock, argument parsing and output lines shared by the C
 * benchmark programs.
 *
 * Every program prints one fact a line, flushed at once so that a run cut
 * short by a hang or a crash still leaves what it had measured:
 *   sample LABEL REP SECONDS   one timed repetition (warm-ups are not printed)
 *   info   LABEL KEY=VALUE     context: sizes, thread counts, checksums
 *   error  LABEL TEXT          the benchmark could not run or saw a wrong result
 * bench/report.py reads these lines.
 */
#ifndef PARC_BENCH_COMMON_H
#define PARC_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void bench_sample(const char *label, unsigned rep, double seconds) {
  printf("sample %s %u %.9e\n", label, rep, seconds);
  fflush(stdout);
}

static inline void bench_info(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void bench_info(const char *label, const char *fmt, ...) {
  va_list ap;
  printf("info %s ", label);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* Prints an error line (stdout, for the report) and the same on stderr,
 * then exits with status 1. */
static inline void bench_fail(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static inline void bench_fail(const char *label, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("error %s %s\n", label, msg);
  fflush(stdout);
  fprintf(stderr, "%s: %s\n", label, msg);
  exit(1);
}

/* A positive integer argument no larger than max, or exit with a message. */
static inline unsigned long long bench_arg(const char *s, const char *name,
                                           unsigned long long min,
                                           unsigned long long max) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "bad %s '%s' (want %llu..%llu)\n", name, s, min, max);
    exit(2);
  }
  return v;
}

#endif /* PARC_BENCH_COMMON_H */
