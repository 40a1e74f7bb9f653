/* A PARC_MPI pool, built against an installed libparc_mpi by check.sh
 * (with pkg-config's parc_mpi and with CMake's parc::parc_mpi) and run
 * under mpirun with 2 ranks: rank 0 maps, rank 1 serves. */
#include <parc_mpi.h>
#include <stdio.h>

static int twice(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(int *)out = 2 * *(const int *)in;
  return 0;
}

int main(int argc, char **argv) {
  int rc = parc_mpi_init(&argc, &argv);
  if (rc != 0) {
    fprintf(stderr, "parc_mpi_init: %s\n", parc_strerror(rc));
    return 1;
  }
  int ranks = parc_mpi_size();
  parc_pool *pool = NULL;
  parc_pool_opts o = {.backend = PARC_MPI};
  rc = parc_pool_create(&pool, &o);
  if (rc == PARC_ESERVED) { /* a serving rank: rank 0 is done with it */
    parc_mpi_finalize();
    return 0;
  }
  int in[100], out[100] = {0};
  for (int i = 0; i < 100; i++) in[i] = i;
  if (rc == 0) {
    rc = parc_map(pool, twice, in, sizeof in[0], out, sizeof out[0], 100, NULL);
    parc_pool_destroy(pool);
  }
  parc_mpi_finalize();
  if (rc != 0) {
    fprintf(stderr, "PARC_MPI pool: %s\n", parc_strerror(rc));
    return 1;
  }
  printf("out[99] = %d on %d ranks\n", out[99], ranks);
  return out[99] != 198;
}
