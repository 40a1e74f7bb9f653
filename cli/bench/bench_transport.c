/* bench_transport.c -- latency and bandwidth by message size of
 * parc_queue, parc_pipe, an OS pipe, a Unix socket and MPI.
 *
 * One ping-pong for all of them, and the same one the comparisons in
 * bench/ use: bench/pingpong.h (read its top comment for the protocol and
 * the checks). Two processes; the timer sends s bytes, the echo sends them
 * back; one repetition is `iters` round trips back to back, `iters`
 * calibrated so that it lasts about cfg.target_s, divided by iters. Only
 * the timer reads the clock. One-way time = round trip / 2.
 *
 * Each measurement runs in a timer process forked from parc (which forks the
 * echo) and reports as bench/'s programs do, one line a fact on a pipe:
 * `sample ch_NAME_SIZE REP SECONDS`, `info ...`, `error LABEL TEXT`. MPI
 * is the same program built with mpicc (bench/peer_mpi.c, installed as
 * parc-mpi-pingpong, only where CMake found MPI) under mpirun -np 2. So a
 * transport that fails or hangs costs its own rows, never the run.
 *
 * parc's channels and the OS's run one timer process per size, on a
 * channel made for that size (a ring sized for the largest message would
 * make every message walk through all of it: the figures would depend on
 * the other sizes). MPI runs once over all sizes. Either way the timed
 * pass is preceded by an untimed pass at the (first) size: connection
 * set-up, first page faults, MPI's lazy initialisation; its lines are
 * replaced by the timed pass's.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pingpong.h"
#include "bench.h"
#include "common/cli.h"
#include "parc.h"

#define MPI_HELPER "parc-mpi-pingpong"
#define CALL_TIMEOUT 30.0 /* seconds: no round trip comes near it */
#define MAX_SAMPLES 1024

/* ------------------------------------------------------------ the timer
 * process: one transport's two ends, in the timer and in the echo. */

static parc_queue *g_q[2];  /* [0] timer -> echo, [1] echo -> timer */
static parc_pipe *g_end[2]; /* [0] the timer's end, [1] the echo's */
static int g_fd[4] = {-1, -1, -1, -1}; /* pipes: up[0..1], down[0..1] */
static int g_rd = -1, g_wr = -1;       /* this process's stream ends */
static int g_side;                     /* 0 in the timer, 1 in the echo */
static pid_t g_echo = -1;

static int call_failed(int rc, const char *call, char *err, size_t cap) {
  snprintf(err, cap, "%s returned %s (%s)", call, parc_err_name(rc),
           cli_strerror(rc));
  return -1;
}

static int check_len(size_t got, size_t want, char *err, size_t cap) {
  if (got == want)
    return 0;
  snprintf(err, cap, "received %zu bytes, expected %zu", got, want);
  return -1;
}

static int queue_send(const void *buf, size_t len, char *err, size_t cap) {
  int rc = parc_queue_put(g_q[g_side], buf, len, CALL_TIMEOUT);
  return rc == 0 ? 0 : call_failed(rc, "parc_queue_put", err, cap);
}

static int queue_recv(void *buf, size_t len, char *err, size_t cap) {
  size_t got = 0;
  int rc = parc_queue_get(g_q[1 - g_side], buf, len, &got, CALL_TIMEOUT);
  return rc != 0 ? call_failed(rc, "parc_queue_get", err, cap)
                 : check_len(got, len, err, cap);
}

static int pipe_send(const void *buf, size_t len, char *err, size_t cap) {
  int rc = parc_pipe_send(g_end[g_side], buf, len, CALL_TIMEOUT);
  return rc == 0 ? 0 : call_failed(rc, "parc_pipe_send", err, cap);
}

static int pipe_recv(void *buf, size_t len, char *err, size_t cap) {
  size_t got = 0;
  int rc = parc_pipe_recv(g_end[g_side], buf, len, &got, CALL_TIMEOUT);
  return rc != 0 ? call_failed(rc, "parc_pipe_recv", err, cap)
                 : check_len(got, len, err, cap);
}

