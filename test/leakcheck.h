/* leakcheck.h -- what a process holds, read from /proc, for leak tests.
 *
 * Each helper returns a count (or -1 if /proc cannot be read); tests take a
 * snapshot, run pools, and compare. Children are processes whose ppid is
 * this process; zombies are those children in state Z (exited, not reaped).
 */
#ifndef PARC_LEAKCHECK_H
#define PARC_LEAKCHECK_H

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static inline int lc_count_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

/* Open descriptors of this process (the one opendir uses is not counted). */
static inline int lc_open_fds(void) {
  int n = lc_count_dir("/proc/self/fd");
  return n < 0 ? -1 : n - 1;
}

/* Reads state and ppid of `pid` from /proc/<pid>/stat; 0 on success. The
 * command name may hold spaces and parentheses: parse after the last ')'. */
static inline int lc_proc_stat(pid_t pid, char *state, pid_t *ppid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return -1;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = '\0';
  char *rp = strrchr(buf, ')');
  int pp = 0;
  char st = '?';
  if (!rp || sscanf(rp + 1, " %c %d", &st, &pp) != 2)
    return -1;
  if (state)
    *state = st;
  if (ppid)
    *ppid = (pid_t)pp;
  return 0;
}

/* Children of this process: returns how many are alive (not zombies) and
 * writes the number of zombies to *zombies when not NULL. */
static inline int lc_children(int *zombies) {
  if (zombies)
    *zombies = 0;
  DIR *d = opendir("/proc");
  if (!d)
    return -1;
  pid_t me = getpid();
  int alive = 0, dead = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    char st;
    pid_t pp;
    if (lc_proc_stat((pid_t)atoi(e->d_name), &st, &pp) != 0 || pp != me)
      continue;
    if (st == 'Z' || st == 'X')
      dead++;
    else
      alive++;
  }
  closedir(d);
  if (zombies)
    *zombies = dead;
  return alive;
}

/* All live descendants of this process (children, grandchildren, ...),
 * zombies not counted. Workers forked by a helper process count too. */
static inline int lc_descendants(void) {
  enum { MAXP = 4096 };
  static pid_t pid[MAXP], ppid[MAXP];
  static char state[MAXP];
  int n = 0;
  DIR *d = opendir("/proc");
  if (!d)
    return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < MAXP) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    pid[n] = (pid_t)atoi(e->d_name);
    if (lc_proc_stat(pid[n], &state[n], &ppid[n]) == 0)
      n++;
  }
  closedir(d);
  pid_t me = getpid();
  int count = 0;
  for (int i = 0; i < n; i++) {
    if (state[i] == 'Z' || state[i] == 'X')
      continue;
    pid_t up = ppid[i];
    for (int depth = 0; depth < 64 && up > 1 && up != me; depth++) {
      int k = 0;
      while (k < n && pid[k] != up) k++;
      up = k < n ? ppid[k] : 0;
    }
    count += up == me;
  }
  return count;
}

/* 1 if `pid` exists and has not exited (a zombie counts as gone). */
static inline int lc_pid_alive(pid_t pid) {
  if (kill(pid, 0) != 0)
    return 0;
  char st;
  if (lc_proc_stat(pid, &st, NULL) != 0)
    return 0;
  return st != 'Z' && st != 'X';
}

static inline int lc_count_lines(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f)
    return -1;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF)
    if (c == '\n')
      n++;
  fclose(f);
  return n;
}

/* Lines of /proc/self/maps: one per mapping. */
static inline int lc_maps_lines(void) {
  return lc_count_lines("/proc/self/maps");
}

/* The Threads: line of /proc/self/status. */
static inline int lc_threads(void) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f)
    return -1;
  char line[256];
  int n = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1)
      break;
  fclose(f);
  return n;
}

/* A snapshot of the names in /dev/shm. */
typedef struct lc_names {
  int n;
  char names[256][256];
} lc_names;

static inline void lc_shm_snapshot(lc_names *s) {
  s->n = 0;
  DIR *d = opendir("/dev/shm");
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && s->n < 256) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(s->names[s->n++], sizeof s->names[0], "%s", e->d_name);
  }
  closedir(d);
}

/* Number of names in `after` that are not in `before`; the first one is
 * copied to `first` (size 256) when not NULL. */
static inline int lc_shm_new_names(const lc_names *before,
                                   const lc_names *after, char *first) {
  int added = 0;
  for (int i = 0; i < after->n; i++) {
    int seen = 0;
    for (int j = 0; j < before->n && !seen; j++)
      seen = strcmp(after->names[i], before->names[j]) == 0;
    /* Criterion's own runner keeps files named bxfi_* in /dev/shm; another
     * test process running at the same time may add one. parc names none
     * (its shared memory is memfd). */
    if (!seen && strncmp(after->names[i], "bxfi_", 5) == 0)
      seen = 1;
    if (!seen) {
      if (added == 0 && first)
        snprintf(first, 256, "%s", after->names[i]);
      added++;
    }
  }
  return added;
}

/* Everything a pool could leave behind, in one snapshot. */
typedef struct lc_snapshot {
  int fds;
  int children;
  int zombies;
  int descendants;
  int maps;
  int threads;
} lc_snapshot;

static inline void lc_take(lc_snapshot *s) {
  s->fds = lc_open_fds();
  s->children = lc_children(&s->zombies);
  s->descendants = lc_descendants();
  s->maps = lc_maps_lines();
  s->threads = lc_threads();
}

#endif /* PARC_LEAKCHECK_H */
