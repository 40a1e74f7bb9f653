/* plan.c -- `parc plan`: how many cores for a deadline, and what it costs.
 *
 * The model is the one for independent tasks of equal length t (a sweep):
 * on c cores, n tasks run in ceil(n / c) waves, so the wall time is
 * ceil(n / c) * t. The fewest cores that meet a deadline D are
 * ceil(n / floor(D / t)). Cost is what a cloud bills: cores held for the
 * wall time, times the price of a core-hour.
 *
 * With --serial-fraction f it also prints Amdahl's speedup 1 / (f + (1-f)/N)
 * (a fixed problem on N cores) and Gustafson's N - f (N - 1) (a problem
 * grown with N), and plots both with gnuplot.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"

#define EXIT_USAGE 2

typedef struct plan_opts {
  double task_time, deadline, price, serial;
  int have_serial;
  size_t tasks;
  unsigned max_cores;
  const char *from, *plot;
  run_inputs grid;
} plan_opts;

static const char USAGE[] =
"usage: parc plan --deadline TIME (--task-time TIME | --from FILE)\n"
"                 (--tasks N | --grid NAME=SPEC ...) [--price P]\n"
"                 [--serial-fraction F [--max-cores N] [--plot FILE]]\n"
"\n"
"How many cores finish N independent tasks of TIME each before a deadline,\n"
"in how many waves, how long it takes, and what it costs.\n"
"\n"
"  --task-time TIME       one task: 70, 70s, 1.5m, 2h, 250ms\n"
"  --from FILE            mean run time of the successful jobs in a parc run\n"
"                         results.csv or job log\n"
"  --tasks N              the number of tasks, or\n"
"  --grid NAME=SPEC       axes as parc run takes them (tasks = product)\n"
"  --deadline TIME        the wall time allowed\n"
"  --price P              price of one core-hour (any currency)\n"
"  --serial-fraction F    print Amdahl and Gustafson speedups for F in [0,1]\n"
"  --max-cores N          largest N in those tables (default 64)\n"
"  --plot FILE            draw them with gnuplot (FILE.png or FILE.svg)\n"
"\n"
"Example (the seeds' grid search): parc plan --tasks 125 --task-time 70 "
"--deadline 20m\n";

static int usage_error(const char *fmt, const char *what) {
  fputs("parc plan: ", stderr);
  fprintf(stderr, fmt, what);
  fputs(" (see 'parc plan --help')\n", stderr);
  return EXIT_USAGE;
}

/* "70", "70s", "1.5m", "2h", "250ms", "1d" -> seconds. */
static int parse_time(const char *s, double *out) {
  static const struct { const char *unit; double secs; } units[] = {
      {"", 1}, {"s", 1}, {"ms", 1e-3}, {"m", 60}, {"min", 60}, {"h", 3600},
      {"d", 86400}};
  char *end;
  double v = strtod(s, &end);
  if (end == s || !isfinite(v) || v <= 0) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(end, units[i].unit) == 0) {
      *out = v * units[i].secs;
      return 0;
    }
  return -1;
}

static void fmt_dur(char *b, size_t n, double t) {
  if (t < 60) {
    snprintf(b, n, "%.3g s", t);
    return;
  }
  long v = lround(t);
  if (v >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else snprintf(b, n, "%ld:%02ld", v / 60, v % 60);
}

/* The mean run time of the successful jobs in a results.csv or job log. */
static int task_time_from(const char *path, double *out, size_t *njobs,
                          run_err err) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return run_fail(err, "cannot read '%s': %s", path, strerror(errno));
  run_buf text = {0}, fields = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) run_buf_add(&text, chunk, n);
  fclose(f);
  int joblog = text.data && strncmp(text.data, "Seq\tHost\t", 9) == 0;
  int c_time = joblog ? 3 : -1, c_exit = joblog ? 6 : -1, c_sig = joblog ? 7 : -1;
  double sum = 0;
  size_t count = 0;
  char *p = text.data;
  for (int first = 1; p && *p; first = 0) {
    char *line_end = strchr(p, '\n');
    if (joblog) { /* TAB-separated; the command may contain anything */
      if (line_end) *line_end = '\0';
      char *col[9] = {0}, *q = p;
      for (int k = 0; k < 9 && q; k++) {
        col[k] = q;
        q = strchr(q, '\t');
        if (q && k < 8) *q++ = '\0';
      }
      p = line_end ? line_end + 1 : p + strlen(p);
      if (first || col[8] == NULL) continue;
      if (atoi(col[c_exit]) == 0 && atoi(col[c_sig]) == 0)
        sum += atof(col[c_time]), count++;
      continue;
    }
    size_t nf = run_csv_record(&p, &fields);
    const char *fp = fields.data;
    if (first) {
      for (size_t k = 0; k < nf; fp += strlen(fp) + 1, k++) {
        if (strcmp(fp, "runtime") == 0) c_time = (int)k;
        if (strcmp(fp, "exit") == 0) c_exit = (int)k;
      }
      if (c_time < 0 || c_exit < 0) break;
      continue;
    }
    double t = -1;
    int ok = 0;
    for (size_t k = 0; k < nf; fp += strlen(fp) + 1, k++) {
      if ((int)k == c_time) t = atof(fp);
      if ((int)k == c_exit) ok = strcmp(fp, "0") == 0;
    }
    if (ok && t >= 0) sum += t, count++;
  }
  run_buf_free(&text);
  run_buf_free(&fields);
  if (!joblog && c_time < 0)
    return run_fail(err, "'%s' is neither a parc run results.csv nor a job "
                         "log", path);
  if (count == 0)
    return run_fail(err, "'%s' has no successful job to time", path);
  *out = sum / (double)count;
  *njobs = count;
  return 0;
}

