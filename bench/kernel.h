/* kernel.h -- the loop body shared by the parc_for and OpenMP benchmarks.
 *
 * Both bench_pool.c (parc_for) and bench_omp.c (#pragma omp parallel for)
 * include this one definition, so the two sides run the same machine code
 * per iteration and only the scheduling differs. Iteration i costs
 * (i % 97) + 1 units, so chunks are uneven and dynamic scheduling matters.
 * The work is a dependent floating-point chain (no -ffast-math, so it can
 * neither be vectorised nor reassociated): the result is bit-identical
 * whatever thread runs it, which lets the benchmarks check every element.
 */
#ifndef PARC_BENCH_KERNEL_H
#define PARC_BENCH_KERNEL_H

#include <stdint.h>

#define BENCH_FOR_N_DEFAULT ((int64_t)1 << 20) /* iterations of the loop */
#define BENCH_UNIT_STEPS 8                     /* chain steps per unit */

static inline double bench_iteration(int64_t i) {
  int64_t steps = ((i % 97) + 1) * BENCH_UNIT_STEPS;
  double x = (double)(i & 1023) * 1e-3;
  for (int64_t k = 0; k < steps; k++) x = x * 0.999999 + 1e-3;
  return x;
}

/* Order-fixed sum, printed by both programs so their outputs can be compared. */
static inline double bench_checksum(const double *a, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += a[i];
  return s;
}

#endif /* PARC_BENCH_KERNEL_H */
