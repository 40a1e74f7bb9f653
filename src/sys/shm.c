/* shm.c -- shared memory from a memfd.
 *
 * The descriptor is closed as soon as the mapping exists: the mapping keeps
 * the memory alive, no descriptor leaks into children, and when the last
 * process holding the mapping dies the kernel frees it. Nothing is ever
 * named in /dev/shm, so a crash leaves nothing behind.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "parc.h"
#include "sys/sys.h"

void *parc__shm_map(size_t size) {
  int fd = parc__fault("memfd_create", EMFILE)
               ? -1
               : memfd_create("parc", MFD_CLOEXEC);
  if (fd < 0) {
    parc__sys_fail("memfd_create", errno);
    return NULL;
  }
  void *p = MAP_FAILED;
  const char *call = "ftruncate";
  if (!parc__fault(call, ENOSPC) && ftruncate(fd, (off_t)size) == 0) {
    call = "mmap";
    if (!parc__fault(call, ENOMEM))
      p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int saved = errno;
  close(fd);
  if (p == MAP_FAILED) {
    parc__sys_fail(call, saved);
    return NULL;
  }
  return p;
}

void parc__shm_unmap(void *p, size_t size) {
  if (p)
    munmap(p, size);
}

/* Public allocations carry their size in a 64-byte header in front, so
 * parc_shm_free needs only the pointer. */
#define SHM_HEADER 64

/* The regions parc_shm_alloc has made in this process, each with the
 * generation it was made in. A pool forked at generation g has every
 * region of generation <= g mapped in its workers at the same address, so
 * it can pass them a pointer into one instead of copying. Process-wide,
 * as the mappings are. */
typedef struct region {
  uintptr_t base;
  size_t size;
  uint64_t gen;
} region;

static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static region *regions;
static size_t nregions, regions_cap;
static _Atomic uint64_t generation; /* changed under regions_lock */

static void remember(void *p, size_t size) {
  pthread_mutex_lock(&regions_lock);
  if (nregions == regions_cap) {
    size_t cap = regions_cap ? 2 * regions_cap : 16;
    region *r = parc__realloc(regions, cap * sizeof *r);
    if (r) {
      regions = r;
      regions_cap = cap;
    }
  }
  if (nregions < regions_cap) /* else: not known, so always copied */
    regions[nregions++] = (region){(uintptr_t)p, size, ++generation};
  pthread_mutex_unlock(&regions_lock);
}

static void forget(void *p) {
  pthread_mutex_lock(&regions_lock);
  for (size_t i = 0; i < nregions; i++)
    if (regions[i].base == (uintptr_t)p) {
      regions[i] = regions[--nregions];
      break;
    }
  pthread_mutex_unlock(&regions_lock);
}

uint64_t parc__shm_generation(void) { return atomic_load(&generation); }

bool parc__shm_newer(const void *p, uint64_t gen) {
  if (atomic_load(&generation) <= gen)
    return false; /* nothing was made since: the usual case, one load */
  uintptr_t a = (uintptr_t)p;
  bool yes = false;
  pthread_mutex_lock(&regions_lock);
  for (size_t i = 0; i < nregions && !yes; i++)
    yes = regions[i].gen > gen && a >= regions[i].base &&
          a - regions[i].base < regions[i].size;
  pthread_mutex_unlock(&regions_lock);
  return yes;
}

bool parc__shm_holds(const void *p, size_t n, uint64_t gen) {
  uintptr_t a = (uintptr_t)p;
  bool yes = false;
  pthread_mutex_lock(&regions_lock);
  for (size_t i = 0; i < nregions && !yes; i++)
    yes = regions[i].gen <= gen && a >= regions[i].base &&
          n <= regions[i].size && a - regions[i].base <= regions[i].size - n;
  pthread_mutex_unlock(&regions_lock);
  return yes;
}

void *parc_shm_alloc(size_t size) {
  if (size == 0 || size > SIZE_MAX - SHM_HEADER) {
    errno = EINVAL;
    return NULL;
  }
  unsigned char *base = parc__shm_map(size + SHM_HEADER);
  if (!base)
    return NULL;
  *(size_t *)base = size + SHM_HEADER;
  remember(base + SHM_HEADER, size);
  return base + SHM_HEADER;
}

void parc_shm_free(void *p) {
  if (!p)
    return;
  forget(p);
  unsigned char *base = (unsigned char *)p - SHM_HEADER;
  parc__shm_unmap(base, *(size_t *)base);
}

void *parc__obj_alloc(size_t size, int shared) {
  if (shared)
    return parc_shm_alloc(size); /* zero-filled, page-aligned + 64 */
  void *p = parc__aligned_alloc(64, (size + 63u) & ~(size_t)63u);
  if (p)
    memset(p, 0, size);
  return p;
}

void parc__obj_free(void *p, int shared) {
  if (shared)
    parc_shm_free(p);
  else
    free(p);
}
