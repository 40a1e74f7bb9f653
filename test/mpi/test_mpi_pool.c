/* test_mpi_pool.c -- the PARC_MPI backend, run under mpirun with 2, 3 and 4
 * ranks (test/mpi/CMakeLists.txt): map, futures, map-reduce and parallel
 * for give what the thread backend gives, bit for bit; a task's error
 * comes back with its index; progress reaches the total; parc_pool_create
 * returns PARC_ESERVED on the serving ranks; a task's question
 * (parc_task_ask) is answered on rank 0.
 *
 * A plain program, not Criterion: every rank must run every step in the
 * same order (pool creation is collective). Each step creates one MPI pool;
 * the serving ranks get PARC_ESERVED and go on to the next step. Rank 0
 * prints one line per failed check and exits 1 if there was any. */
#include <parc.h>
#include <parc_mpi.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../stresscheck.h"

enum { N = 5000, RN = 100000, BAD = 1237 };

/* ------------------------------------------------------------ tasks */

/* Which worker ran it, and something that depends on the input only. */
static int mix_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t x;
  memcpy(&x, in, 8);
  uint64_t r[2] = {x * 0x9E3779B97F4A7C15ull ^ (x >> 7),
                   (uint64_t)parc_worker_id()};
  memcpy(out, r, 16);
  return 0;
}

static int fail_at_bad(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t x;
  memcpy(&x, in, 8);
  memcpy(out, &x, 8);
  return x == BAD ? 42 : 0;
}

static int triple_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  double x;
  memcpy(&x, in, 8);
  x *= 3.0;
  memcpy(out, &x, 8);
  return 0;
}

static int f64_add(void *acc, const void *item, void *ctx) {
  (void)ctx;
  double a, b;
  memcpy(&a, acc, 8);
  memcpy(&b, item, 8);
  a += b;
  memcpy(acc, &a, 8);
  return 0;
}

static int rank_task(const void *in, void *out, void *ctx) {
  (void)in, (void)ctx;
  int r = parc_mpi_rank();
  memcpy(out, &r, sizeof r);
  return 0;
}

typedef struct for_ctx {
  int64_t fail_at;
} for_ctx;

static int for_body(int64_t b, int64_t e, void *ctx) {
  const for_ctx *c = ctx;
  return c && c->fail_at >= b && c->fail_at < e ? 9 : 0;
}

/* ------------------------------------------------------------ steps */

/* An MPI pool with options `o`, on rank 0; NULL on the serving ranks. */
static parc_pool *mpi_pool_opts(const parc_pool_opts *o) {
  parc_pool *p = NULL;
  int rc = parc_pool_create(&p, o);
  if (rc == PARC_ESERVED)
    return NULL;
  CHECK_RC(rc, 0);
  if (rc != 0) {
    fprintf(stderr, "cannot create the MPI pool: giving up\n");
    exit(1); /* mpirun ends the other ranks */
  }
  return p;
}

static parc_pool *mpi_pool(unsigned workers) {
  parc_pool_opts o = {.backend = PARC_MPI, .workers = workers};
  return mpi_pool_opts(&o);
}

static parc_pool *thread_pool(void) {
  parc_pool_opts o = {.backend = PARC_THREADS, .workers = 2};
  parc_pool *p = NULL;
  CHECK_RC(parc_pool_create(&p, &o), 0);
  return p;
}

static uint64_t *inputs(size_t n) {
  uint64_t *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = i;
  return v;
}

static uint64_t progress_done, progress_total;
static void on_progress(uint64_t done, uint64_t total, void *arg) {
  (void)arg;
  progress_done = done;
  progress_total = total;
}

