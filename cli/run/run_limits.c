/* run_limits.c -- what decides whether and when a job of `parc run`
 * starts or stops, as GNU parallel 20221122 decides it: --halt (its
 * messages and its exit status), the slots ({%}), --delay, --memfree and
 * --timeout N% (docs/parc-run.md, "Ctrl-C, SIGTERM and failures").
 *
 * The lanes count each job's final result themselves (run_count_result),
 * so that once --halt's limit is reached the job queued behind in the same
 * lane does not start; the main thread then judges each job in the order
 * it handles them (run_halt_judge), prints GNU's messages and decides the
 * exit status. The slots, the --delay clock and the --timeout N% median
 * are shared by the lanes under slot_lock, delay_lock and the atomics of
 * run_state; the main thread reads the slots (under slot_lock) to stop
 * the youngest job when memory runs short.
 */
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "run_state.h"

#define RUNTIMES_KEPT 999 /* --timeout N%: the median of the last ones */
#define MEM_POLL 0.2      /* seconds between looks at MemAvailable */

int run_job_failed(const run_result *r) {
  return !r->pruned && (r->exit_code != 0 || r->signal != 0);
}

/* GNU's exit status of one job: -1 (255) when GNU killed it (--timeout,
 * --memfree), 128 + the signal that ended it, else its own. */
static int job_status(const job *j) {
  const run_result *r = &j->res;
  if (r->timed_out || atomic_load(&j->mem_killed))
    return 255;
  return r->signal ? 128 + r->signal : r->exit_code;
}

/* ------------------------------------------------------------ --halt */

/* The jobs that halt: N, or N% of all jobs (GNU: of the total; with
 * --pipe, of those known so far). Lanes call it: njobs_known, not
 * in.njobs, which the main thread grows. */
static double halt_limit(run_state *s) {
  return s->o.halt_pct
             ? s->o.halt_fail / 100.0 * (double)atomic_load(&s->njobs_known)
             : s->o.halt_fail;
}

static size_t halt_counted(run_state *s, size_t failed, size_t ok) {
  switch (s->o.halt_on) {
  case HALT_ON_SUCCESS: return ok;
  case HALT_ON_DONE: return failed + ok;
  default: return failed;
  }
}

static void stop_running(run_state *s) {
  uint64_t one = 1;
  atomic_store(&s->sig.stopping, 1);
  if (write(s->sig.stop_fd, &one, sizeof one) < 0) {
    /* an eventfd write fails only on overflow: it is readable then anyway */
  }
}

void run_count_result(run_state *s, const job *j) {
  if (s->o.halt == HALT_NEVER || j->res.stopped)
    return;
  size_t failed = atomic_load(&s->lane_failed), ok = atomic_load(&s->lane_ok);
  if (run_job_failed(&j->res))
    failed = atomic_fetch_add(&s->lane_failed, 1) + 1;
  else
    ok = atomic_fetch_add(&s->lane_ok, 1) + 1;
  size_t n = halt_counted(s, failed, ok);
  if (n == 0 || (double)n < halt_limit(s))
    return;
  atomic_store(&s->closed, 1);
  if (s->o.halt == HALT_NOW && !atomic_load(&s->sig.stopping))
    stop_running(s);
}

/* The exit status GNU sets when the limit is reached: the job's own for a
 * limit of 1 job, else the share (N%) or the number (at most 101) of
 * failed jobs; 0 for success=N. Only the first one counts (but success's). */
static void decide_status(run_state *s, const job *j) {
  if (s->o.halt_on == HALT_ON_SUCCESS) {
    s->halt_status = 0;
    return;
  }
  if (s->halt_status >= 0)
    return;
  if (halt_limit(s) == 1)
    s->halt_status = job_status(j);
  else if (s->o.halt_pct)
    s->halt_status = (int)ceil((double)s->nfailed /
                               (double)atomic_load(&s->njobs_known) * 100);
  else
    s->halt_status = s->nfailed > 101 ? 101 : (int)s->nfailed;
}

