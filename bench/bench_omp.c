/* bench_omp.c -- the OpenMP peer of `parc-bench-pool for`.
 *
 *   parc-bench-omp CHUNK N REPS WARM THREADS
 *
 * Times `#pragma omp parallel for schedule(dynamic, CHUNK)` over the loop of
 * kernel.h with THREADS threads (the calling thread is one of them, as is
 * OpenMP's way). A first parallel region plus WARM untimed repetitions start
 * libgomp's thread team before the timed ones, as the parc side creates its
 * pool and runs WARM untimed parc_for calls. Output format: common.h.
 */
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "kernel.h"

static void run_loop(double *a, int64_t n, int chunk, int threads) {
#pragma omp parallel for schedule(dynamic, chunk) num_threads(threads)
  for (int64_t i = 0; i < n; i++) a[i] = bench_iteration(i);
}

static void *xmalloc(size_t size) {
  void *p = malloc(size);
  if (p == NULL)
    bench_fail("omp", "out of memory (%zu bytes)", size);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: parc-bench-omp CHUNK N REPS WARM THREADS\n");
    return 2;
  }
  int chunk = (int)bench_arg(argv[1], "CHUNK", 1, 1u << 30);
  int64_t n = (int64_t)bench_arg(argv[2], "N", 1, 1u << 30);
  unsigned reps = (unsigned)bench_arg(argv[3], "REPS", 1, 1000);
  unsigned warm = (unsigned)bench_arg(argv[4], "WARM", 0, 1000);
  int threads = (int)bench_arg(argv[5], "THREADS", 1, 1024);
  char label[32];
  snprintf(label, sizeof label, "omp_c%d", chunk);

  double *ref = xmalloc((size_t)n * sizeof *ref);
  double *a = xmalloc((size_t)n * sizeof *a);
  double t0 = bench_now();
  for (int64_t i = 0; i < n; i++) ref[i] = bench_iteration(i);
  double serial = bench_now() - t0;

  int team = 0;
#pragma omp parallel num_threads(threads)
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  if (team != threads)
    bench_fail(label, "OpenMP gave %d threads, asked for %d", team, threads);
  const char *wait_policy = getenv("OMP_WAIT_POLICY");
  bench_info(label,
             "n=%lld chunk=%d threads=%d schedule=dynamic "
             "serial_s=%.6f checksum=%.17g OMP_WAIT_POLICY=%s",
             (long long)n, chunk, threads, serial, bench_checksum(ref, n),
             wait_policy ? wait_policy : "(default)");

  for (unsigned r = 0; r < warm + reps; r++) {
    memset(a, 0, (size_t)n * sizeof *a);
    t0 = bench_now();
    run_loop(a, n, chunk, threads);
    double t1 = bench_now();
    if (memcmp(a, ref, (size_t)n * sizeof *a) != 0)
      bench_fail(label, "wrong result: OpenMP output differs from the serial "
                        "loop");
    if (r >= warm)
      bench_sample(label, r - warm, t1 - t0);
  }
  free(a);
  free(ref);
  return 0;
}