/* Streams have no message boundaries: loop over short reads and writes. */
static int write_all(const void *buf, size_t len, char *err, size_t cap) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(g_wr, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(err, cap, "write: %s", n < 0 ? strerror(errno) : "wrote 0");
      return -1;
    }
    p += n, len -= (size_t)n;
  }
  return 0;
}

static int read_all(void *buf, size_t len, char *err, size_t cap) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(g_rd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(err, cap, "read: %s", n < 0 ? strerror(errno) : "end of file");
      return -1;
    }
    p += n, len -= (size_t)n;
  }
  return 0;
}

static void kill_echo(void) {
  if (g_echo > 0) {
    kill(g_echo, SIGKILL);
    waitpid(g_echo, NULL, 0);
    g_echo = -1;
  }
}

/* Creates the channel for messages up to max bytes: 0 or -1 (err). */
static int setup_queue(size_t max, char *err, size_t cap) {
  for (int i = 0; i < 2; i++) { /* room for one message each way */
    int rc = parc_queue_create(&g_q[i], max + 8, max, PARC_SHARED);
    if (rc != 0)
      return call_failed(rc, "parc_queue_create", err, cap);
  }
  return 0;
}

static int setup_pipe(size_t max, char *err, size_t cap) {
  int rc = parc_pipe_create(&g_end[0], &g_end[1], max, PARC_SHARED);
  return rc == 0 ? 0 : call_failed(rc, "parc_pipe_create", err, cap);
}

static int setup_os_pipe(size_t max, char *err, size_t cap) {
  if (pipe(g_fd) == 0 && pipe(g_fd + 2) == 0)
    return 0;
  snprintf(err, cap, "pipe: %s", strerror(errno));
  return -1;
}

static int setup_socket(size_t max, char *err, size_t cap) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, g_fd) == 0)
    return 0;
  snprintf(err, cap, "socketpair: %s", strerror(errno));
  return -1;
}

/* After the fork: this process takes its end (side 0 timer, 1 echo). */
static int take_pipe_end(int side, char *err, size_t cap) {
  int rc = parc_pipe_bind(g_end[side]);
  return rc == 0 ? 0 : call_failed(rc, "parc_pipe_bind", err, cap);
}

static int take_os_pipe_end(int side, char *err, size_t cap) {
  /* up: echo -> timer (g_fd[0] read, [1] write); down: timer -> echo */
  g_rd = side ? g_fd[2] : g_fd[0];
  g_wr = side ? g_fd[1] : g_fd[3];
  close(side ? g_fd[0] : g_fd[2]);
  close(side ? g_fd[3] : g_fd[1]);
  return 0;
}

static int take_socket_end(int side, char *err, size_t cap) {
  g_rd = g_wr = g_fd[side];
  close(g_fd[1 - side]);
  return 0;
}

static int take_nothing(int side, char *err, size_t cap) { return 0; }

typedef struct transport {
  const char *how;
  int (*setup)(size_t max, char *err, size_t cap);
  int (*take_end)(int side, char *err, size_t cap);
  pp_transport pp;
} transport;

static const transport TRANSPORTS[BENCH_NTRANSPORTS - 1] = {
    {"two PARC_SHARED parc_queues, one each way, room for one message",
     setup_queue,
     take_nothing,
     {"parc_queue", queue_send, queue_recv, kill_echo}},
    {"one PARC_SHARED parc_pipe, both ways",
     setup_pipe,
     take_pipe_end,
     {"parc_pipe", pipe_send, pipe_recv, kill_echo}},
    {"two pipe(2)s, one each way, blocking read/write loops",
     setup_os_pipe,
     take_os_pipe_end,
     {"os_pipe", write_all, read_all, kill_echo}},
    {"one AF_UNIX SOCK_STREAM socketpair(2), blocking read/write loops",
     setup_socket,
     take_socket_end,
     {"unix_socket", write_all, read_all, kill_echo}},
};

