/* run_job.c -- one job of `parc run`, from spawn to reap.
 *
 * The job is started with posix_spawn (vfork-like: the parc process, its
 * threads and its memory are never copied) in a process group of its own,
 * with /dev/null as stdin and pipes as stdout and stderr, default signal
 * dispositions and an empty signal mask. With -u (ungroup) it gets parc's
 * own stdout and stderr instead. With --pipe its stdin is a pipe that this
 * lane feeds the job's chunk through, non-blocking from the same poll loop:
 * a job that does not read its stdin cannot hold the lane up (the pipe is
 * closed once the job's leader exits), a job that closes it early just
 * gets less (EPIPE; SIGPIPE is ignored in parc), and nothing is left on
 * disk whatever happens to parc.
 *
 * Then one poll loop watches everything that can happen: output on either
 * pipe, room in the stdin pipe, the job's exit (a pidfd), the job's
 * timeout, a stop request (the interrupt, --halt now), a stop of this job
 * alone (--memfree) and a kill request (a second interrupt). Stopping
 * is TERM to the whole process group, a grace period, then KILL. Once the
 * job's leader has exited, what is left in the pipes is read without
 * waiting: a background grandchild that keeps a pipe open cannot hold the
 * job up. A job that was signalled has its group killed before its leader
 * is reaped: the unreaped leader keeps the group's id from being reused.
 *
 * With --memory the program spawned is parc itself, as a shim that applies
 * the attempt's limit and execs the job (run_memory.c), which then runs as
 * it would have; whether it ran out of its limit is judged once it is
 * reaped.
 *
 * Every job inherits the run's lock (run_job_inherit: descriptors that are
 * close-on-exec in parc, so that no other program parc may start gets
 * them), so that a job left running by a killed parc keeps the lock held;
 * with close_fds (mpirun) it gets none.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_memory.h"
#include "run_state.h"

#define READ_CHUNK 65536
#define MAX_INHERIT 2

/* Set once before the first job, then only read (by the lanes). */
static int inherit_fd[MAX_INHERIT];
static size_t n_inherit;

void run_job_inherit(const int *fds, size_t n) {
  n_inherit = 0;
  for (size_t i = 0; i < n && n_inherit < MAX_INHERIT; i++)
    if (fds[i] > 2)
      inherit_fd[n_inherit++] = fds[i];
}

int run_job_chunk_fd(void) {
  for (int fd = 3;; fd++) {
    size_t i = 0;
    while (i < n_inherit && inherit_fd[i] != fd) i++;
    if (i == n_inherit)
      return fd;
  }
}

double run_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct job_io {
  const run_exec *x;
  run_result *r;
  int fd[2];        /* read ends of stdout, stderr; -1 once at EOF */
  int in_fd;        /* --pipe: write end of the job's stdin; -1: done */
  size_t in_off;    /* bytes of x->in_data written so far */
  run_buf partial;  /* watch_fn: the stdout line begun, not yet ended */
  run_mem_job *mem; /* --memory: this attempt's limit, or NULL */
} job_io;

/* Hands each whole line in the n new bytes of stdout at p to watch_fn,
 * keeping a line begun for the next call (the output itself is kept as
 * it is: this only looks). A line longer than a chunk is looked at whole;
 * out of memory, it is skipped. */
static void watch_lines(job_io *io, const char *p, size_t n) {
  const run_exec *x = io->x;
  for (const char *end = p + n, *nl; p < end; p = nl + 1) {
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) {
      run_buf_add(&io->partial, p, (size_t)(end - p));
      return;
    }
    if (io->partial.len == 0) {
      x->watch_fn(x->watch_arg, 1, p, (size_t)(nl - p));
    } else if (run_buf_add(&io->partial, p, (size_t)(nl - p)) == 0) {
      x->watch_fn(x->watch_arg, 1, io->partial.data, io->partial.len);
    }
    io->partial.len = 0;
  }
}

/* Passes the whole lines at the start of b to the line callback. */
static void emit_lines(job_io *io, int which, run_buf *b, int flush) {
  size_t start = 0;
  for (size_t i = 0; i < b->len; i++)
    if (b->data[i] == '\n') {
      io->x->line_fn(io->x->line_arg, which + 1, b->data + start,
                     i + 1 - start);
      start = i + 1;
    }
  if (flush && start < b->len) {
    io->x->line_fn(io->x->line_arg, which + 1, b->data + start, b->len - start);
    start = b->len;
  }
  if (start == 0)
    return;
  memmove(b->data, b->data + start, b->len - start);
  b->len -= start;
}

