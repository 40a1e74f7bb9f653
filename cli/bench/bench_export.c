/* bench_export.c -- `parc bench` for programs: one JSON document (--json)
 * and the CSV files, one table each:
 *
 *   startup.csv     key,interval,reps,median_s,q1_s,q3_s,min_s,max_s
 *   dispatch.csv    backend,workers,chunk,tasks,reps,median_s,...   (per task)
 *   transports.csv  transport,size_bytes,iters_per_rep,reps,median_s,...,
 *                   bandwidth_MBps,fit_s   (one-way times; fit_s: the model
 *                   of the range the size is in)
 *   fit.csv         transport,range,from_bytes,to_bytes,points,mu_s,B_Bps,
 *                   r2,max_rel_resid,break_bytes,half_B_bytes (mu*B)
 *
 * Times in seconds, sizes in bytes, bandwidths in bytes per second (MB/s
 * only in transports.csv's bandwidth_MBps); a value that does not exist
 * (B of a flat range) is null in JSON and empty or 0 in CSV.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench.h"
#include "parc.h"

/* ------------------------------------------------------------ JSON */

static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void jnum(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("null", f);
}

static void jstat(FILE *f, const bench_stat *t) {
  fprintf(f, "{\"reps\": %u, \"median_s\": ", t->n);
  jnum(f, t->median);
  fputs(", \"q1_s\": ", f);
  jnum(f, t->q1);
  fputs(", \"q3_s\": ", f);
  jnum(f, t->q3);
  fputs(", \"min_s\": ", f);
  jnum(f, t->min);
  fputs(", \"max_s\": ", f);
  jnum(f, t->max);
  fputc('}', f);
}

/* "key": the statistics, or "error": why there are none. */
static void jresult(FILE *f, const char *key, const bench_stat *t,
                    const char *err) {
  if (err[0]) {
    fputs("\"error\": ", f);
    jstr(f, err);
  } else {
    fprintf(f, "\"%s\": ", key);
    jstat(f, t);
  }
}

static void jline(FILE *f, const bench_series *s, const bench_line *l) {
  fprintf(
      f, "{\"from_bytes\": %zu, \"to_bytes\": %zu, \"points\": %zu, \"mu_s\": ",
      s->pt[l->first].size, s->pt[l->last].size, l->last - l->first + 1);
  jnum(f, l->fitted ? l->mu : NAN);
  fputs(", \"B_Bps\": ", f);
  jnum(f, bench_line_bw(l) > 0 ? bench_line_bw(l) : NAN);
  fputs(", \"half_B_bytes\": ", f);
  jnum(f, l->mu * bench_line_bw(l) > 0 ? l->mu * bench_line_bw(l) : NAN);
  fputs(", \"r2\": ", f);
  jnum(f, l->r2);
  fputs(", \"max_rel_resid\": ", f);
  jnum(f, l->max_resid);
  fputc('}', f);
}

static void json_startup(const bench_run *r, FILE *f) {
  fputs("  \"startup\": [", f);
  for (size_t i = 0; i < r->nfig; i++) {
    const bench_fig *g = &r->fig[i];
    fputs(i ? ",\n    {\"key\": " : "\n    {\"key\": ", f);
    jstr(f, g->key);
    fputs(", \"interval\": ", f);
    jstr(f, g->interval);
    fputs(", ", f);
    jresult(f, "time", &g->t, g->err);
    fputc('}', f);
  }
  fputs("],\n", f);
}

static void json_dispatch(const bench_run *r, FILE *f) {
  fputs("  \"dispatch\": [", f);
  for (size_t i = 0; i < r->ndisp; i++) {
    const bench_disp *d = &r->disp[i];
    fprintf(f,
            "%s\n    {\"backend\": \"%s\", \"workers\": %u, \"chunk\": %zu, "
            "\"tasks\": %zu, ",
            i ? "," : "", d->backend, d->workers, d->chunk, d->tasks);
    jresult(f, "per_task", &d->t, d->err);
    fputc('}', f);
  }
  fputs("],\n", f);
}