static int parse_args(plan_opts *o, int argc, char **argv, run_err err) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
    static const char *const valued[] = {
        "--task-time", "--from", "--tasks", "--grid", "--deadline", "--price",
        "--serial-fraction", "--max-cores", "--plot"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
      known |= strcmp(a, valued[k]) == 0;
    if (!known) return run_fail(err, "unknown option '%s'", a);
    if (v == NULL) return run_fail(err, "option '%s' needs a value", a);
    i++;
    char *end;
    if (!strcmp(a, "--task-time") && parse_time(v, &o->task_time))
      return run_fail(err, "bad --task-time '%s' (want e.g. 70, 70s, 1.5m)", v);
    if (!strcmp(a, "--deadline") && parse_time(v, &o->deadline))
      return run_fail(err, "bad --deadline '%s' (want e.g. 20m, 1h, 90s)", v);
    if (!strcmp(a, "--from")) o->from = v;
    if (!strcmp(a, "--plot")) o->plot = v;
    if (!strcmp(a, "--grid") && run_inputs_add_grid(&o->grid, v, err))
      return -1;
    if (!strcmp(a, "--tasks") &&
        ((o->tasks = strtoul(v, &end, 10)) == 0 || *end || *v == '-'))
      return run_fail(err, "bad --tasks '%s' (want N >= 1)", v);
    if (!strcmp(a, "--price") &&
        (!((o->price = strtod(v, &end)) >= 0) || *end || end == v))
      return run_fail(err, "bad --price '%s' (want a number >= 0)", v);
    if (!strcmp(a, "--serial-fraction")) {
      o->serial = strtod(v, &end);
      o->have_serial = 1;
      if (*end || end == v || !(o->serial >= 0 && o->serial <= 1))
        return run_fail(err, "bad --serial-fraction '%s' (want 0..1)", v);
    }
    if (!strcmp(a, "--max-cores") &&
        ((o->max_cores = (unsigned)strtoul(v, &end, 10)) == 0 || *end ||
         o->max_cores > 100000))
      return run_fail(err, "bad --max-cores '%s' (want N >= 1)", v);
  }
  if (o->grid.nsrc) {
    if (o->tasks) return run_fail(err, "give --tasks or --grid, not both");
    if (run_inputs_finish(&o->grid, err)) return -1;
    o->tasks = o->grid.njobs;
  }
  if (o->from && o->task_time > 0)
    return run_fail(err, "give --task-time or --from, not both");
  if (!o->have_serial && (o->deadline == 0 || (o->task_time == 0 && !o->from) ||
                          o->tasks == 0))
    return run_fail(err, "need --deadline, --task-time (or --from) and "
                         "--tasks (or --grid)");
  if (o->plot && !o->have_serial)
    return run_fail(err, "--plot draws the --serial-fraction tables");
  if (o->max_cores == 0) o->max_cores = 64;
  return 0;
}

/* ------------------------------------------------------------ the plan */

static double wall(const plan_opts *o, size_t cores) {
  return ceil((double)o->tasks / (double)cores) * o->task_time;
}

static void print_row(const plan_opts *o, size_t c, size_t best) {
  char w[32];
  fmt_dur(w, sizeof w, wall(o, c));
  printf("%8zu %7.0f %11s  %-4s", c, ceil((double)o->tasks / (double)c), w,
         wall(o, c) <= o->deadline ? "yes" : "no");
  if (o->price > 0) printf(" %12.2f", (double)c * wall(o, c) / 3600 * o->price);
  printf("%s\n", c == best ? "   <- fewest cores" : "");
}

