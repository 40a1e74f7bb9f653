/* run_wire.c -- a job of `parc run` as it travels between MPI ranks
 * (parc-run-mpi: docs/parc-run.md, "Across nodes: mpirun").
 *
 * A task of the PARC_MPI pool takes flat bytes and gives flat bytes of a
 * size fixed when it is submitted. The job goes as its index and attempt
 * (every rank parsed the same command line, so each expands the template
 * itself); the result comes back as one run_wire_res: the exit status,
 * the times, where it ran, whether it was stopped early, and the captured
 * output.
 *
 * Output is bounded: stdout keeps at most RUN_WIRE_OUT bytes and stderr
 * RUN_WIRE_ERR. A longer stream keeps its first and its last bytes with a
 * one-line note in between saying how much was cut, so the last line
 * (where a JSON metrics object goes) survives.
 */
#include <stdio.h>
#include <string.h>

#include "run.h"

#define RUN_WIRE_OUT (48u * 1024u)
#define RUN_WIRE_ERR (16u * 1024u)

typedef struct run_wire_res {
  int32_t exit_code, signal, timed_out, stopped, not_started;
  uint32_t slot;      /* the slot it ran in, on its rank (1..-j) */
  int32_t oom;        /* --memory: it ran out of its limit */
  int32_t pruned;     /* --halving stopped it early */
  uint64_t mem_limit; /* --memory: the limit it ran under */
  double start, runtime;
  uint32_t out_len, err_len;
  char host[RUN_HOST_MAX];                /* "hostname:rank" */
  char data[RUN_WIRE_OUT + RUN_WIRE_ERR]; /* stdout, then stderr */
} run_wire_res;

size_t run_wire_res_size(void) { return sizeof(run_wire_res); }

/* Copies b into dst (cap bytes at most), cut in the middle if longer. */
static uint32_t put_stream(char *dst, size_t cap, const run_buf *b) {
  if (b->len <= cap) {
    if (b->len)
      memcpy(dst, b->data, b->len);
    return (uint32_t)b->len;
  }
  char note[160];
  int m = snprintf(note, sizeof note,
                   "\n[parc run: output cut here: %zu bytes, of which at "
                   "most %zu travel between ranks]\n",
                   b->len, cap);
  size_t nl = (size_t)m < sizeof note ? (size_t)m : sizeof note - 1;
  size_t head = (cap - nl) / 2, tail = cap - nl - head;
  memcpy(dst, b->data, head);
  memcpy(dst + head, note, nl);
  memcpy(dst + head + nl, b->data + b->len - tail, tail);
  return (uint32_t)cap;
}

void run_wire_put(void *out, const run_result *r, int not_started,
                  unsigned slot) {
  run_wire_res *w = out;
  w->exit_code = r->exit_code;
  w->signal = r->signal;
  w->timed_out = r->timed_out;
  w->stopped = r->stopped;
  w->not_started = not_started;
  w->slot = slot;
  w->oom = r->oom;
  w->pruned = r->pruned;
  w->mem_limit = r->mem_limit;
  w->start = r->start;
  w->runtime = r->runtime;
  memcpy(w->host, r->host, sizeof w->host);
  w->host[sizeof w->host - 1] = '\0';
  w->out_len = put_stream(w->data, RUN_WIRE_OUT, &r->out);
  w->err_len = put_stream(w->data + w->out_len, RUN_WIRE_ERR, &r->err);
}

int run_wire_get(const void *in, run_result *r, int *not_started,
                 unsigned *slot) {
  const run_wire_res *w = in;
  if (w->out_len > RUN_WIRE_OUT || w->err_len > RUN_WIRE_ERR)
    return -1;
  r->exit_code = w->exit_code;
  r->signal = w->signal;
  r->timed_out = w->timed_out;
  r->stopped = w->stopped;
  r->oom = w->oom != 0;
  r->pruned = w->pruned != 0;
  r->mem_limit = w->mem_limit;
  r->start = w->start;
  r->runtime = w->runtime;
  memcpy(r->host, w->host, sizeof r->host);
  r->host[sizeof r->host - 1] = '\0';
  *not_started = w->not_started;
  *slot = w->slot;
  r->out.len = r->err.len = 0;
  return run_buf_add(&r->out, w->data, w->out_len) ||
                 run_buf_add(&r->err, w->data + w->out_len, w->err_len)
             ? -1
             : 0;
}
