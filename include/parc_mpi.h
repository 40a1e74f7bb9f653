/* parc_mpi.h -- libparc_mpi: pools whose workers are MPI ranks.
 *
 * Link libparc_mpi (and MPI) as well as libparc; this header needs no
 * mpi.h. The program is SPMD: every rank runs it. Call parc_mpi_init on
 * every rank, then create a pool with opts.backend = PARC_MPI on every
 * rank, at the same point of the program:
 *
 *   - rank 0 gets the pool, as with any backend, and is the only caller:
 *     parc_map, parc_submit, parc_map_reduce, parc_for and progress behave
 *     as with threads (same results, bit for bit for map-reduce).
 *   - ranks 1..N-1 do not get a pool: parc_pool_create runs their workers
 *     and serves rank 0's tasks until rank 0 destroys its pool, then
 *     returns PARC_ESERVED (*out stays NULL). The program goes on from
 *     there on that rank (typically to parc_mpi_finalize and exit).
 *
 * opts.workers is per serving rank, read on that rank: the number of
 * worker threads it runs (0: one). Each rank may ask for a different
 * number (e.g. parc_physical_cores() with one rank per node). Data a rank
 * loaded before parc_pool_create is there for its tasks, and opts.ctx is
 * each rank's own. parc_worker_id() inside a task is the worker's index in
 * the pool (0..parc_pool_workers()-1 as seen on rank 0).
 *
 * Not supported (PARC_ENOTSUP from parc_pool_create): task_timeout. A
 * parc_for ctx travels by value (ctx_size bytes); with ctx_size 0 the body
 * gets ctx = NULL. The whole-call timeout of a map and parc_future_cancel
 * work, but a task already running on a rank runs to its end (its result
 * is dropped), as in the thread backend. See docs/cluster.md. */
#ifndef PARC_MPI_H
#define PARC_MPI_H

#include "parc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises MPI if the program has not (asking for
 * MPI_THREAD_SERIALIZED, which the backend needs: rank 0 talks to the
 * other ranks from a thread of the pool) and makes PARC_MPI available to
 * parc_pool_create. argc/argv may be NULL. Returns 0, or PARC_ENOTSUP if
 * MPI was initialised with less than MPI_THREAD_SERIALIZED, or PARC_ESYS
 * if MPI_Init_thread failed. Call it from the main thread, on every rank. */
PARC_API int parc_mpi_init(int *argc, char ***argv);

/* MPI_Finalize, if parc_mpi_init initialised MPI (else the program calls
 * it). Every pool must have been destroyed (rank 0) or have returned
 * PARC_ESERVED (other ranks). Returns 0 or PARC_ESYS. */
PARC_API int parc_mpi_finalize(void);

/* This process's rank in MPI_COMM_WORLD, and the number of ranks; -1 and
 * 0 before parc_mpi_init. */
PARC_API int parc_mpi_rank(void);
PARC_API int parc_mpi_size(void);

#ifdef __cplusplus
}
#endif
#endif /* PARC_MPI_H */
