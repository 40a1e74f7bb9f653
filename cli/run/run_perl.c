/* run_perl.c -- the perl co-process of {= perl =} (run_perl.h).
 *
 * GNU parallel is a perl script: {= code =} runs code with $_ set to the
 * value, in its package Arg, as `sub { no strict; no warnings; my $job =
 * shift; code }`, and the replacement is $_ afterwards. parc starts one
 * /usr/bin/perl that does the same, with GNU's helpers (Q, pQ, uq, skip,
 * seq, slot, total_jobs, hash, the date ones, $job->seq/slot/skip, @arg)
 * and its globals kept between evaluations (a counter works).
 *
 * They talk over a socket pair (one descriptor each way, O_CLOEXEC on
 * parc's side: no job inherits it), in frames: a 4-byte big-endian length,
 * then fields, each a 4-byte length and its bytes; the first field says
 * what it is. parc sends C code (-> O, or E message), J seq slot total
 * values... (no answer: the job whose values V refers to), V id k (-> R
 * flags value, or D message). Values are data; only {= =}'s own text is
 * ever compiled.
 *
 * The co-process is perl's fd 3 (close-on-exec there too: a process the
 * code starts must not keep parc from seeing perl's end); its stdin is
 * /dev/null and its stdout and stderr are parc's (GNU's code may print). It ends when it reads EOF:
 * when parc drops the last hold, exits or is killed; and with parc's main
 * thread (PR_SET_PDEATHSIG), should it be busy in an expression then. It
 * is in its own process group, so Ctrl-C reaches parc only (which then
 * ends it). One lock serialises a job's evaluations (begin .. end); hold,
 * drop and compile happen at parse time, before any lane. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_perl.h"

/* GNU's helpers, then the loop that answers parc. _compile comes before
 * the program's own lexicals, so that no expression sees them. The code
 * runs in a for(0) of its own: a next, last or redo of the code's leaves
 * that, with an empty value (GNU's), not the loop that reads parc's
 * frames, which would leave parc waiting for an answer for ever. A signal
 * handler of the code's makes sysread and syswrite fail with EINTR: they
 * are tried again. */
static const char PROGRAM[] =
    "package Arg;no strict;no warnings;\n"
    "sub _compile{eval \"sub { no strict; no warnings; my \\$job = shift; "
    "$_[0] }\"}\n"
    "$0='parc run {= =}';$|=1;\n"
    "open(my $S,'+<&=',3) or exit 1;binmode $S;fcntl($S,2,1);\n"
    "my($job,$unq,@val,@code);\n"
    "sub _read{my($n,$b)=($_[0],'');while(length($b)<$n){\n"
    " my $r=sysread($S,$b,$n-length($b),length($b));\n"
    " next if !defined($r)&&$!{EINTR};return undef if !$r}$b}\n"
    "sub _reply{my $p=pack('(N/a*)*',@_);my $f=pack('N',length($p)).$p;\n"
    " while(length($f)){my $w=syswrite($S,$f);\n"
    "  next if !defined($w)&&$!{EINTR};exit 0 if !$w;substr($f,0,$w)=''}}\n"
    "sub Q($){local $_=$_[0];return \"''\" if !defined($_)||$_ eq '';\n"
    " return $_ if !/[^-_.+a-z0-9\\/]/i;\n"
    " s/'/'\"'\"'/g;$_=\"'$_'\";s/^''//;s/''$//;$_}\n"
    "sub pQ($){my $a=$_[0];$a=~s/[\\\\\\\"\\$\\@]/\\\\$&/g if defined $a;$a}\n"
    "sub uq(){$unq=1}\n"
    "sub skip(){$job->skip()}\n"
    "sub seq(){$job->seq()}\n"
    "sub slot(){$job->slot()}\n"
    "sub total_jobs(){$job->{total}}\n"
    "sub hash($){require B;B::hash(@_)}\n"
    "sub _now{require POSIX;POSIX::strftime($_[0],localtime(time()))}\n"
    "sub yyyy_mm_dd_hh_mm_ss(){_now('%Y-%m-%dT%H:%M:%S')}\n"
    "sub yyyy_mm_dd_hh_mm(){_now('%Y-%m-%dT%H:%M')}\n"
    "sub yyyy_mm_dd(){_now('%Y-%m-%d')}\n"
    "sub hh_mm_ss(){_now('%H:%M:%S')}\n"
    "sub hh_mm(){_now('%H:%M')}\n"
    "sub yyyymmddhhmmss(){_now('%Y%m%d%H%M%S')}\n"
    "sub yyyymmddhhmm(){_now('%Y%m%d%H%M')}\n"
    "sub yyyymmdd(){_now('%Y%m%d')}\n"
    "sub hhmmss(){_now('%H%M%S')}\n"
    "sub hhmm(){_now('%H%M')}\n"
    "sub CommandLine::seq{$_[0]{seq}}\n"
    "sub CommandLine::slot{$_[0]{slot}}\n"
    "sub CommandLine::skip{$_[0]{skip}=1}\n"
    "while(defined(my $h=_read(4))){\n"
    " my $p=_read(unpack('N',$h));last if !defined $p;\n"
    " my($t,@f)=unpack('(N/a*)*',$p);\n"
    " if($t eq 'J'){my($seq,$slot,$total)=splice(@f,0,3);\n"
    "  $job=bless{seq=>$seq,slot=>$slot,total=>$total},'CommandLine';\n"
    "  @val=@f;*arg=[undef,@f];\n"
    " }elsif($t eq 'V'){my($r,$ok,$in)=('');$unq=0;\n"
    "  for(0){last if $in++;$ok=eval{local $_=$val[$f[1]]//'';\n"
    "   $code[$f[0]]->($job);$r=defined($_)?\"$_\":'';1}?1:0}\n"
    "  if(defined($ok)&&!$ok){_reply('D',\"$@\");next}\n"
    "  utf8::encode($r) if utf8::is_utf8($r);\n"
    "  _reply('R',($unq?1:0)|($job->{skip}?2:0),$r);\n"
    " }elsif($t eq 'C'){my $s=_compile($f[0]);\n"
    "  if($s){push(@code,$s);_reply('O')}else{_reply('E',\"$@\")}}\n"
    "}\n";

