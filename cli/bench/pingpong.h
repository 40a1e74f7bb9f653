/* pingpong.h -- the round-trip driver shared by every C channel benchmark
 * (parc_queue, parc_pipe, OS pipe, socketpair, MPI): one timing loop, one
 * protocol, so the transports differ only in their send and recv.
 *
 * Two processes. The timer sends a message of s bytes; the echo receives it
 * whole into its own buffer and sends the same bytes back; the timer
 * receives them whole. One such exchange is a round trip, timed in the
 * timer process only (one clock, no cross-process clock skew).
 *
 * Protocol, every message a whole send/recv of the transport:
 *   timer -> echo   header {size, count} (16 bytes); echo -> timer the same
 *                   header back (an ack: the echo is ready and waiting)
 *   then `count` round trips of `size` bytes; size 0 ends the echo.
 * The header round trip is outside the timed interval.
 *
 * Per size: one untimed round trip, then a calibration (batches of 1, 2,
 * 4... round trips until one lasts an eighth of the target) picks the
 * round trips per repetition, `iters`, so that one repetition lasts about
 * the target time; then `warm` untimed and `reps` timed repetitions, each
 * printing (time of iters round trips) / iters. From LARGE_SIZE up, at most
 * LARGE_REPS timed and one untimed repetition (a 64 MiB round trip takes
 * tens of milliseconds on any transport; Python's, hundreds).
 *
 * Checks: every message carries a sequence number in its first and last 8
 * bytes, compared on every reply (cheap, inside the interval); after each
 * repetition the whole last reply is compared with what was sent (outside).
 * A mismatch, a short or long message, or a failed call is an error line.
 *
 * Output, one fact a line, flushed at once (sample_lines.h: the lines
 * bench/report.py and `parc bench` read):
 *   sample LABEL REP SECONDS   one timed repetition
 *   info   LABEL KEY=VALUE     context: sizes, repetitions
 *   error  LABEL TEXT          the round trips could not run or went wrong
 *
 * It lives with `parc bench` (cli/bench/), which runs it in-process, and
 * under mpirun as parc-mpi-pingpong (peer_mpi.c of the top-level bench/);
 * the comparison programs of bench/ include it from here. It needs
 * nothing but the C library: `parc bench` includes nothing from bench/.
 */
#ifndef CLI_BENCH_PINGPONG_H
#define CLI_BENCH_PINGPONG_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sample_lines.h"

#define PP_MAX_SIZES 64
#define PP_LARGE_SIZE ((size_t)16 << 20) /* from here: few repetitions */
#define PP_LARGE_REPS 5u
#define PP_MAX_ITERS ((size_t)1 << 22)

typedef struct pp_transport {
  const char *name; /* e.g. "parc_queue": labels are ch_<name>_<size> */
  /* Send len bytes to the other process / receive exactly len bytes from
   * it (a different length is an error). 0, or -1 with a reason in err. */
  int (*send)(const void *buf, size_t len, char *err, size_t errlen);
  int (*recv)(void *buf, size_t len, char *err, size_t errlen);
  /* Timer side, may be NULL: stop the echo process before failing. */
  void (*abort_peer)(void);
} pp_transport;

typedef struct pp_header {
  uint64_t size;  /* bytes per message; 0: the echo exits */
  uint64_t count; /* round trips that follow */
} pp_header;

static const pp_transport *pp_cur;
static char pp_label[96];

static void pp_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void pp_fail(const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (pp_cur != NULL && pp_cur->abort_peer != NULL)
    pp_cur->abort_peer();
  bench_fail(pp_label, "%s", msg);
}

static void pp_send(const void *buf, size_t len, const char *what) {
  char err[256] = "";
  if (pp_cur->send(buf, len, err, sizeof err) != 0)
    pp_fail("send of %s (%zu bytes): %s", what, len, err);
}

static void pp_recv(void *buf, size_t len, const char *what) {
  char err[256] = "";
  if (pp_cur->recv(buf, len, err, sizeof err) != 0)
    pp_fail("recv of %s (%zu bytes): %s", what, len, err);
}

/* The sequence number goes into the first and the last 8 bytes. */
static inline void pp_stamp(unsigned char *buf, size_t size, uint64_t seq) {
  memcpy(buf, &seq, sizeof seq);
  memcpy(buf + size - sizeof seq, &seq, sizeof seq);
}

static inline int pp_stamp_ok(const unsigned char *buf, size_t size,
                              uint64_t seq) {
  uint64_t a, b;
  memcpy(&a, buf, sizeof a);
  memcpy(&b, buf + size - sizeof b, sizeof b);
  return a == seq && b == seq;
}

static uint64_t pp_seq;

/* One header exchange, then `count` timed round trips of `size` bytes;
 * returns their total time. */
