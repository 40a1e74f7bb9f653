/* run_memory.c -- --memory and --retry-memory of `parc run`.
 *
 * Each attempt of a job runs under a limit of its own, set from inside the
 * job's process before its program starts: run_job.c spawns parc itself
 * (/proc/self/exe, in the child: the very binary that runs, even if it was
 * replaced on disk since) as `parc __memory HOW ARG -- COMMAND...`, which
 * applies the limit and execs the command. The shim changes nothing else:
 * the command keeps its argv (argv[0] too), environment, descriptors,
 * signal mask and process group, all set by the spawn.
 *
 * Two mechanisms, chosen once per run (run_memory_how):
 *   - cgroup v2, when /sys/fs/cgroup is a cgroup2 mount and parc's own
 *     cgroup has the memory controller and can hand it down: parc makes
 *     parc-PID/ under its cgroup and one child per attempt (job-N) with
 *     memory.max (and memory.swap.max 0); the shim writes itself into its
 *     cgroup.procs, so every page the job touches is charged there. Out of
 *     memory: memory.events counts an oom_kill. The job's cgroup is removed
 *     after it, the run's at exit; a crashed parc leaves empty directories
 *     behind, which the next run that uses cgroups removes (parc-PID of a
 *     dead PID). parc never moves itself: a cgroup that has processes
 *     cannot hand a controller down (cgroup v2's "no internal processes"),
 *     and then the jobs get RLIMIT_AS.
 *   - RLIMIT_AS otherwise: the job's address space, soft and hard. The
 *     kernel does not say that a job ran out of it, so that is judged: the
 *     job failed (not by parc's own kill) and died of SIGSEGV, SIGBUS,
 *     SIGABRT or SIGKILL (or exited 128 + one of them: a shell's report),
 *     or its stderr says an allocation failed (MemoryError, std::bad_alloc,
 *     "Cannot allocate memory", "out of memory", ...).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "run_memory.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP2_MAGIC 0x63677270 /* CGROUP2_SUPER_MAGIC (linux/magic.h) */
#define MIB (1ull << 20)

/* The run's choice, made once (pthread_once), then only read. */
static struct {
  int how;
  char dir[PATH_MAX]; /* cgroup: the run's directory parc-PID */
  char why[200];      /* RLIMIT_AS: why not a cgroup */
} mem;
static pthread_once_t mem_once = PTHREAD_ONCE_INIT;
static atomic_int mem_noted;
static atomic_uint mem_jobs; /* cgroup: the attempts so far (job-N) */

/* ------------------------------------------------------------ files */

static int write_text(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return errno = ENAMETOOLONG, -1;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t n = strlen(text);
  ssize_t w = write(fd, text, n);
  int e = errno;
  close(fd);
  if (w == (ssize_t)n)
    return 0;
  return errno = w < 0 ? e : EIO, -1;
}

/* The first n-1 bytes of dir/name, NUL-terminated. 0, or -1. */
static int read_text(const char *dir, const char *name, char *buf, size_t n) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  if (r < 0)
    return -1;
  buf[r] = '\0';
  return 0;
}

/* Is `word` one of the space-separated words of list? */
static int has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') &&
        (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
      return 1;
  return 0;
}

/* ------------------------------------------------------------ cgroup v2 */

/* parc's own cgroup directory, from /proc/self/cgroup's "0::/path". */
static int own_cgroup(char *base, size_t n) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  char line[PATH_MAX + 8];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f))
    found = strncmp(line, "0::/", 4) == 0;
  if (f)
    fclose(f);
  if (!found)
    return -1;
  line[strcspn(line, "\n")] = '\0';
  size_t len = strlen(line);
  if (len > 4 && line[len - 1] == '/')
    line[len - 1] = '\0';
  const char *path = strcmp(line + 3, "/") == 0 ? "" : line + 3;
  return snprintf(base, n, "%s%s", CGROUP_ROOT, path) < (int)n ? 0 : -1;
}

/* Removes a run's directory and the jobs' cgroups in it (each that is
 * empty: a job's background process may still live in its cgroup). */