/* Reads what pipe `which` has now. Returns 0 while it may have more. */
static int drain(job_io *io, int which) {
  char chunk[READ_CHUNK];
  run_buf *b = which == 0 ? &io->r->out : &io->r->err;
  for (;;) {
    ssize_t n = read(io->fd[which], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return 0;
    if (n <= 0) { /* EOF or a broken pipe: nothing more will come */
      close(io->fd[which]);
      io->fd[which] = -1;
      if (io->x->line_fn)
        emit_lines(io, which, b, 1);
      return -1;
    }
    if (which == 0)
      io->r->received += (size_t)n;
    if (which == 0 && io->x->watch_fn)
      watch_lines(io, chunk, (size_t)n);
    if (which == 1 && io->mem)
      run_memory_stderr(io->mem, chunk, (size_t)n);
    if (run_buf_add(b, chunk, (size_t)n) != 0)
      continue; /* drop on ENOMEM */
    if (io->x->line_fn)
      emit_lines(io, which, b, 0);
  }
}

/* --pipe: writes what the stdin pipe takes now; closes it when all is
 * written or the job will take no more (EPIPE: it closed its stdin). */
static void feed(job_io *io) {
  const run_exec *x = io->x;
  while (io->in_fd >= 0 && io->in_off < x->in_len) {
    ssize_t n = write(io->in_fd, x->in_data + io->in_off,
                      x->in_len - io->in_off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0)
      break;
    io->in_off += (size_t)n;
  }
  if (io->in_fd >= 0)
    close(io->in_fd);
  io->in_fd = -1;
}

static void not_started(job_io *io, int err) {
  run_buf_str(&io->r->err, "parc run: cannot run '");
  run_buf_str(&io->r->err, io->x->argv[0]);
  run_buf_str(&io->r->err, "': ");
  run_buf_str(&io->r->err, strerror(err));
  run_buf_str(&io->r->err, "\n");
  io->r->exit_code = 127;
}

/* The job closes every descriptor from `from` on, when asked (glibc 2.34
 * and later; elsewhere the job keeps what is not close-on-exec). */
static int close_from(posix_spawn_file_actions_t *fa, int asked, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  return asked ? posix_spawn_file_actions_addclosefrom_np(fa, from) : 0;
#else
  (void)fa, (void)asked, (void)from;
  return 0;
#endif
}

/* The job gets the descriptors of run_job_inherit: a dup2 onto itself
 * clears close-on-exec in the child only (POSIX 2024; glibc 2.29, musl). */
static int keep_inherited(posix_spawn_file_actions_t *fa, int close_fds) {
  int rc = 0;
  for (size_t i = 0; i < n_inherit && !close_fds && rc == 0; i++)
    rc = posix_spawn_file_actions_adddup2(fa, inherit_fd[i], inherit_fd[i]);
  return rc;
}

/* The job's stdin (in_r: the read end of its --pipe pipe, or -1 for
 * /dev/null; with --cat or --fifo in_r goes to chunk_fd instead, after
 * the three), stdout and stderr (-1: parc's own, with -u). */
static int std_fds(posix_spawn_file_actions_t *fa, int in_r, int out_w,
                   int err_w, int chunk_fd) {
  int rc = in_r >= 0 && !chunk_fd
               ? posix_spawn_file_actions_adddup2(fa, in_r, 0)
               : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY,
                                                  0);
  if (rc == 0 && out_w >= 0)
    rc = posix_spawn_file_actions_adddup2(fa, out_w, 1);
  if (rc == 0 && err_w >= 0)
    rc = posix_spawn_file_actions_adddup2(fa, err_w, 2);
  if (rc == 0 && in_r >= 0 && chunk_fd)
    rc = posix_spawn_file_actions_adddup2(fa, in_r, chunk_fd);
  return rc;
}

/* argv: the job's, or the --memory shim's that execs it (run_memory.c) */
static int spawn(const run_exec *x, char **argv, const int std[3], pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  int sigs[] = {SIGINT, SIGTERM, SIGPIPE, SIGQUIT, SIGHUP, SIGCHLD};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(&dfl, sigs[i]);
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0)
    return rc;
  if ((rc = posix_spawnattr_init(&at)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return rc;
  }
  if (!(rc = std_fds(&fa, std[0], std[1], std[2], x->chunk_fd)) &&
      !(rc = close_from(&fa, x->close_fds,
                        x->chunk_fd ? x->chunk_fd + 1 : 3)) &&
      !(rc = keep_inherited(&fa, x->close_fds)) &&
      !(rc = x->wd ? posix_spawn_file_actions_addchdir_np(&fa, x->wd) : 0) &&
      !(rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                               POSIX_SPAWN_SETSIGMASK |
                                               POSIX_SPAWN_SETSIGDEF)) &&
      !(rc = posix_spawnattr_setpgroup(&at, 0)) &&
      !(rc = posix_spawnattr_setsigmask(&at, &none)) &&
      !(rc = posix_spawnattr_setsigdefault(&at, &dfl)))
    rc = argv == x->argv
             ? posix_spawnp(pid, argv[0], &fa, &at, argv, x->envp)
             : posix_spawn(pid, "/proc/self/exe", &fa, &at, argv, x->envp);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

