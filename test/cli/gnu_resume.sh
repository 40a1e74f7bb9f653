#!/usr/bin/env bash
# --resume, --resume-failed and --retry-failed: GNU parallel 20221122's
# behaviour (the expected outputs are GNU's, Starttime and JobRuntime
# masked) with --resume-by seq, where a job is done when the log has its
# Seq; and parc's default keying by the command line, where a job is done
# when the log has its command (so a grown or reordered input resumes).
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
H=$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')
norm() {
  awk -F'\t' 'BEGIN { OFS = "\t" } NF >= 9 && $1 != "Seq" { $3 = "T"; $4 = "R" } { print }' "$@"
}
tabs() { printf '%s\n' "$@" | sed -e 's/|/\t/g'; }
# log FILE LINE...: a job log with GNU's header and these lines ('|': TAB).
log() {
  local f=$1
  shift
  { echo "$H"; tabs "$@"; } >"$f"
}

# --- --resume --resume-by seq: GNU's ----------------------------------------
log r1 '2|:|1.000|     0.001|0|2|0|0|echo zzz'
run_parc -k -j1 --resume --resume-by seq --joblog r1 echo ::: a b c
check_rc "--resume-by seq" 0
check_eq "--resume-by seq: Seq 2 is logged, so job 2 does not run" "$(lines a c)" "$OUT"
check_eq "--resume-by seq: the log is appended to" "$H
$(tabs '2|:|T|R|0|2|0|0|echo zzz' '1|:|T|R|0|2|0|0|echo a' '3|:|T|R|0|2|0|0|echo c')" \
  "$(norm r1)"

log s1 '1|:|1.000|     0.001|0|2|0|0|echo a'
run_parc -k -j1 --resume --resume-by seq --joblog s1 echo ::: b a c
check_eq "--resume-by seq: a reordered input skips by position" "$(lines a c)" "$OUT"
check_eq "--resume-by seq: reordered, the log" "$H
$(tabs '1|:|T|R|0|2|0|0|echo a' '2|:|T|R|0|2|0|0|echo a' '3|:|T|R|0|2|0|0|echo c')" \
  "$(norm s1)"

log s2 '1|:|1.000|     0.001|0|2|1|0|echo a' '2|:|1.000|     0.001|0|2|0|0|echo b'
run_parc -k -j1 --resume-failed --resume-by seq --joblog s2 echo ::: b a c
check_eq "--resume-failed --resume-by seq: Seq 1 failed, runs again with today's input" \
  "$(lines b c)" "$OUT"
check_eq "--resume-failed --resume-by seq: the log" "$H
$(tabs '1|:|T|R|0|2|1|0|echo a' '2|:|T|R|0|2|0|0|echo b' '1|:|T|R|0|2|0|0|echo b' \
       '3|:|T|R|0|2|0|0|echo c')" "$(norm s2)"

# --- the default: keyed by the command line ----------------------------------
log k1 '1|:|1.000|     0.001|0|2|0|0|echo a'
run_parc -k -j1 --resume --joblog k1 echo ::: b a c
check_eq "--resume (by command): the command that is logged is skipped wherever it is" \
  "$(lines b c)" "$OUT"
check_eq "--resume (by command): Seq is the job's place in today's input" "$H
$(tabs '1|:|T|R|0|2|0|0|echo a' '1|:|T|R|0|2|0|0|echo b' '3|:|T|R|0|2|0|0|echo c')" \
  "$(norm k1)"
log k2 '1|:|1.000|     0.001|0|2|1|0|echo a' '2|:|1.000|     0.001|0|2|0|0|echo b'
run_parc -k -j1 --resume-failed --joblog k2 echo ::: b a c
check_eq "--resume-failed (by command): the failed command runs again, the good one not" \
  "$(lines a c)" "$OUT"

# --- resuming does not cut the log; an empty or missing one gets a header ----
rm -f r5
run_parc --resume --joblog r5 echo ::: a
check_eq "--resume with no log: a new one, header first" "$H
$(tabs '1|:|T|R|0|2|0|0|echo a')" "$(norm r5)"
: >r6
run_parc --resume --joblog r6 echo ::: a
check_eq "--resume with an empty log: header first" "$H
$(tabs '1|:|T|R|0|2|0|0|echo a')" "$(norm r6)"

# --- --retry-failed: the failed commands of the log, the command line ignored --
log r3 '1|:|1.000|     0.001|0|2|1|0|echo a' '2|:|1.000|     0.001|0|2|0|0|echo b' \
  '3|:|1.000|     0.001|0|2|2|0|echo c; exit 2'
run_parc -k -j1 --retry-failed --joblog r3 echo IGNORED ::: x y z w
check_rc "--retry-failed: one job fails again" 1
check_eq "--retry-failed: the log's failed commands, not the command line's" \
  "$(lines a c)" "$OUT"
check_eq "--retry-failed: appended, each with its Seq" "$H
$(tabs '1|:|T|R|0|2|1|0|echo a' '2|:|T|R|0|2|0|0|echo b' '3|:|T|R|0|2|2|0|echo c; exit 2' \
       '1|:|T|R|0|2|0|0|echo a' '3|:|T|R|0|2|2|0|echo c; exit 2')" "$(norm r3)"
run_parc -k -j1 --retry-failed --joblog r3
check_rc "--retry-failed again, no command" 1
check_eq "--retry-failed again: only the one still failing" c "$OUT"

log r4 '1|:|1.000|     0.001|0|2|1|0|echo one' '3|:|1.000|     0.001|0|2|0|9|echo three'
run_parc -k -j1 --retry-failed --joblog r4
check_rc "--retry-failed with a Seq missing" 0
check_eq "--retry-failed: a killed job is failed; a missing Seq is an empty command" \
  "$(lines one three)" "$OUT"
check_eq "--retry-failed: the log of a missing Seq" "$H
$(tabs '1|:|T|R|0|2|1|0|echo one' '3|:|T|R|0|2|0|9|echo three' '1|:|T|R|0|4|0|0|echo one' \
       '2|:|T|R|0|0|0|0|' '3|:|T|R|0|6|0|0|echo three')" "$(norm r4)"

# --- --pipe resumes by Seq: chunk 2 is logged ---------------------------------
seq 6 >in6
log p1 '2|:|1.000|     0.001|4|4|0|0|cat'
PARC_STDIN=in6 run_parc -k --pipe -N2 --resume --joblog p1 cat
check_eq "--pipe --resume: a logged chunk's job does not run" "$(lines 1 2 5 6)" "$OUT"
check_eq "--pipe --resume: the log" "$H
$(tabs '2|:|T|R|4|4|0|0|cat' '1|:|T|R|4|4|0|0|cat' '3|:|T|R|4|4|0|0|cat')" "$(norm p1)"

done_testing