static void remove_run_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[PATH_MAX];
  while (d && (e = readdir(d)) != NULL)
    if (strncmp(e->d_name, "job-", 4) == 0 &&
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
      rmdir(path);
  if (d)
    closedir(d);
  rmdir(dir);
}

/* The directories a crashed parc left behind: parc-PID of a dead PID. */
static void remove_stale(const char *base) {
  DIR *d = opendir(base);
  struct dirent *e;
  char path[PATH_MAX];
  while (d && (e = readdir(d)) != NULL) {
    char *end;
    if (strncmp(e->d_name, "parc-", 5) != 0)
      continue;
    long pid = strtol(e->d_name + 5, &end, 10);
    if (*end || pid <= 0 || pid == (long)getpid())
      continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    if (snprintf(path, sizeof path, "%s/%s", base, e->d_name) <
        (int)sizeof path)
      remove_run_dir(path);
  }
  if (d)
    closedir(d);
}

static void clean_up_at_exit(void) { remove_run_dir(mem.dir); }

/* Makes the run's cgroup, base/parc-PID, handing memory down to its jobs'
 * cgroups: 0 and mem.dir, or -1 with mem.why set. */
static int run_dir_in(const char *base) {
  char list[512];
  remove_stale(base);
  if ((read_text(base, "cgroup.subtree_control", list, sizeof list) != 0 ||
       !has_word(list, "memory")) &&
      write_text(base, "cgroup.subtree_control", "+memory") != 0) {
    snprintf(mem.why, sizeof mem.why,
             "%s cannot hand the memory controller down: %s", base,
             strerror(errno));
    return -1;
  }
  if (snprintf(mem.dir, sizeof mem.dir, "%s/parc-%ld", base, (long)getpid()) >=
          (int)sizeof mem.dir ||
      mkdir(mem.dir, 0755) != 0) {
    snprintf(mem.why, sizeof mem.why, "cannot make a cgroup in %s: %s", base,
             strerror(errno));
    return -1;
  }
  if (write_text(mem.dir, "cgroup.subtree_control", "+memory") != 0) {
    snprintf(mem.why, sizeof mem.why, "cannot set up a cgroup: %s",
             strerror(errno));
    rmdir(mem.dir);
    return -1;
  }
  atexit(clean_up_at_exit);
  return 0;
}

/* Sets mem.dir up and returns 0, or -1 with mem.why set. */
static int cgroup_set_up(void) {
  struct statfs sf;
  char base[PATH_MAX], list[512];
  if (statfs(CGROUP_ROOT, &sf) != 0 || sf.f_type != CGROUP2_MAGIC) {
    snprintf(mem.why, sizeof mem.why, CGROUP_ROOT " is not cgroup v2");
    return -1;
  }
  if (own_cgroup(base, sizeof base) != 0) {
    snprintf(mem.why, sizeof mem.why, "parc's cgroup v2 is unknown");
    return -1;
  }
  if (read_text(base, "cgroup.controllers", list, sizeof list) != 0 ||
      !has_word(list, "memory")) {
    snprintf(mem.why, sizeof mem.why, "parc's cgroup has no memory controller");
    return -1;
  }
  /* Only an empty cgroup (or the root) can hand the controller down, and
   * parc's holds parc (and often its shell): then the run's cgroup goes
   * beside parc's, in its parent, which already hands memory down (parc's
   * has the controller) and may let parc make one there (root, or a
   * delegated subtree). */
  if (run_dir_in(base) == 0)
    return 0;
  char *slash = strrchr(base, '/');
  if (slash == NULL || strcmp(base, CGROUP_ROOT) == 0)
    return -1;
  *slash = '\0';
  return run_dir_in(base);
}

static void choose(void) {
  mem.how = cgroup_set_up() == 0 ? RUN_MEM_CGROUP : RUN_MEM_RLIMIT;
  if (mem.how == RUN_MEM_RLIMIT)
    mem.dir[0] = '\0';
}

int run_memory_how(void) {
  pthread_once(&mem_once, choose);
  return mem.how;
}