static double pp_batch(unsigned char *out, unsigned char *in, size_t size,
                       size_t count) {
  pp_header h = {size, count}, ack = {0, 0};
  pp_send(&h, sizeof h, "header");
  pp_recv(&ack, sizeof ack, "header ack");
  if (ack.size != h.size || ack.count != h.count)
    pp_fail("header ack {%llu, %llu} is not the header {%llu, %llu}",
            (unsigned long long)ack.size, (unsigned long long)ack.count,
            (unsigned long long)h.size, (unsigned long long)h.count);
  double t0 = bench_now();
  for (size_t i = 0; i < count; i++) {
    uint64_t seq = ++pp_seq;
    pp_stamp(out, size, seq);
    pp_send(out, size, "message");
    pp_recv(in, size, "reply");
    if (!pp_stamp_ok(in, size, seq))
      pp_fail("reply %zu of %zu carries the wrong sequence number", i + 1,
              count);
  }
  double t1 = bench_now();
  if (count > 0 && memcmp(in, out, size) != 0)
    pp_fail("the last reply differs from the message sent (wrong data)");
  return t1 - t0;
}

/* Round trips per repetition so that one lasts about target_s. */
static size_t pp_calibrate(unsigned char *out, unsigned char *in, size_t size,
                           double target_s) {
  pp_batch(out, in, size, 1); /* first touch of this size: page faults */
  size_t k = 1;
  for (;;) {
    double dt = pp_batch(out, in, size, k);
    if (dt >= target_s / 8 || k >= PP_MAX_ITERS) {
      double per = dt / (double)k;
      double want = per > 0 ? target_s / per : (double)PP_MAX_ITERS;
      if (want < 1)
        return 1;
      return want > (double)PP_MAX_ITERS ? PP_MAX_ITERS : (size_t)want;
    }
    k *= 2;
  }
}

static size_t pp_max_size(const size_t *sizes, int n) {
  size_t max = 16;
  for (int i = 0; i < n; i++) max = sizes[i] > max ? sizes[i] : max;
  return max;
}

/* The timer's side: every size in turn, then the end header. */
static void pp_drive(const pp_transport *t, const size_t *sizes, int nsizes,
                     unsigned reps, unsigned warm, double target_s) {
  pp_cur = t;
  snprintf(pp_label, sizeof pp_label, "ch_%s", t->name);
  size_t max = pp_max_size(sizes, nsizes);
  unsigned char *out = malloc(max), *in = malloc(max);
  if (out == NULL || in == NULL)
    pp_fail("out of memory (2 x %zu bytes)", max);
  for (size_t i = 0; i < max; i++) out[i] = (unsigned char)(i * 131 + 7);
  memset(in, 0, max);
  for (int i = 0; i < nsizes; i++) {
    size_t size = sizes[i];
    snprintf(pp_label, sizeof pp_label, "ch_%s_%zu", t->name, size);
    size_t iters = pp_calibrate(out, in, size, target_s);
    unsigned r_timed = size >= PP_LARGE_SIZE && reps > PP_LARGE_REPS
                           ? PP_LARGE_REPS
                           : reps;
    unsigned r_warm = size >= PP_LARGE_SIZE && warm > 1 ? 1 : warm;
    for (unsigned r = 0; r < r_warm + r_timed; r++) {
      double dt = pp_batch(out, in, size, iters);
      if (r >= r_warm)
        bench_sample(pp_label, r - r_warm, dt / (double)iters);
    }
    bench_info(pp_label, "size=%zu iters_per_rep=%zu reps=%u warm=%u", size,
               iters, r_timed, r_warm);
  }
  snprintf(pp_label, sizeof pp_label, "ch_%s", t->name);
  pp_header end = {0, 0}, ack;
  pp_send(&end, sizeof end, "end header");
  pp_recv(&ack, sizeof ack, "end header ack");
  free(out);
  free(in);
}

/* The echo's side: answers until the end header. Returns 0. */
static int pp_echo(const pp_transport *t, size_t max) {
  pp_cur = t;
  snprintf(pp_label, sizeof pp_label, "ch_%s_echo", t->name);
  unsigned char *buf = malloc(max > 16 ? max : 16);
  if (buf == NULL)
    pp_fail("out of memory (%zu bytes)", max);
  for (;;) {
    pp_header h;
    pp_recv(&h, sizeof h, "header");
    pp_send(&h, sizeof h, "header ack");
    if (h.size == 0 && h.count == 0)
      break;
    if (h.size > max)
      pp_fail("message size %llu is over the maximum %zu",
              (unsigned long long)h.size, max);
    for (uint64_t i = 0; i < h.count; i++) {
      pp_recv(buf, (size_t)h.size, "message");
      pp_send(buf, (size_t)h.size, "reply");
    }
  }
  free(buf);
  return 0;
}

/* "8,64,256" -> sizes; every size at least 8 bytes. Returns the count. */
static int pp_parse_sizes(const char *s, size_t *sizes, int cap) {
  int n = 0;
  while (*s != '\0') {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || v < 8 || v > ((size_t)1 << 31) || n == cap ||
        (*end != ',' && *end != '\0')) {
      fprintf(stderr,
              "bad SIZES '%s' (want a comma-separated list of 8..2^31)\n", s);
      exit(2);
    }
    sizes[n++] = (size_t)v;
    s = *end == ',' ? end + 1 : end;
  }
  if (n == 0) {
    fprintf(stderr, "SIZES is empty\n");
    exit(2);
  }
  return n;
}

#endif /* CLI_BENCH_PINGPONG_H */
