/* mpi_farm.c -- a task farm over MPI ranks, two ways (see bench/README.md,
 * "MPI task farm vs mpi4py"):
 *
 *   mpirun -n N parc-bench-mpi-farm parc CHUNK TASK_US N_TASKS REPS WARM
 *       parc's PARC_MPI pool: rank 0 runs parc_map(pool, task, ...) of
 *       N_TASKS tasks (CHUNK tasks per dispatch, 0: parc picks), ranks
 *       1..N-1 serve it with one worker thread each
 *   mpirun -n N parc-bench-mpi-farm mw INFLIGHT TASK_US N_TASKS REPS WARM
 *       a hand-written master/worker loop: rank 0 sends task indices with
 *       MPI_Send, each worker MPI_Recv's one, runs it and MPI_Send's the
 *       result back; the master MPI_Recv's results from any worker and
 *       sends that worker the next index (dynamic self-scheduling, one
 *       task per message, INFLIGHT tasks outstanding per worker)
 *
 * The task: TASK_US = 0 is a no-op (4 bytes in, the same 4 bytes out, as
 * in bench_pool.c); otherwise it takes TASK_US microseconds of wall time,
 * sleeping until SPIN_US before its end and spinning on the clock for the
 * rest, so that it lasts that long to the microsecond (a bare nanosleep
 * overshoots by the timer slack and the wake-up, 60-100 us here) while
 * leaving the CPU free almost all the time -- the master needs a core too
 * when three ranks share two. bench/peer_mpi4py.py's task is the same,
 * line for line.
 *
 * Only rank 0 prints (common.h's lines): `sample LABEL REP SECONDS`, one
 * per timed map, from its first dispatch to its last result; `info`
 * lines; `error` and exit status 1 on a wrong result. Each result is
 * checked after its repetition. Does not link anything but libparc_mpi
 * (the `mw` mode uses MPI alone).
 */
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "parc.h"
#include "parc_mpi.h"

#define SPIN_US 300u /* the end of a timed task is spun, not slept */
#define TAG_TASK 1
#define TAG_STOP 2

static const char *g_label = "mpi_farm";
static uint64_t g_task_ns; /* every rank parses the same argv */

static double now_s(void) { return bench_now(); }

/* TASK_US of wall time: sleep most of it, spin to the end. */
static void timed_work(void) {
  if (g_task_ns == 0)
    return;
  double t0 = now_s(), end = t0 + (double)g_task_ns * 1e-9;
  double nap = (double)g_task_ns * 1e-9 - SPIN_US * 1e-6;
  if (nap > 0) {
    struct timespec ts = {(time_t)nap,
                          (long)((nap - (double)(time_t)nap) * 1e9)};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
  }
  while (now_s() < end)
    ;
}

static int farm_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  timed_work();
  memcpy(out, in, sizeof(uint32_t));
  return 0;
}

static void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    bench_fail(g_label, "out of memory (%zu bytes)", size);
  return p;
}

static void check_out(const uint32_t *out, size_t n, unsigned rep) {
  for (size_t i = 0; i < n; i++)
    if (out[i] != (uint32_t)i)
      bench_fail(g_label, "repetition %u: result %zu is %u, want %zu", rep, i,
                 out[i], i);
}

static void mpi_version_info(int ranks) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  for (int i = 0; i < len; i++)
    if (v[i] == '\n' || v[i] == '\r' || v[i] == ',')
      v[i] = ' ';
  while (len > 0 && v[len - 1] == ' ') len--;
  bench_info(g_label, "ranks=%d mpi=%.*s", ranks, len, v);
}

/* How long the task really takes alone, on rank 0 (context). */
static void task_info(void) {
  if (g_task_ns == 0)
    return;
  double t0 = now_s();
  for (int i = 0; i < 20; i++) timed_work();
  bench_info(g_label, "task_alone_us=%.2f (mean of 20; asked %.0f)",
             (now_s() - t0) / 20 * 1e6, (double)g_task_ns * 1e-3);
}

/* ---------------------------------------------------------------- parc */

static void check_rc(int rc, const char *what) {
  if (rc != 0)
    bench_fail(g_label, "%s returned %d %s (%s)", what, rc, parc_err_name(rc),
               parc_strerror(rc));
}

static int run_parc(size_t chunk, size_t n, unsigned reps, unsigned warm) {
  check_rc(parc_mpi_init(NULL, NULL), "parc_mpi_init");
  parc_pool_opts po = {.backend = PARC_MPI, .workers = 1};
  parc_pool *pool = NULL;
  int rc = parc_pool_create(&pool, &po);
  if (rc == PARC_ESERVED) /* ranks 1..N-1 served the maps: done */
    return parc_mpi_finalize() == 0 ? 0 : 1;
  check_rc(rc, "parc_pool_create");
  mpi_version_info(parc_mpi_size());
  bench_info(g_label, "n=%zu chunk=%zu task_us=%.0f workers=%u inflight=parc",
             n, chunk, (double)g_task_ns * 1e-3, parc_pool_workers(pool));
  task_info();
  uint32_t *in = xmalloc(n * sizeof *in), *out = xmalloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++) in[i] = (uint32_t)i;
  parc_map_opts mo = {.chunk = chunk};
  for (unsigned r = 0; r < warm + reps; r++) {
    memset(out, 0xff, n * sizeof *out);
    double t0 = now_s();
    rc = parc_map(pool, farm_task, in, sizeof *in, out, sizeof *out, n, &mo);
    double t1 = now_s();
    check_rc(rc, "parc_map");
    check_out(out, n, r);
    if (r >= warm)
      bench_sample(g_label, r - warm, t1 - t0);
  }
  parc_pool_destroy(pool);
  free(in);
  free(out);
  return parc_mpi_finalize() == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- mw */

