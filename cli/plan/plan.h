/* plan.h -- the pieces of `parc plan` (docs/parc-plan.md).
 *
 *   plan.c          options, the plan for one set of tasks, Amdahl and
 *                   Gustafson
 *   plan_from.c     --from: the run times of an earlier run, their
 *                   quantiles, the fit of run time to budget
 *   plan_sched.c    the schedule: tasks started in input order or longest
 *                   first, each on the core that frees first; the fewest
 *                   cores for a deadline
 *   plan_halving.c  --halving: the rungs, each scheduled, cores for a
 *                   deadline, the exhaustive grid beside them
 *
 * Nothing here prints an error: failures are one line in a run_err. */
#ifndef CLI_PLAN_H
#define CLI_PLAN_H

#include <stddef.h>

#include "run/run.h"

/* The most tasks (or jobs of one rung) a plan simulates from observed
 * times (tasks of one --task-time need no simulation). */
#define PLAN_TASKS_MAX 10000000

/* ---------------------------------------------------------------- options */

typedef struct plan_opts {
  double task_time, deadline, price, serial;
  int have_serial;
  size_t tasks;
  unsigned max_cores;
  const char *from, *plot;
  run_inputs grid;
  /* --halving */
  int halving;
  const char *budget;   /* --budget NAME=MIN:MAX as given */
  char budget_name[64]; /* its NAME */
  double budget_min, budget_max;
  int budget_integral; /* both ends are whole numbers */
  double factor;       /* --factor (3) */
  double exponent;     /* --budget-exponent p: time ~ budget^p */
  int have_exponent;   /* given, not fitted */
  const char **average_over;
  size_t navg;
} plan_opts;

/* "70", "70s", "1.5m", "2h", "250ms", "1d" -> seconds; 0 or -1. */
int plan_parse_time(const char *s, double *out);
/* A duration for people: "9.5 s", "18:40", "2:25:50". */
void plan_fmt_dur(char *b, size_t n, double t);
/* Does a wall time meet the deadline (allowing the rounding of sums)? */
int plan_meets(double wall, double deadline);

/* ---------------------------------------------------------------- --from */

/* The successful jobs of an earlier run, in the order of its file. */
typedef struct plan_obs {
  double *time;   /* run time, seconds */
  double *budget; /* its budget column's value; NULL: no such column */
  size_t n;
} plan_obs;

/* Reads a parc run results.csv or job log. budget_col: the column to read
 * budgets from (a results.csv may have it; NULL: none). Keeps the jobs
 * that succeeded (exit 0, no signal) and were not stopped early by
 * --halving (a "pruned" column of 1). 0, or -1 with err set. */
int plan_obs_read(const char *path, const char *budget_col, plan_obs *o,
                  run_err err);
void plan_obs_free(plan_obs *o);

/* The quantile at q in [0, 1] of sorted[0..m): linear between the order
 * statistics, the i-th (0-based) at q = (i + 0.5) / m (Hazen), so that m
 * quantiles at (i + 0.5) / m are the m values themselves. m >= 1. */
double plan_quantile(const double *sorted, size_t m, double q);

/* n task times drawn from m observed ones, deterministically: their
 * values are the quantiles at (r + 0.5) / n of the observed times; their
 * order follows the observed order stretched to n (task i stands where
 * observed job floor((i + 0.5) m / n) stood, the shorter of two ties
 * first), so n == m gives the observed times back in their order.
 * 0, or -1 (ENOMEM). */
int plan_resample(const double *obs, size_t m, double *out, size_t n);

/* Sorts a copy of x[0..n) ascending into a malloc'd array (NULL: ENOMEM). */
double *plan_sorted(const double *x, size_t n);

/* ---------------------------------------------------------------- schedule */

/* One set of independent tasks, as a run would start them and longest
 * first. */
typedef struct plan_tasks {
  double *in_order; /* the times, in the order parc run starts them */
  double *longest;  /* the same times, longest first */
  double equal;     /* > 0: every task takes this; no arrays (--task-time:
                       any number of tasks in constant memory) */
  size_t n;
  double work;     /* their sum: the time on one core */
  double *free_at; /* scratch: when each core frees (n at most) */
} plan_tasks;

/* Takes n times (copied) in input order. 0, or -1 (ENOMEM). */
int plan_tasks_init(plan_tasks *t, const double *times, size_t n);
/* n tasks of `time` each (> 0). */
void plan_tasks_equal(plan_tasks *t, double time, size_t n);
/* The longest task's time (0 tasks: 0). */
double plan_longest(const plan_tasks *t);
void plan_tasks_free(plan_tasks *t);
/* The wall time on `cores` cores: each next task (longest first, or in
 * input order) starts on the core that frees first; the time the last one
 * ends (the makespan). 0 tasks: 0. */
double plan_wall(plan_tasks *t, size_t cores, int longest_first);

/* Fewer cores than this miss the deadline whatever the order: on c cores
 * no schedule beats work / c. */
size_t plan_least_cores(double work, double deadline);

/* The fewest cores in least..most whose wall time meets the deadline
 * (least: fewer surely miss it, e.g. work / deadline), by galloping up
 * from least and bisecting; 0 when even `most` misses it. A list schedule
 * may (rarely) take longer on one core more: the answer is then a count
 * that meets the deadline with one fewer missing it. */
size_t plan_fewest_cores(double (*wall)(void *arg, size_t cores), void *arg,
                         size_t least, size_t most, double deadline);

/* ---------------------------------------------------------------- halving */

/* `parc plan --halving`: prints the plan; the exit status (0; 1 when no
 * number of cores meets the deadline; 2 on bad input, with a line on
 * stderr). obs: the --from jobs, or NULL for --task-time. */
int plan_halving(const plan_opts *o, const plan_obs *obs);

#endif
