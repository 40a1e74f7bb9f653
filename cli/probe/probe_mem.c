/* probe_mem.c -- the rows of `parc probe` that stay on one core: cache and
 * memory references, reading 1 MiB from memory, a mutex, snappy.
 *
 * A reference is timed by dependent pointer chasing: every cache line of
 * a working set holds the address of the next one, in a random cyclic
 * order, so each load must wait for the one before (no overlap) and the
 * prefetchers cannot guess the next (no hiding). The working set decides
 * which level serves the loads: half of L1d, half of L2 (but well above
 * L1d), four times L2 (but at most half of L3) and plan->mem_bytes (four
 * times L3 or more) for main memory. The time per load includes the TLB lookup;
 * the buffer asks for 2 MiB pages (madvise) so that is nearly always a
 * hit, and the note says whether the kernel gave them.
 *
 * The thread is pinned to one PU for these rows, so a migration cannot
 * empty its caches halfway.
 *
 * snappy is loaded by its row alone (dlopen), so that no other parc
 * command pays for loading it and libstdc++ at start-up (about 0.65 ms,
 * docs/performance.md), and parc builds without it: where libsnappy.so.1
 * is missing the row is skipped and says so.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "probe.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define MIB ((uint64_t)1 << 20)

typedef struct mem_buf {
  char *base; /* HUGE_PAGE-aligned */
  void *map;
  size_t size, map_size, line;
} mem_buf;

/* splitmix64: the chase order only needs to look random to a prefetcher. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static int buf_alloc(mem_buf *b, size_t size, size_t line) {
  b->size = size;
  b->line = line;
  b->map_size = size + HUGE_PAGE;
  b->map = mmap(NULL, b->map_size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (b->map == MAP_FAILED)
    return -1;
  b->base = (char *)(((uintptr_t)b->map + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
  (void)madvise(b->base, size, MADV_HUGEPAGE); /* a hint; may be refused */
  memset(b->base, 0, size);                    /* fault every page in now */
  return 0;
}

static void buf_free(mem_buf *b) {
  if (b->map && b->map != MAP_FAILED)
    munmap(b->map, b->map_size);
  b->map = NULL;
}

/* KiB of anonymous huge pages in this process, or -1. */
static long huge_kib(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "re");
  if (f == NULL)
    return -1;
  char line[128];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

/* Links the first `ws` bytes of b into one random cycle of cache lines;
 * returns its start. */
static void **chase_build(mem_buf *b, size_t ws, uint64_t seed) {
  size_t n = ws / b->line;
  uint32_t *order = malloc(n * sizeof *order);
  if (order == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(next_rand(&seed) % (i + 1));
    uint32_t x = order[i];
    order[i] = order[j];
    order[j] = x;
  }
  for (size_t i = 0; i < n; i++) {
    void **from = (void **)(b->base + (size_t)order[i] * b->line);
    *from = b->base + (size_t)order[(i + 1) % n] * b->line;
  }
  void **start = (void **)(b->base + (size_t)order[0] * b->line);
  free(order);
  return start;
}

typedef struct chase_ctx {
  void **p;
} chase_ctx;

static double chase_batch(void *ctx, uint64_t n) {
  chase_ctx *c = ctx;
  void **p = c->p;
  double t0 = probe_now_ns();
  for (uint64_t i = n / 8; i > 0; i--) {
    p = *p;
    p = *p;
    p = *p;
    p = *p;
    p = *p;
    p = *p;
    p = *p;
    p = *p;
  }
  for (uint64_t i = n % 8; i > 0; i--) p = *p;
  double t = probe_now_ns() - t0;
  c->p = p;
  return t;
}

static void chase_row(probe_row *row, const probe_plan *plan, mem_buf *b,
                      size_t ws) {
  char size[32];
  ws -= ws % b->line;
  chase_ctx c = {chase_build(b, ws, 0x5eed + ws)};
  if (c.p == NULL)
    return probe_fail(row, "chase", ENOMEM);
  probe_fmt_bytes(size, sizeof size, ws);
  probe_note(row, "random chase over %s", size);
  probe_measure(row, plan, chase_batch, &c);
}

/* ------------------------------------------------------ 1 MiB from memory */