const char *run_memory_note(void) {
  static char note[PATH_MAX + 256];
  if (atomic_exchange(&mem_noted, 1))
    return NULL;
  if (run_memory_how() == RUN_MEM_CGROUP)
    snprintf(note, sizeof note,
             "parc run: --memory: each job in a cgroup v2 of its own under "
             "%s (memory.max, no swap)\n",
             mem.dir);
  else
    snprintf(note, sizeof note,
             "parc run: --memory: each job's address space limited "
             "(RLIMIT_AS; no cgroup: %s)\n",
             mem.why);
  return note;
}

/* ------------------------------------------------------------ one attempt */

int run_memory_start(run_mem_job *m, char **argv, unsigned long long limit,
                     char *why, size_t whysz) {
  size_t n = 0;
  while (argv[n]) n++;
  memset(m, 0, sizeof *m);
  snprintf(m->arg, sizeof m->arg, "%llu", limit);
  int cg = run_memory_how() == RUN_MEM_CGROUP;
  if (cg) {
    int len = snprintf(m->cg, sizeof m->cg, "%.*s/job-%u", PATH_MAX - 32,
                       mem.dir, atomic_fetch_add(&mem_jobs, 1) + 1);
    /* no swap: where the file is (the kernel has swap accounting) */
    if ((len >= (int)sizeof m->cg && (errno = ENAMETOOLONG)) ||
        mkdir(m->cg, 0755) != 0 ||
        write_text(m->cg, "memory.max", m->arg) != 0 ||
        (write_text(m->cg, "memory.swap.max", "0") != 0 && errno != ENOENT)) {
      snprintf(why, whysz, "parc run: cannot limit the memory of '%s': %s\n",
               argv[0], strerror(errno));
      rmdir(m->cg);
      return -1;
    }
  }
  m->argv = malloc((n + 6) * sizeof *m->argv);
  if (m->argv == NULL) {
    snprintf(why, whysz, "parc run: out of memory\n");
    if (cg)
      rmdir(m->cg);
    return -1;
  }
  m->argv[0] = (char *)"parc";
  m->argv[1] = (char *)"__memory";
  m->argv[2] = cg ? (char *)"cgroup" : (char *)"as";
  m->argv[3] = cg ? m->cg : m->arg;
  m->argv[4] = (char *)"--";
  memcpy(m->argv + 5, argv, (n + 1) * sizeof *argv);
  return 0;
}

/* What programs print when an allocation fails. */
static const char *const OOM_SAYS[] = {
    "MemoryError",            /* Python */
    "Cannot allocate memory", /* strerror(ENOMEM) */
    "cannot allocate",        /* R, glibc's messages */
    "Unable to allocate",     /* NumPy */
    "bad_alloc",              /* C++ */
    "out of memory",          /* Go, Node, many C programs */
    "Out of memory",
    "OutOfMemoryError", /* Java */
    "memory exhausted", /* bison, gcc */
};

static int says_oom(const char *p, size_t n) {
  for (size_t i = 0; i < sizeof OOM_SAYS / sizeof OOM_SAYS[0]; i++)
    if (memmem(p, n, OOM_SAYS[i], strlen(OOM_SAYS[i])) != NULL)
      return 1;
  return 0;
}

void run_memory_stderr(run_mem_job *m, const char *p, size_t n) {
  if (m->stderr_says || n == 0)
    return;
  /* a phrase cut by the end of the last piece: its tail and this head */
  size_t head = n < RUN_MEM_SEAM ? n : RUN_MEM_SEAM;
  memcpy(m->seam + m->seam_len, p, head);
  m->stderr_says = says_oom(m->seam, m->seam_len + head) || says_oom(p, n);
  memcpy(m->seam, p + n - head, head);
  m->seam_len = head;
}

/* The signals a job dies of when it runs out of address space: a failed
 * mmap the program did not expect (SIGSEGV, SIGBUS), an abort() of its
 * allocator or runtime (SIGABRT), the kernel's OOM killer (SIGKILL). */