/* What the poll loop knows about the job. */
typedef struct job_watch {
  pid_t pid;
  int pidfd;          /* -1: no pidfd (old kernel): poll with a short tick */
  int termed, killed; /* sent TERM / KILL */
  double timeout_at, kill_at;
} job_watch;

static void send_term(job_watch *w, double grace) {
  if (w->termed)
    return;
  killpg(w->pid, SIGTERM);
  w->termed = 1;
  w->kill_at = mono_now() + grace;
}

static void send_kill(job_watch *w) {
  if (w->killed)
    return;
  killpg(w->pid, SIGKILL);
  w->killed = w->termed = 1;
}

static int poll_timeout_ms(const job_watch *w) {
  double next = -1, now = mono_now();
  if (!w->termed && w->timeout_at > 0)
    next = w->timeout_at;
  if (w->termed && !w->killed)
    next = w->kill_at;
  int ms = next < 0 ? -1 : next <= now ? 0 : (int)((next - now) * 1e3) + 1;
  if (w->pidfd < 0 && (ms < 0 || ms > 20))
    ms = 20;
  return ms;
}

/* Has the leader exited? (Not reaped yet either way.) */
static int leader_exited(const job_watch *w, short pidfd_revents) {
  if (w->pidfd >= 0)
    return pidfd_revents != 0;
  siginfo_t si = {0};
  return waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         si.si_pid == w->pid;
}

/* Runs the loop until the leader has exited; reaps it, returns its status. */
static int watch(job_io *io, job_watch *w) {
  const run_exec *x = io->x;
  /* 0..2 are never a job stop eventfd (a run_exec that leaves the field
   * 0 means none) */
  int job_stop = x->job_stop_fd > 2 ? x->job_stop_fd : -1;
  for (;;) {
    struct pollfd p[7];
    int n = 0, ipipe[2] = {-1, -1}, ipid = -1, istop = -1, ikill = -1;
    int iin = -1, ijob = -1;
    for (int i = 0; i < 2; i++)
      if (io->fd[i] >= 0)
        ipipe[i] = n, p[n++] = (struct pollfd){io->fd[i], POLLIN, 0};
    if (io->in_fd >= 0)
      iin = n, p[n++] = (struct pollfd){io->in_fd, POLLOUT, 0};
    if (w->pidfd >= 0)
      ipid = n, p[n++] = (struct pollfd){w->pidfd, POLLIN, 0};
    if (!w->termed)
      istop = n, p[n++] = (struct pollfd){x->sig->stop_fd, POLLIN, 0};
    if (!w->termed && job_stop >= 0)
      ijob = n, p[n++] = (struct pollfd){job_stop, POLLIN, 0};
    if (!w->killed)
      ikill = n, p[n++] = (struct pollfd){x->sig->kill_fd, POLLIN, 0};
    if (poll(p, (nfds_t)n, poll_timeout_ms(w)) < 0) /* EINTR */
      for (int i = 0; i < n; i++) p[i].revents = 0;
    for (int i = 0; i < 2; i++)
      if (ipipe[i] >= 0 && p[ipipe[i]].revents)
        drain(io, i);
    if (iin >= 0 && p[iin].revents)
      feed(io);
    if (istop >= 0 && p[istop].revents) {
      io->r->stopped = 1;
      send_term(w, x->grace);
    }
    if (ijob >= 0 && p[ijob].revents) { /* --memfree, --halving: run.c says */
      io->r->stopped_alone = 1;
      send_term(w, x->grace);
    }
    if (ikill >= 0 && p[ikill].revents) {
      io->r->stopped = 1;
      send_kill(w);
    }
    double now = mono_now();
    if (!w->termed && w->timeout_at > 0 && now >= w->timeout_at) {
      io->r->timed_out = 1;
      send_term(w, x->grace);
    }
    if (w->termed && !w->killed && now >= w->kill_at)
      send_kill(w);
    if (leader_exited(w, ipid >= 0 ? p[ipid].revents : 0)) {
      int status = 0;
      if (io->in_fd >= 0)
        close(io->in_fd); /* what it did not read */
      io->in_fd = -1;
      if (w->termed)
        killpg(w->pid, SIGKILL); /* stragglers of the job */
      while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {
      }
      return status;
    }
  }
}

/* --cat: the chunk in a file with no name (a memfd, read from its start),
 * so that nothing is left on disk whatever becomes of parc. The fd, or -1
 * with errno. */
