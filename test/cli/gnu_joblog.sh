#!/usr/bin/env bash
# --joblog as GNU parallel 20221122 writes it (the expected outputs are
# GNU's, Starttime and JobRuntime masked): FILE is cut when a run starts
# (unless it resumes), +FILE is appended to without a header, - is stdout
# (header first, each line right after its job's output); Exitval and
# Signal of a job that exits, is killed, times out or cannot start; Send and
# Receive; the lines in input order with -k.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
H=$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')
# norm: Starttime and JobRuntime masked, their format checked on the way.
norm() {
  awk -F'\t' 'BEGIN { OFS = "\t" }
    NF >= 9 && $1 != "Seq" {
      if ($3 !~ /^[0-9]+\.[0-9][0-9][0-9]$/) $3 = "BAD-START:" $3; else $3 = "T"
      if ($4 !~ /^ *[0-9]+\.[0-9][0-9][0-9]$/ || length($4) < 10) $4 = "BAD-RUNTIME:" $4
      else $4 = "R"
    } { print }' "$@"
}
tabs() { printf '%s\n' "$@" | sed -e 's/|/\t/g'; }

# --- FILE is cut, +FILE appended -------------------------------------------
printf 'old line\n' >jl
run_parc -k -j1 --joblog jl echo ::: a b
check_rc "a run with an existing job log" 0
check_eq "an existing log is cut to the header and this run's lines" \
  "$H
$(tabs '1|:|T|R|0|2|0|0|echo a' '2|:|T|R|0|2|0|0|echo b')" "$(norm jl)"

run_parc -k -j1 --joblog +jl echo ::: c
check_eq "+FILE appends, no second header" \
  "$H
$(tabs '1|:|T|R|0|2|0|0|echo a' '2|:|T|R|0|2|0|0|echo b' '1|:|T|R|0|2|0|0|echo c')" \
  "$(norm jl)"
check_eq "+FILE: the job's output" c "$OUT"

run_parc --joblog +new echo ::: d
check_eq "+FILE that does not exist: no header at all" \
  "$(tabs '1|:|T|R|0|2|0|0|echo d')" "$(norm new)"

run_parc --joblog empty echo :::: /dev/null
check_eq "no jobs: the header alone" "$H" "$(norm empty)"

# --- - is stdout --------------------------------------------------------
run_parc -k -j1 --joblog - echo out ::: a b
check_rc "--joblog -" 0
check_eq "--joblog -: header first, each line after its job's output" \
  "$H
out a
$(tabs '1|:|T|R|0|6|0|0|echo out a')
out b
$(tabs '2|:|T|R|0|6|0|0|echo out b')" "$(norm "$OUT_FILE")"
check_absent "--joblog -: no file named -" ./-

# --- Exitval, Signal, Receive ---------------------------------------------
run_parc -k -j1 --joblog jl2 ::: 'exit 3' 'kill -9 $$' 'kill -TERM $$' \
  'nosuchcmd_zz 2>/dev/null' 'printf abc' 'printf abc >&2'
check_rc "six jobs, four fail" 4
check_eq "Exitval/Signal: exit 3; killed by KILL and TERM (0 and the signal); not found 127; Receive: stdout's bytes" \
  "$H
$(tabs '1|:|T|R|0|0|3|0|exit 3' '2|:|T|R|0|0|0|9|kill -9 $$' \
       '3|:|T|R|0|0|0|15|kill -TERM $$' '4|:|T|R|0|0|127|0|nosuchcmd_zz 2>/dev/null' \
       '5|:|T|R|0|3|0|0|printf abc' '6|:|T|R|0|0|0|0|printf abc >&2')" "$(norm jl2)"

run_parc -k -j1 --joblog jl3 --timeout 0.5 ::: 'sleep 30'
check_eq "a job that timed out: Exitval -1, Signal 15" \
  "$H
$(tabs '1|:|T|R|0|0|-1|15|sleep 30')" "$(norm jl3)"

# parc runs a command without a shell when it can: one that is not there
# cannot start, and is logged as GNU's shell logs it.
run_parc --joblog jl4 nosuchcmd_zz ::: a
check_eq "a job that could not start: Exitval 127" \
  "$H
$(tabs '1|:|T|R|0|0|127|0|nosuchcmd_zz a')" "$(norm jl4)"

# --- order ----------------------------------------------------------------
run_parc -k -j3 --joblog jl5 ::: 'sleep 0.6; echo 0.6' 'sleep 0.1; echo 0.1' \
  'sleep 0.3; echo 0.3'
check_eq "-k: the lines in input order, as the outputs" \
  "$H
$(tabs '1|:|T|R|0|4|0|0|sleep 0.6; echo 0.6' '2|:|T|R|0|4|0|0|sleep 0.1; echo 0.1' \
       '3|:|T|R|0|4|0|0|sleep 0.3; echo 0.3')" "$(norm jl5)"
run_parc -j3 --joblog jl6 ::: 'sleep 0.6; echo 0.6' 'sleep 0.1; echo 0.1'
check_eq "without -k: in the order the jobs end" "2 1" \
  "$(awk -F'\t' 'NR > 1 { printf "%s%s", sep, $1; sep = " " }' jl6)"

# --- Command: a newline is written as a NUL byte, as GNU's ----------------
# (GNU's own case: a template with a newline, logged as 'echo x\0echo a'.)
run_parc --joblog jl7 'echo x
echo {}' ::: a
check_eq "a newline in Command is a NUL" 'echo x@echo a' \
  "$(tr '\0' '@' <jl7 | awk -F'\t' 'NR == 2 { print $9 }')"

done_testing
