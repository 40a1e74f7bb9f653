/* spawn_time.c -- times whole commands: `parc run` and its peers, xargs -P
 * and GNU parallel (see bench/README.md). Does not link libparc, so the
 * peers' figures exist even while `parc run` does not build.
 *
 *   parc-bench-spawn LABEL REPS WARM JOBS J IDEAL INPUT -- CMD [ARG...]
 *
 * Runs CMD WARM + REPS times, one after the other. Each run is started with
 * posix_spawnp (PATH search, as a shell would), stdin from the file INPUT
 * ("-": /dev/null), stdout to /dev/null, stderr inherited; the interval is
 * from just before posix_spawnp to wait4's return, so it holds the whole
 * command: its start-up, every job it runs, its exit. Prints per timed run:
 *   sample LABEL REP WALL_SECONDS
 * and when JOBS > 0 (CMD runs JOBS jobs, J at a time; IDEAL = the seconds
 * they would take with no overhead at all, e.g. JOBS x 10 ms / J for sleeps):
 *   sample LABEL_perjob REP (WALL - IDEAL) / JOBS * J
 *          the time each job costs a lane beyond its own work
 *   sample LABEL_cpu REP CPU_SECONDS / JOBS
 *          user + system time of CMD and every process it waited for
 *          (wait4's rusage of the child: itself and its reaped descendants),
 *          per job: what one job costs the machine, the job's own work included
 * A run that exits non-zero or is killed is an `error` line and exit 1.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

static double tv_seconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int main(int argc, char **argv) {
  if (argc < 10 || strcmp(argv[8], "--") != 0) {
    fprintf(stderr,
            "usage: %s LABEL REPS WARM JOBS J IDEAL_SECONDS INPUT|- -- CMD "
            "[ARG...]\n",
            argv[0]);
    return 2;
  }
  const char *label = argv[1];
  unsigned reps = (unsigned)bench_arg(argv[2], "REPS", 1, 100000);
  unsigned warm = (unsigned)bench_arg(argv[3], "WARM", 0, 100000);
  unsigned long long jobs = bench_arg(argv[4], "JOBS", 0, 1000000000ULL);
  unsigned long long lanes = bench_arg(argv[5], "J", 1, 1000000);
  char *end = NULL;
  double ideal = strtod(argv[6], &end);
  if (end == argv[6] || *end != '\0' || ideal < 0) {
    fprintf(stderr, "bad IDEAL_SECONDS '%s'\n", argv[6]);
    return 2;
  }
  const char *input = strcmp(argv[7], "-") == 0 ? "/dev/null" : argv[7];
  char **cmd = argv + 9;

  char line[1024];
  size_t off = 0;
  for (char **a = cmd; *a && off < sizeof line - 1; a++) {
    int n = snprintf(line + off, sizeof line - off, "%s%s", a == cmd ? "" : " ",
                     *a);
    if (n < 0)
      break;
    off += (size_t)n;
  }
  bench_info(label,
             "jobs=%llu j=%llu ideal_s=%g input=%s reps=%u warm=%u cmd=%s",
             jobs, lanes, ideal, input, reps, warm, line);

  char lab_perjob[256], lab_cpu[256];
  snprintf(lab_perjob, sizeof lab_perjob, "%s_perjob", label);
  snprintf(lab_cpu, sizeof lab_cpu, "%s_cpu", label);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, input, O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY,
                                   0);

  for (unsigned r = 0; r < warm + reps; r++) {
    pid_t pid;
    struct rusage ru;
    int status = 0;
    double t0 = bench_now();
    int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
    if (rc != 0)
      bench_fail(label, "cannot start %s: %s", cmd[0], strerror(rc));
    pid_t w;
    do w = wait4(pid, &status, 0, &ru);
    while (w < 0 && errno == EINTR);
    double t1 = bench_now();
    if (w < 0)
      bench_fail(label, "wait4: %s", strerror(errno));
    if (WIFSIGNALED(status))
      bench_fail(label, "run %u: killed by signal %d (%s)", r, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
      bench_fail(label, "run %u: exit status %d", r, WEXITSTATUS(status));
    if (r < warm)
      continue;
    double wall = t1 - t0;
    bench_sample(label, r - warm, wall);
    if (jobs > 0) {
      double cpu = tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime);
      bench_sample(lab_perjob, r - warm,
                   (wall - ideal) / (double)jobs * (double)lanes);
      bench_sample(lab_cpu, r - warm, cpu / (double)jobs);
    }
  }
  posix_spawn_file_actions_destroy(&fa);
  return 0;
}
