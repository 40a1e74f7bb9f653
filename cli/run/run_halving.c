/* run_halving.c -- `parc run --halving`: successive halving over a budget
 * axis, rung by rung or asynchronously (ASHA), with early stopping.
 *
 * The settings are the combinations of the axes other than the budget and
 * the --average-over ones; a setting at a rung is a unit, whose jobs are
 * one per --average-over value (its folds), and whose score is the mean
 * of their --best metric. The budget axis and its rungs: run_budget.c.
 *
 * Rung by rung: every setting runs at rung 0; once a rung is complete,
 * the best ceil(n / factor) of its units go on to the next (a unit whose
 * job failed, printed no metric or was stopped early never does; ties go
 * to the setting first in the grid). Asynchronous (ASHA, Li et al. 2018):
 * whenever a job is wanted, a unit in the best floor(n / factor) of the
 * complete units of its rung goes on (the deepest rung first), else a new
 * setting begins at rung 0, so no lane waits for a rung to end; once
 * nothing runs and no setting is new, each rung, lowest first, sends on
 * what the synchronous run would. No rung sends on more than the
 * synchronous run does, so both cost the same at most.
 *
 * Early stopping: a job may print `step=S METRIC=V` lines as it runs
 * (run_job.c hands each line to run_halving_watch on the job's lane;
 * under mpirun the lane is on another rank and asks rank 0, which holds
 * the rungs, through parc_task_ask: run_halving_answer). V
 * is compared with what the jobs of its rung and its fold (the same
 * --average-over values: the same data) printed at the same S: once more
 * than `factor` values are in, a job outside the best 1/factor of them is
 * stopped (TERM through its slot's stop eventfd) and its unit goes no
 * further. Such a job is pruned, not failed. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_record.h"
#include "run_state.h"

/* ------------------------------------------------------------ the state */

/* One setting at one rung: its jobs are one per --average-over value. */
typedef struct unit {
  size_t handed; /* its jobs handed out so far */
  size_t left;   /* its jobs not finished yet */
  size_t nok;    /* finished with the metric */
  double sum;    /* of the metric over those */
  unsigned char queued, complete, failed, promoted;
  _Atomic unsigned char pruned; /* stopped early (the lanes set it) */
} unit;

/* The values the jobs of a rung printed at one step (early stopping). */
typedef struct step_vals {
  double step;
  size_t fold; /* jobs of one fold are scored on the same data */
  double *v;
  size_t n, cap;
} step_vals;

typedef struct rung {
  size_t nrun;      /* settings it runs (run_halving_rungs) */
  size_t started;   /* units begun at this rung */
  size_t complete;  /* units whose jobs all finished */
  size_t promoted;  /* units sent on to the next rung */
  step_vals *steps; /* under `lock` */
  size_t nsteps;
} rung;

/* A group of linked sources, and what it is for the sweep. */
typedef struct group {
  size_t stride, len;
  enum { G_SETTING, G_FOLD, G_BUDGET } kind;
} group;

struct run_halving {
  int async, minimize;
  double factor;
  const char *metric;
  size_t nset, nfold, nrung;
  group *g;
  size_t ng;
  unit *u; /* nset * nrung: unit (set, k) at set * nrung + k */
  rung r[RUN_RUNGS_MAX];
  run_fifo ready;       /* units (size_t) with jobs to hand out, oldest first */
  size_t next_new;      /* async: the next setting to begin at rung 0 */
  size_t inflight;      /* jobs handed out, not finished */
  size_t pruned_jobs;   /* stopped early */
  pthread_mutex_t lock; /* the rungs' steps (lanes and the main thread) */
};

/* The digits of a job's index: setting, fold and rung. */
static void decode(const run_halving *h, size_t index, size_t *set,
                   size_t *fold, size_t *k) {
  *set = *fold = *k = 0;
  for (size_t i = 0; i < h->ng; i++) {
    size_t d = index / h->g[i].stride % h->g[i].len;
    if (h->g[i].kind == G_SETTING)
      *set = *set * h->g[i].len + d;
    else if (h->g[i].kind == G_FOLD)
      *fold = *fold * h->g[i].len + d;
    else
      *k = d;
  }
}

