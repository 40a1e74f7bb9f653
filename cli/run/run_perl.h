/* run_perl.h -- GNU parallel's perl replacement strings, {= perl =} and
 * {=N perl =}, for parc run's templates (run_perl.c; the pieces of a
 * template: run_template.c).
 *
 * One perl co-process serves the whole process: each distinct expression
 * is compiled into a sub once, before any job; a job's values then go to
 * it as data, and each evaluation comes back as $_ afterwards. The perl
 * process lives while a template holds it; it also ends when parc dies. */
#ifndef CLI_RUN_PERL_H
#define CLI_RUN_PERL_H

#include <stddef.h>

#include "run.h"

/* perl-base is Essential in Debian: always there. (The fuzz build names
 * one that is not, so that no fuzzed input runs perl code.) */
#ifndef RUN_PERL_PATH
#define RUN_PERL_PATH "/usr/bin/perl"
#endif

/* Takes a hold on the co-process, starting it at the first hold. 0, or
 * -1 with err set (it cannot start). Parse time, one thread. */
int run_perl_hold(run_err err);
/* Gives a hold back; with the last one the co-process ends (it reads EOF)
 * and is reaped, its expressions forgotten. */
void run_perl_drop(void);

/* The id of expression code[0..n) (the text between {= and =}, less the
 * position), compiled at its first sight. 0, or -1 with err set: perl
 * cannot compile it (GNU's "Cannot use"), or the co-process is gone. */
int run_perl_compile(const char *code, size_t n, int *id, run_err err);

/* One job's evaluations, between begin and end, which hold the
 * co-process's lock (expansions run in several lanes at once). val: the
 * job's values, which $_ is set from and @arg holds ($arg[1] the first);
 * seq, slot and total are what seq(), slot() and total_jobs() return. They
 * are sent with the first evaluation, so a job that asks for none costs
 * nothing. */
void run_perl_begin(size_t seq, unsigned slot, size_t total,
                    const char *const *val, size_t nval);
void run_perl_end(void);

/* What an evaluation says beyond its value. */
enum {
  RUN_PERL_UQ = 1,  /* uq() was called: the value is not quoted for sh */
  RUN_PERL_SKIP = 2 /* skip() was called: the job does not run */
};
/* An evaluation's outcomes: 0, or -1 (out of memory), or this: the code
 * died, or the co-process is gone (said on stderr, once). */
#define RUN_PERL_DIED 1
/* Evaluates expression id on the job's value k (between begin and end):
 * *out gets $_ afterwards (NUL-terminated; cut at a NUL in it), *flags
 * RUN_PERL_* bits. */
int run_perl_eval(int id, size_t k, run_buf *out, int *flags);

/* Ends the co-process at once, from any thread: parc's signal thread, on
 * SIGINT or SIGTERM (no job starts any more), so that code busy in an
 * expression does not keep parc from ending. The evaluation under way
 * fails (RUN_PERL_DIED), and says nothing. */
void run_perl_interrupt(void);

#endif
