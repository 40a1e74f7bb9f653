/* bench_plot.c -- the bandwidth-vs-size plot: log-log, one colour per
 * transport, the measured points (bandwidth = size / median one-way time)
 * and the fitted curves s / T(s) = s / (mu + s/B), solid over the range
 * where the model fits, dashed over the ranges after a break.
 *
 * The plot is a gnuplot script, DIR/bandwidth.gp, reading DIR/transports.csv;
 * gnuplot runs it in DIR to draw bandwidth.png and bandwidth.svg. Without
 * gnuplot the script stays, to be run later (`cd DIR && gnuplot
 * bandwidth.gp`).
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define SCRIPT "bandwidth.gp"
#define LOG "gnuplot.log"

static void write_terminal(FILE *f, const char *kind) {
  if (strcmp(kind, "png") == 0)
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size 1000,650 noenhanced font ',10'\n"
          "} else {\n"
          "  set terminal png size 1000,650 noenhanced\n"
          "}\n"
          "set output 'bandwidth.png'\n",
          f);
  else
    fputs("set terminal svg size 1000,650 noenhanced dynamic font 'sans,11'\n"
          "set output 'bandwidth.svg'\n",
          f);
}

/* x tics at powers of 8 times the smallest size, named "8 B", "4 KiB"... */
static void write_axes(const bench_run *r, FILE *f) {
  const size_t *sz = r->cfg.sizes;
  size_t lo = sz[0], hi = sz[r->cfg.nsizes - 1];
  fprintf(f,
          "set datafile separator ','\nset logscale xy\nset grid\n"
          "set samples 400\nset key bottom right box opaque\n"
          "set xrange [%g:%g]\nset xtics (",
          (double)lo / 1.5, (double)hi * 1.5);
  char name[32];
  for (size_t s = lo; s <= hi; s *= 8) {
    fprintf(f, "%s'%s' %zu", s == lo ? "" : ", ",
            bench_fmt_size(s, name, sizeof name), s);
    if (s > hi / 8)
      break;
  }
  fputs(
      ")\nset xlabel 'message size'\n"
      "set ylabel 'bandwidth = size / one-way time (MB/s, 10^6 bytes/s)'\n"
      "set title 'parc bench: ping-pong between two processes; points measured "
      "(median), lines T(s) = mu + s/B fitted (dashed: after a break)'\n",
      f);
}

/* One function per fitted range: f_K_J(x), undefined outside the range. */
static void write_functions(const bench_run *r, FILE *f) {
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    const bench_series *s = &r->tr[k];
    if (s->status != BENCH_OK)
      continue;
    for (size_t j = 0; j < s->fit.nseg; j++) {
      const bench_line *l = &s->fit.seg[j];
      fprintf(f,
              "f_%d_%zu(x) = (x >= %zu && x <= %zu && %.9g + %.9g * x > 0) ? "
              "x / (%.9g + %.9g * x) / 1e6 : 1/0\n",
              k, j, s->pt[l->first].size, s->pt[l->last].size, l->mu, l->slope,
              l->mu, l->slope);
    }
  }
}

static void write_plot(const bench_run *r, FILE *f) {
  const char *sep = "plot ";
  char mu[32];
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    const bench_series *s = &r->tr[k];
    if (s->status != BENCH_OK)
      continue;
    fprintf(
        f,
        "%s'transports.csv' every ::1 using 2:(strcol(1) eq '%s' ? $10 : 1/0) "
        "with points pt 7 ps 0.8 lc %d title '%s'",
        sep, s->name, k + 1, s->name);
    sep = ", \\\n     ";
    for (size_t j = 0; j < s->fit.nseg; j++) {
      const bench_line *l = &s->fit.seg[j];
      if (!l->fitted)
        continue;
      double bw = bench_line_bw(l);
      fprintf(f, "%sf_%d_%zu(x) with lines lw %s lc %d ", sep, k, j,
              j == 0 ? "2" : "1 dt 2", k + 1);
      if (j > 0)
        fputs("notitle", f);
      else if (bw > 0)
        fprintf(f,
                bw >= 100e6 ? "title '  fit: mu %s, B %.0f MB/s'"
                            : "title '  fit: mu %s, B %.3g MB/s'",
                bench_fmt_time(l->mu, mu, sizeof mu), bw / 1e6);
      else
        fprintf(f, "title '  fit: mu %s, B flat'",
                bench_fmt_time(l->mu, mu, sizeof mu));
    }
  }
  fputs("\n", f);
}

