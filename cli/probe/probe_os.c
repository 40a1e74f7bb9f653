/* probe_os.c -- the rows of `parc probe` that go through the kernel or use
 * a second core: thread create+join, fork+wait, posix_spawn+wait, context
 * switch, cache-line round trip, loopback TCP round trip.
 *
 * Every child process and thread a row starts is ended and reaped before
 * the row returns, on error paths too; a child that loses its parent (parc
 * killed by a signal) sees end-of-file on its pipe and exits.
 *
 * Spinning is bounded: the two threads of the cache-line row give up after
 * SPIN_LIMIT_NS without an answer (the other was not scheduled), and the
 * row is then marked failed rather than hanging.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

extern char **environ;

#define SPIN_LIMIT_NS 2e9

static int reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

/* ------------------------------------------------ thread, fork, spawn */

static void *nothing(void *arg) { return arg; }

static double thread_batch(void *ctx, uint64_t n) {
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    pthread_t th;
    int e = pthread_create(&th, NULL, nothing, NULL);
    if (e != 0)
      return -e;
    pthread_join(th, NULL);
  }
  return probe_now_ns() - t0;
}

static double fork_batch(void *ctx, uint64_t n) {
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0)
      return -errno;
    if (p == 0)
      _exit(0);
    if (reap(p) != 0)
      return -errno;
  }
  return probe_now_ns() - t0;
}

static double spawn_batch(void *ctx, uint64_t n) {
  char *const argv[] = {(char *)ctx, NULL};
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    pid_t p;
    int e = posix_spawn(&p, argv[0], NULL, NULL, argv, environ);
    if (e != 0)
      return -e;
    if (reap(p) != 0)
      return -errno;
  }
  return probe_now_ns() - t0;
}

/* This process's resident memory, for the fork row's note. */
static void note_rss(probe_row *row) {
  FILE *f = fopen("/proc/self/statm", "re");
  unsigned long size, rss;
  if (f == NULL)
    return;
  if (fscanf(f, "%lu %lu", &size, &rss) == 2) {
    char b[32];
    probe_fmt_bytes(b, sizeof b,
                    (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE));
    probe_note(row, "child _exit(0)s at once; parent resident %s", b);
  }
  fclose(f);
}

/* ------------------------------------------------ context switch */

typedef struct ctxsw {
  int to[2], from[2];
  pid_t child;
} ctxsw;

/* Each round trip is two switches (to the child, back to the parent),
 * each with one pipe write and one read around it. */
static double ctxsw_batch(void *ctx, uint64_t n) {
  ctxsw *c = ctx;
  char b = 'x';
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    ssize_t k = write(c->to[1], &b, 1);
    if (k == 1)
      k = read(c->from[0], &b, 1);
    if (k != 1)
      return k < 0 ? -errno : -EPIPE; /* 0: the child is gone */
  }
  return (probe_now_ns() - t0) / 2;
}

static void ctxsw_echo(ctxsw *c) {
  char b;
  close(c->to[1]);
  close(c->from[0]);
  while (read(c->to[0], &b, 1) == 1)
    if (write(c->from[1], &b, 1) != 1)
      break;
  _exit(0);
}

static void ctxsw_row(probe_row *row, const probe_topo *topo,
                      const probe_plan *plan) {
  ctxsw c = {{-1, -1}, {-1, -1}, -1};
  if (pipe2(c.to, O_CLOEXEC) != 0 || pipe2(c.from, O_CLOEXEC) != 0) {
    probe_fail(row, "pipe", errno);
  } else if (probe_pin(topo, topo->pu) != 0) {
    probe_fail(row, "pinning to one PU", errno);
  } else if ((c.child = fork()) < 0) {
    probe_fail(row, "fork", errno);
  } else if (c.child == 0) {
    ctxsw_echo(&c);
  } else {
    close(c.to[0]);
    close(c.from[1]);
    c.to[0] = c.from[1] = -1;
    probe_note(row,
               "2 processes on PU %d, 1-byte pipe ping-pong, round "
               "trip / 2; published: seed 002's 3,000-30,000 ns",
               topo->pu);
    probe_measure(row, plan, ctxsw_batch, &c);
  }
  for (int i = 0; i < 2; i++) {
    if (c.to[i] >= 0)
      close(c.to[i]);
    if (c.from[i] >= 0)
      close(c.from[i]);
  }
  if (c.child > 0)
    reap(c.child);
  probe_pin(topo, -1);
}

/* ------------------------------------------------ cache-line round trip */

typedef struct pingpong {
  _Alignas(64) _Atomic uint64_t line; /* odd: from the timer, even: reply */
  _Alignas(64) _Atomic int stop;
  uint64_t seq;
  const probe_topo *topo;
  int peer_pu, peer_failed;
} pingpong;

static void *pong(void *arg) {
  pingpong *p = arg;
  probe_pin(p->topo, p->peer_pu);
  for (;;) {
    double since = 0;
    unsigned spins = 0;
    uint64_t v;
    while (((v = atomic_load_explicit(&p->line, memory_order_acquire)) & 1) ==
           0) {
      if (atomic_load_explicit(&p->stop, memory_order_relaxed))
        return NULL;
      if (++spins % 4096 == 0) {
        double t = probe_now_ns();
        if (since == 0)
          since = t;
        else if (t - since > SPIN_LIMIT_NS)
          return p->peer_failed = 1, NULL;
      }
    }
    atomic_store_explicit(&p->line, v + 1, memory_order_release);
  }
}

