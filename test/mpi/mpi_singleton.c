/* mpi_singleton -- an MPI program for `parc run` to run as a job under
 * mpirun (run_mpi.sh): it prints the size of its MPI_COMM_WORLD, which is
 * 1 when the job did not inherit the launcher's variables from its rank. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
    return 1;
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  printf("size=%d\n", size);
  MPI_Finalize();
  return 0;
}
