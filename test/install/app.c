/* The README's example, built against an installed parc by check.sh. */
#include <parc.h>
#include <stdio.h>

static int square(const void *in, void *out, void *ctx) {
  double x = *(const double *)in;
  *(double *)out = x * x;
  return 0; /* non-zero: this task's error */
}

int main(void) {
  parc_pool *pool;
  parc_pool_opts o = {.backend = PARC_PROCESSES, .max_retries = 1};
  if (parc_pool_create(&pool, &o) != 0)
    return 1; /* one worker per core */
  double in[1000], out[1000];
  for (int i = 0; i < 1000; i++) in[i] = i;
  size_t bad;
  parc_map_opts mo = {.err_index = &bad};
  int rc = parc_map(pool, square, in, sizeof in[0], out, sizeof out[0], 1000,
                    &mo);
  if (rc)
    printf("task %zu: %s\n", bad, parc_strerror(rc));
  else
    printf("out[999] = %g\n", out[999]);
  parc_pool_destroy(pool);
  return rc != 0 || out[999] != 998001.0;
}