static void json_series(const bench_series *s, FILE *f) {
  static const char *const ST[] = {"measured", "skipped", "failed"};
  fputs("    {\"name\": ", f);
  jstr(f, s->name);
  fputs(", \"how\": ", f);
  jstr(f, s->how);
  fprintf(f, ", \"status\": \"%s\", \"note\": ", ST[s->status]);
  jstr(f, s->note);
  if (s->status == BENCH_OK) {
    fputs(",\n     \"points\": [", f);
    for (size_t i = 0; i < s->n; i++) {
      fprintf(f,
              "%s\n       {\"size_bytes\": %zu, \"iters_per_rep\": %zu, "
              "\"bandwidth_Bps\": ",
              i ? "," : "", s->pt[i].size, s->pt[i].iters);
      jnum(f, (double)s->pt[i].size / s->pt[i].t.median);
      fputs(", \"one_way\": ", f);
      jstat(f, &s->pt[i].t);
      fputc('}', f);
    }
    fputs("],\n     \"fit\": ", f);
    jline(f, s, &s->fit.seg[0]);
    fputs(",\n     \"break_bytes\": ", f);
    if (s->fit.nseg > 1)
      fprintf(f, "%zu", s->pt[s->fit.seg[1].first].size);
    else
      fputs("null", f);
    fputs(",\n     \"ranges\": [", f);
    for (size_t j = 0; j < s->fit.nseg; j++) {
      fputs(j ? ", " : "", f);
      jline(f, s, &s->fit.seg[j]);
    }
    fputc(']', f);
  }
  fputc('}', f);
}

void bench_print_json(const bench_run *r, FILE *f) {
  const bench_cfg *c = &r->cfg;
  fprintf(f,
          "{\n  \"parc_bench\": 1,\n  \"version\": \"%d.%d.%d\",\n  \"quick\": "
          "%s,\n",
          PARC_VERSION_MAJOR, PARC_VERSION_MINOR, PARC_VERSION_PATCH,
          c->quick ? "true" : "false");
  fprintf(f,
          "  \"machine\": {\"physical_cores\": %u, \"logical_cpus\": %u, "
          "\"pool_workers\": %u, \"load_1min\": ",
          parc_physical_cores(), parc_logical_cpus(), r->workers);
  jnum(f, r->load >= 0 ? r->load : NAN);
  fputs("},\n", f);
  fprintf(f,
          "  \"method\": {\"reps\": %u, \"warmup\": %u, \"target_rep_s\": %g, "
          "\"statistic\": \"median\", \"spread\": \"q1..q3\", "
          "\"clock\": \"CLOCK_MONOTONIC, in the measuring process\", "
          "\"one_way\": \"round trip / 2\", \"fit\": \"T(s) = mu + s/B, least "
          "squares of relative residuals\", \"fit_tol\": %g, \"pinned_cpus\": ",
          c->reps, c->warm, c->target_s, c->fit_tol);
  if (r->pinned)
    fprintf(f, "[%d, %d]},\n", r->cpu[0], r->cpu[1]);
  else
    fputs("null},\n", f);
  json_startup(r, f);
  json_dispatch(r, f);
  fputs("  \"transports\": [\n", f);
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    json_series(&r->tr[k], f);
    fputs(k + 1 < BENCH_NTRANSPORTS ? ",\n" : "],\n", f);
  }
  fputs("  \"out_dir\": ", f);
  jstr(f, c->out_dir);
  fputs(",\n  \"csv_error\": ", f);
  if (r->csv_err[0])
    jstr(f, r->csv_err);
  else
    fputs("null", f);
  fprintf(f, ",\n  \"plot\": {\"drawn\": %s, \"note\": ",
          r->plotted ? "true" : "false");
  jstr(f, r->plot_note);
  fprintf(
      f,
      "},\n  \"whole_run\": {\"wall_s\": %.3f, \"user_s\": %.3f, \"sys_s\": "
      "%.3f}\n}\n",
      r->wall_s, r->user_s, r->sys_s);
  fflush(f);
}

/* ------------------------------------------------------------ CSV */

