/* probe.h -- the pieces of `parc probe` (docs/parc-probe.md).
 *
 *   probe.c          options, the order of the rows, the table and the JSON
 *   probe_topo.c     the machine from hwloc: packages, cores, hardware
 *                    threads, caches and who shares them, memory, NUMA;
 *                    which PUs the measurements pin themselves to
 *   probe_measure.c  the timing harness: calibrate a batch, warm up, take
 *                    samples within a time budget, median and quartiles
 *   probe_mem.c      rows inside one core: pointer chasing through L1, L2,
 *                    L3 and main memory, a 1 MiB sequential read, a mutex,
 *                    snappy
 *   probe_os.c       rows that need the kernel or a second core: thread,
 *                    fork, posix_spawn, context switch, cache-line round
 *                    trip, loopback TCP
 *   probe_file.c     rows on a file: 4 KiB random and 1 MiB sequential reads
 *
 * A row's measurement never prints; it fills its row (figures and a note)
 * and returns. A row that cannot run here (one core only) is skipped with
 * a note; a row whose system call failed is marked failed with the error. */
#ifndef CLI_PROBE_H
#define CLI_PROBE_H

#include <hwloc.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_NOTE_MAX 192

/* ---------------------------------------------------------------- topology */

typedef struct probe_topo {
  hwloc_topology_t t;
  unsigned packages, cores, pus, numa_nodes;
  uint64_t memory;            /* bytes, all NUMA nodes (hwloc) */
  uint64_t memory_kernel;     /* bytes, the kernel's MemTotal */
  uint64_t l1d, l2, l3, line; /* bytes, caches above `pu`; 0 = none */
  int pu;                     /* OS index of the PU the 1-core rows run on */
  hwloc_cpuset_t bound;       /* the PUs this process may run on */
} probe_topo;

int probe_topo_load(probe_topo *topo); /* 0, or -1 (errno) */
void probe_topo_free(probe_topo *topo);
/* Human text and one JSON object (no trailing newline) about the topology. */
void probe_topo_print(const probe_topo *topo);
void probe_topo_json(const probe_topo *topo, const char *indent);

/* Binds the calling thread to PU os_index (-1: back to all of `bound`). */
int probe_pin(const probe_topo *topo, int os_index);
/* Two PUs on different cores, within `bound`: 0, or -1 with *why set. */
int probe_pick_two_cores(const probe_topo *topo, int *a, int *b,
                         const char **why);
/* What the two PUs share ("L3", "package", "machine") for a note. */
const char *probe_shared_level(const probe_topo *topo, int a, int b);

/* ---------------------------------------------------------------- rows */

typedef struct probe_stats {
  unsigned samples;    /* 0: not measured */
  uint64_t per_sample; /* operations timed together in one sample */
  double median, p25, p75, min, max; /* ns per operation */
} probe_stats;

typedef struct probe_row {
  const char *key;       /* JSON name */
  const char *name;      /* table name */
  double published_ns;   /* the classic figure; 0 = none */
  const char *published; /* where that figure comes from */
  probe_stats st;
  int skipped, failed; /* not measured, with the reason in note */
  char note[PROBE_NOTE_MAX];
} probe_row;

enum probe_row_id {
  ROW_L1,
  ROW_L2,
  ROW_L3,
  ROW_MEMORY,
  ROW_MUTEX,
  ROW_COMPRESS,
  ROW_THREAD,
  ROW_FORK,
  ROW_SPAWN,
  ROW_CTXSW,
  ROW_CACHELINE,
  ROW_MEMREAD,
  ROW_FILE4K,
  ROW_FILE1M,
  ROW_TCP,
  ROW_COUNT
};

/* How long to measure: the same for every row of one run. */
typedef struct probe_plan {
  int quick;
  double batch_ns;  /* a sample lasts at least this long */
  double budget_ns; /* sampling stops after this, past min_samples */
  unsigned min_samples, max_samples;
  uint64_t mem_bytes;  /* the main-memory working set */
  uint64_t file_bytes; /* the file for the file rows */
  const char *dir;     /* where that file goes */
} probe_plan;

/* Runs n operations, returns the nanoseconds they took, or a negative
 * errno (the row is then marked failed). */
typedef double (*probe_batch_fn)(void *ctx, uint64_t n);

/* Calibrates, warms up and samples fn into row->st; 0 or -1 (row->failed
 * set and row->note says why). */
int probe_measure(probe_row *row, const probe_plan *plan, probe_batch_fn fn,
                  void *ctx);
double probe_now_ns(void);
double probe_clock_cost_ns(void);

/* Formats into row->note (appends when the note is not empty). */
void probe_note(probe_row *row, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void probe_fail(probe_row *row, const char *what, int err);
void probe_skip(probe_row *row, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints s as a JSON string, quoted and escaped, to stdout. */
void probe_json_str(const char *s);
/* "16 KiB", "1.5 MiB": size in binary units. */
void probe_fmt_bytes(char *buf, size_t n, uint64_t bytes);

/* The rows, each group filling its own rows of `rows`. */
void probe_mem_rows(probe_row *rows, const probe_topo *topo,
                    const probe_plan *plan);
void probe_os_rows(probe_row *rows, const probe_topo *topo,
                   const probe_plan *plan);
void probe_file_rows(probe_row *rows, const probe_plan *plan);

#endif
