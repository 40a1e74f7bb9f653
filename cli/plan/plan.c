/* plan.c -- `parc plan`: how many cores for a deadline, and what it costs.
 *
 * The tasks are independent (a sweep). A plan schedules them: each next
 * task starts on the core that frees first, longest first (plan_sched.c);
 * the wall time is when the last one ends. Tasks of equal length t (from
 * --task-time) come out as ceil(n / c) waves of t, and the fewest cores
 * that meet a deadline D as ceil(n / floor(D / t)). With --from the times
 * are those an earlier run measured (plan_from.c), drawn to n tasks by
 * their quantiles, and the plan also says what starting them in input
 * order, as `parc run` does, would take. --halving plans a successive
 * halving run rung by rung (plan_halving.c). Cost is what a cloud bills:
 * cores held for the wall time, times the price of a core-hour.
 *
 * With --serial-fraction f it also prints Amdahl's speedup 1 / (f + (1-f)/N)
 * (a fixed problem on N cores) and Gustafson's N - f (N - 1) (a problem
 * grown with N), and plots both with gnuplot.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cli.h"
#include "plan.h"

static const char USAGE[] =
    "usage: parc plan --deadline TIME (--task-time TIME | --from FILE)\n"
    "                 (--tasks N | --grid NAME=SPEC ...) [--price P]\n"
    "                 [--serial-fraction F [--max-cores N] [--plot FILE]]\n"
    "       parc plan --halving --budget NAME=MIN:MAX [--factor F]\n"
    "                 [--average-over AXIS] [--budget-exponent P] --deadline "
    "TIME\n"
    "                 (--task-time TIME | --from FILE) (--tasks N | --grid "
    "...)\n"
    "\n"
    "How many cores finish N independent tasks before a deadline, how long\n"
    "they take (started longest first, and in input order as parc run does)\n"
    "and what it costs.\n"
    "\n"
    "  --task-time TIME       one task: 70, 70s, 1.5m, 2h, 250ms\n"
    "  --from FILE            the run times of the successful jobs in a parc "
    "run\n"
    "                         results.csv or job log (their distribution)\n"
    "  --tasks N              the number of tasks, or\n"
    "  --grid NAME=SPEC       axes as parc run takes them (tasks = product)\n"
    "  --deadline TIME        the wall time allowed\n"
    "  --price P              price of one core-hour (any currency)\n"
    "  --serial-fraction F    print Amdahl and Gustafson speedups for F in "
    "[0,1]\n"
    "  --max-cores N          largest N in those tables (default 64)\n"
    "  --plot FILE            draw them with gnuplot (FILE.png or FILE.svg)\n"
    "\n"
    "Successive halving (as parc run --halving, rung by rung):\n"
    "  --budget NAME=MIN:MAX  the budget axis (e.g. samples=500:8000)\n"
    "  --factor F             the reduction factor (default 3)\n"
    "  --average-over AXIS    a --grid axis each setting runs all of (fold)\n"
    "  --budget-exponent P    a job takes TIME x (budget / MAX)^P (default 1;\n"
    "                         --from a run over budgets: fitted)\n"
    "\n"
    "Example (the seeds' grid search): parc plan --tasks 125 --task-time 70 "
    "--deadline 20m\n";

int plan_parse_time(const char *s, double *out) {
  static const struct {
    const char *unit;
    double secs;
  } units[] = {{"", 1},     {"s", 1},    {"ms", 1e-3}, {"m", 60},
               {"min", 60}, {"h", 3600}, {"d", 86400}};
  char *end;
  double v = strtod(s, &end);
  if (end == s || !isfinite(v) || v <= 0)
    return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(end, units[i].unit) == 0) {
      *out = v * units[i].secs;
      return 0;
    }
  return -1;
}

void plan_fmt_dur(char *b, size_t n, double t) {
  if (t < 60) {
    snprintf(b, n, "%.3g s", t);
    return;
  }
  long v = lround(t);
  if (v >= 3600)
    snprintf(b, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else
    snprintf(b, n, "%ld:%02ld", v / 60, v % 60);
}

/* Wall times are sums of task times: 0.1 s x 3 may exceed 0.3 s. */
int plan_meets(double wall, double deadline) {
  return wall <= deadline * (1 + 1e-9);
}

/* ------------------------------------------------------------ options */