static struct {
  pthread_mutex_t lock; /* a job's evaluations, begin .. end */
  pid_t pid;            /* the co-process, 0: none */
  int fd;               /* parc's end of the socket pair, or -1 */
  int dead;             /* it is gone: every evaluation fails */
  size_t holds;         /* templates that use it */
  char **code;          /* the expressions compiled, by id */
  size_t ncode;
  run_buf io; /* a frame being built or read */
  /* the job of begin .. end */
  size_t seq, total, nval;
  unsigned slot;
  const char *const *val;
  int job_sent; /* its J frame went with an evaluation */
} perl = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* For run_perl_interrupt, from another thread: the co-process's pid, 0
 * from just before it is reaped (a pid not yet reaped is not used again);
 * and whether it was interrupted (its end is then no news). */
static _Atomic pid_t live_pid;
static _Atomic int interrupted;

/* ------------------------------------------------------------ frames */

static int put_u32(run_buf *b, size_t n) {
  unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                        (unsigned char)(n >> 8), (unsigned char)n};
  return run_buf_add(b, h, 4);
}

static uint32_t get_u32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 |
         u[3];
}

static int put_field(run_buf *b, const char *s, size_t n) {
  if (n > UINT32_MAX - 4)
    return -1;
  return put_u32(b, n) || run_buf_add(b, s, n) ? -1 : 0;
}

static int put_num(run_buf *b, size_t v) {
  char num[32];
  int n = snprintf(num, sizeof num, "%zu", v);
  return put_field(b, num, (size_t)n);
}

/* Starts a frame at the end of b; frame_end writes its length. */
static size_t frame_begin(run_buf *b, const char *type) {
  size_t at = b->len;
  if (put_u32(b, 0) || put_field(b, type, 1))
    return SIZE_MAX;
  return at;
}

static int frame_end(run_buf *b, size_t at) {
  if (at == SIZE_MAX || b->len - at - 4 > UINT32_MAX)
    return -1;
  size_t n = b->len - at - 4;
  b->data[at] = (char)(n >> 24);
  b->data[at + 1] = (char)(n >> 16);
  b->data[at + 2] = (char)(n >> 8);
  b->data[at + 3] = (char)n;
  return 0;
}

/* All n bytes to perl (out) or from it, short transfers and EINTR
 * continued. 0, or -1 when it is gone. */
