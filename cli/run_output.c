/* run_output.c -- what `parc run` shows while its jobs run: the jobs'
 * output and the progress (docs/parc-run.md, "Output and progress").
 *
 * A job's output is printed whole when it ends (in input order with -k),
 * or line by line as it comes with --line-buffer; with --tag each line
 * starts with the job's values. The progress goes to stderr: a bar,
 * redrawn in place, when stderr is a terminal, else a plain line every
 * PLAIN_PROGRESS seconds. All of it is written under out_lock, and the bar
 * is cleared before any other text, so a line never lands inside the bar.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "run_state.h"

#define PLAIN_PROGRESS 5.0  /* seconds between plain progress lines */

void run_bar_clear(run_state *s) {
  if (s->bar_shown) fputs("\r\033[K", stderr);
  s->bar_shown = 0;
}

static void fmt_time(char *b, size_t n, double t) {
  long v = (long)(t + 0.5);
  if (v >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else snprintf(b, n, "%ld:%02ld", v / 60, v % 60);
}

void run_progress(run_state *s, int final) {
  if (s->o.quiet || s->o.dry_run) return;
  double now = run_wall_now(), el = now - s->t0;
  if (!s->tty && !final && now - s->last_plain < PLAIN_PROGRESS) return;
  if (!s->tty && final && s->last_plain == s->t0) return; /* short run */
  size_t finished = s->ndone + s->nstopped;
  char elapsed[32], eta[32] = "-";
  fmt_time(elapsed, sizeof elapsed, el);
  if (s->ndone > 0 && s->torun > finished)
    fmt_time(eta, sizeof eta, el / (double)s->ndone * (double)(s->torun - finished));
  const char *red = s->color && s->nfailed ? "\033[31m" : "";
  const char *off = *red ? "\033[0m" : "";
  pthread_mutex_lock(&s->out_lock);
  if (s->tty) {
    char bar[31];
    size_t fill = s->torun ? 30 * finished / s->torun : 30;
    for (size_t i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K[%s] %zu/%zu done, %s%zu failed%s, %d running, "
            "%s elapsed, ETA %s", bar, s->ndone, s->torun, red, s->nfailed,
            off, atomic_load(&s->running), elapsed, eta);
    s->bar_shown = 1;
    if (final) {
      fputc('\n', stderr);
      s->bar_shown = 0;
    }
  } else {
    fprintf(stderr, "parc run: %zu/%zu done, %zu failed, %d running, %s "
            "elapsed, ETA %s\n", s->ndone, s->torun, s->nfailed,
            atomic_load(&s->running), elapsed, eta);
    s->last_plain = now;
  }
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

/* The --tag prefix: the job's values, space-separated, then a TAB. */
static void put_tag(const run_state *s, size_t index, FILE *f) {
  for (size_t k = 0; k < s->in.nsrc; k++)
    fprintf(f, "%s%s", k ? " " : "",
            s->in.src[k].values[run_inputs_pick(&s->in, index, k)]);
  fputc('\t', f);
}

static void put_text(const run_state *s, size_t index, FILE *f,
                     const char *p, size_t n) {
  if (n == 0) return;
  if (!s->o.tag) {
    fwrite(p, 1, n, f);
    return;
  }
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) + 1 : n;
    put_tag(s, index, f);
    fwrite(p, 1, k, f);
    p += k;
    n -= k;
  }
}

void run_print_job(run_state *s, const job *j) {
  if (s->o.line_buffer && !s->mpi) return; /* printed as it came */
  pthread_mutex_lock(&s->out_lock);
  run_bar_clear(s);
  put_text(s, j->index, stdout, j->res.out.data, j->res.out.len);
  fflush(stdout);
  put_text(s, j->index, stderr, j->res.err.data, j->res.err.len);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

void run_print_line(void *arg, int fd, const char *line, size_t n) {
  run_line_ctx *c = arg;
  FILE *f = fd == 1 ? stdout : stderr;
  pthread_mutex_lock(&c->s->out_lock);
  run_bar_clear(c->s);
  put_text(c->s, c->index, f, line, n);
  fflush(f);
  pthread_mutex_unlock(&c->s->out_lock);
}