/* NAME=MIN:MAX, as parc run --budget takes it (run_budget.c). */
static int parse_budget(plan_opts *o, const char *spec) {
  run_budget b;
  if (run_budget_parse(spec, &b) != 0)
    return -1;
  memcpy(o->budget_name, b.name, sizeof o->budget_name);
  o->budget_min = b.min;
  o->budget_max = b.max;
  o->budget_integral = b.integral;
  return 0;
}

enum {
  O_TASK_TIME = 256,
  O_FROM,
  O_TASKS,
  O_GRID,
  O_DEADLINE,
  O_PRICE,
  O_SERIAL,
  O_MAX_CORES,
  O_PLOT,
  O_HALVING,
  O_BUDGET,
  O_FACTOR,
  O_EXPONENT,
  O_AVG
};

static const struct option OPTIONS[] = {
    {"task-time", required_argument, NULL, O_TASK_TIME},
    {"from", required_argument, NULL, O_FROM},
    {"tasks", required_argument, NULL, O_TASKS},
    {"grid", required_argument, NULL, O_GRID},
    {"deadline", required_argument, NULL, O_DEADLINE},
    {"price", required_argument, NULL, O_PRICE},
    {"serial-fraction", required_argument, NULL, O_SERIAL},
    {"max-cores", required_argument, NULL, O_MAX_CORES},
    {"plot", required_argument, NULL, O_PLOT},
    {"halving", no_argument, NULL, O_HALVING},
    {"budget", required_argument, NULL, O_BUDGET},
    {"factor", required_argument, NULL, O_FACTOR},
    {"budget-exponent", required_argument, NULL, O_EXPONENT},
    {"average-over", required_argument, NULL, O_AVG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static const cli_cmd CMD = {"plan", CLI_EXIT_USAGE, "+:h", OPTIONS};

/* One option of the halving plan and its value. */
static int parse_halving_value(plan_opts *o, int id, const char *v,
                               run_err err) {
  char *end;
  switch (id) {
  case O_BUDGET:
    o->budget = v;
    if (parse_budget(o, v))
      return run_fail(err,
                      "bad --budget '%s' (want NAME=MIN:MAX with "
                      "0 < MIN <= MAX)",
                      v);
    break;
  case O_FACTOR:
    o->factor = strtod(v, &end);
    if (end == v || *end || !(o->factor > 1 && o->factor <= 1000))
      return run_fail(err, "bad --factor '%s' (want a number > 1)", v);
    break;
  case O_EXPONENT:
    o->exponent = strtod(v, &end);
    o->have_exponent = 1;
    if (end == v || *end || !(o->exponent > 0 && o->exponent <= 100))
      return run_fail(err, "bad --budget-exponent '%s' (want a number > 0)", v);
    break;
  case O_AVG: {
    const char **av = realloc(o->average_over, (o->navg + 1) * sizeof *av);
    if (av == NULL)
      return run_fail(err, "out of memory");
    (o->average_over = av)[o->navg++] = v;
    break;
  }
  }
  return 0;
}

/* One option and its value: 0, 1 for --help, or -1 (err set). */
static int parse_value(void *ctx, int id, const char *v, run_err err) {
  plan_opts *o = ctx;
  char *end;
  switch (id) {
  case 'h': return 1;
  case O_HALVING: o->halving = 1; break;
  case O_TASK_TIME:
    if (plan_parse_time(v, &o->task_time))
      return run_fail(err, "bad --task-time '%s' (want e.g. 70, 70s, 1.5m)", v);
    break;
  case O_DEADLINE:
    if (plan_parse_time(v, &o->deadline))
      return run_fail(err, "bad --deadline '%s' (want e.g. 20m, 1h, 90s)", v);
    break;
  case O_FROM: o->from = v; break;
  case O_PLOT: o->plot = v; break;
  case O_GRID: return run_inputs_add_grid(&o->grid, v, err) ? -1 : 0;
  case O_TASKS:
    if ((o->tasks = strtoul(v, &end, 10)) == 0 || *end || *v == '-')
      return run_fail(err, "bad --tasks '%s' (want N >= 1)", v);
    break;
  case O_PRICE:
    if (!((o->price = strtod(v, &end)) >= 0) || *end || end == v)
      return run_fail(err, "bad --price '%s' (want a number >= 0)", v);
    break;
  case O_SERIAL:
    o->serial = strtod(v, &end);
    o->have_serial = 1;
    if (*end || end == v || !(o->serial >= 0 && o->serial <= 1))
      return run_fail(err, "bad --serial-fraction '%s' (want 0..1)", v);
    break;
  case O_MAX_CORES:
    if ((o->max_cores = (unsigned)strtoul(v, &end, 10)) == 0 || *end ||
        o->max_cores > 100000)
      return run_fail(err, "bad --max-cores '%s' (want N >= 1)", v);
    break;
  default: return parse_halving_value(o, id, v, err);
  }
  return 0;
}

static int grid_has(const plan_opts *o, const char *name) {
  for (size_t s = 0; s < o->grid.nsrc; s++)
    if (o->grid.src[s].name && !strcmp(o->grid.src[s].name, name))
      return 1;
  return 0;
}

static int check_halving(plan_opts *o, run_err err) {
  if (!o->halving) {
    if (o->budget || o->factor > 0 || o->have_exponent || o->navg)
      return run_fail(err, "--budget, --factor, --budget-exponent and "
                           "--average-over need --halving");
    return 0;
  }
  if (o->budget == NULL)
    return run_fail(err, "--halving needs --budget NAME=MIN:MAX");
  if (grid_has(o, o->budget_name))
    return run_fail(err,
                    "--budget %s is also a --grid axis: the budget axis "
                    "takes its values from the rungs",
                    o->budget_name);
  for (size_t a = 0; a < o->navg; a++)
    if (!grid_has(o, o->average_over[a]))
      return run_fail(err, "--average-over %s is not a --grid axis",
                      o->average_over[a]);
  if (o->have_serial || o->plot)
    return run_fail(err, "--halving plans a run; ask --serial-fraction "
                         "apart");
  if (o->factor == 0)
    o->factor = 3;
  if (!o->have_exponent)
    o->exponent = 1;
  return 0;
}

static int check_args(plan_opts *o, run_err err) {
  if (o->grid.nsrc) {
    if (o->tasks)
      return run_fail(err, "give --tasks or --grid, not both");
    if (run_inputs_finish(&o->grid, err))
      return -1;
    o->tasks = o->grid.njobs;
  }
  if (o->tasks > PLAN_TASKS_MAX && o->from)
    return run_fail(err, "%zu tasks: a plan simulates %d at most", o->tasks,
                    PLAN_TASKS_MAX);
  if (o->from && o->task_time > 0)
    return run_fail(err, "give --task-time or --from, not both");
  if ((!o->have_serial || o->halving) &&
      (o->deadline == 0 || (o->task_time == 0 && !o->from) || o->tasks == 0))
    return run_fail(err, "need --deadline, --task-time (or --from) and "
                         "--tasks (or --grid)");
  if (o->plot && !o->have_serial)
    return run_fail(err, "--plot draws the --serial-fraction tables");
  if (o->max_cores == 0)
    o->max_cores = 64;
  return check_halving(o, err);
}

static int parse_args(plan_opts *o, int argc, char **argv, run_err err) {
  int rc = cli_parse_options(&CMD, argc, argv, parse_value, o, err);
  return rc != 0 ? rc : check_args(o, err);
}

/* ------------------------------------------------------------ the plan */

/* The tasks of a plan: n of --task-time each, or drawn from --from. */
static int make_tasks(const plan_opts *o, const plan_obs *obs, plan_tasks *t) {
  if (obs == NULL) {
    plan_tasks_equal(t, o->task_time, o->tasks);
    return 0;
  }
  double *times = malloc(o->tasks * sizeof *times);
  int rc = times ? 0 : -1;
  if (rc == 0 && obs)
    rc = plan_resample(obs->time, obs->n, times, o->tasks);
  for (size_t i = 0; rc == 0 && !obs && i < o->tasks; i++)
    times[i] = o->task_time;
  if (rc == 0)
    rc = plan_tasks_init(t, times, o->tasks);
  free(times);
  return rc;
}

static double wall_longest(void *t, size_t c) { return plan_wall(t, c, 1); }
static double wall_in_order(void *t, size_t c) { return plan_wall(t, c, 0); }

/* Equal tasks: a row in waves. Observed ones: both orders. */
static void print_row(const plan_opts *o, plan_tasks *t, int equal, size_t c,
                      size_t best) {
  char w[32], wi[32], row[192];
  double lw = plan_wall(t, c, 1);
  const char *meets = plan_meets(lw, o->deadline) ? "yes" : "no";
  int n;
  plan_fmt_dur(w, sizeof w, lw);
  if (equal) {
    n = snprintf(row, sizeof row, "%8zu %7.0f %11s  %-4s", c,
                 ceil((double)t->n / (double)c), w, meets);
  } else {
    double iw = plan_wall(t, c, 0);
    plan_fmt_dur(wi, sizeof wi, iw);
    n = snprintf(row, sizeof row, "%8zu %14s  %-5s %12s  %-5s", c, w, meets, wi,
                 plan_meets(iw, o->deadline) ? "yes" : "no");
  }
  if (o->price > 0)
    snprintf(row + n, sizeof row - (size_t)n, " %12.2f",
             (double)c * lw / 3600 * o->price);
  if (c == best)
    strncat(row, "   <- fewest cores", sizeof row - strlen(row) - 1);
  for (n = (int)strlen(row); n > 0 && row[n - 1] == ' ';) row[--n] = '\0';
  puts(row);
}

/* What the tasks are: n x t, or the distribution they were drawn from. */
static void print_tasks(const plan_opts *o, const plan_obs *obs,
                        const plan_tasks *t) {
  char work[32], d[32], q[4][32], mean[32];
  plan_fmt_dur(work, sizeof work, t->work);
  plan_fmt_dur(d, sizeof d, o->deadline);
  if (obs == NULL) {
    plan_fmt_dur(q[0], sizeof q[0], o->task_time);
    printf("%zu tasks x %s = %s of work on one core (%.2f core-hours); "
           "deadline %s\n",
           t->n, q[0], work, t->work / 3600, d);
    return;
  }
  double *s = plan_sorted(obs->time, obs->n), sum = 0;
  static const double at[4] = {0, 0.5, 0.9, 1};
  for (int k = 0; k < 4; k++)
    plan_fmt_dur(q[k], sizeof q[k], s ? plan_quantile(s, obs->n, at[k]) : NAN);
  for (size_t i = 0; i < obs->n; i++) sum += obs->time[i];
  plan_fmt_dur(mean, sizeof mean, sum / (double)obs->n);
  free(s);
  printf("Task times: %zu successful jobs in %s -- min %s, median %s, "
         "p90 %s, max %s (mean %s)\n",
         obs->n, o->from, q[0], q[1], q[2], q[3], mean);
  printf("%zu tasks%s = %s of work on one core (%.2f core-hours); "
         "deadline %s\n",
         t->n, t->n == obs->n ? ", those times" : ", their quantiles", work,
         t->work / 3600, d);
}

static void print_needed(const plan_opts *o, plan_tasks *t, int equal,
                         size_t need) {
  char w[32], wi[32];
  double lw = plan_wall(t, need, 1);
  plan_fmt_dur(w, sizeof w, lw);
  if (equal)
    printf("\nCores needed: %zu -- %.0f waves, expected wall time %s", need,
           ceil((double)t->n / (double)need), w);
  else
    printf("\nCores needed: %zu -- expected wall time %s, longest first", need,
           w);
  if (o->price > 0)
    printf(", cost %.2f (%.2f per core-hour)",
           (double)need * lw / 3600 * o->price, o->price);
  printf("\n");
  if (equal)
    return;
  plan_fmt_dur(wi, sizeof wi, plan_wall(t, need, 0));
  size_t in_need = plan_fewest_cores(wall_in_order, t,
                                     plan_least_cores(t->work, o->deadline),
                                     t->n, o->deadline);
  printf("In input order (as parc run starts them): %s on %zu cores; "
         "%zu cores meet the deadline that way\n",
         wi, need, in_need);
}

static int print_plan(const plan_opts *o, const plan_obs *obs) {
  plan_tasks t;
  if (make_tasks(o, obs, &t)) {
    fprintf(stderr, "parc plan: out of memory\n");
    return 1;
  }
  int equal = obs == NULL;
  print_tasks(o, obs, &t);
  size_t need = plan_fewest_cores(wall_longest, &t,
                                  plan_least_cores(t.work, o->deadline), t.n,
                                  o->deadline);
  if (need == 0) {
    char l[32];
    plan_fmt_dur(l, sizeof l, plan_longest(&t));
    printf("No number of cores meets the deadline: one task takes longer "
           "than it (%s). Split the tasks.\n",
           l);
    plan_tasks_free(&t);
    return 1;
  }
  print_needed(o, &t, equal, need);
  printf(equal ? "\n   cores   waves   wall time  meets%s\n"
               : "\n   cores  longest first  meets  input order  meets%s\n",
         o->price > 0 ? "         cost" : "");
  size_t lo = need > 2 ? need - 2 : 1;
  for (size_t c = lo; c <= need + 2; c++) print_row(o, &t, equal, c, need);
  if (need + 2 < t.n)
    print_row(o, &t, equal, t.n, need); /* one wave */
  if (equal) {
    printf("\nModel: independent tasks of equal length; ceil(tasks / cores) "
           "waves.\n");
  } else {
    char lb[32];
    double bound = fmax(plan_longest(&t), t.work / (double)need);
    plan_fmt_dur(lb, sizeof lb, bound);
    printf("\nModel: independent tasks of the observed times; the plan starts "
           "the longest first,\neach on the core that frees first. No order "
           "does better on %zu cores than %s\n(the longest task, or the work "
           "shared evenly).\n",
           need, lb);
  }
  plan_tasks_free(&t);
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
    if (n > o->max_cores)
      n = o->max_cores;
    printf("%8u %8.2f %10.0f%% %11.2f %10.0f%%\n", n, amdahl(f, n),
           100 * amdahl(f, n) / n, gustafson(f, n), 100 * gustafson(f, n) / n);
    if (n == o->max_cores)
      break;
  }
  if (f > 0)
    printf("Amdahl's limit for any number of cores: %.1f\n", 1 / f);
}

/* Draws both laws with gnuplot into o->plot (.png or .svg). */
static int plot_laws(const plan_opts *o) {
  const char *ext = strrchr(o->plot, '.');
  const char *term = ext && !strcmp(ext, ".svg")   ? "svg size 800,500"
                     : ext && !strcmp(ext, ".png") ? "pngcairo size 800,500"
                                                   : NULL;
  if (term == NULL) {
    fprintf(stderr, "parc plan: --plot '%s' must end in .png or .svg\n",
            o->plot);
    return CLI_EXIT_USAGE;
  }
  FILE *g = popen("gnuplot 2>&1", "w");
  if (g == NULL) {
    fprintf(stderr, "parc plan: cannot run gnuplot: %s\n", strerror(errno));
    return 1;
  }
  fprintf(g, "set terminal %s\nset output '%s'\n", term, o->plot);
  fprintf(g,
          "set title 'Speedup, serial fraction %g'\nset xlabel 'cores'\n"
          "set ylabel 'speedup'\nset key left top\nset grid\n"
          "set xrange [1:%u]\nset samples %u\n",
          o->serial, o->max_cores, o->max_cores < 1000 ? o->max_cores : 1000);
  fprintf(g,
          "plot x title 'linear' dt 2 lc 'gray', "
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

/* ------------------------------------------------------------ main */

static int run_plan(const plan_opts *o) {
  plan_obs obs = {0};
  run_err err = "";
  if (o->from &&
      plan_obs_read(o->from, o->halving ? o->budget_name : NULL, &obs, err))
    return cli_usage_error(&CMD, "%s", err);
  const plan_obs *from = o->from ? &obs : NULL;
  int rc = 0;
  if (o->halving)
    rc = plan_halving(o, from);
  else if (o->deadline > 0 && o->tasks > 0)
    rc = print_plan(o, from);
  if (!o->halving && o->have_serial)
    print_laws(o);
  if (rc == 0 && o->plot)
    rc = plot_laws(o);
  plan_obs_free(&obs);
  return rc;
}

int cmd_plan(int argc, char **argv) {
  plan_opts o = {0};
  run_err err = "";
  int rc = parse_args(&o, argc, argv, err);
  if (rc == 1) {
    fputs(USAGE, stdout);
    rc = 0;
  } else if (rc != 0) {
    rc = cli_usage_error(&CMD, "%s", err);
  } else {
    rc = run_plan(&o);
  }
  run_inputs_free(&o.grid);
  free(o.average_over);
  return rc;
}
