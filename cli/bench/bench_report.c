/* bench_report.c -- what `parc bench` says to a person: the text report,
 * printed section by section as the measurements come, each section
 * stating what its intervals hold. The JSON document and the CSV files are
 * bench_export.c's.
 */
#include <math.h>
#include <string.h>
#include <sys/utsname.h>

#include "bench.h"
#include "parc.h"

/* ------------------------------------------------------------ formatting */

static double time_unit(double s, const char **unit) {
  double a = fabs(s);
  if (a < 1e-6)
    return *unit = "ns", 1e9;
  if (a < 1e-3)
    return *unit = "us", 1e6;
  if (a < 1)
    return *unit = "ms", 1e3;
  return *unit = "s", 1;
}

/* Three significant digits. */
static const char *sig3(double v, char *buf, size_t cap) {
  double a = fabs(v);
  snprintf(buf, cap, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f", v);
  return buf;
}

const char *bench_fmt_time(double s, char *buf, size_t cap) {
  const char *unit;
  double k = time_unit(s, &unit);
  char n[24]; /* with the unit it fits the callers' 32 bytes */
  snprintf(buf, cap, "%s %s", sig3(s * k, n, sizeof n), unit);
  return buf;
}

const char *bench_fmt_size(size_t s, char *buf, size_t cap) {
  if (s >= ((size_t)1 << 30) && s % ((size_t)1 << 30) == 0)
    snprintf(buf, cap, "%zu GiB", s >> 30);
  else if (s >= ((size_t)1 << 20) && s % ((size_t)1 << 20) == 0)
    snprintf(buf, cap, "%zu MiB", s >> 20);
  else if (s >= 1024 && s % 1024 == 0)
    snprintf(buf, cap, "%zu KiB", s >> 10);
  else
    snprintf(buf, cap, "%zu B", s);
  return buf;
}

/* "18.4 us [17.9-19.2]": median, then q1-q3 in the median's unit. */
static const char *fmt_stat(const bench_stat *t, char *buf, size_t cap) {
  const char *unit;
  double k = time_unit(t->median, &unit);
  char m[16], a[16], b[16];
  snprintf(buf, cap, "%s %s [%s-%s]", sig3(t->median * k, m, sizeof m), unit,
           sig3(t->q1 * k, a, sizeof a), sig3(t->q3 * k, b, sizeof b));
  return buf;
}

static const bench_fig *fig(const bench_run *r, const char *key) {
  for (size_t i = 0; i < r->nfig; i++)
    if (strcmp(r->fig[i].key, key) == 0)
      return &r->fig[i];
  return NULL;
}

static const char *fig_cell(const bench_fig *f, char *buf, size_t cap) {
  if (f == NULL || f->err[0])
    snprintf(buf, cap, "failed");
  else
    fmt_stat(&f->t, buf, cap);
  return buf;
}

/* ------------------------------------------------------------ text */

void bench_print_header(const bench_run *r, FILE *f) {
  const bench_cfg *c = &r->cfg;
  struct utsname u;
  char tgt[32];
  if (uname(&u) != 0)
    memset(&u, 0, sizeof u);
  fprintf(f, "parc bench%s: what parallel work costs on this machine\n",
          c->quick ? " --quick" : "");
  fprintf(f, "  machine: %u physical cores, %u logical CPUs; %s %s %s\n",
          parc_physical_cores(), parc_logical_cpus(), u.sysname, u.release,
          u.machine);
  if (r->load >= 0)
    fprintf(f, "  load:    %.2f (1-minute average) at the start%s\n", r->load,
            r->load > 0.5 ? ": busy cores, noisy figures" : "");
  fprintf(f,
          "  method:  every figure is the median of %u timed repetitions\n"
          "           after %u untimed warm-up%s; [q1-q3] is the spread, the\n"
          "           middle half of the repetitions. Clock: CLOCK_MONOTONIC,\n"
          "           read in the measuring process only. A repetition of\n"
          "           something fast (a dispatch, a round trip) repeats it\n"
          "           until it lasts about %s, and divides.\n\n",
          c->reps, c->warm, c->warm == 1 ? "" : "s",
          bench_fmt_time(c->target_s, tgt, sizeof tgt));
  fflush(f);
}

void bench_print_startup(const bench_run *r, FILE *f) {
  static const char *const ONE[] = {"thread", "process", "posix_spawn"};
  static const char *const SPANS[][2] = {
      {"t1-t0  create", "create"},
      {"t2-t1  first task", "first_task"},
      {"t3-t2  destroy", "destroy"},
      {"t2-t0  to first result", "first_result"},
      {"t3-t1  task + destroy", "task_and_destroy"},
      {"t3-t0  whole life", "whole"}};
  char a[64], b[64];
  fprintf(f,
          "start-up: one operation per repetition, from just before the call\n"
          "to just after it returns\n");
  for (int i = 0; i < 3; i++) {
    const bench_fig *g = fig(r, ONE[i]);
    if (g == NULL)
      continue;
    fprintf(f, "  %-11s %-20s %s\n", ONE[i], fig_cell(g, a, sizeof a),
            g->err[0] ? g->err : g->interval);
  }
  fprintf(f,
          "  a pool of %u workers, one empty task: four instants, six\n"
          "  intervals (the seventh timing, the whole run, is at the end):\n"
          "  t0 parc_pool_create t1 parc_submit + parc_future_wait t2\n"
          "  parc_pool_destroy t3\n",
          r->workers);
  fprintf(f, "    %-24s %-22s %s\n", "", "threads", "processes");
  for (int i = 0; i < 6; i++) {
    char kt[48], kp[48];
    snprintf(kt, sizeof kt, "threads_pool_%s", SPANS[i][1]);
    snprintf(kp, sizeof kp, "processes_pool_%s", SPANS[i][1]);
    fprintf(f, "    %-24s %-22s %s\n", SPANS[i][0],
            fig_cell(fig(r, kt), a, sizeof a),
            fig_cell(fig(r, kp), b, sizeof b));
  }
  fputs("  (create returns before the workers are up: the first task waits\n"
        "  for one, so t2-t0 is the time to a first result)\n",
        f);
  for (size_t i = 0; i < r->nfig; i++)
    if (r->fig[i].err[0] && strstr(r->fig[i].key, "_pool_create"))
      fprintf(f, "  %s: %s\n", r->fig[i].key, r->fig[i].err);
  fputc('\n', f);
  fflush(f);
}

void bench_print_dispatch(const bench_run *r, FILE *f) {
  char a[64], b[64], tgt[32];
  fprintf(f,
          "dispatch: parc_map of N empty tasks (8 B in, 8 B out) on a warm\n"
          "pool of %u workers; per task = wall time of the map / N, N chosen\n"
          "so that a map lasts about %s\n",
          r->workers, bench_fmt_time(r->cfg.target_s, tgt, sizeof tgt));
  fprintf(f, "    %5s  %-22s %s\n", "chunk", "threads", "processes");
  for (size_t c = 0; c < r->cfg.nchunks; c++) {
    const bench_disp *t = NULL, *p = NULL;
    for (size_t i = 0; i < r->ndisp; i++) {
      if (r->disp[i].chunk != r->cfg.chunks[c])
        continue;
      if (strcmp(r->disp[i].backend, "threads") == 0)
        t = &r->disp[i];
      else
        p = &r->disp[i];
    }
    snprintf(a, sizeof a, "%s", t == NULL || t->err[0] ? "failed" : "");
    snprintf(b, sizeof b, "%s", p == NULL || p->err[0] ? "failed" : "");
    if (t != NULL && !t->err[0])
      fmt_stat(&t->t, a, sizeof a);
    if (p != NULL && !p->err[0])
      fmt_stat(&p->t, b, sizeof b);
    fprintf(f, "    %5zu  %-22s %s\n", r->cfg.chunks[c], a, b);
  }
  for (size_t i = 0; i < r->ndisp; i++)
    if (r->disp[i].err[0])
      fprintf(f, "  %s, chunk %zu: %s\n", r->disp[i].backend, r->disp[i].chunk,
              r->disp[i].err);
  fputc('\n', f);
  fflush(f);
}

/* Bytes per second as MB/s, three significant digits at most. */
static const char *fmt_mbps(double bps, char *buf, size_t cap) {
  double v = bps / 1e6;
  snprintf(buf, cap, v >= 100 ? "%.0f" : "%.3g", v);
  return buf;
}

/* The middle half of the repetitions spans over a quarter of the median. */
static int noisy(const bench_stat *t) {
  return t->q3 - t->q1 > 0.25 * t->median;
}

static void print_table(const bench_run *r, FILE *f, int bandwidth) {
  char buf[64];
  fprintf(f, "  %-15s", bandwidth ? "bandwidth, MB/s" : "one-way time");
  /* columns of 12: a value of 10, then '*' for noisy, or a space */
  for (int k = 0; k < BENCH_NTRANSPORTS; k++)
    if (r->tr[k].status == BENCH_OK)
      fprintf(f, " %11s", r->tr[k].name);
  fputc('\n', f);
  for (size_t i = 0; i < r->cfg.nsizes; i++) {
    fprintf(f, "  %15s", bench_fmt_size(r->cfg.sizes[i], buf, sizeof buf));
    for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
      const bench_series *s = &r->tr[k];
      if (s->status != BENCH_OK)
        continue;
      const bench_stat *t = &s->pt[i].t;
      if (bandwidth)
        fmt_mbps((double)s->pt[i].size / t->median, buf, sizeof buf);
      else
        bench_fmt_time(t->median, buf, sizeof buf);
      fprintf(f, " %10s%c", buf, noisy(t) ? '*' : ' ');
    }
    fputc('\n', f);
  }
}

