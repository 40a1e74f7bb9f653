/* policy.h -- every tuning constant of the library, each with its reason.
 *
 * These are choices, not facts: how long to spin, how much to batch, how
 * long a slice or a grace period is. Each was set by a measurement or an
 * argument, given beside it; docs/performance.md has the measurements.
 * Format constants (frame sizes, header sizes, bit layouts) stay with the
 * code that defines the format. This header includes nothing, so every
 * layer may include it.
 */
#ifndef PARC_POLICY_H
#define PARC_POLICY_H

/* ---------------------------------------------------------------- spinning
 * An adaptive spin (sys/event.c, parc__spin) before each wait that may
 * sleep. Spinning ends a wait in a microsecond when the other side is
 * about to act, and only takes a CPU otherwise: so the budget doubles
 * after a spin that paid and halves after one that did not. */
#define PARC__SPIN_MAX 2000u /* most pause rounds (~ some microseconds) */
#define PARC__SPIN_MIN 32u   /* below this a spin is worth nothing: 0 */
/* at 0, one wait in this many spins again (a quarter of the most), to find
 * out whether spinning pays once more */
#define PARC__SPIN_RETRY 64u
/* a spin that ended its wait within this paid: a few sleeps and wake-ups,
 * far less than a time slice */
#define PARC__SPIN_PAYS_NS 30000u
/* A worker's lanes, and a creator waiting for its workers' start, spin
 * this long before they sleep (rounds). */
#define PARC__SPIN 2000

/* ---------------------------------------------------------------- lanes
 * Each worker has two lanes (rings), one each way. */
/* each direction, per worker: big enough for a batch of small tasks, small
 * enough to stay in cache */
#define PARC__LANE_BYTES (256u * 1024u)
/* most batches queued per worker: the slot has a skip mark per batch
 * (cancel), so it is fixed */
#define PARC__INFLIGHT 16

/* ---------------------------------------------------------------- batching */
/* a map batch aims at ~50 us of work: the per-batch cost (~1 us) vanishes,
 * and a batch is short beside a time slice */
#define PARC__BATCH_NS 50000.0
/* more than 2 batches queued at a worker only while their work is estimated
 * under this: queued work waits there while another worker may be idle */
#define PARC__QUEUED_NS 100000.0
/* ... for a remote worker, whose round trip passes two couriers */
#define PARC__QUEUED_REMOTE_NS 2000000.0
/* most bytes tasks in one batch (each needs two pieces in the batch's
 * iovec) */
#define PARC__BYTES_BATCH 64
/* a map-reduce is cut into about this many blocks: enough to balance, few
 * enough that the final tree costs nothing */
#define PARC__REDUCE_BLOCKS 1024
/* a worker rings the scheduler after a task this long or longer, or at a
 * batch's end: shorter tasks' results may wait for the batch, which saves
 * an atomic per task */
#define PARC__QUIET_NS 20000

/* ---------------------------------------------------------------- waiting */
/* progress callbacks and should_stop at most every 0.1 s: a bar moves, and
 * a call is not slowed by its callback */
#define PARC__PROGRESS_NS 100000000
/* while callers drive the scheduler, the manager looks every 1 ms: a caller
 * that stops waiting leaves work to it within that */
#define PARC__STEP_ASIDE_NS 1000000u
/* process workers told to stop get 2 s to finish before the zygote kills
 * them */
#define PARC__STOP_GRACE_NS 2000000000ull

/* ---------------------------------------------------------------- MPI */
/* messages a courier reads per round, so the lanes are served between */
#define PARC__MPI_TAKE_MAX 64
#define PARC__MPI_SPIN 256 /* idle courier rounds spent spinning */
/* then yield and poll this long after the last traffic: an answer is likely
 * on its way */
#define PARC__MPI_BUSY_NS 5000000ull
/* then sleep, doubling from this up to 128 times it: MPI has nothing to
 * wait on */
#define PARC__MPI_NAP_NS 10000ull

/* ---------------------------------------------------------------- channels */
/* a large message is published this many bytes at a time, so the copy in
 * and the copy out overlap, and the per-piece cost is nothing beside the
 * copy */
#define PARC__CHAN_CHUNK ((size_t)32 << 10)
#define PARC__PIPE_RING_MIN ((size_t)64 << 10) /* a pipe's ring each way: at */
/* least 64 KiB, at most 2 MiB: a bigger message streams */
#define PARC__PIPE_RING_MAX ((size_t)2 << 20)
/* a queue pipelines messages from here */
#define PARC__QUEUE_STREAM_MIN (2 * PARC__CHAN_CHUNK)
/* a queue rewinds an empty ring past this, to reuse cache-warm memory */
#define PARC__QUEUE_REWIND_MIN ((size_t)1 << 20)
/* a consumer whose bytes stop coming checks for a dead producer this often */
#define PARC__QUEUE_PROBE_NS 20000000u
/* a blocking wait on a robust mutex goes in slices this long (see
 * chan/sync.c) */
#define PARC__LOCK_SLICE_S 0.2

#endif
