/* peer_mpi.c -- the MPI peer of parc's channels (see bench/README.md).
 *
 *   mpirun -np 2 parc-bench-mpi SIZES REPS WARM TARGET_MS
 *
 * Rank 0 is the timer and rank 1 the echo of pingpong.h's round-trip loop;
 * each message is one blocking MPI_Send / MPI_Recv of MPI_BYTEs on
 * MPI_COMM_WORLD, and a received length other than the one expected is an
 * error. Only rank 0 prints. Built with mpicc (CMake's FindMPI); does not
 * link libparc.
 */
#include <mpi.h>

#include "common.h"
#include "../cli/bench/pingpong.h" /* shared with parc bench */

static int g_peer;

static int mpi_send(const void *buf, size_t len, char *err, size_t errlen) {
  int rc = MPI_Send(buf, (int)len, MPI_BYTE, g_peer, 0, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) {
    snprintf(err, errlen, "MPI_Send returned %d", rc);
    return -1;
  }
  return 0;
}

static int mpi_recv(void *buf, size_t len, char *err, size_t errlen) {
  MPI_Status st;
  int got = -1;
  int rc = MPI_Recv(buf, (int)len, MPI_BYTE, g_peer, 0, MPI_COMM_WORLD, &st);
  if (rc == MPI_SUCCESS)
    rc = MPI_Get_count(&st, MPI_BYTE, &got);
  if (rc != MPI_SUCCESS) {
    snprintf(err, errlen, "MPI_Recv returned %d", rc);
    return -1;
  }
  if ((size_t)got != len) {
    snprintf(err, errlen, "received %d bytes, expected %zu", got, len);
    return -1;
  }
  return 0;
}

static void abort_all(void) { MPI_Abort(MPI_COMM_WORLD, 1); }

int main(int argc, char **argv) {
  static const pp_transport t = {"mpi", mpi_send, mpi_recv, NULL};
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 5) {
    if (rank == 0)
      fprintf(stderr,
              "usage: mpirun -np 2 parc-bench-mpi SIZES REPS WARM TARGET_MS\n");
    MPI_Finalize();
    return 2;
  }
  if (size != 2) {
    if (rank == 0)
      printf("error ch_mpi needs exactly 2 ranks, got %d\n", size);
    MPI_Finalize();
    return 1;
  }
  size_t sizes[PP_MAX_SIZES];
  int n = pp_parse_sizes(argv[1], sizes, PP_MAX_SIZES);
  unsigned reps = (unsigned)bench_arg(argv[2], "REPS", 1, 1000);
  unsigned warm = (unsigned)bench_arg(argv[3], "WARM", 0, 1000);
  double target_s = (double)bench_arg(argv[4], "TARGET_MS", 1, 60000) * 1e-3;
  g_peer = 1 - rank;
  if (rank == 0) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    for (int i = 0; i < len; i++)
      if (version[i] == '\n' || version[i] == '\r')
        version[i] = ' ';
    bench_info("ch_mpi",
               "2 ranks, blocking MPI_Send/MPI_Recv of MPI_BYTE; %.*s", len,
               version);
    pp_transport tt = t;
    tt.abort_peer = abort_all;
    pp_drive(&tt, sizes, n, reps, warm, target_s);
  } else {
    pp_echo(&t, pp_max_size(sizes, n));
  }
  MPI_Finalize();
  return 0;
}