static const char *fmt_range(const bench_series *s, const bench_line *l,
                             char *buf, size_t cap) {
  char a[32], b[32];
  bench_fmt_size(s->pt[l->first].size, a, sizeof a);
  if (l->last == l->first)
    snprintf(buf, cap, "%s", a);
  else
    snprintf(buf, cap, "%s..%s", a,
             bench_fmt_size(s->pt[l->last].size, b, sizeof b));
  return buf;
}

static const char *fmt_bw(const bench_line *l, char *buf, size_t cap) {
  double bw = bench_line_bw(l);
  if (!l->fitted)
    snprintf(buf, cap, "n/a");
  else if (bw <= 0)
    snprintf(buf, cap, "flat");
  else
    fmt_mbps(bw, buf, cap);
  return buf;
}

/* "705 B", "15.7 KiB", "1.2 MiB". */
static const char *fmt_approx_size(double b, char *buf, size_t cap) {
  if (b >= 1 << 20)
    snprintf(buf, cap, "%.3g MiB", b / (1 << 20));
  else if (b >= 1024)
    snprintf(buf, cap, "%.3g KiB", b / 1024);
  else
    snprintf(buf, cap, "%.0f B", b);
  return buf;
}

static void print_fit(const bench_run *r, FILE *f) {
  fprintf(f,
          "\nfit: T(s) = mu + s/B, least squares of the relative error, from\n"
          "the smallest size up to the longest run of sizes that all lie\n"
          "within %.0f%% (plus their own spread) of their line; the next size\n"
          "is where the model stops fitting (a protocol switch), and the\n"
          "sizes from there are fitted the same way, one row per range.\n"
          "B \"flat\": the time does not grow with size over the range.\n"
          "mu*B: the size that gets half of B. \"stops at\": the first size\n"
          "the fit does not hold for (-: it holds for all).\n",
          r->cfg.fit_tol * 100);
  fprintf(f, "  %-12s %-16s %9s %8s %9s %7s  %s\n", "transport", "sizes", "mu",
          "B, MB/s", "mu*B", "R^2", "stops at");
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    const bench_series *s = &r->tr[k];
    if (s->status != BENCH_OK)
      continue;
    for (size_t j = 0; j < s->fit.nseg; j++) {
      const bench_line *l = &s->fit.seg[j];
      char mu[32], bw[32], rg[64], brk[32];
      char half[32] = "-";
      double n_half = l->mu * bench_line_bw(l);
      if (n_half >= 1)
        fmt_approx_size(n_half, half, sizeof half);
      fprintf(f, "  %-12s %-16s %9s %8s %9s ", j == 0 ? s->name : "",
              fmt_range(s, l, rg, sizeof rg),
              bench_fmt_time(l->mu, mu, sizeof mu), fmt_bw(l, bw, sizeof bw),
              half);
      if (l->fitted && l->last > l->first + 1)
        fprintf(f, "%7.4f", l->r2);
      else
        fprintf(f, "%7s", l->fitted ? "(2 pts)" : "(1 pt)");
      size_t next = s->fit.nseg > 1 ? s->pt[s->fit.seg[1].first].size : 0;
      if (j == 0)
        fprintf(f, "  %s", next ? bench_fmt_size(next, brk, sizeof brk) : "-");
      fputc('\n', f);
    }
  }
}

