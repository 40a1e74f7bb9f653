/* probe_file.c -- the rows of `parc probe` that read a file: 4 KiB at
 * random and 1 MiB sequentially.
 *
 * The file never has a name anyone could find afterwards: it is made with
 * O_TMPFILE where the filesystem has it, else with mkstemp and unlinked at
 * once, with SIGINT, SIGTERM, SIGHUP and SIGQUIT blocked in between. So an
 * error, a signal or a kill -9 leaves nothing behind in the directory.
 *
 * It is filled with random bytes (zeros could be answered by a thin or
 * compressing disk without reading), synced, and dropped from the page
 * cache. The reads then use O_DIRECT, which bypasses the page cache; where
 * the filesystem refuses it (tmpfs, overlayfs on some kernels) the reads
 * are buffered and the note says the page cache was not bypassed. Caches
 * below the filesystem (the disk's own, a VM host's) are not bypassed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "probe.h"

#define MIB ((uint64_t)1 << 20)
#define BLOCK 4096
#define MIN_FILE (4 * MIB)

typedef struct file_ctx {
  int fd, direct;
  uint64_t size, next, rng;
  char *buf; /* MIB bytes, BLOCK-aligned (O_DIRECT needs it) */
  void *mem;
} file_ctx;

static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* An unnamed file in dir, or -1 (errno). */
static int make_file(const char *dir) {
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  size_t n = strlen(dir) + 32;
  char *path = malloc(n);
  if (path == NULL)
    return -1;
  snprintf(path, n, "%s/.parc-probe.XXXXXX", dir);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGQUIT);
  sigprocmask(SIG_BLOCK, &block, &old);
  fd = mkostemp(path, O_CLOEXEC);
  int e = errno;
  if (fd >= 0)
    unlink(path);
  sigprocmask(SIG_SETMASK, &old, NULL);
  free(path);
  errno = e;
  return fd;
}

static int fill_file(file_ctx *f) {
  uint64_t s = 0xf11e;
  for (uint64_t off = 0; off < f->size; off += MIB) {
    uint64_t *w = (uint64_t *)f->buf;
    for (size_t i = 0; i < MIB / 8; i++) w[i] = next_rand(&s);
    for (size_t done = 0; done < MIB;) {
      ssize_t k = pwrite(f->fd, f->buf + done, MIB - done, (off_t)(off + done));
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        return k == 0 ? (errno = EIO, -1) : -1;
      done += (size_t)k;
    }
  }
  if (fsync(f->fd) != 0)
    return -1;
  (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
  return 0;
}

static const char *fs_name(long type) {
  static const struct {
    long magic;
    const char *name;
  } fs[] = {
      {0xEF53, "ext4"},      {0x58465342, "xfs"},       {0x9123683E, "btrfs"},
      {0x01021994, "tmpfs"}, {0x794c7630, "overlayfs"}, {0x6969, "nfs"},
      {0x2fc12fc1, "zfs"},   {0xF2F52010, "f2fs"},      {0x858458f6, "ramfs"},
      {0x65735546, "fuse"},  {0x5346544e, "ntfs"},      {0x4d44, "vfat"}};
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
    if (fs[i].magic == type)
      return fs[i].name;
  return "this filesystem";
}

/* Turns O_DIRECT on and tries one read; 1 if it works, else 0 (buffered). */
static int try_direct(file_ctx *f) {
  int fl = fcntl(f->fd, F_GETFL);
  if (fl < 0 || fcntl(f->fd, F_SETFL, fl | O_DIRECT) != 0)
    return 0;
  if (pread(f->fd, f->buf, BLOCK, 0) == BLOCK)
    return 1;
  fcntl(f->fd, F_SETFL, fl);
  return 0;
}

/* 1 if sysfs calls the block device under fd rotational, 0 if not, -1 if
 * there is none (tmpfs) or sysfs does not say. */
static int rotational(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return -1;
  static const char *const leaf[] = {"queue/rotational", "../queue/rotational"};
  for (size_t i = 0; i < 2; i++) {
    char path[96];
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/%s", major(st.st_dev),
             minor(st.st_dev), leaf[i]);
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
      continue;
    int r = fgetc(fp);
    fclose(fp);
    return r == '1' ? 1 : r == '0' ? 0 : -1;
  }
  return -1;
}