char *run_halt_judge(run_state *s, const job *j) {
  if (s->o.halt == HALT_NEVER)
    return NULL;
  int failed = run_job_failed(&j->res);
  const char *what = NULL;
  size_t n = 0;
  if (s->o.halt_on == HALT_ON_FAIL && failed)
    what = "failed", n = s->nfailed;
  else if (s->o.halt_on == HALT_ON_SUCCESS && !failed)
    what = "succeeded", n = s->ndone - s->nfailed;
  else if (s->o.halt_on == HALT_ON_DONE)
    what = "finished", n = s->ndone;
  if (what == NULL)
    return NULL;
  run_buf msg = {0};
  run_buf_str(&msg, "parc run: This job ");
  run_buf_str(&msg, what);
  run_buf_str(&msg, ":\n");
  run_buf_str(&msg, j->line ? j->line : "");
  run_buf_str(&msg, "\n");
  if ((double)n >= halt_limit(s)) {
    decide_status(s, j);
    s->halted = 1;
    atomic_store(&s->closed, 1);
    int running = atomic_load(&s->running);
    if (s->o.halt == HALT_NOW) {
      if (!atomic_load(&s->sig.stopping))
        stop_running(s);
    } else if (running > 0) {
      char line[128];
      snprintf(line, sizeof line,
               "parc run: Starting no more jobs. Waiting "
               "for %d jobs to finish.\n",
               running);
      run_buf_str(&msg, line);
    }
  }
  return msg.data;
}

int run_halt_exit_status(const run_state *s) {
  if (s->halt_status >= 0)
    return s->halt_status;
  if (s->o.halt_pct) {
    size_t started = s->nstarted ? s->nstarted : 1;
    return (int)ceil((double)s->nfailed / (double)started * 100);
  }
  return s->nfailed > 101 ? 101 : (int)s->nfailed;
}

/* ------------------------------------------------------------ slots */

int run_slots_set_up(run_state *s) {
  s->nslots = s->o.jobs;
  if ((s->slot_used = calloc(s->nslots, 1)) == NULL)
    return -1;
  if (s->mpi && s->mpi->rank == 0)
    return 0; /* the lanes are on the other ranks */
  if ((s->slot_job = calloc(s->nslots, sizeof *s->slot_job)) == NULL)
    return -1;
  if (s->o.memfree == 0 && !s->o.halving)
    return 0; /* who stops one job */
  if ((s->slot_fd = malloc(s->nslots * sizeof *s->slot_fd)) == NULL)
    return -1;
  for (size_t i = 0; i < s->nslots; i++) s->slot_fd[i] = -1;
  for (size_t i = 0; i < s->nslots; i++)
    if ((s->slot_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
      return -1;
  return 0;
}

void run_slots_free(run_state *s) {
  for (size_t i = 0; s->slot_fd && i < s->nslots; i++)
    if (s->slot_fd[i] >= 0)
      close(s->slot_fd[i]);
  free(s->slot_fd);
  free(s->slot_job);
  free(s->slot_used);
}

/* A stop aimed at the slot's last job must not reach the next one. */
static void slot_rearm(run_state *s, size_t i, job *j) {
  uint64_t v;
  if (s->slot_job)
    s->slot_job[i] = j;
  if (s->slot_fd && read(s->slot_fd[i], &v, sizeof v) < 0) {
    /* EAGAIN: nothing was pending */
  }
  if (j)
    atomic_store(&j->mem_killed, 0);
}

unsigned run_slot_take(run_state *s, job *j) {
  unsigned slot = (unsigned)s->nslots + 1; /* none free: an abandoned lane */
  pthread_mutex_lock(&s->slot_lock);
  for (size_t i = 0; i < s->nslots; i++)
    if (!s->slot_used[i]) {
      s->slot_used[i] = 1;
      slot_rearm(s, i, j);
      slot = (unsigned)i + 1;
      break;
    }
  pthread_mutex_unlock(&s->slot_lock);
  return slot;
}

void run_slot_again(run_state *s, unsigned slot, job *j) {
  pthread_mutex_lock(&s->slot_lock);
  if (slot >= 1 && slot <= s->nslots)
    slot_rearm(s, slot - 1, j);
  pthread_mutex_unlock(&s->slot_lock);
}

void run_slot_give(run_state *s, unsigned slot) {
  pthread_mutex_lock(&s->slot_lock);
  if (slot >= 1 && slot <= s->nslots) {
    s->slot_used[slot - 1] = 0;
    if (s->slot_job)
      s->slot_job[slot - 1] = NULL;
  }
  pthread_mutex_unlock(&s->slot_lock);
}

/* ------------------------------------------------------------ starting */

/* Sleeps up to `secs`; 0 when parc is stopping or --halt closed. */
static int nap(run_state *s, double secs) {
  if (secs > 0) {
    struct pollfd p = {s->sig.stop_fd, POLLIN, 0};
    poll(&p, 1, (int)(secs * 1e3) + 1);
  }
  return !atomic_load(&s->sig.stopping) && !atomic_load(&s->closed);
}

unsigned long long run_meminfo(const char *field, unsigned long long unknown) {
  FILE *f = fopen("/proc/meminfo", "re");
  size_t n = strlen(field);
  unsigned long long kb = 0;
  char line[256];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f))
    found = strncmp(line, field, n) == 0 && line[n] == ':' &&
            sscanf(line + n + 1, " %llu kB", &kb) == 1;
  if (f)
    fclose(f);
  return found ? kb * 1024 : unknown;
}