static int write_script(const bench_run *r, char *err, size_t cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", r->cfg.out_dir, SCRIPT);
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    snprintf(err, cap, "cannot write %.200s: %s", path, strerror(errno));
    return -1;
  }
  fprintf(f,
          "# %s -- written by parc bench: the bandwidth-vs-size plot of\n"
          "# transports.csv. Redraw: cd to this directory, gnuplot %s\n",
          SCRIPT, SCRIPT);
  write_axes(r, f);
  write_functions(r, f);
  write_terminal(f, "png");
  write_plot(r, f);
  write_terminal(f, "svg");
  fputs("replot\nset output\n", f);
  int bad = fflush(f) != 0 || ferror(f);
  if (fclose(f) != 0 || bad) {
    snprintf(err, cap, "cannot write %.200s", path);
    return -1;
  }
  return 0;
}

/* Runs gnuplot on the script in out_dir; its output goes to gnuplot.log.
 * Returns its wait status, or -1. */
static int run_gnuplot(const char *gnuplot, const char *dir) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir) != 0 || freopen(LOG, "w", stdout) == NULL ||
        dup2(fileno(stdout), 2) < 0)
      _exit(126);
    execl(gnuplot, "gnuplot", SCRIPT, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid)
    return -1;
  return st;
}

static int exists(const char *dir, const char *name) {
  char path[4096];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &sb) == 0 && sb.st_size > 0;
}

int bench_plot(bench_run *r) {
  const char *d = r->cfg.out_dir;
  char gnuplot[4096], err[256];
  int any = 0;
  for (int k = 0; k < BENCH_NTRANSPORTS; k++)
    any |= r->tr[k].status == BENCH_OK;
  if (!any || r->csv_err[0]) {
    snprintf(r->plot_note, sizeof r->plot_note, "not drawn: %s",
             any ? "the CSV files could not be written"
                 : "no transport was measured");
    return 0;
  }
  if (write_script(r, err, sizeof err) != 0) {
    snprintf(r->plot_note, sizeof r->plot_note, "not drawn: %s", err);
    return -1;
  }
  if (bench_which("gnuplot", gnuplot, sizeof gnuplot) != 0) {
    snprintf(r->plot_note, sizeof r->plot_note,
             "not drawn: gnuplot not found (Debian: "
             "apt-get install gnuplot-nox); then: cd %s && gnuplot %s",
             d, SCRIPT);
    return 0;
  }
  int st = run_gnuplot(gnuplot, d);
  if (st == 0 && exists(d, "bandwidth.png") && exists(d, "bandwidth.svg")) {
    r->plotted = 1;
    char log[4096];
    snprintf(log, sizeof log, "%s/%s", d, LOG);
    if (!exists(d, LOG))
      unlink(log);
    snprintf(r->plot_note, sizeof r->plot_note,
             "%s/bandwidth.{png,svg} (gnuplot script: %s)", d, SCRIPT);
    return 0;
  }
  snprintf(r->plot_note, sizeof r->plot_note,
           "gnuplot failed (%s %d); see %s/%s",
           st >= 0 && WIFSIGNALED(st) ? "signal" : "exit status",
           st < 0            ? -1
           : WIFSIGNALED(st) ? WTERMSIG(st)
                             : WEXITSTATUS(st),
           d, LOG);
  return -1;
}