static double rand4k_batch(void *ctx, uint64_t n) {
  file_ctx *f = ctx;
  uint64_t blocks = f->size / BLOCK;
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    off_t off = (off_t)(next_rand(&f->rng) % blocks * BLOCK);
    ssize_t k = pread(f->fd, f->buf, BLOCK, off);
    if (k != BLOCK)
      return k < 0 ? -errno : -EIO;
  }
  return probe_now_ns() - t0;
}

static double seq1m_batch(void *ctx, uint64_t n) {
  file_ctx *f = ctx;
  double t0 = probe_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    ssize_t k = pread(f->fd, f->buf, MIB, (off_t)(f->next * MIB));
    if (k != (ssize_t)MIB)
      return k < 0 ? -errno : -EIO;
    f->next = (f->next + 1) % (f->size / MIB);
  }
  return probe_now_ns() - t0;
}

/* The file's size: plan->file_bytes, less where the disk is short. */
static uint64_t file_size(const probe_plan *plan) {
  struct statvfs vfs;
  uint64_t size = plan->file_bytes;
  if (statvfs(plan->dir, &vfs) == 0) {
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (size > avail / 4)
      size = avail / 4 / MIB * MIB;
  }
  return size;
}

static void note_both(probe_row *rows, const char *fmt, const char *a,
                      const char *b) {
  probe_note(&rows[ROW_FILE4K], fmt, a, b);
  probe_note(&rows[ROW_FILE1M], fmt, a, b);
}

static void measure_file(probe_row *rows, const probe_plan *plan, file_ctx *f) {
  struct statfs sfs;
  const char *fs = fstatfs(f->fd, &sfs) == 0 ? fs_name((long)sfs.f_type)
                                             : "this filesystem";
  char size[32];
  probe_fmt_bytes(size, sizeof size, f->size);
  int in_memory = !strcmp(fs, "tmpfs") || !strcmp(fs, "ramfs");
  f->direct = !in_memory && try_direct(f);
  if (f->direct)
    note_both(rows, "O_DIRECT on %s, %s file", fs, size);
  else if (in_memory)
    note_both(rows,
              "page cache not bypassed (%s keeps files in memory), %s "
              "file",
              fs, size);
  else
    note_both(rows, "page cache not bypassed (%s refuses O_DIRECT), %s file",
              fs, size);
  int rot = rotational(f->fd);
  note_both(rows, "%s%s",
            rot == 1   ? "the kernel calls the disk rotational; "
            : rot == 0 ? "non-rotational disk; "
                       : "",
            "published: SSD");
  probe_measure(&rows[ROW_FILE4K], plan, rand4k_batch, f);
  probe_measure(&rows[ROW_FILE1M], plan, seq1m_batch, f);
}

void probe_file_rows(probe_row *rows, const probe_plan *plan) {
  file_ctx f = {.fd = -1, .rng = 0x4b};
  f.size = file_size(plan);
  if (f.size < MIN_FILE) {
    probe_skip(&rows[ROW_FILE4K], "too little free space in %s", plan->dir);
    probe_skip(&rows[ROW_FILE1M], "too little free space in %s", plan->dir);
    return;
  }
  const char *what = NULL;
  int e = 0;
  if (posix_memalign(&f.mem, BLOCK, MIB) != 0) {
    f.mem = NULL;
    what = "allocating", e = ENOMEM;
  } else if (f.buf = f.mem, (f.fd = make_file(plan->dir)) < 0) {
    what = "creating a file", e = errno;
  } else if (fill_file(&f) != 0) {
    what = "writing the file", e = errno;
  }
  if (what) {
    probe_fail(&rows[ROW_FILE4K], what, e);
    probe_fail(&rows[ROW_FILE1M], what, e);
  } else {
    measure_file(rows, plan, &f);
  }
  if (f.fd >= 0)
    close(f.fd);
  free(f.mem);
}
