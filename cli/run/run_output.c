/* run_output.c -- what `parc run` shows while its jobs run: the jobs'
 * output and the progress (docs/parc-run.md, "Output and progress").
 *
 * A job's output is printed whole when it ends (in input order with -k),
 * or line by line as it comes with --line-buffer; with -v its command line
 * comes first; with --tag or --tagstring each line starts with the job's
 * tag (computed once per job by the lane: run_job_tag). The progress goes
 * to stderr: parc's own bar, redrawn in place and cut to the terminal's
 * width, when stderr is a terminal, else a plain line every
 * PLAIN_PROGRESS seconds; or, with --bar / --eta, GNU parallel's own
 * formats. All of it is written under out_lock, and the bar is cleared
 * before any other text, so a line never lands inside the bar.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "run_state.h"

#define PLAIN_PROGRESS 5.0 /* seconds between plain progress lines */
#define BAR_MAX 30         /* cells of parc's bar on a wide terminal */
#define BAR_MIN 5          /* narrower than this: no bar, only the text */

void run_bar_clear(run_state *s) {
  if (s->bar_shown)
    fputs("\r\033[K", stderr);
  s->bar_shown = 0;
}

/* The terminal's width: stderr's window, else $COLUMNS, else 80. */
static size_t term_cols(void) {
  struct winsize ws;
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  const char *c = getenv("COLUMNS");
  long v = c ? strtol(c, NULL, 10) : 0;
  return v > 0 && v < 10000 ? (size_t)v : 80;
}