static double ping_batch(void *ctx, uint64_t n) {
  pingpong *p = ctx;
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    uint64_t want = (p->seq += 2); /* even: the reply to want-1 */
    atomic_store_explicit(&p->line, want - 1, memory_order_release);
    unsigned spins = 0;
    double since = 0;
    while (atomic_load_explicit(&p->line, memory_order_acquire) != want)
      if (++spins % 4096 == 0) {
        double t = probe_now_ns();
        if (since == 0)
          since = t;
        else if (t - since > SPIN_LIMIT_NS)
          return -ETIMEDOUT;
      }
  }
  return probe_now_ns() - t0;
}

static void cacheline_row(probe_row *row, const probe_topo *topo,
                          const probe_plan *plan) {
  int a, b;
  const char *why;
  if (probe_pick_two_cores(topo, &a, &b, &why) != 0)
    return probe_skip(row, "%s", why);
  static pingpong p; /* aligned members: not on the stack */
  memset(&p, 0, sizeof p);
  p.topo = topo;
  p.peer_pu = b;
  if (probe_pin(topo, a) != 0)
    return probe_fail(row, "pinning", errno);
  pthread_t th;
  int e = pthread_create(&th, NULL, pong, &p);
  if (e != 0) {
    probe_pin(topo, -1);
    return probe_fail(row, "pthread_create", e);
  }
  probe_note(row,
             "PU %d <-> PU %d (different cores, sharing %s), one 64 B "
             "line, spinning",
             a, b, probe_shared_level(topo, a, b));
  probe_measure(row, plan, ping_batch, &p);
  atomic_store_explicit(&p.stop, 1, memory_order_relaxed);
  pthread_join(th, NULL);
  if (p.peer_failed && !row->failed)
    probe_fail(row, "the other thread was not scheduled", ETIMEDOUT);
  probe_pin(topo, -1);
}

/* ------------------------------------------------ loopback TCP */

typedef struct tcp_ctx {
  int listener, client;
} tcp_ctx;

static void *tcp_echo(void *arg) {
  tcp_ctx *t = arg;
  int s = accept4(t->listener, NULL, NULL, SOCK_CLOEXEC);
  if (s < 0)
    return NULL;
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char b;
  while (recv(s, &b, 1, 0) == 1)
    if (send(s, &b, 1, MSG_NOSIGNAL) != 1)
      break;
  close(s);
  return NULL;
}

static double tcp_batch(void *ctx, uint64_t n) {
  tcp_ctx *t = ctx;
  char b = 'x';
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    ssize_t k = send(t->client, &b, 1, MSG_NOSIGNAL);
    if (k == 1)
      k = recv(t->client, &b, 1, 0);
    if (k != 1)
      return k < 0 ? -errno : -ECONNRESET; /* 0: echo is gone */
  }
  return probe_now_ns() - t0;
}

static int tcp_listen(tcp_ctx *t, struct sockaddr_in *addr) {
  socklen_t len = sizeof *addr;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  t->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->listener < 0)
    return -1;
  if (bind(t->listener, (struct sockaddr *)addr, sizeof *addr) != 0 ||
      listen(t->listener, 1) != 0 ||
      getsockname(t->listener, (struct sockaddr *)addr, &len) != 0)
    return -1;
  return 0;
}

static void tcp_row(probe_row *row, const probe_plan *plan) {
  tcp_ctx t = {-1, -1};
  struct sockaddr_in addr;
  pthread_t th;
  int e, one = 1;
  if (tcp_listen(&t, &addr) != 0) {
    probe_fail(row, "listening on 127.0.0.1", errno);
    if (t.listener >= 0)
      close(t.listener);
    return;
  }
  if ((e = pthread_create(&th, NULL, tcp_echo, &t)) != 0) {
    close(t.listener);
    return probe_fail(row, "pthread_create", e);
  }
  t.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t.client < 0 ||
      connect(t.client, (struct sockaddr *)&addr, sizeof addr) != 0) {
    probe_fail(row, "connecting to 127.0.0.1", errno);
  } else {
    setsockopt(t.client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    probe_note(row, "127.0.0.1, 1 byte each way, TCP_NODELAY, echo thread; "
                    "published: round trip within one datacenter");
    probe_measure(row, plan, tcp_batch, &t);
  }
  if (t.client >= 0)
    close(t.client);               /* the echo thread sees EOF */
  shutdown(t.listener, SHUT_RDWR); /* or wakes from accept */
  pthread_join(th, NULL);
  close(t.listener);
}

/* ------------------------------------------------ the rows */

void probe_os_rows(probe_row *rows, const probe_topo *topo,
                   const probe_plan *plan) {
  probe_note(&rows[ROW_THREAD], "pthread_create + pthread_join, empty thread");
  probe_measure(&rows[ROW_THREAD], plan, thread_batch, NULL);

  note_rss(&rows[ROW_FORK]);
  probe_measure(&rows[ROW_FORK], plan, fork_batch, NULL);

  const char *prog = access("/bin/true", X_OK) == 0 ? "/bin/true"
                                                    : "/usr/bin/true";
  probe_note(&rows[ROW_SPAWN], "%s (exec, dynamic loading, exit)", prog);
  probe_measure(&rows[ROW_SPAWN], plan, spawn_batch, (void *)prog);

  ctxsw_row(&rows[ROW_CTXSW], topo, plan);
  cacheline_row(&rows[ROW_CACHELINE], topo, plan);
  tcp_row(&rows[ROW_TCP], plan);
}