/* Pins the calling process to one CPU (cpu < 0: leaves it be). */
static void pin_to(int cpu, const char *label) {
  if (cpu < 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    bench_fail(label, "sched_setaffinity(CPU %d): %s", cpu, strerror(errno));
}

/* The timer process: channel, echo, the ping-pong, the echo's end. Its
 * stdout is the pipe to parc; any failure is an `error` line and exit 1. */
static int timer_main(const transport *t, const char *sizes_arg,
                      const bench_run *r) {
  const bench_cfg *c = &r->cfg;
  char label[64], err[256] = "";
  snprintf(label, sizeof label, "ch_%s", t->pp.name);
  size_t sizes[PP_MAX_SIZES];
  int n = pp_parse_sizes(sizes_arg, sizes, PP_MAX_SIZES);
  size_t max = pp_max_size(sizes, n);
  if (t->setup(max, err, sizeof err) != 0)
    bench_fail(label, "%s", err);
  pin_to(r->pinned ? r->cpu[0] : -1, label);
  fflush(stdout);
  g_echo = fork();
  if (g_echo < 0)
    bench_fail(label, "fork: %s", strerror(errno));
  if (g_echo == 0) {
    g_side = 1;
    pin_to(r->pinned ? r->cpu[1] : -1, label);
    if (t->take_end(1, err, sizeof err) != 0)
      bench_fail(label, "echo: %s", err);
    _exit(pp_echo(&t->pp, max));
  }
  g_side = 0;
  if (t->take_end(0, err, sizeof err) != 0) {
    kill_echo();
    bench_fail(label, "%s", err);
  }
  pp_drive(&t->pp, sizes, n, c->reps, c->warm, c->target_s);
  int st = 0;
  if (waitpid(g_echo, &st, 0) != g_echo || !WIFEXITED(st) ||
      WEXITSTATUS(st) != 0)
    bench_fail(label, "the echo process ended badly (wait status 0x%x)", st);
  return 0;
}

/* ------------------------------------------------------------ parc's side:
 * read a timer's lines into a series. */

typedef struct reader {
  bench_series *ser;
  char prefix[48]; /* "ch_NAME_" */
  size_t cur_size; /* the size of the samples in cur */
  double cur[MAX_SAMPLES];
  unsigned ncur;
  char errtail[300]; /* the end of what the timer wrote on stderr */
} reader;

static bench_point *point_of(bench_series *s, size_t size) {
  for (size_t i = 0; i < s->n; i++)
    if (s->pt[i].size == size)
      return &s->pt[i];
  return NULL;
}

/* "ch_NAME_SIZE" -> SIZE, or 0 when the label is not of this transport. */
static size_t label_size(const reader *rd, const char *label) {
  size_t lp = strlen(rd->prefix);
  if (strncmp(label, rd->prefix, lp) != 0)
    return 0;
  char *end;
  unsigned long long v = strtoull(label + lp, &end, 10);
  return *end == '\0' ? (size_t)v : 0;
}

static void on_line(reader *rd, char *line) {
  char kind[8], label[96];
  int off = 0;
  if (sscanf(line, "%7s %95s %n", kind, label, &off) < 2)
    return;
  char *rest = line + off;
  size_t size = label_size(rd, label);
  if (strcmp(kind, "error") == 0) {
    rd->ser->status = BENCH_FAILED;
    snprintf(rd->ser->note, sizeof rd->ser->note, "%s: %s", label, rest);
  } else if (strcmp(kind, "sample") == 0 && size > 0) {
    if (size != rd->cur_size)
      rd->cur_size = size, rd->ncur = 0;
    double rtt = strtod(strchr(rest, ' ') ? strchr(rest, ' ') + 1 : rest, NULL);
    if (rd->ncur < MAX_SAMPLES)
      rd->cur[rd->ncur++] = rtt / 2;
  } else if (strcmp(kind, "info") == 0 && size > 0) {
    bench_point *p = point_of(rd->ser, size); /* this size's block is done */
    const char *it = strstr(rest, "iters_per_rep=");
    if (p != NULL && size == rd->cur_size && rd->ncur > 0) {
      bench_stat_of(rd->cur, rd->ncur, &p->t);
      p->iters = it ? (size_t)strtoull(it + 14, NULL, 10) : 0;
    }
    rd->ncur = 0;
  } else if (strcmp(kind, "info") == 0 && rd->ser->note[0] == '\0') {
    /* "2 ranks, blocking ...; Open MPI v4.1.4, package: ...": the library */
    const char *lib = strstr(rest, "; ");
    lib = lib ? lib + 2 : rest;
    snprintf(rd->ser->note, sizeof rd->ser->note, "%.*s",
             (int)strcspn(lib, ","), lib);
  }
}

/* Appends to a line buffer and hands on every whole line. */
static void on_bytes(reader *rd, char *buf, size_t *len, size_t cap,
                     ssize_t n) {
  *len += (size_t)n;
  char *p = buf, *nl;
  while ((nl = memchr(p, '\n', *len - (size_t)(p - buf))) != NULL) {
    *nl = '\0';
    on_line(rd, p);
    p = nl + 1;
  }
  *len -= (size_t)(p - buf);
  memmove(buf, p, *len);
  if (*len == cap)
    *len = 0; /* a line this long is not ours: drop it */
}

static void keep_tail(reader *rd, const char *buf, ssize_t n) {
  size_t have = strlen(rd->errtail), cap = sizeof rd->errtail - 1;
  size_t add = (size_t)n > cap ? cap : (size_t)n;
  if (have + add > cap) {
    memmove(rd->errtail, rd->errtail + (have + add - cap), cap - add);
    have = cap - add;
  }
  memcpy(rd->errtail + have, buf + (size_t)n - add, add);
  rd->errtail[have + add] = '\0';
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads the child's stdout (lines) and stderr (kept tail) to their end or
 * the deadline; 0, or -1 when the deadline came first. */
static int pump(reader *rd, int out_fd, int err_fd, double deadline) {
  char line[4096], chunk[1024];
  size_t len = 0;
  struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    double left = deadline - mono();
    if (left <= 0)
      return -1;
    int k = poll(p, 2, (int)(left * 1000) + 1);
    if (k < 0 && errno == EINTR)
      continue;
    for (int i = 0; i < 2 && k > 0; i++) {
      if (p[i].fd < 0 || p[i].revents == 0)
        continue;
      ssize_t n = i == 0 ? read(p[i].fd, line + len, sizeof line - len)
                         : read(p[i].fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        close(p[i].fd);
        p[i].fd = -1;
      } else if (i == 0) {
        on_bytes(rd, line, &len, sizeof line, n);
      } else {
        keep_tail(rd, chunk, n);
      }
    }
  }
  return 0;
}

/* The last line of the kept stderr, for a failure message. */
static const char *last_line(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
  char *nl = strrchr(s, '\n');
  return nl ? nl + 1 : s;
}

/* Waits for the child (whose process group is its pid) and judges how it
 * ended; bench_transports checks that every size was measured. */
static void finish(reader *rd, pid_t pid, int timed_out, double limit) {
  bench_series *s = rd->ser;
  int st = 0;
  if (timed_out) {
    kill(-pid, SIGTERM);
    for (int i = 0; i < 40 && waitpid(pid, &st, WNOHANG) == 0; i++)
      usleep(50000);
    kill(-pid, SIGKILL);
  }
  waitpid(pid, &st, 0);
  if (timed_out) {
    s->status = BENCH_FAILED;
    snprintf(s->note, sizeof s->note, "did not finish within %.0f s", limit);
  } else if (s->status != BENCH_FAILED &&
             !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    s->status = BENCH_FAILED;
    snprintf(s->note, sizeof s->note, "%s %d; %s",
             WIFSIGNALED(st) ? "killed by signal" : "exit status",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
             last_line(rd->errtail));
  }
}

/* Starts `child` (or, with child NULL, executes argv) in a process group
 * of its own, stdout and stderr to pipes, and reads it into s. */
static void run_timer(bench_run *r, bench_series *s, const transport *t,
                      const char *sizes_arg, char *const *argv, double limit) {
  static reader rd; /* 8 KiB of samples: not on the stack */
  memset(&rd, 0, sizeof rd);
  rd.ser = s;
  snprintf(rd.prefix, sizeof rd.prefix, "ch_%s_", s->name);
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) {
    s->status = BENCH_FAILED;
    snprintf(s->note, sizeof s->note, "pipe: %s", strerror(errno));
    return;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    if (t != NULL) {
      signal(SIGPIPE, SIG_IGN); /* a dead peer is an EPIPE error line */
      int rc = timer_main(t, sizes_arg, r);
      fflush(stdout);
      _exit(rc);
    }
    execv(argv[0], argv);
    printf("error ch_%s cannot run %s: %s\n", s->name, argv[0],
           strerror(errno));
    fflush(stdout);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(out[0]), close(err[0]);
    s->status = BENCH_FAILED;
    snprintf(s->note, sizeof s->note, "fork: %s", strerror(errno));
    return;
  }
  setpgid(pid, pid); /* also here: no race with a kill of the group */
  int late = pump(&rd, out[0], err[0], mono() + limit);
  if (late)
    close(out[0]), close(err[0]);
  finish(&rd, pid, late, limit);
}