static void step_map(unsigned per_rank) {
  parc_pool *p = mpi_pool(per_rank);
  if (!p)
    return;
  int size = parc_mpi_size();
  CHECK(parc_pool_workers(p) == (unsigned)(size - 1) * per_rank, "workers %u",
        parc_pool_workers(p));
  uint64_t *in = inputs(N);
  uint64_t(*got)[2] = calloc(N, 16), (*want)[2] = calloc(N, 16);
  parc_map_opts mo = {.progress = on_progress};
  CHECK_RC(parc_map(p, mix_task, in, 8, got, 16, N, &mo), 0);
  CHECK(progress_done == N && progress_total == N, "progress %llu/%llu",
        (unsigned long long)progress_done, (unsigned long long)progress_total);
  parc_pool *t = thread_pool();
  CHECK_RC(parc_map(t, mix_task, in, 8, want, 16, N, NULL), 0);
  parc_pool_destroy(t);
  unsigned seen = 0, bad = 0;
  for (size_t i = 0; i < N; i++) {
    bad += got[i][0] != want[i][0];
    if (got[i][1] < 64)
      seen |= 1u << got[i][1];
  }
  CHECK(bad == 0, "%u results differ from the thread backend's", bad);
  CHECK(seen != 0, "no worker id seen");
  /* The ranks that ran something: only serving ranks, and each of them
   * sooner or later. Work goes to whichever lane asks, so on a loaded,
   * oversubscribed machine a rank that is slow to ask may miss one quick
   * map: maps are repeated, for 10 s at most, until every rank was seen.
   * A rank that never gets work is a bug. */
  int ranks[64] = {0}, missing = size - 1, rank0 = 0;
  int *rk = calloc(N, sizeof *rk);
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    CHECK_RC(parc_map(p, rank_task, in, 8, rk, sizeof *rk, N, NULL), 0);
    for (size_t i = 0; i < N; i++) {
      rank0 |= rk[i] == 0;
      if (rk[i] > 0 && rk[i] < 64 && !ranks[rk[i]]) {
        ranks[rk[i]] = 1;
        missing--;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (missing > 0 && now.tv_sec - t0.tv_sec < 10);
  CHECK(!rank0, "rank 0 ran a task");
  for (int r = 1; r < size && r < 64; r++)
    CHECK(ranks[r], "rank %d ran no task in 10 s of maps", r);
  free(rk);
  free(in);
  free(got);
  free(want);
  parc_pool_destroy(p);
}

static void step_map_error(void) {
  parc_pool *p = mpi_pool(1);
  if (!p)
    return;
  uint64_t *in = inputs(N), *out = calloc(N, 8);
  parc_task_status *st = calloc(N, sizeof *st);
  size_t at = 0;
  parc_map_opts mo = {.status = st, .err_index = &at};
  CHECK_RC(parc_map(p, fail_at_bad, in, 8, out, 8, N, &mo), PARC_ETASK);
  CHECK(at == BAD, "err_index %zu, want %d", at, BAD);
  CHECK(st[BAD].error == PARC_ETASK && st[BAD].task_rc == 42,
        "status[BAD] error %d task_rc %d", st[BAD].error, st[BAD].task_rc);
  CHECK(st[BAD - 1].error == 0 && out[BAD - 1] == BAD - 1 &&
            out[N - 1] == N - 1,
        "the other tasks ran");
  free(in);
  free(out);
  free(st);
  parc_pool_destroy(p);
}

static void step_futures(void) {
  parc_pool *p = mpi_pool(2);
  if (!p)
    return;
  enum { F = 40 };
  parc_future *fs[F];
  for (uint64_t i = 0; i < F; i++)
    CHECK_RC(parc_submit(p, i == 17 ? fail_at_bad : mix_task, &i, 8,
                         i == 17 ? 8 : 16, &fs[i]),
             0);
  for (uint64_t i = 0; i < F; i++) {
    uint64_t got[2] = {0}, want[2] = {0};
    parc_task_status st;
    if (i == 17) {
      uint64_t bad = BAD;
      parc_future *f;
      CHECK_RC(parc_future_wait(fs[i], got, 10, &st), 0);
      CHECK_RC(parc_submit(p, fail_at_bad, &bad, 8, 8, &f), 0);
      CHECK_RC(parc_future_wait(f, got, 10, &st), PARC_ETASK);
      CHECK(st.task_rc == 42, "task_rc %d", st.task_rc);
      parc_future_free(f);
      continue;
    }
    CHECK_RC(parc_future_wait(fs[i], got, 10, &st), 0);
    mix_task(&i, want, NULL);
    CHECK(got[0] == want[0], "future %llu", (unsigned long long)i);
  }
  size_t idx;
  CHECK_RC(parc_wait_any(fs, F, 1, &idx), 0);
  for (int i = 0; i < F; i++) parc_future_free(fs[i]);
  parc_pool_destroy(p);
}

/* Bytes tasks across ranks: the result is the input reversed plus one
 * byte per 1000 of input, so lengths differ; some pass a lane's size. */
static int reverse_bytes(const void *in, size_t len, parc_result *res,
                         void *ctx) {
  unsigned char *out = parc_result_alloc(res, len + len / 1000);
  if (!out)
    return 1;
  for (size_t i = 0; i < len; i++)
    out[i] = ((const unsigned char *)in)[len - 1 - i];
  memset(out + len, 0xAB, len / 1000);
  return 0;
}

static void step_bytes(void) {
  parc_pool *p = mpi_pool(2);
  if (!p)
    return;
  enum { B = 60 };
  static const size_t lens[] = {0, 1, 999, 5000, 300000};
  parc_bytes in[B], out[B];
  for (size_t i = 0; i < B; i++) {
    in[i].len = lens[i % 5];
    in[i].data = malloc(in[i].len + 1);
    for (size_t k = 0; k < in[i].len; k++)
      ((unsigned char *)in[i].data)[k] = (unsigned char)(i + k * 7);
  }
  CHECK_RC(parc_map_bytes(p, reverse_bytes, in, out, B, NULL), 0);
  for (size_t i = 0; i < B; i++) {
    size_t len = in[i].len, bad = 0;
    CHECK(out[i].len == len + len / 1000, "bytes result %zu: %zu bytes", i,
          out[i].len);
    for (size_t k = 0; k < len && out[i].len == len + len / 1000; k++)
      bad += ((unsigned char *)out[i].data)[k] !=
             ((unsigned char *)in[i].data)[len - 1 - k];
    CHECK(bad == 0, "bytes result %zu: %zu bytes differ", i, bad);
    free(out[i].data);
  }
  parc_future *f;
  CHECK_RC(parc_submit_bytes(p, reverse_bytes, in[4].data, in[4].len, &f), 0);
  CHECK_RC(parc_future_wait(f, NULL, 30, NULL), 0);
  const void *d;
  size_t n = 0;
  CHECK_RC(parc_future_bytes(f, &d, &n), 0);
  CHECK(n == in[4].len + in[4].len / 1000, "bytes future: %zu bytes", n);
  parc_future_free(f);
  for (size_t i = 0; i < B; i++) free(in[i].data);
  parc_pool_destroy(p);
}

static double *float_data(void) {
  double *v = malloc(RN * sizeof *v);
  uint64_t s = 0xF1047;
  for (size_t i = 0; i < RN; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    v[i] = u * pow(10.0, (double)((int)(i % 17) - 8));
  }
  return v;
}

static void step_reduce(void) {
  parc_pool *p = mpi_pool(1);
  if (!p)
    return;
  double *v = float_data(), zero = 0.0, got = 1, want = 2;
  CHECK_RC(
      parc_map_reduce(p, triple_task, v, 8, RN, f64_add, &zero, &got, 8, NULL),
      0);
  parc_pool *t = thread_pool();
  CHECK_RC(
      parc_map_reduce(t, triple_task, v, 8, RN, f64_add, &zero, &want, 8, NULL),
      0);
  parc_pool_destroy(t);
  CHECK(memcmp(&got, &want, 8) == 0, "mpi %.17g, threads %.17g", got, want);
  /* an error inside a block comes back with its index */
  uint64_t *in = inputs(N), acc0 = 0, acc;
  size_t at = 0;
  parc_map_opts mo = {.err_index = &at};
  CHECK_RC(parc_map_reduce(p, fail_at_bad, in, 8, N, (parc_combine_fn)f64_add,
                           &acc0, &acc, 8, &mo),
           PARC_ETASK);
  CHECK(at == BAD, "reduce err_index %zu, want %d", at, BAD);
  free(in);
  free(v);
  parc_pool_destroy(p);
}

static void step_for(void) {
  parc_pool *p = mpi_pool(1);
  if (!p)
    return;
  for_ctx c = {.fail_at = 777};
  int64_t at = -1;
  parc_for_opts fo = {.schedule = PARC_SCHEDULE_DYNAMIC,
                      .chunk = 10,
                      .ctx_size = sizeof c,
                      .err_index = &at};
  CHECK_RC(parc_for(p, 0, 2000, for_body, &c, &fo), PARC_ETASK);
  CHECK(at == 770, "for err_index %lld, want 770", (long long)at);
  c.fail_at = -1;
  CHECK_RC(parc_for(p, 0, 2000, for_body, &c, &fo), 0);
  parc_pool_destroy(p);
}

/* Runs 2 s: forty times the pause before the destroy that must find it
 * still running, so that a rank descheduled for a while on a loaded
 * machine does not let it finish first (issue #12). */
static int slow_task(const void *in, void *out, void *ctx) {
  (void)in, (void)ctx;
  usleep(2000000);
  memset(out, 1, 8);
  return 0;
}

/* Workers that retire after 3 tasks are restarted on their ranks. */
static void step_recycle(void) {
  parc_pool_opts o = {
      .backend = PARC_MPI, .workers = 1, .max_tasks_per_worker = 3};
  parc_pool *p = mpi_pool_opts(&o);
  if (!p)
    return;
  uint64_t *in = inputs(50);
  uint64_t(*got)[2] = calloc(50, 16);
  CHECK_RC(parc_map(p, mix_task, in, 8, got, 16, 50, NULL), 0);
  for (uint64_t i = 0; i < 50; i++) {
    uint64_t want[2];
    mix_task(&i, want, NULL);
    CHECK(got[i][0] == want[0], "recycled: task %llu", (unsigned long long)i);
  }
  free(in);
  free(got);
  parc_pool_destroy(p);
}

/* A running task canceled by destroy: the call returns, the future says
 * PARC_ECANCELED, the rank finishes the task and leaves. */
static void step_cancel_running(void) {
  parc_pool *p = mpi_pool(1);
  if (!p)
    return;
  parc_future *f;
  uint64_t x = 1, out = 0;
  CHECK_RC(parc_submit(p, slow_task, &x, 8, 8, &f), 0);
  usleep(50000);
  parc_pool_destroy_ex(p, 1);
  CHECK_RC(parc_future_wait(f, &out, 1, NULL), PARC_ECANCELED);
  parc_future_free(f);
}

/* parc_task_ask across ranks: every question is answered on rank 0 (the
 * answer says where it was made), an answer's error reaches its task, and
 * a question whose answer comes late times out, the late answer dropped
 * without harm to the questions after it. */
enum { ASKS = 300, ASK_BAD = 77, ASK_SLOW = 150 };
static _Atomic int ask_calls;

static int answer_on_rank0(const void *q, size_t qlen, void *a, size_t acap,
                           size_t *alen, void *arg) {
  (void)arg;
  uint64_t x;
  if (qlen != sizeof x || acap < 16)
    return -1000;
  memcpy(&x, q, sizeof x);
  if (x == ASK_SLOW) { /* may not even get here in time: not counted */
    usleep(300000);
  } else {
    atomic_fetch_add(&ask_calls, 1);
  }
  uint64_t r[2] = {3 * x, (uint64_t)parc_mpi_rank()};
  memcpy(a, r, sizeof r);
  *alen = sizeof r;
  return x == ASK_BAD ? 42 : 0;
}

static int ask_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t x, r[3] = {0, 99, 99};
  size_t n = 0;
  memcpy(&x, in, sizeof x);
  int rc = parc_task_ask(&x, sizeof x, r, sizeof r, &n,
                         x == ASK_SLOW ? 0.05 : 30);
  if (x == ASK_SLOW) { /* as if answered, when it timed out */
    r[0] = 3 * x, r[1] = 0, n = 16;
    rc = rc == PARC_ETIMEDOUT ? 0 : -3000 + rc;
  }
  if (rc != 0)
    return rc;
  if (n != 16)
    return -2000;
  memcpy(out, r, 16);
  return 0;
}

static void step_ask(void) {
  parc_pool_opts o = {
      .backend = PARC_MPI, .workers = 2, .answer = answer_on_rank0};
  parc_pool *p = mpi_pool_opts(&o);
  if (!p)
    return;
  uint64_t *in = inputs(ASKS), (*out)[2] = calloc(ASKS, sizeof *out);
  parc_task_status *st = calloc(ASKS, sizeof *st);
  parc_map_opts mo = {.status = st, .chunk = 1};
  CHECK_RC(parc_map(p, ask_task, in, 8, out, 16, ASKS, &mo), PARC_ETASK);
  for (uint64_t i = 0; i < ASKS; i++)
    if (i == ASK_BAD)
      CHECK(st[i].task_rc == 42, "ask: the answer's error, got %d",
            st[i].task_rc);
    else
      CHECK(st[i].error == 0 && out[i][0] == 3 * i && out[i][1] == 0,
            "ask %llu: error %d, task %d, answer %llu from rank %llu",
            (unsigned long long)i, st[i].error, st[i].task_rc,
            (unsigned long long)out[i][0], (unsigned long long)out[i][1]);
  CHECK(atomic_load(&ask_calls) == ASKS - 1, "ask: %d answers for %d questions",
        atomic_load(&ask_calls), ASKS - 1);
  free(in);
  free(out);
  free(st);
  parc_pool_destroy(p);
}

/* A question whose answer is being made when the pool is destroyed: the
 * answer is dropped, the task gets PARC_ECANCELED (checked on its rank,
 * which then exits 1), and destroy does not wait for anything more. A
 * question that comes in meanwhile (from a second task, 0.2 s later, on
 * another rank where there are three) is not answered at all. */
static _Atomic int slow_answering, answers_while_closing, pool_closing;

static int answer_slowly(const void *q, size_t qlen, void *a, size_t acap,
                         size_t *alen, void *arg) {
  (void)q, (void)qlen, (void)a, (void)acap, (void)alen, (void)arg;
  if (atomic_load(&pool_closing))
    atomic_fetch_add(&answers_while_closing, 1);
  atomic_store(&slow_answering, 1);
  usleep(500000);
  return 0;
}

static int ask_then_check(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t ms;
  memcpy(&ms, in, 8);
  usleep((useconds_t)ms * 1000);
  char a = 0;
  size_t n = 9;
  int rc = parc_task_ask("?", 1, &a, 1, &n, -1);
  CHECK(rc == PARC_ECANCELED && n == 0, "closing ask: rc %d (%s), %zu bytes",
        rc, parc_err_name(rc), n);
  memset(out, 0, 8);
  return 0;
}

static void step_ask_closing(void) {
  parc_pool_opts o = {
      .backend = PARC_MPI, .workers = 1, .answer = answer_slowly};
  parc_pool *p = mpi_pool_opts(&o);
  if (!p)
    return;
  parc_future *f[2];
  uint64_t ms[2] = {0, 200};
  for (int i = 0; i < 2; i++)
    CHECK_RC(parc_submit(p, ask_then_check, &ms[i], 8, 8, &f[i]), 0);
  for (int i = 0; i < 3000 && !atomic_load(&slow_answering); i++) usleep(10000);
  CHECK(atomic_load(&slow_answering), "closing ask: no answer began in 30 s");
  atomic_store(&pool_closing, 1);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  parc_pool_destroy_ex(p, 1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double took = (double)(t1.tv_sec - t0.tv_sec) +
                (t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK(took < 20, "closing ask: destroy took %.1f s", took);
  CHECK(atomic_load(&answers_while_closing) == 0,
        "closing ask: %d answers made while closing",
        atomic_load(&answers_while_closing));
  for (int i = 0; i < 2; i++) {
    CHECK_RC(parc_future_wait(f[i], NULL, 1, NULL), PARC_ECANCELED);
    parc_future_free(f[i]);
  }
}

int main(int argc, char **argv) {
  if (parc_mpi_init(&argc, &argv) != 0) {
    fprintf(stderr, "parc_mpi_init failed\n");
    return 1;
  }
  /* a pool with threads needs no MPI: rank 0's reference results */
  step_map(1);
  step_map(2);
  step_map_error();
  step_futures();
  step_bytes();
  step_reduce();
  step_for();
  step_recycle();
  step_cancel_running();
  step_ask();
  step_ask_closing();
  int rank = parc_mpi_rank();
  if (rank == 0)
    printf("%s: %d ranks, %d failures\n", atomic_load(&failed) ? "FAIL" : "ok",
           parc_mpi_size(), atomic_load(&failed));
  parc_mpi_finalize();
  return atomic_load(&failed) ? 1 : 0;
}
