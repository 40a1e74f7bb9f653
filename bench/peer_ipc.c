/* peer_ipc.c -- the operating system's channels, and memcpy, as peers of
 * parc's channels (see bench/README.md). Does not link libparc, so these
 * figures exist even when parc's channels do not build.
 *
 *   parc-bench-ipc os_pipe    SIZES REPS WARM TARGET_MS
 *       round trips through two pipe(2)s, one each way (default capacity)
 *   parc-bench-ipc socketpair SIZES REPS WARM TARGET_MS
 *       round trips through one AF_UNIX SOCK_STREAM socketpair(2)
 *   parc-bench-ipc memcpy     SIZE COUNT REPS WARM
 *       single-core memcpy of SIZE bytes between two warm buffers
 *
 * SIZES is a comma-separated list of message sizes in bytes. The echo is a
 * fork()ed child; the round-trip loop is pingpong.h's. Streams have no
 * message boundaries: each side reads exactly the size it expects (the
 * header says it), looping over short reads and writes as any user must.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "../cli/bench/pingpong.h" /* shared with parc bench */

static int g_rd = -1, g_wr = -1; /* this process's read and write ends */
static pid_t g_child = -1;

static int write_all(const void *buf, size_t len, char *err, size_t errlen) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(g_wr, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(err, errlen, "write: %s", n < 0 ? strerror(errno) : "wrote 0");
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_all(void *buf, size_t len, char *err, size_t errlen) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(g_rd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(err, errlen, "read: %s",
               n < 0 ? strerror(errno) : "end of file (peer gone)");
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static long pipe_capacity(int fd) { return (long)fcntl(fd, F_GETPIPE_SZ); }

static void kill_child(void) {
  if (g_child > 0) {
    kill(g_child, SIGKILL);
    waitpid(g_child, NULL, 0);
    g_child = -1;
  }
}

/* fds[0..1]: timer reads fds[0], writes fds[1]; echo reads fds[2], writes
 * fds[3]. Forks the echo, which closes the timer's ends (and vice versa),
 * so a process that dies is an end-of-file to the other. */
static void run_pair(const pp_transport *t, const int fds[4],
                     const size_t *sizes, int n, unsigned reps, unsigned warm,
                     double target_s) {
  char label[64];
  snprintf(label, sizeof label, "ch_%s", t->name);
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    bench_fail(label, "fork: %s", strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    close(fds[1]);
    g_rd = fds[2], g_wr = fds[3];
    _exit(pp_echo(t, pp_max_size(sizes, n)));
  }
  g_child = pid;
  if (fds[2] != fds[0])
    close(fds[2]);
  if (fds[3] != fds[1] && fds[3] != fds[2])
    close(fds[3]);
  g_rd = fds[0], g_wr = fds[1];
  pp_drive(t, sizes, n, reps, warm, target_s);
  int st = 0;
  if (waitpid(pid, &st, 0) != pid)
    bench_fail(label, "waitpid: %s", strerror(errno));
  g_child = -1;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    bench_fail(label, "echo process ended badly (wait status 0x%x)", st);
}

static void cmd_os_pipe(const size_t *sizes, int n, unsigned reps,
                        unsigned warm, double target_s) {
  static const pp_transport t = {"os_pipe", write_all, read_all, kill_child};
  int down[2], up[2]; /* timer -> echo, echo -> timer */
  if (pipe(down) != 0 || pipe(up) != 0)
    bench_fail("ch_os_pipe", "pipe: %s", strerror(errno));
  bench_info("ch_os_pipe",
             "two pipe(2)s, default capacity %ld bytes, "
             "blocking read/write loops",
             pipe_capacity(up[0]));
  int fds[4] = {up[0], down[1], down[0], up[1]};
  run_pair(&t, fds, sizes, n, reps, warm, target_s);
}

static void cmd_socketpair(const size_t *sizes, int n, unsigned reps,
                           unsigned warm, double target_s) {
  static const pp_transport t = {"socketpair", write_all, read_all, kill_child};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    bench_fail("ch_socketpair", "socketpair: %s", strerror(errno));
  int sndbuf = 0;
  socklen_t sl = sizeof sndbuf;
  getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);
  bench_info("ch_socketpair",
             "AF_UNIX SOCK_STREAM, default SO_SNDBUF %d bytes, "
             "blocking read/write loops",
             sndbuf);
  int fds[4] = {sv[0], sv[0], sv[1], sv[1]};
  run_pair(&t, fds, sizes, n, reps, warm, target_s);
}

/* Keeps the compiler from dropping or merging copies it can see through. */
static inline void clobber(void *p) {
  __asm__ volatile("" : : "r"(p) : "memory");
}

static void cmd_memcpy(size_t size, size_t count, unsigned reps,
                       unsigned warm) {
  char label[64];
  snprintf(label, sizeof label, "memcpy_%zu", size);
  unsigned char *src = malloc(size), *dst = malloc(size);
  if (src == NULL || dst == NULL)
    bench_fail(label, "out of memory (2 x %zu bytes)", size);
  for (size_t i = 0; i < size; i++) src[i] = (unsigned char)(i * 131 + 7);
  memset(dst, 0, size);
  bench_info(label,
             "size=%zu copies_per_rep=%zu one thread; bandwidth = "
             "size / time of one copy",
             size, count);
  for (unsigned r = 0; r < warm + reps; r++) {
    double t0 = bench_now();
    for (size_t i = 0; i < count; i++) {
      memcpy(dst, src, size);
      clobber(dst);
    }
    double t1 = bench_now();
    if (memcmp(dst, src, size) != 0)
      bench_fail(label, "memcpy produced a wrong copy");
    if (r >= warm)
      bench_sample(label, r - warm, (t1 - t0) / (double)count);
  }
  free(src);
  free(dst);
}

static int usage(void) {
  fprintf(stderr, "usage: parc-bench-ipc os_pipe SIZES REPS WARM TARGET_MS\n"
                  "       parc-bench-ipc socketpair SIZES REPS WARM TARGET_MS\n"
                  "       parc-bench-ipc memcpy SIZE COUNT REPS WARM\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 6)
    return usage();
  const char *cmd = argv[1];
  if (strcmp(cmd, "memcpy") == 0) {
    cmd_memcpy((size_t)bench_arg(argv[2], "SIZE", 1, 1ull << 32),
               (size_t)bench_arg(argv[3], "COUNT", 1, 1u << 30),
               (unsigned)bench_arg(argv[4], "REPS", 1, 1000),
               (unsigned)bench_arg(argv[5], "WARM", 0, 1000));
    return 0;
  }
  size_t sizes[PP_MAX_SIZES];
  int n = pp_parse_sizes(argv[2], sizes, PP_MAX_SIZES);
  unsigned reps = (unsigned)bench_arg(argv[3], "REPS", 1, 1000);
  unsigned warm = (unsigned)bench_arg(argv[4], "WARM", 0, 1000);
  double target_s = (double)bench_arg(argv[5], "TARGET_MS", 1, 60000) * 1e-3;
  signal(SIGPIPE, SIG_IGN); /* a dead echo is an EPIPE error line, not a kill */
  if (strcmp(cmd, "os_pipe") == 0)
    cmd_os_pipe(sizes, n, reps, warm, target_s);
  else if (strcmp(cmd, "socketpair") == 0)
    cmd_socketpair(sizes, n, reps, warm, target_s);
  else
    return usage();
  return 0;
}
