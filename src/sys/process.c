/* process.c -- processes: watching, reaping, signalling and ending them,
 * and what a forked worker sets up. Each primitive's contract is in
 * sys.h. */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/sys.h"

int parc__pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

pid_t parc__wait_child(pid_t pid, int *status, bool block) {
  pid_t r;
  while ((r = waitpid(pid, status, block ? 0 : WNOHANG)) < 0 && errno == EINTR)
    ;
  return r;
}

int parc__kill(pid_t pid, int sig) { return kill(pid, sig); }

void parc__exit_now(int code) { _exit(code); }

bool parc__die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  return getppid() == parent;
}

void parc__set_process_name(const char *name) { prctl(PR_SET_NAME, name); }

int parc__child_events(sigset_t *old) {
  signal(SIGCHLD, SIG_DFL);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, old);
  return signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
}

void parc__child_events_drain(int fd) {
  struct signalfd_siginfo si;
  while (read(fd, &si, sizeof si) > 0)
    ;
}

void parc__signal_mask_set(const sigset_t *mask) {
  sigprocmask(SIG_SETMASK, mask, NULL);
}