static int memory_signal(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT || sig == SIGKILL;
}

int run_memory_end(run_mem_job *m, const run_result *r) {
  int failed = r->exit_code != 0 || r->signal != 0;
  int oom = 0;
  if (m->cg[0]) {
    char ev[1024];
    const char *k;
    if (read_text(m->cg, "memory.events", ev, sizeof ev) == 0 &&
        (k = strstr(ev, "oom_kill ")) != NULL)
      oom = strtoull(k + 9, NULL, 10) > 0;
    rmdir(m->cg); /* EBUSY while a background process of the job lives */
  } else {
    oom = memory_signal(r->signal) ||
          (r->exit_code > 128 && memory_signal(r->exit_code - 128)) ||
          m->stderr_says;
  }
  free(m->argv);
  m->argv = NULL;
  return failed && !r->timed_out && !r->stopped && !r->stopped_alone && oom;
}

/* ------------------------------------------------------------ sizes */

unsigned long long run_memory_total(void) { return run_meminfo("MemTotal", 0); }

unsigned long long run_memory_next(unsigned long long limit, double factor,
                                   unsigned long long total) {
  if (total && limit >= total)
    return 0;
  double want = (double)limit * factor;
  unsigned long long next = want >= 18e18 ? ~0ull - MIB
                                          : (unsigned long long)want;
  next = (next + MIB - 1) / MIB * MIB;
  if (next <= limit)
    next = limit + MIB;
  return total && next > total ? total : next;
}

void run_memory_size(char *buf, size_t n, unsigned long long b) {
  static const char unit[] = "KMGTP";
  int u = -1;
  while (u < 4 && b >= 1024 && b % 1024 == 0) b /= 1024, u++;
  if (u < 0)
    snprintf(buf, n, "%llu", b);
  else
    snprintf(buf, n, "%llu%c", b, unit[u]);
}

/* ------------------------------------------------------------ the shim */

static int shim_fail(const char *what, const char *arg) {
  fprintf(stderr, "parc run: cannot limit the memory of '%s': %s\n", arg, what);
  return 127;
}

int run_memory_shim(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) {
    fputs("parc: __memory is for parc run's own use\n", stderr);
    return 127;
  }
  const char *how = argv[2], *arg = argv[3];
  char **cmd = argv + 5;
  if (strcmp(how, "as") == 0) {
    struct rlimit rl;
    char *end;
    unsigned long long b = strtoull(arg, &end, 10);
    if (*end || getrlimit(RLIMIT_AS, &rl) != 0)
      return shim_fail("bad limit", cmd[0]);
    if (rl.rlim_max == RLIM_INFINITY || b < rl.rlim_max)
      rl.rlim_max = b;
    rl.rlim_cur = rl.rlim_max; /* hard too: the job cannot lift it */
    if (setrlimit(RLIMIT_AS, &rl) != 0)
      return shim_fail(strerror(errno), cmd[0]);
  } else if (strcmp(how, "cgroup") == 0) {
    /* from here on every page of this process and its children is
     * charged to the job's cgroup */
    if (write_text(arg, "cgroup.procs", "0") != 0)
      return shim_fail(strerror(errno), cmd[0]);
  } else {
    return shim_fail("bad mechanism", cmd[0]);
  }
  execvp(cmd[0], cmd);
  fprintf(stderr, "parc run: cannot run '%s': %s\n", cmd[0], strerror(errno));
  return 127;
}

/* ------------------------------------------------------------ messages */

/* See run_memory.h. */
int run_memory_message(char *buf, size_t n, size_t job,
                       unsigned long long limit, unsigned long long next) {
  char a[32], b[32];
  run_memory_size(a, sizeof a, limit);
  run_memory_size(b, sizeof b, next);
  if (next)
    return snprintf(buf, n,
                    "parc run: job %zu ran out of memory (limit %s); "
                    "again with %s\n",
                    job + 1, a, b);
  return snprintf(buf, n, "parc run: job %zu ran out of memory (limit %s)\n",
                  job + 1, a);
}