static size_t encode(const run_halving *h, size_t set, size_t fold, size_t k) {
  size_t index = 0;
  for (size_t i = h->ng; i-- > 0;) { /* the last group varies fastest */
    size_t d;
    if (h->g[i].kind == G_SETTING)
      d = set % h->g[i].len, set /= h->g[i].len;
    else if (h->g[i].kind == G_FOLD)
      d = fold % h->g[i].len, fold /= h->g[i].len;
    else
      d = k;
    index += d * h->g[i].stride;
  }
  return index;
}

static unit *unit_of(const run_halving *h, size_t set, size_t k) {
  return &h->u[set * h->nrung + k];
}

static int queue_unit(run_halving *h, size_t set, size_t k) {
  size_t id = set * h->nrung + k;
  if (run_fifo_push(&h->ready, &id) != 0)
    return -1;
  unit_of(h, set, k)->queued = 1;
  h->r[k].started++;
  return 0;
}

/* ------------------------------------------------------------ set-up */

static int group_kind(const run_state *s, size_t head, size_t end) {
  int kind = G_SETTING;
  for (size_t i = head; i < end; i++) {
    int role = run_axis_role(&s->o, s->in.src[i].name);
    if (role == RUN_AXIS_BUDGET)
      return G_BUDGET;
    if (role == RUN_AXIS_AVERAGED)
      kind = G_FOLD;
  }
  return kind;
}

int run_halving_set_up(run_state *s, run_err err) {
  if (!s->o.halving || s->in.njobs == 0)
    return 0;
  /* under mpirun the rungs are rank 0's: the other ranks run the jobs it
   * sends, and ask it about their step lines (run_halving_answer) */
  if (s->mpi && s->mpi->rank > 0)
    return 0;
  for (size_t i = 0; i < s->in.nsrc; i++)
    if (group_kind(s, i, i + 1) == G_BUDGET)
      break;
    else if (i + 1 == s->in.nsrc)
      return run_fail(err, "--halving: the jobs have no --budget axis");
  run_halving *h = calloc(1, sizeof *h);
  if (h == NULL)
    return run_fail(err, "out of memory");
  h->ready.size = sizeof(size_t);
  s->halving = h;
  pthread_mutex_init(&h->lock, NULL);
  h->async = s->o.halving == HALVING_ASYNC;
  h->minimize = s->o.minimize;
  h->factor = s->o.factor;
  h->metric = s->o.best;
  h->nset = h->nfold = 1;
  if ((h->g = calloc(s->in.nsrc, sizeof *h->g)) == NULL)
    return run_fail(err, "out of memory");
  for (size_t head = 0; head < s->in.nsrc;) {
    size_t end = head + 1;
    while (end < s->in.nsrc && s->in.src[end].linked) end++;
    group *g = &h->g[h->ng++];
    *g = (group){s->in.src[head].stride, s->in.src[head].len,
                 group_kind(s, head, end)};
    if (g->kind == G_SETTING)
      h->nset *= g->len;
    if (g->kind == G_FOLD)
      h->nfold *= g->len;
    if (g->kind == G_BUDGET)
      h->nrung = g->len;
    head = end;
  }
  /* the settings each rung runs: as run_halving_rungs counts them */
  size_t left = h->nset;
  size_t torun = 0;
  for (size_t k = 0; k < h->nrung; k++) {
    h->r[k].nrun = left;
    torun += left * h->nfold;
    left = (size_t)ceil((double)left / h->factor); /* run_halving_rungs' */
  }
  s->torun = torun;
  if ((h->u = calloc(h->nset * h->nrung, sizeof *h->u)) == NULL)
    return run_fail(err, "out of memory");
  if (!h->async || s->o.dry_run) /* a dry run shows rung 0 */
    for (size_t set = 0; set < h->nset; set++)
      if (queue_unit(h, set, 0) != 0)
        return run_fail(err, "out of memory");
  return 0;
}

void run_halving_free(run_state *s) {
  run_halving *h = s->halving;
  if (h == NULL)
    return;
  for (size_t k = 0; k < h->nrung; k++) {
    for (size_t i = 0; i < h->r[k].nsteps; i++) free(h->r[k].steps[i].v);
    free(h->r[k].steps);
  }
  pthread_mutex_destroy(&h->lock);
  free(h->g);
  free(h->u);
  run_fifo_free(&h->ready);
  free(h);
  s->halving = NULL;
}

/* ------------------------------------------------------------ ranking */

/* Is unit a's score better than b's? One without a score is worse than
 * any with one; a tie goes to the setting first in the grid. */
