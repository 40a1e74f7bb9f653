#!/usr/bin/env bash
# A SIGINT that comes while `parc run` starts up never kills it by the
# default action: parc exits as for an interrupt (130, no job started,
# nothing half written). Three moments: the signal already pending when
# parc starts (the earliest there is), while parc reads its inputs from
# stdin (Ctrl-C must still end it at once), and while it reads a large job
# log for --resume. A small Perl wrapper tells "exit 130" from "killed by
# SIGINT" (a shell sees 130 for both).
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir m

# sig.pl MODE DELAY COUNT CMD...: runs CMD and writes "exit N" or
# "signal N" to $SIG_RES. MODE pending: SIGINT is pending (and blocked) when CMD
# starts. MODE after: COUNT SIGINTs, the first DELAY s after parc has taken
# SIGINT over (its main thread blocks it: /proc/PID/status, SigBlk), which
# on a busy machine may be long after the exec -- before that, no program
# can keep a signal from its default action.
cat >sig.pl <<'EOF'
use strict;
use POSIX qw(:signal_h :sys_wait_h);
my ($mode, $delay, $count, @cmd) = @ARGV;
$SIG{INT} = 'DEFAULT';
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0) {
  if ($mode eq 'pending') {
    sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGINT));
    kill 'INT', $$;
  }
  exec { $cmd[0] } @cmd or POSIX::_exit(127);
}
sub blocks_sigint { # parc itself (exec done: perl blocks signals around
  # its fork) has taken SIGINT over; gone: stop waiting
  open(my $cl, '<', "/proc/$pid/cmdline") or return 1;
  my $argv0 = (split /\0/, scalar <$cl>)[0] // '';
  return 0 if $argv0 ne $cmd[0];
  open(my $st, '<', "/proc/$pid/status") or return 1;
  while (<$st>) { return hex($1) & 2 if /^SigBlk:\s*([0-9a-f]+)/; }
  return 1;
}
if ($mode eq 'after') {
  for (1 .. 2000) { last if blocks_sigint(); select(undef, undef, undef, 0.005); }
  select(undef, undef, undef, $delay);
  for (1 .. $count) { kill 'INT', $pid; select(undef, undef, undef, 0.01); }
}
waitpid($pid, 0);
open(my $res, '>', $ENV{SIG_RES}) or die "$ENV{SIG_RES}: $!";
print $res WIFSIGNALED($?) ? "signal " . WTERMSIG($?) : "exit " . WEXITSTATUS($?), "\n";
EOF
export SIG_RES=$T/.sig.res
sig() { rm -f "$SIG_RES"; perl "$T/sig.pl" "$@" >/dev/null 2>&1; cat "$SIG_RES"; }

printf '#!/bin/sh\necho x >> m/$1\necho acc=$1\n' >job.sh

# --- pending at the start, many times -----------------------------------
bad=""
for i in $(seq 20); do
  rm -rf jl R m/*
  got=$(sig pending 0 0 "$PARC" run --joblog jl --results R --grid x=1:4 sh job.sh '{x}')
  [ "$got" = "exit 130" ] || bad="$bad [$i: $got]"
  [ -z "$(ls m)" ] || bad="$bad [$i: a job ran]"
  [ ! -s jl ] || [ "$(count_lines jl)" = 0 ] || bad="$bad [$i: joblog written]"
  [ ! -e R/results.csv ] || bad="$bad [$i: results.csv written]"
done
check_eq "SIGINT pending at the start (20 times): exit 130, no job, nothing written" "" "$bad"

# --- while the inputs are read from stdin --------------------------------
mkfifo in
exec 3<>in # a writer that never writes: parc waits on stdin
rm -rf jl R
t0=$(date +%s)
got=$(sig after 0.5 2 "$PARC" run --joblog jl --results R sh job.sh <&3)
t1=$(date +%s)
exec 3>&-
check_eq "SIGINT while stdin is read: an interrupt, not the default action" "exit 130" "$got"
check_true "SIGINT while stdin is read: parc ended at once ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 10 ]
check_absent "SIGINT while stdin is read: no job log written" jl
check_absent "SIGINT while stdin is read: no results directory made" R

# --- while a large job log is read for --resume ------------------------------
# 60000 jobs, all but the first 10 logged as done: the start-up reads the
# log and decides for every job; a SIGINT then is honoured once that is
# done. (If it lands after the start-up on a slow machine, it is the
# usual interrupt: still exit 130, the log only gains complete lines.)
N=60000
awk -v n=$N 'BEGIN {
  print "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
  for (i = 11; i <= n; i++)
    printf "%d\t:\t1700000000.000\t     0.010\t0\t0\t0\t0\tsh job.sh %d\n", i, i }' >jl.orig
bad="" early=0
for i in $(seq 10); do
  rm -f m/*
  cp jl.orig jl
  got=$(sig after "0.0$((i % 5 + 1))" 3 "$PARC" run --resume --joblog jl --grid x=1:$N sh job.sh '{x}')
  # (on a quick machine the 10 jobs may all be done before the signal:
  # then the run ended normally, and that is right too)
  all_done=$(($(count_lines jl) == $(count_lines jl.orig) + 10))
  [ "$got" = "exit 130" ] || { [ "$got" = "exit 0" ] && [ "$all_done" = 1 ]; } ||
    bad="$bad [$i: $got]"
  head -c "$(wc -c <jl.orig)" jl | cmp -s - jl.orig || bad="$bad [$i: log changed]"
  [ -z "$(tail -c 1 jl)" ] || bad="$bad [$i: partial line]"
  # (a job stopped by the interrupt may have left its marker, unlogged)
  [ "$(count_lines jl)" -le "$(($(count_lines jl.orig) + $(ls m | wc -l)))" ] ||
    bad="$bad [$i: a line without its job]"
  [ -n "$(ls m)" ] || early=$((early + 1))
done
check_eq "SIGINT while --resume reads a large log (10 times): exit 130, log intact" "" "$bad"
check_true "at least one SIGINT came during the start-up ($early of 10)" [ "$early" -ge 1 ]
check_absent "no temporary job log left" jl.tmp

done_testing
