/* run_args.c -- the command line of `parc run`: options, the command
 * template and the input sources, all checked before anything runs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parc.h"
#include "run.h"

const char RUN_USAGE[] =
"usage: parc run [OPTIONS] COMMAND [ARG...] [::: VALUES... | :::+ VALUES...\n"
"                | :::: FILE... | ::::+ FILE...]...\n"
"\n"
"Runs COMMAND once per combination of the input values, on every core.\n"
"Replacement strings: {} {1}..{n} {NAME} {#} {%} {.} {/} {//} {/.}\n"
"\n"
"  -j, --jobs N          jobs at once; N% of the cores (default: one per core)\n"
"  -k, --keep-order      print outputs in input order\n"
"      --tag             prefix output lines with the job's values\n"
"      --line-buffer     print output line by line as it comes\n"
"      --shell           run with sh -c (values are quoted)\n"
"      --grid NAME=SPEC  a named axis: v1,v2,...  A:B[:STEP]  FROM..TOxN\n"
"      --results DIR     outputs and DIR/results.csv (with metrics)\n"
"      --joblog FILE     GNU parallel's job log\n"
"      --resume          skip jobs the job log has\n"
"      --resume-failed   skip jobs the job log has as succeeded\n"
"      --retries N       run a failing job up to N times in all\n"
"      --timeout SECS    stop a job after SECS (TERM, grace, KILL)\n"
"      --grace SECS      between TERM and KILL (default 1)\n"
"      --halt WHEN       never | now,fail=N | soon,fail=N  (N or N%)\n"
"      --dry-run         print the commands, run nothing\n"
"      --inner-threads N OMP/OPENBLAS/MKL_NUM_THREADS for the jobs\n"
"      --best METRIC     print METRIC per setting and the best one\n"
"      --minimize        lower METRIC is better\n"
"      --average-over NAME  average METRIC over this axis (e.g. fold)\n"
"      --quiet           no progress\n"
"  -h, --help            this help\n"
"\n"
"Exit: 0 if all jobs succeeded, else the number that failed (at most 101);\n"
"2 for bad usage; 130/143 when stopped by SIGINT/SIGTERM.\n"
"See docs/parc-run.md.\n";

/* ------------------------------------------------------------ options */

static int parse_uint(const char *s, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *s == '-' || *end || errno || v > 1000000) return -1;
  *out = (unsigned)v;
  return 0;
}

static int parse_secs(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end || !isfinite(v) || v < 0) return -1;
  *out = v;
  return 0;
}

static int parse_jobs(const char *s, unsigned cores, unsigned *out) {
  size_t n = strlen(s);
  unsigned v;
  if (n > 1 && s[n - 1] == '%') {
    char tmp[32];
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, s, n - 1);
    tmp[n - 1] = '\0';
    if (parse_uint(tmp, &v) != 0 || v == 0) return -1;
    v = (unsigned)((unsigned long)cores * v / 100);
    *out = v ? v : 1;
    return 0;
  }
  if (parse_uint(s, &v) != 0 || v == 0) return -1;
  *out = v;
  return 0;
}

static int parse_halt(const char *s, run_opts *o) {
  if (strcmp(s, "never") == 0) {
    o->halt = HALT_NEVER;
    return 0;
  }
  const char *rest;
  if (strncmp(s, "now,fail=", 9) == 0) o->halt = HALT_NOW, rest = s + 9;
  else if (strncmp(s, "soon,fail=", 10) == 0) o->halt = HALT_SOON, rest = s + 10;
  else return -1;
  char *end;
  double v = strtod(rest, &end);
  o->halt_pct = *end == '%';
  if (end == rest || (*end && strcmp(end, "%") != 0) || !(v > 0) ||
      (o->halt_pct && v > 100) || (!o->halt_pct && v != floor(v)))
    return -1;
  o->halt_fail = v;
  return 0;
}