typedef struct ranked {
  size_t set;
  double score;
  int has;
} ranked;

static int g_minimize; /* for qsort: set by rank() on the main thread */

static int by_score(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->has != b->has)
    return a->has ? -1 : 1;
  if (a->has && a->score != b->score)
    return (a->score < b->score) == g_minimize ? -1 : 1;
  return (a->set > b->set) - (a->set < b->set);
}

static int has_score(const unit *u) {
  return u->complete && !u->failed && !atomic_load(&u->pruned) && u->nok > 0;
}

/* The complete units of rung k, best first, into out (nset entries).
 * Returns how many. */
static size_t rank(const run_halving *h, size_t k, ranked *out) {
  size_t n = 0;
  for (size_t set = 0; set < h->nset; set++) {
    const unit *u = unit_of(h, set, k);
    if (!u->complete)
      continue;
    out[n++] = (ranked){set, u->nok ? u->sum / (double)u->nok : 0,
                        has_score(u)};
  }
  g_minimize = h->minimize;
  qsort(out, n, sizeof *out, by_score);
  return n;
}

/* Sends on from rung k the best complete units not yet sent, while fewer
 * than `quota` have been; only units with a score go on. Returns how many
 * it sent, or -1 (ENOMEM). */
static int promote(run_halving *h, size_t k, size_t quota) {
  ranked *r = malloc((h->nset ? h->nset : 1) * sizeof *r);
  if (r == NULL)
    return -1;
  size_t n = rank(h, k, r);
  int sent = 0;
  if (quota > h->r[k + 1].nrun)
    quota = h->r[k + 1].nrun;
  for (size_t i = 0; i < n && i < quota; i++) {
    unit *u = unit_of(h, r[i].set, k);
    if (!r[i].has || u->promoted)
      continue;
    if (h->r[k].promoted >= h->r[k + 1].nrun)
      break;
    u->promoted = 1;
    h->r[k].promoted++;
    if (queue_unit(h, r[i].set, k + 1) != 0) {
      free(r);
      return -1;
    }
    sent++;
  }
  free(r);
  return sent;
}

/* Asynchronous (ASHA): the deepest rung with a unit in the top 1/factor of
 * its complete ones that has not gone on sends it on; else a new setting
 * begins at rung 0; else, when nothing runs, each rung sends on the count
 * the synchronous run would (ceil of 1/factor of its settings). */
