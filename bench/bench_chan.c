/* bench_chan.c -- parc's side of the channel comparisons (see
 * bench/README.md).
 *
 *   parc-bench-chan queue SIZES REPS WARM TARGET_MS
 *       round trips through two PARC_SHARED parc_queues, one each way
 *   parc-bench-chan pipe  SIZES REPS WARM TARGET_MS
 *       round trips through one PARC_SHARED parc_pipe
 *
 *   parc-bench-chan cma SIZE COUNT REPS
 *       the experiment behind the pipelining of large messages (see
 *       docs/performance.md): one process copying SIZE bytes from another's
 *       memory with process_vm_readv (cross-memory attach, what Open MPI
 *       uses for large messages between ranks), against a memcpy of SIZE
 *       bytes in one process; COUNT copies per repetition
 *
 * SIZES is a comma-separated list of message sizes in bytes. The channels
 * are created first, then the echo process is started with
 * parc_proc_start (a fork, as every peer's echo is); the round-trip loop is
 * pingpong.h's, shared with the peers. Each channel call is given
 * CALL_TIMEOUT seconds, so a lost message or a wedged channel becomes an
 * error line naming the call, the size and the return code, not a hang.
 */
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parc.h"
#include "common.h"
#include "../cli/bench/pingpong.h" /* shared with parc bench */

#define CALL_TIMEOUT 30.0 /* seconds; no sane round trip comes near it */
#define FRAMING 8         /* parc_queue's bytes of framing per message */

static parc_queue *g_q[2];  /* [0] timer -> echo, [1] echo -> timer */
static parc_pipe *g_end[2]; /* [0] the timer's end, [1] the echo's */
static int g_side;          /* 0 in the timer, 1 in the echo */
static parc_proc *g_proc;

static int bad(int rc, const char *call, char *err, size_t errlen) {
  snprintf(err, errlen, "%s returned %d %s (%s)", call, rc, parc_err_name(rc),
           parc_strerror(rc));
  return -1;
}

static int wrong_len(size_t got, size_t want, char *err, size_t errlen) {
  snprintf(err, errlen, "received %zu bytes, expected %zu", got, want);
  return -1;
}

static int queue_send(const void *buf, size_t len, char *err, size_t errlen) {
  int rc = parc_queue_put(g_q[g_side], buf, len, CALL_TIMEOUT);
  return rc == 0 ? 0 : bad(rc, "parc_queue_put", err, errlen);
}

static int queue_recv(void *buf, size_t len, char *err, size_t errlen) {
  size_t got = 0;
  int rc = parc_queue_get(g_q[1 - g_side], buf, len, &got, CALL_TIMEOUT);
  if (rc != 0)
    return bad(rc, "parc_queue_get", err, errlen);
  return got == len ? 0 : wrong_len(got, len, err, errlen);
}

static int pipe_send(const void *buf, size_t len, char *err, size_t errlen) {
  int rc = parc_pipe_send(g_end[g_side], buf, len, CALL_TIMEOUT);
  return rc == 0 ? 0 : bad(rc, "parc_pipe_send", err, errlen);
}

static int pipe_recv(void *buf, size_t len, char *err, size_t errlen) {
  size_t got = 0;
  int rc = parc_pipe_recv(g_end[g_side], buf, len, &got, CALL_TIMEOUT);
  if (rc != 0)
    return bad(rc, "parc_pipe_recv", err, errlen);
  return got == len ? 0 : wrong_len(got, len, err, errlen);
}

static void kill_echo(void) {
  if (g_proc != NULL) {
    parc_proc_kill(g_proc, SIGKILL);
    parc_proc_status st;
    parc_proc_join(g_proc, &st, 5.0);
  }
}

static const pp_transport queue_transport = {"parc_queue", queue_send,
                                             queue_recv, kill_echo};
static const pp_transport pipe_transport = {"parc_pipe", pipe_send, pipe_recv,
                                            kill_echo};

struct echo_arg {
  int use_pipe;
  size_t max;
};

static int echo_main(void *arg) {
  const struct echo_arg *a = arg;
  g_side = 1;
  if (a->use_pipe) {
    int rc = parc_pipe_bind(g_end[1]);
    if (rc != 0)
      bench_fail("ch_parc_pipe_echo", "parc_pipe_bind returned %d %s", rc,
                 parc_err_name(rc));
  }
  return pp_echo(a->use_pipe ? &pipe_transport : &queue_transport, a->max);
}

static void check(int rc, const char *label, const char *call) {
  if (rc != 0)
    bench_fail(label, "%s returned %d %s (%s)", call, rc, parc_err_name(rc),
               parc_strerror(rc));
}

/* Starts the echo, drives it, checks how it ended. */
static void run(int use_pipe, const size_t *sizes, int n, unsigned reps,
                unsigned warm, double target_s) {
  const pp_transport *t = use_pipe ? &pipe_transport : &queue_transport;
  const char *label = use_pipe ? "ch_parc_pipe" : "ch_parc_queue";
  struct echo_arg a = {use_pipe, pp_max_size(sizes, n)};
  fflush(stdout);
  check(parc_proc_start(&g_proc, echo_main, &a, sizeof a), label,
        "parc_proc_start");
  g_side = 0;
  if (use_pipe)
    check(parc_pipe_bind(g_end[0]), label, "parc_pipe_bind");
  pp_drive(t, sizes, n, reps, warm, target_s);
  parc_proc_status st;
  memset(&st, 0, sizeof st);
  int rc = parc_proc_join(g_proc, &st, CALL_TIMEOUT);
  if (rc != 0) {
    kill_echo();
    check(rc, label, "parc_proc_join of the echo");
  }
  parc_proc_free(g_proc);
  g_proc = NULL;
  if (!st.exited || st.exit_code != 0)
    bench_fail(label,
               "echo process ended badly: exited=%d exit_code=%d "
               "signal=%d",
               st.exited, st.exit_code, st.signal);
}

