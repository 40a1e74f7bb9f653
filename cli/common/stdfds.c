/* stdfds.c -- the process's standard descriptors, before anything else.
 *
 * A program started with stdin, stdout or stderr closed (`parc run ...
 * <&-`) would hand that number to the first descriptor it opens: an
 * eventfd or a pipe then read as stdin (a run that waits forever), or a
 * results file that the jobs' output lands in. Each closed one is opened
 * on /dev/null first, as a program run from a shell would have it. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"

void cli_std_fds_open(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    int got = open("/dev/null", O_RDWR); /* the lowest free: fd itself */
    if (got >= 0 && got != fd)
      close(got); /* cannot happen: fd was free and lower */
  }
}