static void csv_str(FILE *f, const char *s) {
  if (strpbrk(s, ",\"\n") == NULL) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void csv_stat(FILE *f, const bench_stat *t) {
  fprintf(f, "%u,%.9g,%.9g,%.9g,%.9g,%.9g", t->n, t->median, t->q1, t->q3,
          t->min, t->max);
}

static void csv_startup(const bench_run *r, FILE *f) {
  fputs("key,interval,reps,median_s,q1_s,q3_s,min_s,max_s\n", f);
  for (size_t i = 0; i < r->nfig; i++) {
    if (r->fig[i].err[0])
      continue;
    fprintf(f, "%s,", r->fig[i].key);
    csv_str(f, r->fig[i].interval);
    fputc(',', f);
    csv_stat(f, &r->fig[i].t);
    fputc('\n', f);
  }
}

static void csv_dispatch(const bench_run *r, FILE *f) {
  fputs("backend,workers,chunk,tasks,reps,median_s,q1_s,q3_s,min_s,max_s\n", f);
  for (size_t i = 0; i < r->ndisp; i++) {
    const bench_disp *d = &r->disp[i];
    if (d->err[0])
      continue;
    fprintf(f, "%s,%u,%zu,%zu,", d->backend, d->workers, d->chunk, d->tasks);
    csv_stat(f, &d->t);
    fputc('\n', f);
  }
}

static void csv_transports(const bench_run *r, FILE *f) {
  fputs(
      "transport,size_bytes,iters_per_rep,reps,median_s,q1_s,q3_s,min_s,max_s,"
      "bandwidth_MBps,fit_s\n",
      f);
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    const bench_series *s = &r->tr[k];
    if (s->status != BENCH_OK)
      continue;
    for (size_t j = 0; j < s->fit.nseg; j++) {
      const bench_line *l = &s->fit.seg[j];
      for (size_t i = l->first; i <= l->last; i++) {
        fprintf(f, "%s,%zu,%zu,", s->name, s->pt[i].size, s->pt[i].iters);
        csv_stat(f, &s->pt[i].t);
        fprintf(f, ",%.6g,%.9g\n",
                (double)s->pt[i].size / s->pt[i].t.median / 1e6,
                l->mu + l->slope * (double)s->pt[i].size);
      }
    }
  }
}

static void csv_fit(const bench_run *r, FILE *f) {
  fputs(
      "transport,range,from_bytes,to_bytes,points,mu_s,B_Bps,r2,max_rel_resid,"
      "break_bytes,half_B_bytes\n",
      f);
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    const bench_series *s = &r->tr[k];
    if (s->status != BENCH_OK)
      continue;
    for (size_t j = 0; j < s->fit.nseg; j++) {
      const bench_line *l = &s->fit.seg[j];
      fprintf(f, "%s,%zu,%zu,%zu,%zu,%.9g,%.9g,%.6f,%.4f,", s->name, j,
              s->pt[l->first].size, s->pt[l->last].size, l->last - l->first + 1,
              l->mu, bench_line_bw(l), l->r2, l->max_resid);
      if (j + 1 < s->fit.nseg)
        fprintf(f, "%zu", s->pt[s->fit.seg[j + 1].first].size);
      double n_half = l->mu * bench_line_bw(l);
      if (n_half > 0)
        fprintf(f, ",%.6g\n", n_half);
      else
        fputs(",\n", f);
    }
  }
}

static int write_one(bench_run *r, const char *name,
                     void (*fn)(const bench_run *, FILE *)) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", r->cfg.out_dir, name);
  FILE *f = fopen(path, "w");
  if (f != NULL) {
    fn(r, f);
    int bad = fflush(f) != 0 || ferror(f);
    if (fclose(f) != 0 || bad)
      errno = errno ? errno : EIO;
    else
      return 0;
  }
  snprintf(r->csv_err, sizeof r->csv_err, "cannot write %.200s: %s", path,
           strerror(errno));
  return -1;
}

int bench_write_csv(bench_run *r) {
  if (write_one(r, "startup.csv", csv_startup) != 0 ||
      write_one(r, "dispatch.csv", csv_dispatch) != 0 ||
      write_one(r, "transports.csv", csv_transports) != 0 ||
      write_one(r, "fit.csv", csv_fit) != 0)
    return -1;
  return 0;
}