enum opt_id {
  O_JOBS, O_KEEP, O_TAG, O_LINEBUF, O_SHELL, O_GRID, O_RESULTS, O_JOBLOG,
  O_RESUME, O_RESUME_FAILED, O_RETRIES, O_TIMEOUT, O_GRACE, O_HALT, O_DRY,
  O_INNER, O_BEST, O_MINIMIZE, O_AVG, O_QUIET, O_HELP
};

static const struct option_def {
  const char *name;
  char short_name;
  int has_arg;
  enum opt_id id;
} OPTIONS[] = {
    {"jobs", 'j', 1, O_JOBS},          {"keep-order", 'k', 0, O_KEEP},
    {"tag", 0, 0, O_TAG},              {"line-buffer", 0, 0, O_LINEBUF},
    {"shell", 0, 0, O_SHELL},          {"grid", 0, 1, O_GRID},
    {"results", 0, 1, O_RESULTS},      {"joblog", 0, 1, O_JOBLOG},
    {"resume", 0, 0, O_RESUME},        {"resume-failed", 0, 0, O_RESUME_FAILED},
    {"retries", 0, 1, O_RETRIES},      {"timeout", 0, 1, O_TIMEOUT},
    {"grace", 0, 1, O_GRACE},          {"halt", 0, 1, O_HALT},
    {"dry-run", 0, 0, O_DRY},          {"inner-threads", 0, 1, O_INNER},
    {"best", 0, 1, O_BEST},            {"minimize", 0, 0, O_MINIMIZE},
    {"average-over", 0, 1, O_AVG},     {"quiet", 0, 0, O_QUIET},
    {"help", 'h', 0, O_HELP},
};

/* Finds the option at argv[*i]; sets *val for one that takes a value.
 * Returns its definition or NULL (usage error printed into err). */
static const struct option_def *match_option(int argc, char **argv, int *i,
                                             const char **val, run_err err) {
  const char *a = argv[*i], *inline_val = NULL;
  const struct option_def *d = NULL;
  size_t n = sizeof OPTIONS / sizeof OPTIONS[0];
  if (a[1] == '-') {
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    for (size_t k = 0; k < n && !d; k++)
      if (strlen(OPTIONS[k].name) == len && !strncmp(OPTIONS[k].name, a + 2, len))
        d = &OPTIONS[k];
    if (eq) inline_val = eq + 1;
  } else {
    for (size_t k = 0; k < n && !d; k++)
      if (OPTIONS[k].short_name && OPTIONS[k].short_name == a[1]) d = &OPTIONS[k];
    if (d && a[2]) inline_val = a + 2;
    if (d && !d->has_arg && a[2]) d = NULL; /* no bundling: -kq */
  }
  if (d == NULL) return run_fail(err, "unknown option '%s'", a), NULL;
  if (!d->has_arg && inline_val && a[1] == '-')
    return run_fail(err, "option '--%s' takes no value", d->name), NULL;
  if (d->has_arg && !inline_val) {
    if (*i + 1 >= argc)
      return run_fail(err, "option '%s' needs a value", a), NULL;
    inline_val = argv[++*i];
  }
  *val = inline_val;
  return d;
}

