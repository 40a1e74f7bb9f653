/* fd.c -- descriptors: close, message sockets, eventfd counters, and
 * waiting on several at once. Each primitive's contract is in sys.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sys/sys.h"

void parc__close(int fd) {
  if (fd >= 0)
    close(fd); /* on Linux the descriptor is gone even when close fails */
}

int parc__socket_pair(int sv[2]) {
  if (parc__fault("socketpair", EMFILE))
    return -1;
  return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

ssize_t parc__send_msg(int fd, const void *msg, size_t len) {
  ssize_t n;
  while ((n = send(fd, msg, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  return n;
}

ssize_t parc__recv_msg(int fd, void *buf, size_t cap, bool wait) {
  return recv(fd, buf, cap, wait ? 0 : MSG_DONTWAIT);
}

void parc__shutdown_write(int fd) { shutdown(fd, SHUT_WR); }

int parc__eventfd(void) {
  if (parc__fault("eventfd", EMFILE))
    return -1;
  return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void parc__eventfd_post(int fd) {
  uint64_t one = 1;
  ssize_t w = write(fd, &one, sizeof one);
  (void)w; /* EAGAIN: the counter is already non-zero, it will wake */
}

void parc__eventfd_drain(int fd) {
  uint64_t n;
  while (read(fd, &n, sizeof n) > 0)
    ;
}

int parc__poll(struct pollfd *fds, unsigned n, uint64_t deadline) {
  struct timespec ts, *tsp = NULL;
  if (deadline != PARC__FOREVER) {
    uint64_t now = parc__now_ns();
    uint64_t left = deadline > now ? deadline - now : 0;
    ts.tv_sec = (time_t)(left / 1000000000u);
    ts.tv_nsec = (long)(left % 1000000000u);
    tsp = &ts;
  }
  return ppoll(fds, n, tsp, NULL);
}