static void fmt_time(char *b, size_t n, double t) {
  long v = (long)(t + 0.5);
  if (v >= 3600)
    snprintf(b, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else
    snprintf(b, n, "%ld:%02ld", v / 60, v % 60);
}

/* ------------------------------------------------------------ parc's own */

/* The bar and its text on one line that fits the terminal: the bar
 * shrinks first, then goes, then the text is cut. */
static void draw_bar(run_state *s, const char *text, size_t text_len,
                     const char *red, const char *off, size_t finished) {
  size_t cols = term_cols(), room = cols > 1 ? cols - 1 : 1;
  size_t cells = room > text_len + 3 ? room - text_len - 3 : 0;
  if (cells > BAR_MAX)
    cells = BAR_MAX;
  fputs("\r\033[K", stderr);
  if (cells >= BAR_MIN) {
    char bar[BAR_MAX + 1];
    size_t fill = s->torun ? cells * finished / s->torun : cells;
    for (size_t i = 0; i < cells; i++) bar[i] = i < fill ? '#' : '.';
    bar[cells] = '\0';
    fprintf(stderr, "[%s] ", bar);
  }
  /* the text, in red from " failed" back to its number when there are */
  const char *f = strstr(text, " failed");
  size_t shown = text_len < room ? text_len : room;
  if (*red && f) {
    size_t at = (size_t)(f - text);
    while (at > 0 && text[at - 1] != ' ') at--;
    size_t end = (size_t)(f - text) + 7;
    if (end <= shown) {
      fprintf(stderr, "%.*s%s%.*s%s%.*s", (int)at, text, red, (int)(end - at),
              text + at, off, (int)(shown - end), text + end);
      return;
    }
  }
  fwrite(text, 1, shown, stderr);
}

/* parc's own progress line (not GNU's --bar or --eta). */
static void own_progress(run_state *s, int final) {
  double now = run_wall_now(), el = now - s->t0;
  if (!s->tty && !final && now - s->last_plain < PLAIN_PROGRESS)
    return;
  if (!s->tty && final && s->last_plain == s->t0)
    return; /* short run */
  size_t finished = s->ndone + s->nstopped;
  char elapsed[32], eta[32] = "-", text[256];
  fmt_time(elapsed, sizeof elapsed, el);
  if (s->ndone > 0 && s->torun > finished)
    fmt_time(eta, sizeof eta,
             el / (double)s->ndone * (double)(s->torun - finished));
  int n = snprintf(text, sizeof text,
                   "%zu/%zu done, %zu failed, %d running, "
                   "%s elapsed, ETA %s",
                   s->ndone, s->torun, s->nfailed, atomic_load(&s->running),
                   elapsed, eta);
  size_t len = n < 0                     ? 0
               : (size_t)n < sizeof text ? (size_t)n
                                         : sizeof text - 1;
  const char *red = s->color && s->nfailed ? "\033[31m" : "";
  const char *off = *red ? "\033[0m" : "";
  pthread_mutex_lock(&s->out_lock);
  if (s->tty) {
    draw_bar(s, text, len, red, off, finished);
    s->bar_shown = 1;
    if (final) {
      fputc('\n', stderr);
      s->bar_shown = 0;
    }
  } else {
    fprintf(stderr, "parc run: %s\n", text);
    s->last_plain = now;
  }
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

/* ------------------------------------------------------------ GNU's */

typedef struct eta_nums {
  size_t total, completed, left;
  double pct, avg;
  long eta;
} eta_nums;

/* GNU parallel's compute_eta: a smoothed average time per job since the
 * first one finished, and an ETA that does not jump up by under 10%. */
static eta_nums compute_eta(run_state *s, double now) {
  eta_nums e = {0};
  e.completed = s->ndone;
  e.total = s->torun > e.completed ? s->torun : e.completed;
  e.left = e.total - e.completed;
  if (e.completed == 0)
    return e;
  e.pct = (double)e.completed / (double)e.total;
  if (s->first_done == 0)
    s->first_done = now;
  e.avg = (now - s->first_done) / (double)e.completed;
  if (s->eta_avg == 0)
    s->eta_avg = e.avg;
  s->eta_avg = (1 - e.pct) * s->eta_avg + e.pct * e.avg;
  e.eta = (long)((double)e.left * s->eta_avg);
  if ((double)e.eta * 0.9 < (double)s->last_eta && s->last_eta < e.eta)
    e.eta = s->last_eta;
  else
    s->last_eta = e.eta;
  return e;
}

/* GNU's seconds_to_time_units: 5s, 2m05s, 1h02m05s, 1d01h02m05s. */
static void time_units(char *b, size_t n, long v) {
  long d = v / 86400, h = v / 3600 % 24, m = v / 60 % 60, sec = v % 60;
  if (d)
    snprintf(b, n, "%ldd%02ldh%02ldm%02lds", d, h, m, sec);
  else if (h)
    snprintf(b, n, "%ldh%02ldm%02lds", h, m, sec);
  else if (m)
    snprintf(b, n, "%ldm%02lds", m, sec);
  else
    snprintf(b, n, "%lds", sec);
}

/* The newest job's arguments ({}), for --bar. */
static char *newest_args(run_state *s) {
  size_t newest = atomic_load(&s->newest);
  return newest ? run_expand_joined(s, s->args_tmpl, newest - 1, 1) : NULL;
}

/* GNU's --bar: a line for zenity, then the percentage, then the text in
 * reverse video up to the share done, all the terminal's width. */
static void gnu_bar(run_state *s, int final) {
  eta_nums e = compute_eta(s, run_wall_now());
  size_t cols = term_cols();
  char units[32], *arg = newest_args(s);
  time_units(units, sizeof units, e.eta);
  char *text = NULL, *zen = NULL;
  if (asprintf(&text, "%d%% %zu:%zu=%s %s", (int)(e.pct * 100), e.completed,
               e.left, units, arg ? arg : "") < 0)
    text = NULL;
  if (asprintf(&zen, "#   %ld sec %s", e.eta, arg ? arg : "") < 0)
    zen = NULL;
  free(arg);
  if (text && zen) {
    size_t width = (size_t)((double)cols * e.pct), tl = strlen(text);
    size_t zl = strlen(zen);
    if (width > cols)
      width = cols;
    pthread_mutex_lock(&s->out_lock);
    fprintf(stderr, "\r%-*.*s\r%.15g\r\033[7m", (int)cols,
            (int)(zl < cols ? zl : cols), zen, e.pct * 100);
    for (size_t i = 0; i < cols; i++) {
      if (i == width)
        fputs("\033[0m", stderr);
      fputc(i < tl ? text[i] : ' ', stderr);
    }
    if (width >= cols)
      fputs("\033[0m", stderr);
    fputs(final ? "\033[0m\n" : "\033[0m", stderr);
    fflush(stderr);
    pthread_mutex_unlock(&s->out_lock);
  }
  free(text);
  free(zen);
}

/* GNU's --eta: the first of its formats that fits the terminal. */
static void gnu_eta(run_state *s, int final) {
  double now = run_wall_now();
  eta_nums e = compute_eta(s, now);
  size_t cols = term_cols();
  size_t running = (size_t)atomic_load(&s->running);
  size_t started = s->nstarted + running;
  char status[512], *p = status;
  p += snprintf(p, 128, "ETA: %lds Left: %zu AVG: %.2fs  ", e.eta, e.left,
                e.avg);
  const char *header;
  if (started) {
    unsigned pct = (unsigned)((running + s->ndone) * 100 / started);
    double t = s->ndone ? (now - s->t0) / (double)s->ndone : 0;
    char *q = p;
    header = "Computer:jobs running/jobs completed/%of started jobs/"
             "Average seconds to complete";
    q += snprintf(q, 128, "local:%zu/%zu/%u%%/%.1fs ", running, s->ndone, pct,
                  t);
    if ((size_t)(q - status) > cols) {
      header = "Computer:jobs running/jobs completed";
      snprintf(p, 128, "local:%zu/%zu", running, s->ndone);
    }
  } else {
    header = "Computer:jobs running/jobs completed/%of started jobs/"
             "Average seconds to complete";
  }
  pthread_mutex_lock(&s->out_lock);
  if (s->eta_header != header) {
    fprintf(stderr, "\n%s\n", header);
    s->eta_header = header;
  }
  fprintf(stderr, final ? "\r%s\n" : "\r%s", status);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

/* Before the first job: GNU's list of computers (--eta). */
void run_progress_start(run_state *s) {
  if (!s->o.eta || s->o.bar || s->o.quiet || s->o.dry_run)
    return;
  pthread_mutex_lock(&s->out_lock);
  fprintf(stderr,
          "\nComputers / CPU cores / Max jobs to run\n"
          "1:local / %u / %u\n",
          parc_physical_cores(), s->o.jobs);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

void run_progress(run_state *s, int final) {
  if (s->o.quiet || s->o.dry_run)
    return;
  if (s->o.bar)
    gnu_bar(s, final);
  else if (s->o.eta)
    gnu_eta(s, final);
  else
    own_progress(s, final);
}

/* ------------------------------------------------------------ output */

static void put_text(const char *tag, FILE *f, const char *p, size_t n) {
  if (n == 0)
    return;
  if (tag == NULL) {
    fwrite(p, 1, n, f);
    return;
  }
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) + 1 : n;
    fputs(tag, f);
    fputc('\t', f);
    fwrite(p, 1, k, f);
    p += k;
    n -= k;
  }
}

static void put_command(const char *tag, FILE *f, const char *line) {
  put_text(tag, f, line, strlen(line));
  fputc('\n', f);
}

void run_print_command(run_state *s, const char *tag, FILE *f,
                       const char *line) {
  pthread_mutex_lock(&s->out_lock);
  run_bar_clear(s);
  put_command(tag, f, line);
  fflush(f);
  pthread_mutex_unlock(&s->out_lock);
}

void run_print_job(run_state *s, const job *j) {
  if ((s->o.line_buffer && !s->mpi) || s->o.ungroup)
    return; /* as it came */
  pthread_mutex_lock(&s->out_lock);
  run_bar_clear(s);
  if ((s->o.verbose & RUN_VERBOSE_STDOUT) && j->line)
    put_command(j->tag, stdout, j->line);
  put_text(j->tag, stdout, j->res.out.data, j->res.out.len);
  fflush(stdout);
  put_text(j->tag, stderr, j->res.err.data, j->res.err.len);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

void run_print_line(void *arg, int fd, const char *line, size_t n) {
  run_line_ctx *c = arg;
  FILE *f = fd == 1 ? stdout : stderr;
  pthread_mutex_lock(&c->s->out_lock);
  run_bar_clear(c->s);
  put_text(c->tag, f, line, n);
  fflush(f);
  pthread_mutex_unlock(&c->s->out_lock);
}

void run_print_status(run_state *s, const char *text) {
  pthread_mutex_lock(&s->out_lock);
  run_bar_clear(s);
  fputs(text, stderr);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}

/* ------------------------------------------------------------ summary */

static void put_failed(const run_failed *f, size_t cols) {
  char why[64];
  if (f->timed_out)
    snprintf(why, sizeof why, "timed out");
  else if (f->signal)
    snprintf(why, sizeof why, "signal %d", f->signal);
  else
    snprintf(why, sizeof why, "exit %d", f->exit_code);
  char head[96];
  int n = snprintf(head, sizeof head, "  #%zu %s: ", f->index + 1, why);
  size_t used = n > 0 ? (size_t)n : 0,
         room = cols > used + 1 ? cols - used - 1 : 0;
  const char *line = f->line ? f->line : "";
  size_t len = strcspn(line, "\n");
  if (len > room)
    len = room > 3 ? room - 3 : 0;
  fprintf(stderr, "%s%.*s%s\n", head, (int)len, line,
          len < strcspn(line, "\n") || line[len] == '\n' ? "..." : "");
}

void run_print_failed(run_state *s) {
  if (s->nfailed == 0 || !s->tty || s->o.quiet || s->o.dry_run)
    return;
  size_t cols = term_cols();
  pthread_mutex_lock(&s->out_lock);
  run_bar_clear(s);
  fprintf(stderr, "parc run: %zu of %zu jobs failed:\n", s->nfailed, s->ndone);
  for (size_t i = 0; i < s->nfailed_kept; i++) put_failed(&s->failed[i], cols);
  if (s->nfailed > s->nfailed_kept)
    fprintf(stderr, "  ... and %zu more\n", s->nfailed - s->nfailed_kept);
  fflush(stderr);
  pthread_mutex_unlock(&s->out_lock);
}
