/* common.h -- clock, argument parsing and output lines shared by the C
 * benchmark programs. The clock and the output lines (sample, info,
 * error) are those of `parc bench`, in ../cli/bench/sample_lines.h, which
 * bench/report.py reads. */
#ifndef PARC_BENCH_COMMON_H
#define PARC_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../cli/bench/sample_lines.h"

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