static int print_plan(const plan_opts *o) {
  char t[32], d[32], work[32];
  fmt_dur(t, sizeof t, o->task_time);
  fmt_dur(d, sizeof d, o->deadline);
  fmt_dur(work, sizeof work, (double)o->tasks * o->task_time);
  printf("%zu tasks x %s = %s of work on one core (%.2f core-hours); "
         "deadline %s\n", o->tasks, t, work,
         (double)o->tasks * o->task_time / 3600, d);
  double waves = floor(o->deadline / o->task_time + 1e-9);
  if (waves < 1) {
    printf("No number of cores meets the deadline: one task takes longer "
           "than it. Split the tasks.\n");
    return 1;
  }
  size_t need = (size_t)ceil((double)o->tasks / waves);
  char w[32];
  fmt_dur(w, sizeof w, wall(o, need));
  printf("\nCores needed: %zu -- %.0f waves, expected wall time %s", need,
         ceil((double)o->tasks / (double)need), w);
  if (o->price > 0)
    printf(", cost %.2f (%.2f per core-hour)",
           (double)need * wall(o, need) / 3600 * o->price, o->price);
  printf("\n\n   cores   waves   wall time  meets%s\n",
         o->price > 0 ? "         cost" : "");
  size_t lo = need > 2 ? need - 2 : 1;
  for (size_t c = lo; c <= need + 2; c++) print_row(o, c, need);
  if (need + 2 < o->tasks) print_row(o, o->tasks, need); /* one wave */
  printf("\nModel: independent tasks of equal length; ceil(tasks / cores) "
         "waves.\n");
  return 0;
}

/* ------------------------------------------------------------ Amdahl */

static double amdahl(double f, double n) { return 1 / (f + (1 - f) / n); }
static double gustafson(double f, double n) { return n - f * (n - 1); }

static void print_laws(const plan_opts *o) {
  double f = o->serial;
  printf("\nSpeedup with serial fraction %g:\n", f);
  printf("   cores   Amdahl  efficiency   Gustafson  efficiency\n");
  for (unsigned n = 1;; n *= 2) { /* powers of two, then max_cores */
    if (n > o->max_cores) n = o->max_cores;
    printf("%8u %8.2f %10.0f%% %11.2f %10.0f%%\n", n, amdahl(f, n),
           100 * amdahl(f, n) / n, gustafson(f, n), 100 * gustafson(f, n) / n);
    if (n == o->max_cores) break;
  }
  if (f > 0) printf("Amdahl's limit for any number of cores: %.1f\n", 1 / f);
}

/* Draws both laws with gnuplot into o->plot (.png or .svg). */
static int plot_laws(const plan_opts *o) {
  const char *ext = strrchr(o->plot, '.');
  const char *term = ext && !strcmp(ext, ".svg") ? "svg size 800,500"
                     : ext && !strcmp(ext, ".png") ? "pngcairo size 800,500"
                                                   : NULL;
  if (term == NULL) {
    fprintf(stderr, "parc plan: --plot '%s' must end in .png or .svg\n",
            o->plot);
    return 2;
  }
  FILE *g = popen("gnuplot 2>&1", "w");
  if (g == NULL) {
    fprintf(stderr, "parc plan: cannot run gnuplot: %s\n", strerror(errno));
    return 1;
  }
  fprintf(g, "set terminal %s\nset output '%s'\n", term, o->plot);
  fprintf(g, "set title 'Speedup, serial fraction %g'\nset xlabel 'cores'\n"
             "set ylabel 'speedup'\nset key left top\nset grid\n"
             "set xrange [1:%u]\nset samples %u\n", o->serial, o->max_cores,
          o->max_cores < 1000 ? o->max_cores : 1000);
  fprintf(g, "plot x title 'linear' dt 2 lc 'gray', "
             "1/(%.17g + (1-%.17g)/x) title 'Amdahl' lw 2, "
             "x - %.17g*(x-1) title 'Gustafson' lw 2\n",
          o->serial, o->serial, o->serial);
  int st = pclose(g);
  if (st != 0 || access(o->plot, F_OK) != 0) {
    fprintf(stderr, "parc plan: gnuplot failed (is gnuplot installed?)\n");
    return 1;
  }
  printf("Plot: %s\n", o->plot);
  return 0;
}

int parc_cmd_plan(int argc, char **argv) {
  plan_opts o = {0};
  run_err err = "";
  int rc = parse_args(&o, argc, argv, err);
  if (rc == 1) {
    fputs(USAGE, stdout);
    rc = 0;
  } else if (rc != 0) {
    rc = usage_error("%s", err);
  } else {
    size_t njobs;
    if (o.from && task_time_from(o.from, &o.task_time, &njobs, err)) {
      rc = usage_error("%s", err);
    } else {
      if (o.from) {
        char t[32];
        fmt_dur(t, sizeof t, o.task_time);
        printf("Task time: %s, the mean of %zu successful jobs in %s\n", t,
               njobs, o.from);
      }
      if (o.deadline > 0 && o.tasks > 0) rc = print_plan(&o);
      if (o.have_serial) print_laws(&o);
      if (rc == 0 && o.plot) rc = plot_laws(&o);
    }
  }
  run_inputs_free(&o.grid);
  return rc;
}
