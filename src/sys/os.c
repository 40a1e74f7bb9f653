/* os.c -- the thread and process calls that can fail on a create path,
 * behind the failure-injection switch (fault.h), each noting its reason
 * (error.c) when it fails. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "parc.h"
#include "sys/sys.h"

int parc__thread_create(pthread_t *th, void *(*fn)(void *), void *arg) {
  int e = parc__fault("pthread_create", EAGAIN)
              ? EAGAIN
              : pthread_create(th, NULL, fn, arg);
  return e ? parc__sys_fail("pthread_create", e) : 0;
}

int parc__mutex_init_plain(pthread_mutex_t *m) {
  int e = parc__fault("pthread_mutex_init", ENOMEM)
              ? ENOMEM
              : pthread_mutex_init(m, NULL);
  return e ? parc__sys_fail("pthread_mutex_init", e) : 0;
}

int parc__cond_init(pthread_cond_t *c, int shared) {
  pthread_condattr_t a;
  int e = parc__fault("pthread_condattr_init", ENOMEM)
              ? ENOMEM
              : pthread_condattr_init(&a);
  if (e)
    return parc__sys_fail("pthread_condattr_init", e);
  const char *call = "pthread_condattr_setclock";
  e = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  if (e == 0 && shared) {
    call = "pthread_condattr_setpshared";
    e = pthread_condattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  }
  if (e == 0) {
    call = "pthread_cond_init";
    e = parc__fault(call, ENOMEM) ? ENOMEM : pthread_cond_init(c, &a);
  }
  pthread_condattr_destroy(&a);
  return e ? parc__sys_fail(call, e) : 0;
}

pid_t parc__fork(void) {
  fflush(NULL); /* or the child would print our buffered output again */
  pid_t pid = parc__fault("fork", EAGAIN) ? -1 : fork();
  if (pid < 0)
    parc__sys_fail("fork", errno);
  return pid;
}

bool parc__thread_tryjoin(pthread_t th) {
  return pthread_tryjoin_np(th, NULL) == 0;
}

void parc__yield(void) { sched_yield(); }
