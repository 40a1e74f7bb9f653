#!/usr/bin/env bash
# The lock of a run's files: while a `parc run` writes a job log or a
# results directory, or while any job of one that was killed still runs
# (each job inherits the lock), a second run on the same job log or
# results directory refuses: one line naming the file and why, exit 255
# (as every error before a job runs), nothing written. Once the orphaned jobs are gone it runs. A --dry-run
# takes no lock; other files are not held up.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir p m

# Each job runs until the file `go` exists (60 s at most).
job='echo $$ > p/{}; i=0; until [ -e go ] || [ $i -gt 1200 ]; do sleep 0.05; i=$((i+1)); done'
job="$job; echo x >> m/{}; echo acc={}"
args=(-j 2 --joblog jl --results R --shell "$job" ::: 1 2)

# A run killed by SIGKILL leaves its two jobs running as orphans.
start_parc_bg "${args[@]}"
count_pids() { [ "$(ls p | wc -l)" -ge 2 ] || gone "$BG_PID"; }
wait_for 30 count_pids || fail "jobs did not start"
kill -KILL "$BG_PID"
wait "$BG_PID" 2>/dev/null
orphans=$(cat p/*)
BG_PIDS+=($orphans) # killed on the way out if a check fails
for o in $orphans; do gone "$o" && fail "job $o ended before the checks"; done
ok "SIGKILL of parc left its jobs running"

snapshot() { ls -R R; cat jl R/results.csv 2>/dev/null | cksum; }
before=$(snapshot)
run_parc --resume "${args[@]}"
check_rc "resume while orphaned jobs run: refused" 255
check_eq "refused: one line on stderr" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
check_match "refused: names the file and says why" \
  "^parc run: (job log 'jl'|results directory 'R') is in use: .*killed.*nothing was done" "$ERR"
check_not_contains "refused: not a usage error" "--help" "$ERR"
check_eq "refused: nothing printed on stdout" "" "$OUT"
check_eq "refused: nothing written" "$before" "$(snapshot)"
check_eq "refused: no job ran" "" "$(ls m)"

held=$(for o in $orphans; do ls -l "/proc/$o/fd" 2>/dev/null; done)
check_contains "the orphaned jobs hold the job log's lock" "$(pwd -P)/jl" "$held"
check_contains "the orphaned jobs hold the results directory's lock" "$(pwd -P)/R" "$held"

run_parc --joblog jl --results R2 echo ::: a
check_rc "another results directory, the same job log: refused" 255
check_contains "refused on the job log" "job log 'jl' is in use" "$ERR"
check_absent "refused: the new results directory was not created" R2

run_parc --results R --joblog jl2 echo ::: a
check_rc "the same results directory, another job log: refused" 255
check_contains "refused on the results directory" "results directory 'R' is in use" "$ERR"
check_absent "refused: the new job log was not created" jl2

run_parc --dry-run --resume "${args[@]}"
check_rc "--dry-run while locked (it writes nothing, takes no lock)" 0
check_eq "--dry-run prints the jobs the log lacks" 2 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"

run_parc --joblog jl3 --results R3 echo ::: a
check_rc "other files are not held up" 0

touch go
check_gone "the orphaned jobs end" $orphans
check_eq "the orphans ran to their end" "x x" "$(cat m/1 m/2 | tr '\n' ' ' | sed 's/ $//')"
run_parc --resume "${args[@]}"
check_rc "resume once the orphans are gone" 0
check_eq "each job has one job log line" "1 2" \
  "$(awk -F'\t' 'NR > 1 { print $1 }' jl | sort -n | tr '\n' ' ' | sed 's/ $//')"
check_eq "each job has one row" "1 2" \
  "$(awk -F, 'NR > 1 { print $1 }' R/results.csv | sort -n | tr '\n' ' ' | sed 's/ $//')"

# A run that is alive holds its files too; they are free once it ends.
rm -rf p/* R jl go
start_parc_bg -j 1 --joblog jl --results R --shell "$job" ::: 1
wait_for 30 test -s p/1 || fail "job did not start"
run_parc --joblog jl echo ::: b
check_rc "a second run while the first runs: refused" 255
touch go
wait_parc_bg 30
check_rc "the first run" 0
run_parc --joblog jl --results R echo ::: c
check_rc "the files are free once the first run has ended" 0

done_testing
