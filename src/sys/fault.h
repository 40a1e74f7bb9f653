/* fault.h -- allocation and system-call failure injection, for tests.
 *
 * Every allocation of the library and every system call on a create path
 * asks parc__fault() first, as SQLite's code asks sqlite3FaultSim(). In
 * the library users link it is a constant false and costs nothing; only
 * the build the fault tests link (PARC_FAULT_INJECTION, test/CMakeLists.txt)
 * has the switch, which a test arms to fail the n-th check from then on
 * (test/test_faults.c sweeps n over a whole create path).
 */
#ifndef PARC_FAULT_H
#define PARC_FAULT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef PARC_FAULT_INJECTION
/* True when this check is the one the switch was armed for; then errno is
 * `err` and the caller fails as if `site` had. Thread-safe; a process
 * forked while the switch is armed counts on in its own copy. */
bool parc__fault(const char *site, int err);
/* Arms the switch: the nth check from now fails (1: the very next), once.
 * 0 disarms it. */
void parc__fault_arm(uint64_t nth);
/* Disarms it; returns the site that failed since arm, or NULL. */
const char *parc__fault_disarm(void);
#else
static inline bool parc__fault(const char *site, int err) {
  (void)site;
  (void)err;
  return false;
}
#endif

/* The library's allocator: the C library's, behind the switch. Memory is
 * released with free(). */
static inline void *parc__malloc(size_t n) {
  return parc__fault("malloc", ENOMEM) ? NULL : malloc(n);
}
static inline void *parc__calloc(size_t n, size_t size) {
  return parc__fault("calloc", ENOMEM) ? NULL : calloc(n, size);
}
static inline void *parc__realloc(void *p, size_t n) {
  return parc__fault("realloc", ENOMEM) ? NULL : realloc(p, n);
}
static inline void *parc__aligned_alloc(size_t align, size_t n) {
  return parc__fault("aligned_alloc", ENOMEM) ? NULL : aligned_alloc(align, n);
}

#endif
