/* sample_lines.h -- the clock and the output lines of every benchmark
 * program, `parc bench`'s transports and the comparison programs of the
 * top-level bench/ alike (bench/common.h includes this file).
 *
 * One fact a line, flushed at once so that a run cut short by a hang or a
 * crash still leaves what it had measured:
 *   sample LABEL REP SECONDS   one timed repetition (warm-ups are not printed)
 *   info   LABEL KEY=VALUE     context: sizes, thread counts, checksums
 *   error  LABEL TEXT          the benchmark could not run or saw a wrong result
 * bench/report.py and `parc bench` read these lines. Needs nothing but the
 * C library. */
#ifndef CLI_BENCH_SAMPLE_LINES_H
#define CLI_BENCH_SAMPLE_LINES_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void bench_sample(const char *label, unsigned rep,
                                double seconds) {
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

#endif
