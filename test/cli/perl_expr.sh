#!/usr/bin/env bash
# {= perl =} and {=N perl =}, GNU parallel's perl replacement strings: the
# code runs with $_ set to the value and the replacement is $_ afterwards.
# Every expected output below is what GNU parallel 20221122 printed for the
# same command line. Then what parc owes beyond GNU: the perl co-process
# never outlives parc, not even a SIGKILL, and no job sees its socket.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

printf '#!/bin/sh\nprintf "[%%s]\\n" "$@"\n' >args
chmod +x args
A=$T/args

run_parc -k "$A" '{= $_ = uc($_) =}' ::: ab
check_eq "{= \$_ = uc(\$_) =}" "[AB]" "$OUT"
check_rc "{= =}" 0
run_parc -k "$A" '{= s/\.gz$// =}' ::: a.gz b.tar.gz c
check_eq "{= s/\\.gz\$// =}" "$(lines '[a]' '[b.tar]' '[c]')" "$OUT"
run_parc -k "$A" {= '$_=uc' =} ::: ab
check_eq "a {= and its =} in words of their own are joined (GNU)" "[AB]" "$OUT"
run_parc -k "$A" 'x{= $_=uc =}y' ::: ab
check_eq "{= =} inside a word" "[xABy]" "$OUT"
run_parc -k "$A" '{= undef $_ =}' ::: a
check_eq "\$_ left undefined: empty" "[]" "$OUT"

# Positional: {=N code =} is {N} through the code; @arg holds all values.
run_parc -k "$A" '{=2 s/a/b/ =}' '{=1 $_=uc =}' ::: a1 a2 ::: xa ya
check_eq "{=2 ...=} {=1 ...=} with two sources" \
  "$(lines '[xb]' '[A1]' '[yb]' '[A1]' '[xb]' '[A2]' '[yb]' '[A2]')" "$OUT"
run_parc -k "$A" '{= $_=$arg[2].$arg[1] =}' ::: a ::: b
check_eq "@arg: the job's values, \$arg[1] the first" "$(lines '[ba]' '[ba]')" "$OUT"
run_parc -k "$A" '{=3 $_=uc =}' ::: a ::: b
check_rc "{=3 ...=} with two sources (as {3})" 255
check_contains "{=3 ...=} names the source" "refers to input source 3" "$ERR"
printf 'a,b\n1,x\n2,y\n' >hf
run_parc -k --header : --colsep , "$A" '{=b $_=uc =}' '{=a $_++ =}' :::: hf
check_eq "{=NAME code =}: a --header column" \
  "$(lines '[X]' '[2]' '[Y]' '[3]')" "$OUT"

# State between evaluations, and GNU's helpers.
run_parc -j1 -k "$A" '{= $n++; $_="$n:$_" =}' ::: a b c
check_eq "a global counter across jobs (-j1)" "$(lines '[1:a]' '[2:b]' '[3:c]')" "$OUT"
run_parc -j1 -k "$A" '{= $n++; $_="$n:$_" =}' '{= $n++; $_="$n:$_" =}' ::: x y
check_eq "the same code twice on a value: evaluated once (GNU)" \
  "$(lines '[1:x]' '[1:x]' '[2:y]' '[2:y]')" "$OUT"
run_parc -j1 -k "$A" '{= $_=seq()."/".total_jobs()." ".slot() =}' \
  '{= $_=$job->seq().$job->slot() =}' ::: a b c
check_eq "seq(), total_jobs(), slot(), \$job->seq(), \$job->slot()" \
  "$(lines '[1/3 1]' '[11]' '[2/3 1]' '[21]' '[3/3 1]' '[31]')" "$OUT"

run_parc -k -n0 "$A" '{= $_=seq() =}' ::: a b
check_eq "-n 0: the code runs on an empty value" "$(lines '[1]' '[2]')" "$OUT"