static int apply_option(run_opts *o, run_inputs *in,
                        const struct option_def *d, const char *v,
                        unsigned cores, run_err err) {
  switch (d->id) {
  case O_JOBS:
    if (parse_jobs(v, cores, &o->jobs) != 0)
      return run_fail(err, "bad -j '%s' (want N >= 1 or N%%)", v);
    break;
  case O_KEEP: o->keep_order = 1; break;
  case O_TAG: o->tag = 1; break;
  case O_LINEBUF: o->line_buffer = 1; break;
  case O_SHELL: o->shell = 1; break;
  case O_GRID: return run_inputs_add_grid(in, v, err);
  case O_RESULTS: o->results = v; break;
  case O_JOBLOG: o->joblog = v; break;
  case O_RESUME: o->resume = 1; break;
  case O_RESUME_FAILED: o->resume_failed = 1; break;
  case O_RETRIES:
    if (parse_uint(v, &o->retries) != 0 || o->retries == 0)
      return run_fail(err, "bad --retries '%s' (want N >= 1)", v);
    break;
  case O_TIMEOUT:
    if (parse_secs(v, &o->timeout) != 0 || o->timeout == 0)
      return run_fail(err, "bad --timeout '%s' (want seconds > 0)", v);
    break;
  case O_GRACE:
    if (parse_secs(v, &o->grace) != 0)
      return run_fail(err, "bad --grace '%s' (want seconds >= 0)", v);
    break;
  case O_HALT:
    if (parse_halt(v, o) != 0)
      return run_fail(err, "bad --halt '%s' (want never, now,fail=N, "
                           "soon,fail=N or N%%)", v);
    break;
  case O_DRY: o->dry_run = 1; break;
  case O_INNER:
    if (parse_uint(v, &o->inner_threads) != 0 || o->inner_threads == 0)
      return run_fail(err, "bad --inner-threads '%s' (want N >= 1)", v);
    break;
  case O_BEST: o->best = v; break;
  case O_MINIMIZE: o->minimize = 1; break;
  case O_AVG: {
    char **a = realloc(o->average_over, (o->navg + 1) * sizeof *a);
    if (a == NULL) return run_fail(err, "out of memory");
    (o->average_over = a)[o->navg++] = (char *)v;
    break;
  }
  case O_QUIET: o->quiet = 1; break;
  case O_HELP: break;
  }
  return 0;
}

static int is_marker(const char *w) {
  return !strcmp(w, ":::") || !strcmp(w, ":::+") || !strcmp(w, "::::") ||
         !strcmp(w, "::::+");
}

/* The ::: and :::: sources after the command, from argv[i]. */
static int parse_sources(run_inputs *in, int argc, char **argv, int i,
                         run_err err) {
  while (i < argc) {
    const char *m = argv[i++];
    int linked = m[strlen(m) - 1] == '+', files = !strncmp(m, "::::", 4);
    int end = i;
    while (end < argc && !is_marker(argv[end])) end++;
    if (end == i)
      return run_fail(err, "'%s' has nothing after it", m);
    if (files) {
      for (int k = i; k < end; k++)
        if (run_inputs_add_file(in, argv[k], k == i ? linked : 0, err))
          return -1;
    } else if (run_inputs_add_list(in, argv + i, (size_t)(end - i),
                                   linked, err)) {
      return -1;
    }
    i = end;
  }
  return 0;
}

int run_parse_args(run_opts *o, run_inputs *in, run_template **tmpl,
                   int argc, char **argv, run_err err) {
  unsigned cores = parc_physical_cores();
  int i = 0;
  o->grace = 1;
  while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    const char *v = NULL;
    const struct option_def *d = match_option(argc, argv, &i, &v, err);
    if (d == NULL || apply_option(o, in, d, v, cores, err) != 0) return -1;
    if (d->id == O_HELP) return 1;
    i++;
  }
  int cmd = i;
  while (i < argc && !is_marker(argv[i])) i++;
  if (i == cmd) return run_fail(err, "no command given");
  if (in->nsrc == 0 && i == argc &&
      run_inputs_add_file(in, "-", 0, err) != 0)
    return -1;
  if (parse_sources(in, argc, argv, i, err) != 0 ||
      run_inputs_finish(in, err) != 0 ||
      run_template_parse(tmpl, argv + cmd, (size_t)(i - cmd), o->shell,
                         in, err) != 0 ||
      run_records_check_axes(in, o->average_over, o->navg, err) != 0)
    return -1;
  if (o->keep_order && o->line_buffer)
    return run_fail(err, "-k and --line-buffer cannot be combined");
  if ((o->resume || o->resume_failed) && o->joblog == NULL)
    return run_fail(err, "--resume needs --joblog FILE");
  if ((o->minimize || o->navg) && o->best == NULL)
    return run_fail(err, "--minimize and --average-over need --best METRIC");
  if (o->jobs == 0) o->jobs = cores;
  return 0;
}