static int async_refill(run_halving *h) {
  for (size_t k = h->nrung - 1; k-- > 0;) {
    size_t quota = (size_t)floor((double)h->r[k].complete / h->factor + 1e-9);
    int rc = promote(h, k, quota);
    if (rc != 0)
      return rc;
  }
  if (h->next_new < h->nset)
    return queue_unit(h, h->next_new++, 0) ? -1 : 1;
  if (h->inflight > 0)
    return 0;
  /* lowest first: a rung's units are all in once the rung below it has
   * sent on all it will */
  for (size_t k = 0; k + 1 < h->nrung; k++) {
    int rc = promote(h, k, h->r[k + 1].nrun);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ------------------------------------------------------------ the loop */

static void unit_finished(run_state *s, size_t set, size_t k);

/* One job's result: its metric, or a failure. */
static void add_result(run_state *s, size_t index, int ok, double v,
                       int pruned) {
  run_halving *h = s->halving;
  size_t set, fold, k;
  decode(h, index, &set, &fold, &k);
  unit *u = unit_of(h, set, k);
  if (pruned)
    atomic_store(&u->pruned, 1);
  else if (ok)
    u->nok++, u->sum += v;
  else
    u->failed = 1;
  if (--u->left == 0)
    unit_finished(s, set, k);
}

static void unit_finished(run_state *s, size_t set, size_t k) {
  run_halving *h = s->halving;
  unit *u = unit_of(h, set, k);
  u->complete = 1;
  h->r[k].complete++;
  if (!h->async && h->r[k].complete == h->r[k].started && k + 1 < h->nrung &&
      h->ready.n == 0 && h->inflight == 0)
    if (promote(h, k, h->r[k + 1].nrun) < 0)
      s->fatal = 1;
}

/* The metric of a finished job: 1 and *v, or 0 (no such number). */
typedef struct metric_find {
  const char *name;
  double v;
  int found;
} metric_find;

static void find_metric(void *arg, const char *k, size_t kn, const char *val,
                        size_t vn) {
  metric_find *m = arg;
  long long ll;
  int is_int;
  if (strlen(m->name) == kn && strncmp(m->name, k, kn) == 0)
    /* the last value printed is the one that counts */
    m->found = run_parse_num(val, vn, &m->v, &ll, &is_int) == 0;
}

int run_halving_next(run_state *s, size_t *index) {
  run_halving *h = s->halving;
  for (;;) {
    if (h->ready.n == 0 && h->async && !s->o.dry_run) {
      int rc = async_refill(h);
      if (rc < 0)
        return s->fatal = 1, 0;
    }
    if (h->ready.n == 0)
      return 0;
    size_t id = *(size_t *)run_fifo_front(&h->ready);
    size_t set = id / h->nrung, k = id % h->nrung;
    unit *u = &h->u[id];
    size_t fold = u->handed++;
    if (fold == 0)
      u->left = h->nfold;
    if (u->handed == h->nfold)
      run_fifo_pop(&h->ready);
    size_t i = encode(h, set, fold, k);
    if (s->skip && (s->skip[i / 8] >> (i % 8) & 1)) { /* --resume: done */
      double v;
      int got = run_records_score(s->rec, i, h->metric, &v);
      s->torun--;
      add_result(s, i, got == 1, v, got == 2);
      continue;
    }
    /* a unit stopped early, or with a failed job, goes no further: its
     * other jobs need not run */
    int pruned = atomic_load(&u->pruned);
    if ((pruned || u->failed) && !s->o.dry_run) {
      s->torun--;
      add_result(s, i, 0, 0, pruned);
      continue;
    }
    h->inflight++;
    *index = i;
    return 1;
  }
}

void run_halving_done(run_state *s, const job *j) {
  run_halving *h = s->halving;
  metric_find m = {h->metric, 0, 0};
  const run_result *r = &j->res;
  int ok = !j->not_started && !run_job_failed(r) && !r->pruned;
  if (ok)
    run_metrics_parse(&r->out, find_metric, &m);
  if (r->pruned)
    h->pruned_jobs++;
  h->inflight--;
  add_result(s, j->index, ok && m.found, m.v, r->pruned);
}

void run_halving_note(run_state *s, job *j) {
  size_t set, fold, k;
  char buf[48];
  decode(s->halving, j->index, &set, &fold, &k);
  snprintf(buf, sizeof buf, "rung=%zu\n", k);
  run_buf_str(&j->res.notes, buf);
  if (j->res.pruned)
    run_buf_str(&j->res.notes, "pruned=1\n");
}

/* ------------------------------------------------------------ early stop */

/* Records that a job of rung k and fold `fold` printed v at `step`;
 * returns whether it is out of the best 1/factor of the values the jobs of
 * that rung and fold printed at that step (once more than `factor` have).
 * Within a fold: the other folds of its own setting would otherwise cut
 * it for their data, not its setting. Under h->lock. */
static int below_cut(run_halving *h, size_t k, size_t fold, double step,
                     double v) {
  rung *r = &h->r[k];
  step_vals *sv = NULL;
  for (size_t i = 0; i < r->nsteps && !sv; i++)
    if (r->steps[i].step == step && r->steps[i].fold == fold)
      sv = &r->steps[i];
  if (sv == NULL) {
    step_vals *a = realloc(r->steps, (r->nsteps + 1) * sizeof *a);
    if (a == NULL)
      return 0;
    r->steps = a;
    sv = &a[r->nsteps++];
    *sv = (step_vals){step, fold, NULL, 0, 0};
  }
  if (sv->n == sv->cap) {
    size_t cap = sv->cap ? 2 * sv->cap : 16;
    double *a = realloc(sv->v, cap * sizeof *a);
    if (a == NULL)
      return 0;
    sv->v = a;
    sv->cap = cap;
  }
  sv->v[sv->n++] = v;
  if ((double)sv->n <= h->factor)
    return 0;
  size_t better = 0;
  for (size_t i = 0; i < sv->n; i++)
    better += h->minimize ? sv->v[i] < v : sv->v[i] > v;
  size_t keep = (size_t)ceil((double)sv->n / h->factor);
  return better >= keep;
}

typedef struct step_find {
  const char *metric;
  double step, v;
  int has_step, has_v;
} step_find;

static void find_step(void *arg, const char *k, size_t kn, const char *val,
                      size_t vn) {
  step_find *f = arg;
  double d;
  long long ll;
  int is_int;
  if (run_parse_num(val, vn, &d, &ll, &is_int) != 0)
    return;
  if (kn == 4 && strncmp(k, "step", 4) == 0)
    f->step = d, f->has_step = 1;
  else if (strlen(f->metric) == kn && strncmp(k, f->metric, kn) == 0)
    f->v = d, f->has_v = 1;
}

/* What a lane asks about a step line of its job: rank 0 or this process
 * answers (judge); under mpirun the question travels (parc_task_ask). */
typedef struct step_question {
  uint64_t index;
  double step, v;
  uint32_t can_stop; /* the lane can stop the job (it has a stop eventfd) */
  uint32_t pad;
} step_question;

/* Records the job's value at its step; returns whether the job stops now.
 * `mark`: the job is known to stop then, and its unit goes no further at
 * once (a lane here); a lane of another rank, whose answer may not reach
 * it in time, says so in the job's result instead (add_result). */
static int judge(run_halving *h, const step_question *q, int mark) {
  size_t set, fold, k;
  decode(h, (size_t)q->index, &set, &fold, &k);
  unit *u = unit_of(h, set, k);
  pthread_mutex_lock(&h->lock);
  int stop = atomic_load(&u->pruned) || below_cut(h, k, fold, q->step, q->v);
  pthread_mutex_unlock(&h->lock);
  stop = stop && q->can_stop;
  if (stop && mark)
    atomic_store(&u->pruned, 1);
  return stop;
}

int run_halving_answer(const void *q, size_t qlen, void *a, size_t acap,
                       size_t *alen, void *arg) {
  run_state *s = arg;
  step_question sq;
  if (s->halving == NULL || qlen != sizeof sq || acap < 1)
    return PARC_EINVAL;
  memcpy(&sq, q, sizeof sq);
  if (sq.index >= s->in.njobs)
    return PARC_EINVAL;
  *(unsigned char *)a = (unsigned char)judge(s->halving, &sq, 0);
  *alen = 1;
  return 0;
}

void run_halving_watch(void *arg, int fd, const char *line, size_t n) {
  run_halving_lane *l = arg;
  run_state *s = l->s;
  step_find f = {s->o.best, 0, 0, 0, 0};
  (void)fd;
  if (l->j->res.pruned)
    return;
  run_metrics_line(line, n, find_step, &f);
  if (!f.has_step || !f.has_v)
    return;
  step_question q = {l->j->index, f.step, f.v, l->stop_fd >= 0, 0};
  unsigned char stop = 0;
  size_t got = 0;
  if (s->halving)
    stop = (unsigned char)judge(s->halving, &q, 1);
  else if (parc_task_ask(&q, sizeof q, &stop, 1, &got, RUN_ASK_TIMEOUT) != 0 ||
           got != 1)
    stop = 0; /* rank 0 did not answer in time: the job goes on */
  if (!stop)
    return;
  uint64_t one = 1;
  l->j->res.pruned = 1;
  if (write(l->stop_fd, &one, sizeof one) < 0) {
    /* an eventfd write fails only on overflow: it is readable then */
  }
}

/* ------------------------------------------------------------ summary */

void run_halving_summary(const run_state *s, FILE *f) {
  const run_halving *h = s->halving;
  if (h == NULL || s->o.dry_run)
    return;
  const run_source *b = NULL;
  for (size_t i = 0; i < s->in.nsrc; i++)
    if (group_kind(s, i, i + 1) == G_BUDGET)
      b = &s->in.src[i];
  fprintf(f, "\nsuccessive halving (%s, factor %g):\n",
          h->async ? "asynchronous" : "rung by rung", h->factor);
  for (size_t k = 0; k < h->nrung; k++)
    fprintf(f, "  rung %zu  %s=%-10s %zu setting%s x %zu job%s, %zu sent on\n",
            k, b ? b->name : "budget", b ? b->values[k] : "", h->r[k].complete,
            h->r[k].complete == 1 ? "" : "s", h->nfold,
            h->nfold == 1 ? "" : "s", h->r[k].promoted);
  if (h->pruned_jobs)
    fprintf(f, "  %zu jobs stopped early (below their rung's cut)\n",
            h->pruned_jobs);
}