static int chunk_file(const run_exec *x) {
  int fd = memfd_create("parc-chunk", MFD_CLOEXEC);
  for (size_t off = 0; fd >= 0 && off < x->in_len;) {
    ssize_t n = write(fd, x->in_data + off, x->in_len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      errno = e;
      return -1;
    }
    off += (size_t)n;
  }
  if (fd >= 0 && lseek(fd, 0, SEEK_SET) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* The pipes of a job: std[0] the read end of its stdin (--pipe), std[1]
 * and std[2] the write ends of its stdout and stderr; -1 where it has
 * none (/dev/null; parc's own with -u). The ends parc keeps go into io.
 * 0, or an errno. */
static int open_pipes(job_io *io, int std[3]) {
  const run_exec *x = io->x;
  int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  int want[3] = {x->in_data && !x->chunk_cat, !x->ungroup, !x->ungroup};
  if (x->in_data && x->chunk_cat && (p[0][0] = chunk_file(x)) < 0)
    return errno;
  for (int i = 0; i < 3; i++)
    if (want[i] && pipe2(p[i], O_CLOEXEC) != 0) {
      int e = errno;
      for (int k = 0; k < i; k++) /* --cat's memfd too: p[0][0] */
        close(p[k][0]), close(p[k][1]);
      return e;
    }
  std[0] = p[0][0];
  io->in_fd = p[0][1];
  for (int i = 0; i < 2; i++) {
    std[i + 1] = p[i + 1][1];
    io->fd[i] = p[i + 1][0];
  }
  if (io->in_fd >= 0) /* written from the poll loop */
    fcntl(io->in_fd, F_SETFL, fcntl(io->in_fd, F_GETFL) | O_NONBLOCK);
  for (int i = 0; i < 2; i++)
    if (io->fd[i] >= 0)
      fcntl(io->fd[i], F_SETFL, fcntl(io->fd[i], F_GETFL) | O_NONBLOCK);
  return 0;
}

void run_job_exec(const run_exec *x, run_result *r) {
  job_io io = {x, r, {-1, -1}, -1, 0, {0}, NULL};
  int std[3] = {-1, -1, -1};
  double t0 = mono_now();
  r->start = run_wall_now();
  r->exit_code = r->signal = r->stopped_alone = 0;
  r->received = 0;
  r->sent = x->in_data ? x->in_len : 0; /* GNU's Send: the chunk's size */
  r->oom = 0;
  r->mem_limit = x->mem_limit;
  run_mem_job mem;
  char **argv = x->argv;
  if (x->mem_limit) { /* the shim applies the limit, then execs the job */
    char why[PATH_MAX + 128];
    if (run_memory_start(&mem, x->argv, x->mem_limit, why, sizeof why)) {
      run_buf_str(&r->err, why);
      r->exit_code = 127;
      r->runtime = mono_now() - t0;
      return;
    }
    io.mem = &mem;
    argv = mem.argv;
  }
  int rc = open_pipes(&io, std);
  if (rc != 0) {
    not_started(&io, rc);
    if (io.mem)
      run_memory_end(io.mem, r);
    r->runtime = mono_now() - t0;
    return;
  }
  pid_t pid;
  rc = spawn(x, argv, std, &pid);
  for (int i = 0; i < 3; i++)
    if (std[i] >= 0)
      close(std[i]);
  if (rc != 0) {
    not_started(&io, rc);
  } else {
    job_watch w = {pid, (int)syscall(SYS_pidfd_open, pid, 0), 0,
                   0,   x->timeout > 0 ? t0 + x->timeout : 0, 0};
    feed(&io); /* what fits now; the rest as the job reads */
    int status = watch(&io, &w);
    if (w.pidfd >= 0)
      close(w.pidfd);
    for (int i = 0; i < 2; i++)
      if (io.fd[i] >= 0)
        drain(&io, i);
    if (WIFSIGNALED(status)) {
      r->exit_code = -1;
      r->signal = WTERMSIG(status);
    } else {
      r->exit_code = WEXITSTATUS(status);
    }
  }
  if (io.in_fd >= 0)
    close(io.in_fd);
  for (int i = 0; i < 2; i++)
    if (io.fd[i] >= 0) {
      if (x->line_fn)
        emit_lines(&io, i, i ? &r->err : &r->out, 1);
      close(io.fd[i]);
    }
  if (x->watch_fn && io.partial.len > 0) /* a last line without \n */
    x->watch_fn(x->watch_arg, 1, io.partial.data, io.partial.len);
  run_buf_free(&io.partial);
  if (io.mem)
    r->oom = run_memory_end(io.mem, r);
  r->runtime = mono_now() - t0;
}