/* MemAvailable in bytes; the most there is if unknown. */
unsigned long long run_mem_available(void) {
  return run_meminfo("MemAvailable", ~0ull);
}

/* --delay: the lanes take turns, each start at least SECS after the last
 * (the first at once). --memfree: a job starts only with SIZE available. */
int run_wait_to_start(run_state *s) {
  if (!nap(s, 0))
    return 0;
  if (s->o.delay > 0) {
    pthread_mutex_lock(&s->delay_lock);
    double wait = s->next_start - run_wall_now();
    int ok = nap(s, wait);
    s->next_start = run_wall_now() + s->o.delay;
    pthread_mutex_unlock(&s->delay_lock);
    if (!ok)
      return 0;
  }
  while (s->o.memfree && run_mem_available() < s->o.memfree)
    if (!nap(s, MEM_POLL))
      return 0;
  return 1;
}

/* The lanes start their jobs one after another in the order the loop
 * submitted them, as GNU parallel starts its jobs: a job's slot ({%}) is
 * the lowest one free when its turn comes, and --delay spaces the starts
 * in that order, whichever lane runs first. The turn cannot hang: the
 * pool hands futures to idle workers in the order they were submitted, so
 * the job whose turn it is is on a lane already, never queued behind one
 * that waits for it; and a job that does not start passes the turn on. */
unsigned run_start(run_state *s, job *j) {
  pthread_mutex_lock(&s->start_lock);
  while (s->turn != j->turn) pthread_cond_wait(&s->start_turn, &s->start_lock);
  pthread_mutex_unlock(&s->start_lock);
  j->has_turn = 1;
  unsigned slot = run_wait_to_start(s) ? run_slot_take(s, j) : 0;
  if (slot == 0)
    run_pass_turn(s, j);
  return slot;
}

/* The command is made ({= =} code runs in job order) and -t has shown it
 * (in job order, as GNU's): the next job may start. */
void run_pass_turn(run_state *s, job *j) {
  if (!j->has_turn)
    return;
  j->has_turn = 0;
  pthread_mutex_lock(&s->start_lock);
  s->turn++;
  pthread_cond_broadcast(&s->start_turn);
  pthread_mutex_unlock(&s->start_lock);
}

/* --memfree: GNU stops the youngest job (the highest sequence number)
 * when MemAvailable is under half of SIZE; one at a time, each once it is
 * gone, the next. */
void run_memfree_check(run_state *s) {
  if (s->o.memfree == 0 || s->slot_fd == NULL ||
      run_mem_available() >= s->o.memfree / 2)
    return;
  pthread_mutex_lock(&s->slot_lock);
  size_t young = s->nslots;
  int pending = 0;
  for (size_t i = 0; i < s->nslots; i++) {
    job *j = s->slot_job[i];
    if (j == NULL)
      continue;
    if (atomic_load(&j->mem_killed))
      pending = 1;
    else if (young == s->nslots || j->index > s->slot_job[young]->index)
      young = i;
  }
  if (!pending && young < s->nslots) {
    uint64_t one = 1;
    atomic_store(&s->slot_job[young]->mem_killed, 1);
    if (write(s->slot_fd[young], &one, sizeof one) < 0) {
      /* overflow only: readable anyway */
    }
  }
  pthread_mutex_unlock(&s->slot_lock);
}

/* ------------------------------------------------------------ --timeout N% */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A job succeeded in `secs`: the timeout is N% of the median (the lower
 * one, as GNU's) of the run times of the jobs that succeeded so far. */
void run_note_runtime(run_state *s, double secs) {
  if (s->o.timeout_pct <= 0)
    return;
  if (s->runtimes == NULL &&
      (s->runtimes = malloc(2 * RUNTIMES_KEPT * sizeof *s->runtimes)) == NULL)
    return;
  s->runtimes[s->nruntimes++ % RUNTIMES_KEPT] = secs;
  size_t n = s->nruntimes < RUNTIMES_KEPT ? s->nruntimes : RUNTIMES_KEPT;
  double *sorted = s->runtimes + RUNTIMES_KEPT;
  memcpy(sorted, s->runtimes, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_double);
  double t = s->o.timeout_pct / 100.0 * sorted[(n - 1) / 2];
  long long us = (long long)(t * 1e6);
  atomic_store(&s->pct_timeout_us, us > 0 ? us : 1);
}