typedef struct read_ctx {
  const uint64_t *base;
  size_t chunks, next;
  uint64_t sink;
} read_ctx;

/* Reads 1 MiB chunks in turn; the buffer is four times L3 or more, so a
 * chunk has left the caches by the time it comes round again. */
static double read_batch(void *ctx, uint64_t n) {
  read_ctx *r = ctx;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  double t0 = probe_now_ns();
  for (uint64_t k = 0; k < n; k++) {
    const uint64_t *w = r->base + r->next * (MIB / 8);
    for (size_t i = 0; i < MIB / 8; i += 4) {
      a += w[i];
      b += w[i + 1];
      c += w[i + 2];
      d += w[i + 3];
    }
    r->next = (r->next + 1) % r->chunks;
  }
  double t = probe_now_ns() - t0;
  r->sink += a + b + c + d;
  return t;
}

/* ------------------------------------------------------ mutex, snappy */

/* snappy's C API (snappy-c.h), declared here so the build needs no
 * headers: snappy_compress returns SNAPPY_OK, 0, on success. */
#ifndef PROBE_SNAPPY_SONAME
#define PROBE_SNAPPY_SONAME "libsnappy.so.1"
#endif
typedef int (*snappy_compress_fn)(const char *in, size_t in_len, char *out,
                                  size_t *out_len);
typedef size_t (*snappy_max_length_fn)(size_t in_len);

static double mutex_batch(void *ctx, uint64_t n) {
  pthread_mutex_t *m = ctx;
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
  }
  return probe_now_ns() - t0;
}

typedef struct zip_ctx {
  char in[1024];
  char *out;
  size_t cap, outlen;
  snappy_compress_fn compress;
} zip_ctx;

static double zip_batch(void *ctx, uint64_t n) {
  zip_ctx *z = ctx;
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    z->outlen = z->cap;
    if (z->compress(z->in, sizeof z->in, z->out, &z->outlen) != 0)
      return -EIO;
  }
  return probe_now_ns() - t0;
}

/* 1 KiB of English-like text: words from a small vocabulary, as logs and
 * protocol buffers of text compress (the classic figure's use). */
static void fill_text(char *p, size_t n) {
  static const char *const words[] = {
      "the",      "of",     "and",  "a",      "to",      "in",      "is",
      "cache",    "memory", "core", "thread", "process", "latency", "bandwidth",
      "parallel", "data",   "that", "for",    "it",      "with",    "as",
      "on",       "be",     "by",   "this",   "we"};
  uint64_t s = 42;
  size_t i = 0;
  while (i < n) {
    const char *w = words[next_rand(&s) % (sizeof words / sizeof words[0])];
    for (; *w && i < n; w++) p[i++] = *w;
    if (i < n)
      p[i++] = next_rand(&s) % 12 == 0 ? '\n' : ' ';
  }
}

static void zip_measure(probe_row *row, const probe_plan *plan, zip_ctx *z,
                        snappy_max_length_fn max_length) {
  fill_text(z->in, sizeof z->in);
  z->cap = max_length(sizeof z->in);
  if ((z->out = malloc(z->cap)) == NULL)
    return probe_fail(row, "compress", ENOMEM);
  if (probe_measure(row, plan, zip_batch, z) == 0)
    probe_note(row,
               "snappy, 1024 B of text -> %zu B; published: Zippy "
               "(snappy's name inside Google)",
               z->outlen);
  free(z->out);
}