# -X repeats the word per value; -m puts the values in one word.
run_parc -j1 -k -X "$A" 'x{= $_=uc =}y' ::: a b c
check_eq "-X: x{= =}y per value" "$(lines '[xAy]' '[xBy]' '[xCy]')" "$OUT"
run_parc -j1 -k -m "$A" 'x{= $_=uc =}y' ::: a b c
check_eq "-m: x{= =}y around the values" "$(lines '[xA]' '[B]' '[Cy]')" "$OUT"

# In a shell line the result is quoted for sh as any value, unless uq().
run_parc -k 'echo {= $_=Q($_) =} | cat' ::: 'x y'
check_eq "Q(): quoted, then quoted again as a value" "'x y'" "$OUT"
run_parc -k echo '{= uq() =}' ::: 'a;echo b'
check_eq "uq(): the value is shell code (a shell line)" "$(lines a b)" "$OUT"
run_parc -k echo '{= $_=Q($_);uq() =}' ::: 'a  b'
check_eq "Q() and uq(): one argument" "a  b" "$OUT"
run_parc --dry-run -k echo '{= uq() =}' ::: 'a;echo b'
check_eq "--dry-run: uq()'s value as it is" "echo a;echo b" "$OUT"
run_parc --dry-run -k "$A" '{= $_=uc =}' ::: 'a b'
check_eq "--dry-run prints the evaluated line" "$A 'A B'" "$OUT"

# skip(): the job does not run; GNU logs it with Exitval -2, a failure.
run_parc -k --joblog jl "$A" '{= $_ eq "b" and skip() =}' ::: a b c
check_eq "skip(): the other jobs run" "$(lines '[a]' '[c]')" "$OUT"
check_rc "skip(): counted as failed (GNU)" 1
check_eq "skip(): the job log's Exitval -2" "$(lines 0 -2 0)" \
  "$(awk -F'\t' 'NR > 1 { print $7 }' jl)"
run_parc --dry-run -k "$A" '{= $_ eq "b" and skip() =}' ::: a b c
check_eq "skip() in --dry-run: every line printed (GNU)" \
  "$(lines "$A a" "$A b" "$A c")" "$OUT"
check_rc "skip() in --dry-run" 1

# perl's errors: a compile error before any job; a die stops the run.
run_parc -k 'touch ran; echo {= $_ = ( =}' ::: a
check_rc "a compile error is a usage error" 255
check_contains "a compile error names the code" 'cannot use {= $_ = ( =}: syntax error' "$ERR"
check_absent "a compile error: nothing ran" "$T/ran"
run_parc -k 'touch ran; echo {= $_=uc =}' '{= $_ = ( =}' ::: a
check_absent "every expression is compiled before the first job" "$T/ran"
run_parc -j1 -k "$A" '{= die "oops\n" if $_ eq "c" =}' ::: a b c d
check_eq "die: the jobs before it ran, none after (GNU)" "$(lines '[a]' '[b]')" "$OUT"
check_rc "die: parc stops" 255
check_contains "die: perl's message" 'parc run: {= die "oops\n" if $_ eq "c" =}: oops' "$ERR"

# next, last or redo in the code leave the code (an empty value, GNU's
# for next and last; GNU's redo loops for ever), never perl's loop that
# answers parc: parc then waited for an answer for ever.
PARC_TEST_LIMIT=10 run_parc -j1 -k "$A" 'x{= next =}' '{= last =}y' \
  '{= $_=uc; redo =}' ::: a b
check_eq "next, last, redo in the code: an empty value" \
  "$(lines '[x]' '[y]' '[]' '[x]' '[y]' '[]')" "$OUT"
check_rc "next, last, redo in the code" 0
# A signal handler of the code's: perl's reads from parc fail with EINTR
# while the job runs; they are tried again (perl ended there).
PARC_TEST_LIMIT=10 run_parc -j1 -k 'sleep 1.5; echo' \
  '{= $SIG{ALRM}=sub{}; alarm 1; $_=uc =}' ::: a b