void bench_print_transports(const bench_run *r, FILE *f) {
  fputs("transports: ping-pong between two processes (the echo is forked);\n"
        "one-way time = round trip / 2 (latency including the transfer);\n"
        "bandwidth = size / one-way time (including the start-up; the fit's\n"
        "B excludes it); MB/s = 10^6 bytes/s\n",
        f);
  if (r->pinned)
    fprintf(f,
            "  pinned: the timer on CPU %d, the echo on CPU %d (MPI: a "
            "core each)\n",
            r->cpu[0], r->cpu[1]);
  else
    fputs("  not pinned: the scheduler places the two processes\n", f);
  int any = 0;
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    const bench_series *s = &r->tr[k];
    fprintf(f, "  %-12s %s\n", s->name, s->how);
    if (s->status != BENCH_OK)
      fprintf(f, "  %-12s %s: %s\n", "",
              s->status == BENCH_SKIPPED ? "skipped" : "FAILED", s->note);
    else if (s->note[0])
      fprintf(f, "  %-12s %s\n", "", s->note);
    any |= s->status == BENCH_OK;
  }
  if (any) {
    fputs("\n  (* the middle half of the repetitions spreads over 25% of\n"
          "  the median: noisy; every figure's spread is in the CSV files)\n",
          f);
    print_table(r, f, 0);
    fputc('\n', f);
    print_table(r, f, 1);
    print_fit(r, f);
  }
  fputc('\n', f);
  fflush(f);
}

void bench_print_footer(const bench_run *r, FILE *f) {
  const char *d = r->cfg.out_dir;
  if (r->csv_err[0])
    fprintf(f, "files: %s\n", r->csv_err);
  else
    fprintf(f, "files: %s/{startup,dispatch,transports,fit}.csv\n", d);
  fprintf(f, "plot:  %s\n", r->plot_note);
  fprintf(f,
          "whole run, as `time` would see it: %.2f s wall, %.2f s user,\n"
          "%.2f s sys (this process and its children)\n",
          r->wall_s, r->user_s, r->sys_s);
  fflush(f);
}
