/* pid.c -- this process's pid, without a system call.
 *
 * glibc stopped caching getpid(), and the pipe asks for it on every call.
 * The cache is forgotten in a child at fork (pthread_atfork), so a forked
 * process asks the kernel once, then remembers its own.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "sys/sys.h"

static _Atomic int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void) { atomic_store(&cached_pid, 0); }
static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_pid); }

int parc__pid(void) {
  int pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
  if (pid == 0) {
    pthread_once(&pid_once, watch_forks);
    pid = (int)getpid();
    atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
  }
  return pid;
}