static void cmd_queue(const size_t *sizes, int n, unsigned reps, unsigned warm,
                      double target_s) {
  size_t max = pp_max_size(sizes, n);
  size_t capacity = max + FRAMING; /* one message in flight each way */
  for (int i = 0; i < 2; i++)
    check(parc_queue_create(&g_q[i], capacity, max, PARC_SHARED),
          "ch_parc_queue", "parc_queue_create");
  bench_info("ch_parc_queue",
             "two PARC_SHARED queues, capacity=%zu "
             "max_msg=%zu, echo by parc_proc_start",
             capacity, max);
  run(0, sizes, n, reps, warm, target_s);
  uint64_t taken = 0, queued = 0;
  parc_queue_stats(g_q[0], &taken, &queued);
  if (queued != 0)
    bench_fail("ch_parc_queue", "%llu messages still queued at the end",
               (unsigned long long)queued);
  for (int i = 0; i < 2; i++) parc_queue_destroy(g_q[i]);
}

static void cmd_pipe(const size_t *sizes, int n, unsigned reps, unsigned warm,
                     double target_s) {
  size_t max = pp_max_size(sizes, n);
  check(parc_pipe_create(&g_end[0], &g_end[1], max, PARC_SHARED),
        "ch_parc_pipe", "parc_pipe_create");
  bench_info("ch_parc_pipe",
             "one PARC_SHARED pipe, max_msg=%zu, echo by "
             "parc_proc_start",
             max);
  run(1, sizes, n, reps, warm, target_s);
  parc_pipe_close(g_end[0]);
  parc_pipe_close(g_end[1]);
}

/* Times `count` copies of `size` bytes per repetition: memcpy here, then
 * process_vm_readv in a forked child reading this process's buffer. */
static void cmd_cma(size_t size, size_t count, unsigned reps) {
  unsigned char *src = malloc(size), *dst = malloc(size);
  if (!src || !dst)
    bench_fail("cma", "out of memory");
  memset(src, 1, size);
  memset(dst, 2, size);
  char label[64];
  snprintf(label, sizeof label, "cma_memcpy_%zu", size);
  for (unsigned r = 0; r <= reps; r++) { /* the first is a warm-up */
    double t0 = bench_now();
    for (size_t i = 0; i < count; i++) {
      memcpy(dst, src, size);
      __asm__ __volatile__("" : : "r"(dst) : "memory");
    }
    if (r > 0)
      bench_sample(label, r - 1, (bench_now() - t0) / (double)count);
  }
  pid_t parent = getpid();
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    bench_fail("cma", "fork: %s", strerror(errno));
  if (pid == 0) {
    snprintf(label, sizeof label, "cma_process_vm_readv_%zu", size);
    for (unsigned r = 0; r <= reps; r++) {
      double t0 = bench_now();
      for (size_t i = 0; i < count; i++) {
        struct iovec local = {dst, size}, remote = {src, size};
        ssize_t n = process_vm_readv(parent, &local, 1, &remote, 1, 0);
        if (n != (ssize_t)size)
          bench_fail(label, "process_vm_readv returned %zd: %s", n,
                     strerror(errno));
      }
      if (r > 0)
        bench_sample(label, r - 1, (bench_now() - t0) / (double)count);
    }
    fflush(stdout);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    bench_fail("cma", "the reading child failed (status %#x)", st);
  free(src);
  free(dst);
}

static int usage(void) {
  fprintf(stderr,
          "usage: parc-bench-chan queue|pipe SIZES REPS WARM TARGET_MS\n"
          "       parc-bench-chan cma SIZE COUNT REPS\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "cma") == 0) {
    cmd_cma((size_t)bench_arg(argv[2], "SIZE", 1, 1ull << 30),
            (size_t)bench_arg(argv[3], "COUNT", 1, 1000000),
            (unsigned)bench_arg(argv[4], "REPS", 1, 1000));
    return 0;
  }
  if (argc != 6)
    return usage();
  size_t sizes[PP_MAX_SIZES];
  int n = pp_parse_sizes(argv[2], sizes, PP_MAX_SIZES);
  unsigned reps = (unsigned)bench_arg(argv[3], "REPS", 1, 1000);
  unsigned warm = (unsigned)bench_arg(argv[4], "WARM", 0, 1000);
  double target_s = (double)bench_arg(argv[5], "TARGET_MS", 1, 60000) * 1e-3;
  if (strcmp(argv[1], "queue") == 0)
    cmd_queue(sizes, n, reps, warm, target_s);
  else if (strcmp(argv[1], "pipe") == 0)
    cmd_pipe(sizes, n, reps, warm, target_s);
  else
    return usage();
  return 0;
}