check_eq "a signal handler in the code: perl goes on (GNU)" "$(lines A B)" \
  "$OUT"

# The co-process: one perl beside the jobs, none without {= =}; no job
# inherits its socket; parc reaps it at the end; it ends with parc, even a
# parc killed while the code is busy.
perl_of() { # PID: the perl co-process among its children
  local p s ppid
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = "parc run {= =}" ] || continue
    s=$(cat "$p/stat" 2>/dev/null) || continue
    read -r _ ppid _ <<<"${s##*) }"
    [ "$ppid" = "$1" ] && echo "${p#/proc/}"
  done
}
has_perl() { [ -n "$(perl_of "$1")" ]; }
# start_with_perl ARGS...: parc run ARGS in the background; $co: its perl
start_with_perl() {
  start_parc_bg "$@"
  wait_for 10 has_perl "$BG_PID" || fail "no perl beside parc"
  co=$(perl_of "$BG_PID")
  BG_PIDS+=("$co")
}
wait_job='touch up; while [ ! -e go ]; do sleep 0.05; done'
start_parc_bg "$wait_job # {}" ::: a
wait_for 10 test -e up || fail "the job did not start"
check_eq "without {= =}: no perl" "" "$(perl_of "$BG_PID")"
touch go
wait_parc_bg 10
rm -f up go
start_parc_bg "$wait_job # {= \$_=uc =}" ::: a
wait_for 10 test -e up || fail "the job did not start"
check_true "with {= =}: a perl beside the job" has_perl "$BG_PID"
touch go
wait_parc_bg 10

socks='ls -l /proc/self/fd | grep -c socket:'
run_parc "$socks; : {}" ::: a
plain=$OUT
run_parc "$socks; : {= \$_=uc =}" ::: a
check_eq "a job sees no descriptor of the perl co-process" "$plain" "$OUT"

left=$(python3 - "$PARC" <<'EOF'
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
r = subprocess.run([sys.argv[1], "run", "-k", "-j2", "echo", "{= $_=uc =}",
                    ":::", "a", "b"], capture_output=True)
try:
    os.waitpid(-1, os.WNOHANG)  # parc's orphans come to us
    print("left behind")
except ChildProcessError:
    print("none", r.returncode, r.stdout.decode().split())
EOF
)
check_eq "parc reaps its perl: nothing left behind" "none 0 ['A', 'B']" "$left"

start_with_perl -j2 'echo $$ > job.{#}; exec sleep 60 # {= $_=uc =}' ::: a b
wait_for 10 test -s job.2 || fail "the jobs did not start"
BG_PIDS+=($(cat job.1 job.2))
{ kill -KILL "$BG_PID" && wait "$BG_PID"; } 2>/dev/null
check_gone "parc killed by SIGKILL: its perl ends" "$co"

start_with_perl echo '{= sleep 60 =}' ::: a
sleep 0.3 # perl is in the code's sleep now
{ kill -KILL "$BG_PID" && wait "$BG_PID"; } 2>/dev/null
check_gone "parc killed while the code is busy: its perl ends" "$co"

# SIGTERM (or SIGINT) while code is busy in an expression: parc ends at
# once (perl is ended), with 128 + the signal and no message of perl's.
start_with_perl echo '{= 1 while 1 =}' ::: a
sleep 0.3 # perl is in the code's loop now
kill -TERM "$BG_PID"
wait_parc_bg 10
check_rc "SIGTERM while the code is busy: parc ends" 143
check_eq "SIGTERM while the code is busy: nothing said of perl" "" "$ERR"
check_gone "SIGTERM while the code is busy: its perl ends" "$co"

# die in a --tagstring's code stops the run, as in the command's (GNU)
run_parc -k --tagstring '{= die "x\n" if $_ eq "b" =}' echo {} ::: a b c
check_rc "die in a --tagstring's code: the run stops" 255
check_eq "die in a --tagstring's code: no job after it" "$(printf 'a\ta')" "$OUT"

done_testing
