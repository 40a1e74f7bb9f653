/* shm.c -- shared memory from a memfd.
 *
 * The descriptor is closed as soon as the mapping exists: the mapping keeps
 * the memory alive, no descriptor leaks into children, and when the last
 * process holding the mapping dies the kernel frees it. Nothing is ever
 * named in /dev/shm, so a crash leaves nothing behind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "parc.h"
#include "sys/sys.h"

void *parc__shm_map(size_t size) {
  int fd = memfd_create("parc", MFD_CLOEXEC);
  if (fd < 0)
    return NULL;
  void *p = MAP_FAILED;
  if (ftruncate(fd, (off_t)size) == 0)
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int saved = errno;
  close(fd);
  errno = saved;
  return p == MAP_FAILED ? NULL : p;
}

void parc__shm_unmap(void *p, size_t size) {
  if (p)
    munmap(p, size);
}

/* Public allocations carry their size in a 64-byte header in front, so
 * parc_shm_free needs only the pointer. */
#define SHM_HEADER 64

void *parc_shm_alloc(size_t size) {
  if (size == 0 || size > SIZE_MAX - SHM_HEADER) {
    errno = EINVAL;
    return NULL;
  }
  unsigned char *base = parc__shm_map(size + SHM_HEADER);
  if (!base)
    return NULL;
  *(size_t *)base = size + SHM_HEADER;
  return base + SHM_HEADER;
}

void parc_shm_free(void *p) {
  if (!p)
    return;
  unsigned char *base = (unsigned char *)p - SHM_HEADER;
  parc__shm_unmap(base, *(size_t *)base);
}

void *parc__obj_alloc(size_t size, int shared) {
  if (shared)
    return parc_shm_alloc(size); /* zero-filled, page-aligned + 64 */
  void *p = aligned_alloc(64, (size + 63u) & ~(size_t)63u);
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