/* ------------------------------------------------------------ pinning */

/* CPU b is in the list "0,8" / "0-1" of CPU a's hardware threads. */
static int siblings(int a, int b) {
  char path[128], list[256];
  snprintf(path, sizeof path,
           "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", a);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  int ok = fgets(list, sizeof list, f) != NULL;
  fclose(f);
  for (char *p = list; ok && *p != '\0' && *p != '\n';) {
    char *end;
    long lo = strtol(p, &end, 10), hi = lo;
    if (end == p)
      break;
    if (*end == '-')
      hi = strtol(end + 1, &end, 10);
    if (b >= lo && b <= hi)
      return 1;
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

/* Two CPUs of this process's affinity mask, on different cores where
 * there are: the first allowed CPU, and the first one after it that is
 * not its hardware sibling (else simply the next). 0, or -1 with fewer
 * than two CPUs. */
static int pick_cpus(int cpu[2]) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return -1;
  int first = -1, next = -1, apart = -1;
  for (int c = 0; c < CPU_SETSIZE && apart < 0; c++) {
    if (!CPU_ISSET(c, &set))
      continue;
    if (first < 0)
      first = c;
    else if (next < 0)
      next = c;
    if (c != first && apart < 0 && !siblings(first, c))
      apart = c;
  }
  if (next < 0)
    return -1;
  cpu[0] = first;
  cpu[1] = apart >= 0 ? apart : next;
  return 0;
}

/* ------------------------------------------------------------ MPI */

static void run_mpi(bench_run *r, bench_series *s, const char *sizes_arg,
                    double limit) {
  char mpirun[4096], helper[4096];
  if (bench_which("mpirun", mpirun, sizeof mpirun) != 0 &&
      bench_which("mpiexec", mpirun, sizeof mpirun) != 0) {
    s->status = BENCH_SKIPPED;
    snprintf(s->note, sizeof s->note,
             "MPI: not installed (no mpirun or "
             "mpiexec on PATH)");
    return;
  }
  if (cli_find_helper(MPI_HELPER, helper, sizeof helper) != 0) {
    s->status = BENCH_SKIPPED;
    snprintf(s->note, sizeof s->note,
             "MPI: parc was built without MPI (no "
             "%s next to parc or in %s)",
             MPI_HELPER, PARC_LIBEXECDIR);
    return;
  }
  char reps[16], warm[16], target[16];
  snprintf(reps, sizeof reps, "%u", r->cfg.reps);
  snprintf(warm, sizeof warm, "%u", r->cfg.warm);
  snprintf(target, sizeof target, "%.0f",
           r->cfg.target_s * 1e3 < 1 ? 1 : r->cfg.target_s * 1e3);
  char *argv[] = {mpirun, "-np", "2",    helper, (char *)sizes_arg,
                  reps,   warm,  target, NULL};
  /* Open MPI (MPICH ignores these): run as root if that is who we are,
   * two ranks even on one core, each bound to a core as the others are
   * pinned (Open MPI picks the cores). */
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  setenv("OMPI_MCA_hwloc_base_binding_policy", r->pinned ? "core" : "none", 0);
  if (geteuid() == 0) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  run_timer(r, s, NULL, sizes_arg, argv, limit);
}

/* ------------------------------------------------------------ all */

/* Every size has its samples, or the series failed. */
static void check_complete(bench_series *s) {
  for (size_t i = 0; i < s->n && s->status == BENCH_OK; i++) {
    if (s->pt[i].t.n == 0) {
      s->status = BENCH_FAILED;
      snprintf(s->note, sizeof s->note, "no samples for %zu bytes",
               s->pt[i].size);
    }
  }
}

static void fit_series(bench_run *r, bench_series *s) {
  double x[BENCH_MAX_SIZES], y[BENCH_MAX_SIZES], noise[BENCH_MAX_SIZES];
  for (size_t i = 0; i < s->n; i++) {
    const bench_stat *t = &s->pt[i].t;
    x[i] = (double)s->pt[i].size, y[i] = t->median;
    noise[i] = t->median > 0 ? (t->q3 - t->q1) / t->median : 0;
  }
  if (bench_fit_model(x, y, noise, s->n, r->cfg.fit_tol, &s->fit) != 0) {
    s->status = BENCH_FAILED;
    snprintf(s->note, sizeof s->note,
             "the times cannot be fitted (not positive)");
  }
}

void bench_transports(bench_run *r) {
  const bench_cfg *c = &r->cfg;
  /* "8,8,64,...": the untimed pass at the smallest size, then the sizes */
  char arg[BENCH_MAX_SIZES * 12 + 16];
  size_t off = (size_t)snprintf(arg, sizeof arg, "%zu", c->sizes[0]);
  for (size_t i = 0; i < c->nsizes; i++)
    off += (size_t)snprintf(arg + off, sizeof arg - off, ",%zu", c->sizes[i]);
  r->pinned = !c->no_pin && pick_cpus(r->cpu) == 0;
  double per_size = (c->warm + c->reps + 4) * c->target_s * 4 + 2;
  double limit = 60 + per_size * (double)c->nsizes;
  for (int k = 0; k < BENCH_NTRANSPORTS; k++) {
    bench_series *s = &r->tr[k];
    const transport *t = k < BENCH_NTRANSPORTS - 1 ? &TRANSPORTS[k] : NULL;
    s->name = t ? t->pp.name : "mpi";
    s->how = t ? t->how
               : "mpirun -np 2, blocking MPI_Send/MPI_Recv of MPI_BYTE";
    s->status = BENCH_OK;
    s->n = c->nsizes;
    for (size_t i = 0; i < c->nsizes; i++) s->pt[i].size = c->sizes[i];
    /* A fresh channel and timer for each size: a channel sized for the
     * largest message would make a small one walk through all of it, and
     * the figures would depend on the other sizes asked for. */
    for (size_t i = 0; t && i < c->nsizes && s->status == BENCH_OK; i++) {
      char one[48];
      snprintf(one, sizeof one, "%zu,%zu", c->sizes[i], c->sizes[i]);
      run_timer(r, s, t, one, NULL, 30 + per_size);
    }
    if (t == NULL)
      run_mpi(r, s, arg, limit);
    if (s->status == BENCH_OK)
      check_complete(s);
    if (s->status == BENCH_OK)
      fit_series(r, s);
    r->failures += s->status == BENCH_FAILED;
  }
}