static void compress_row(probe_row *row, const probe_plan *plan) {
  void *lib = dlopen(PROBE_SNAPPY_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    return probe_skip(row, "%s not found (Debian: libsnappy1v5)",
                      PROBE_SNAPPY_SONAME);
  zip_ctx z;
  /* POSIX lets dlsym's void * become a function pointer. */
  z.compress = (snappy_compress_fn)dlsym(lib, "snappy_compress");
  snappy_max_length_fn max_length = (snappy_max_length_fn)dlsym(
      lib, "snappy_max_compressed_length");
  if (z.compress == NULL || max_length == NULL)
    probe_skip(row, "%s lacks snappy's C API", PROBE_SNAPPY_SONAME);
  else
    zip_measure(row, plan, &z, max_length);
  dlclose(lib);
}

/* ------------------------------------------------------ the rows */

static size_t at_least(size_t want, size_t floor_, size_t cap) {
  if (want < floor_)
    want = floor_ < cap ? floor_ : (want + cap) / 2;
  return want;
}

static void cache_rows(probe_row *rows, const probe_topo *topo,
                       const probe_plan *plan, mem_buf *b) {
  size_t l1 = topo->l1d ? topo->l1d : 32 << 10;
  size_t l2 = topo->l2 ? topo->l2 : 256 << 10;
  char sz[32];
  if (!topo->l1d)
    probe_note(&rows[ROW_L1], "L1d size unknown, 32 KiB assumed");
  if (!topo->l2)
    probe_note(&rows[ROW_L2], "L2 size unknown, 256 KiB assumed");
  chase_row(&rows[ROW_L1], plan, b, l1 / 2);
  chase_row(&rows[ROW_L2], plan, b, at_least(l2 / 2, 4 * l1, l2));
  if (topo->l3 == 0) {
    probe_skip(&rows[ROW_L3], "no L3 cache above PU %d", topo->pu);
  } else if (topo->l3 / 2 > b->size) {
    probe_fmt_bytes(sz, sizeof sz, topo->l3);
    probe_skip(&rows[ROW_L3], "L3 of %s does not fit the memory buffer", sz);
  } else {
    /* 4x L2 misses L2 on 3 loads in 4 yet stays far below L3's size, so
     * it is served by L3 even where other cores (or other VMs) hold much
     * of a shared L3; half of L3 when L3 is small. */
    size_t ws = 4 * l2 < topo->l3 / 2 ? 4 * l2 : topo->l3 / 2;
    if (ws <= l2)
      ws = (l2 + topo->l3) / 2;
    chase_row(&rows[ROW_L3], plan, b, ws);
  }
  chase_row(&rows[ROW_MEMORY], plan, b, b->size);
  const probe_stats *s3 = &rows[ROW_L3].st, *sm = &rows[ROW_MEMORY].st;
  if (s3->samples && sm->samples && s3->median > sm->median / 2) {
    probe_fmt_bytes(sz, sizeof sz, topo->l3);
    probe_note(&rows[ROW_L3],
               "near main memory: less of the %s L3 is "
               "usable than hwloc says (other cores or VMs "
               "use it)",
               sz);
  }
  long kib = huge_kib();
  if (kib >= 0)
    probe_note(&rows[ROW_MEMORY], "%s",
               (uint64_t)kib * 1024 >= b->size / 2 ? "2 MiB pages"
                                                   : "4 KiB pages (no THP)");
}

void probe_mem_rows(probe_row *rows, const probe_topo *topo,
                    const probe_plan *plan) {
  mem_buf b = {0};
  int pinned = probe_pin(topo, topo->pu) == 0;
  if (buf_alloc(&b, plan->mem_bytes, topo->line) != 0) {
    int e = errno;
    for (int r = ROW_L1; r <= ROW_MEMORY; r++) probe_fail(&rows[r], "mmap", e);
    probe_fail(&rows[ROW_MEMREAD], "mmap", e);
  } else {
    cache_rows(rows, topo, plan, &b);
    read_ctx rc = {(const uint64_t *)b.base, b.size / MIB, 0, 0};
    char sz[32];
    probe_fmt_bytes(sz, sizeof sz, b.size);
    probe_note(&rows[ROW_MEMREAD], "sum of 1 MiB, chunks of a %s buffer", sz);
    probe_measure(&rows[ROW_MEMREAD], plan, read_batch, &rc);
    buf_free(&b);
  }
  if (!pinned)
    for (int r = ROW_L1; r <= ROW_MEMORY; r++)
      probe_note(&rows[r], "not pinned to one PU");

  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  probe_note(&rows[ROW_MUTEX], "pthread mutex, uncontended; published: "
                               "Dean/Norvig table (not in seed 002)");
  probe_measure(&rows[ROW_MUTEX], plan, mutex_batch, &m);
  compress_row(&rows[ROW_COMPRESS], plan);
  probe_pin(topo, -1);
}