/* A worker rank: one task at a time, until the stop message. */
static void mw_worker(void) {
  for (;;) {
    uint32_t idx, res[2];
    MPI_Status st;
    MPI_Recv(&idx, 1, MPI_UINT32_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    if (st.MPI_TAG == TAG_STOP)
      return;
    farm_task(&idx, &res[1], NULL);
    res[0] = idx;
    MPI_Send(res, 2, MPI_UINT32_T, 0, TAG_TASK, MPI_COMM_WORLD);
  }
}

/* One map: `inflight` indices to each worker, then one more to whichever
 * answers, until every result is in. */
static void mw_map(int ranks, unsigned inflight, uint32_t *out, size_t n) {
  size_t next = 0, got = 0;
  for (unsigned k = 0; k < inflight; k++)
    for (int w = 1; w < ranks && next < n; w++, next++) {
      uint32_t idx = (uint32_t)next;
      MPI_Send(&idx, 1, MPI_UINT32_T, w, TAG_TASK, MPI_COMM_WORLD);
    }
  while (got < n) {
    uint32_t res[2];
    MPI_Status st;
    MPI_Recv(res, 2, MPI_UINT32_T, MPI_ANY_SOURCE, TAG_TASK, MPI_COMM_WORLD,
             &st);
    if (res[0] < n)
      out[res[0]] = res[1];
    got++;
    if (next < n) {
      uint32_t idx = (uint32_t)next++;
      MPI_Send(&idx, 1, MPI_UINT32_T, st.MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
    }
  }
}

static int run_mw(unsigned inflight, size_t n, unsigned reps, unsigned warm) {
  int provided = 0, rank = 0, ranks = 0;
  MPI_Init_thread(NULL, NULL, MPI_THREAD_SINGLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks < 2) {
    if (rank == 0)
      printf("error %s needs 2 ranks at least, got %d\n", g_label, ranks);
    MPI_Finalize();
    return 1;
  }
  if (rank != 0) {
    mw_worker();
    MPI_Finalize();
    return 0;
  }
  mpi_version_info(ranks);
  bench_info(g_label, "n=%zu chunk=1 task_us=%.0f workers=%d inflight=%u", n,
             (double)g_task_ns * 1e-3, ranks - 1, inflight);
  task_info();
  uint32_t *out = xmalloc(n * sizeof *out);
  for (unsigned r = 0; r < warm + reps; r++) {
    memset(out, 0xff, n * sizeof *out);
    double t0 = now_s();
    mw_map(ranks, inflight, out, n);
    double t1 = now_s();
    check_out(out, n, r);
    if (r >= warm)
      bench_sample(g_label, r - warm, t1 - t0);
  }
  for (int w = 1; w < ranks; w++)
    MPI_Send(NULL, 0, MPI_UINT32_T, w, TAG_STOP, MPI_COMM_WORLD);
  free(out);
  MPI_Finalize();
  return 0;
}

/* ---------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: mpirun -n N parc-bench-mpi-farm parc CHUNK TASK_US N_TASKS "
          "REPS WARM\n"
          "       mpirun -n N parc-bench-mpi-farm mw INFLIGHT TASK_US N_TASKS "
          "REPS WARM\n"
          "  TASK_US 0: a no-op task; else a task of that many microseconds\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc != 7 || (strcmp(argv[1], "parc") && strcmp(argv[1], "mw")))
    usage();
  bool parc = strcmp(argv[1], "parc") == 0;
  unsigned long long k = bench_arg(argv[2], parc ? "CHUNK" : "INFLIGHT",
                                   parc ? 0 : 1, 1u << 20);
  g_task_ns = bench_arg(argv[3], "TASK_US", 0, 60000000) * 1000;
  size_t n = (size_t)bench_arg(argv[4], "N_TASKS", 1, UINT32_MAX - 1);
  unsigned reps = (unsigned)bench_arg(argv[5], "REPS", 1, 1000);
  unsigned warm = (unsigned)bench_arg(argv[6], "WARM", 0, 1000);
  static char label[64];
  snprintf(label, sizeof label, "%s_%s%llu_t%llu", argv[1], parc ? "c" : "k", k,
           (unsigned long long)(g_task_ns / 1000));
  g_label = label;
  return parc ? run_parc((size_t)k, n, reps, warm)
              : run_mw((unsigned)k, n, reps, warm);
}
