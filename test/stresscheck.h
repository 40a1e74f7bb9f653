/* stresscheck.h -- the checks of the plain (non-Criterion) test programs:
 * the stress programs, which run under ThreadSanitizer, and the MPI pool's
 * (every rank runs every step). CHECK counts a pass or prints and counts a
 * failure, from any thread; CHECK_RC compares a parc call's rc with the
 * expected one, both printed with their names. Each program prints the
 * counts at the end and fails if `failed` is not 0. */
#ifndef PARC_STRESSCHECK_H
#define PARC_STRESSCHECK_H

#include <parc.h>
#include <stdatomic.h>
#include <stdio.h>

static _Atomic int passed, failed; /* CHECK runs in several threads */

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                     \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    int want_ = (want);                                                        \
    CHECK(rc_ == want_, "%s: got %d (%s), want %d (%s)", #expr, rc_,           \
          parc_err_name(rc_), want_, parc_err_name(want_));                    \
  } while (0)

#endif