static int transfer(char *p, size_t n, int out) {
  while (n > 0) {
    ssize_t k = out ? send(perl.fd, p, n, MSG_NOSIGNAL) : read(perl.fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

/* Sends perl.io and reads the answer back into it: its first `max`
 * fields into f[] (pointers into perl.io), *nf of them. 0 or -1 (the
 * co-process is gone, or out of memory: *oom says which). */
typedef struct field {
  const char *p;
  size_t n;
} field;

static int reap(void);

static int ask(field *f, size_t max, size_t *nf, int *oom) {
  char h[4];
  *oom = 0;
  if (transfer(perl.io.data, perl.io.len, 1) != 0 || transfer(h, 4, 0) != 0)
    return -1;
  size_t n = get_u32(h);
  if (perl.io.cap < n + 1) {
    char *d = realloc(perl.io.data, n + 1);
    if (d == NULL) { /* the reply stays unread: no frame is ours any more */
      *oom = 1;
      perl.dead = 1;
      reap();
      return -1;
    }
    perl.io.data = d;
    perl.io.cap = n + 1;
  }
  perl.io.len = 0;
  if (transfer(perl.io.data, n, 0) != 0)
    return -1;
  perl.io.len = n;
  *nf = 0;
  for (size_t at = 0; at + 4 <= n && *nf < max;) {
    size_t len = get_u32(perl.io.data + at);
    if (len > n - at - 4)
      return -1; /* not a frame of ours */
    f[(*nf)++] = (field){perl.io.data + at + 4, len};
    at += 4 + len;
  }
  return *nf > 0 ? 0 : -1;
}

/* ------------------------------------------------------------ process */

/* The child, between fork and exec: only async-signal-safe calls. */
static void child(int fd, pid_t parent, char *const argv[], long maxfd) {
  sigset_t none;
  sigemptyset(&none);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
    _exit(126); /* parc is gone already */
  setpgid(0, 0);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL); /* parc ignores it */
  int s = fcntl(fd, F_DUPFD, 10), null = open("/dev/null", O_RDONLY);
  if (s < 0 || null < 0 || dup2(null, 0) < 0 || dup2(s, 3) < 0)
    _exit(126);
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
#endif
    for (long k = 4; k < maxfd; k++) close((int)k);
  execv(RUN_PERL_PATH, argv);
  _exit(127);
}

static int start(run_err err) {
  static char *const argv[] = {RUN_PERL_PATH, "-e", (char *)PROGRAM, NULL};
  int sv[2];
  if (access(RUN_PERL_PATH, X_OK) != 0)
    return run_fail(err, "{= perl =} needs %s: %s", RUN_PERL_PATH,
                    strerror(errno));
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return run_fail(err, "{= perl =}: cannot start %s: %s", RUN_PERL_PATH,
                    strerror(errno));
  long maxfd = sysconf(_SC_OPEN_MAX);
  if (maxfd < 0 || maxfd > 65536)
    maxfd = 65536;
  pid_t parent = getpid(), pid = fork();
  if (pid == 0)
    child(sv[1], parent, argv, maxfd);
  int e = errno;
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return run_fail(err, "{= perl =}: cannot start %s: %s", RUN_PERL_PATH,
                    strerror(e));
  }
  perl.pid = pid;
  perl.fd = sv[0];
  atomic_store(&live_pid, pid);
  perl.dead = 0;
  return 0;
}

/* Ends the co-process and reaps it: EOF first, on which it exits at once;
 * killed if it has not within a second (busy in an END block of the
 * code's, or it wrote what is no frame of ours). Its wait status. */
static int reap(void) {
  int st = 0;
  if (perl.fd >= 0)
    close(perl.fd);
  perl.fd = -1;
  if (perl.pid <= 0)
    return 0;
  atomic_store(&live_pid, 0);
  struct pollfd p = {(int)syscall(SYS_pidfd_open, perl.pid, 0), POLLIN, 0};
  if (p.fd < 0 || poll(&p, 1, 1000) != 1)
    kill(perl.pid, SIGKILL);
  if (p.fd >= 0)
    close(p.fd);
  while (waitpid(perl.pid, &st, 0) < 0 && errno == EINTR) {
  }
  perl.pid = 0;
  return st;
}

/* It stopped answering: it is ended and *why says how; every evaluation
 * fails from then on. */
static void gone(char *why, size_t n) {
  perl.dead = 1;
  int st = reap();
  if (WIFSIGNALED(st))
    snprintf(why, n, "perl ended (signal %d)", WTERMSIG(st));
  else
    snprintf(why, n, "perl ended (exit status %d)", WEXITSTATUS(st));
}

int run_perl_hold(run_err err) {
  if (perl.holds == 0 && perl.pid == 0 && start(err) != 0)
    return -1;
  perl.holds++;
  return 0;
}

void run_perl_drop(void) {
  if (perl.holds == 0 || --perl.holds > 0)
    return;
  reap();
  for (size_t i = 0; i < perl.ncode; i++) free(perl.code[i]);
  free(perl.code);
  perl.code = NULL;
  perl.ncode = 0;
  run_buf_free(&perl.io);
  perl.dead = 0;
}

/* ------------------------------------------------------------ compile */

/* perl's message as one line: its newlines made spaces, none at the end. */
static void one_line(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
  for (char *p = s; *p; p++)
    if (*p == '\n')
      *p = ' ';
}

static int compile(char *code, int *id, run_err err) {
  field f[2];
  size_t nf;
  int oom;
  perl.io.len = 0;
  size_t at = frame_begin(&perl.io, "C");
  if (put_field(&perl.io, code, strlen(code)) || frame_end(&perl.io, at))
    return run_fail(err, "out of memory");
  if (ask(f, 2, &nf, &oom) != 0 ||
      (f[0].n != 1 || (f[0].p[0] != 'O' && f[0].p[0] != 'E'))) {
    char why[64];
    if (oom)
      return run_fail(err, "out of memory");
    gone(why, sizeof why);
    return run_fail(err, "{= %s =}: %s", code, why);
  }
  if (f[0].p[0] == 'E') {
    char *msg = nf > 1 ? strndup(f[1].p, f[1].n) : NULL;
    if (msg)
      one_line(msg);
    run_fail(err, "cannot use {= %s =}: %s", code, msg ? msg : "?");
    free(msg);
    return -1;
  }
  char **c = realloc(perl.code, (perl.ncode + 1) * sizeof *c);
  if (c == NULL)
    return run_fail(err, "out of memory");
  perl.code = c;
  *id = (int)perl.ncode;
  perl.code[perl.ncode++] = code;
  return 0;
}

int run_perl_compile(const char *code, size_t n, int *id, run_err err) {
  for (size_t i = 0; i < perl.ncode; i++)
    if (strlen(perl.code[i]) == n && memcmp(perl.code[i], code, n) == 0) {
      *id = (int)i;
      return 0;
    }
  char *copy = strndup(code, n);
  if (copy == NULL)
    return run_fail(err, "out of memory");
  pthread_mutex_lock(&perl.lock);
  int rc = compile(copy, id, err);
  pthread_mutex_unlock(&perl.lock);
  if (rc != 0)
    free(copy);
  return rc;
}

/* ------------------------------------------------------------ evaluate */

void run_perl_begin(size_t seq, unsigned slot, size_t total,
                    const char *const *val, size_t nval) {
  pthread_mutex_lock(&perl.lock);
  perl.seq = seq;
  perl.slot = slot;
  perl.total = total;
  perl.val = val;
  perl.nval = nval;
  perl.job_sent = 0;
}

void run_perl_end(void) {
  perl.val = NULL;
  pthread_mutex_unlock(&perl.lock);
}

/* The job (with the first evaluation), then the evaluation. */
static int eval_frames(int id, size_t k) {
  run_buf *b = &perl.io;
  b->len = 0;
  if (!perl.job_sent) {
    size_t at = frame_begin(b, "J");
    if (put_num(b, perl.seq) || put_num(b, perl.slot) || put_num(b, perl.total))
      return -1;
    for (size_t i = 0; i < perl.nval; i++)
      if (put_field(b, perl.val[i], strlen(perl.val[i])))
        return -1;
    if (frame_end(b, at))
      return -1;
  }
  size_t at = frame_begin(b, "V");
  return put_num(b, (size_t)id) || put_num(b, k) || frame_end(b, at) ? -1 : 0;
}

static int died(const char *code, const field *msg) {
  size_t n = msg->n;
  while (n > 0 && msg->p[n - 1] == '\n') n--;
  fprintf(stderr, "parc run: {= %s =}: %.*s\n", code, (int)n, msg->p);
  return RUN_PERL_DIED;
}

int run_perl_eval(int id, size_t k, run_buf *out, int *flags) {
  field f[3];
  size_t nf;
  int oom;
  const char *code = perl.code[id];
  *flags = 0;
  if (perl.dead)
    return RUN_PERL_DIED;
  if (eval_frames(id, k) != 0)
    return -1;
  int rc = ask(f, 3, &nf, &oom);
  if (rc != 0 && oom)
    return -1;
  perl.job_sent = 1;
  if (rc == 0 && f[0].n == 1 && f[0].p[0] == 'D' && nf > 1)
    return died(code, &f[1]);
  if (rc != 0 || nf < 3 || f[0].n != 1 || f[0].p[0] != 'R' || f[1].n != 1) {
    char why[64];
    gone(why, sizeof why);
    if (!atomic_load(&interrupted))
      fprintf(stderr, "parc run: {= %s =}: %s\n", code, why);
    return RUN_PERL_DIED;
  }
  *flags = f[1].p[0] - '0';
  out->len = 0;
  return run_buf_add(out, f[2].p, strnlen(f[2].p, f[2].n)) ||
                 run_buf_add(out, "", 1)
             ? -1
             : 0;
}

void run_perl_interrupt(void) {
  pid_t pid = atomic_load(&live_pid);
  atomic_store(&interrupted, 1);
  if (pid > 0)
    kill(pid, SIGKILL);
}
