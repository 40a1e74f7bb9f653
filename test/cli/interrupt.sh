#!/usr/bin/env bash
# Ctrl-C and SIGTERM: SIGINT in the middle of a 200-job sweep stops it with
# exit 130, no job process is left, and --resume then runs every job to
# completion exactly once (each job appends a line to its own marker file).
# SIGTERM gives 143; the whole process group of each job is stopped; a
# second signal kills at once.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir m p

# Each job records its pid, sleeps, then makes itself immune to TERM before
# writing its marker as its very last action: a job stopped by the interrupt
# either dies before the trap (no marker, exit by signal: recorded nowhere,
# re-run by --resume) or finishes and exits 0 by itself (marker written,
# recorded). Either way every job ends with exactly one marker line.
job='echo $$ > p/{}; sleep 0.05; trap "" TERM; echo x >> m/{}'
args=(-j 4 --grace 3 --joblog jl --results R --shell "$job" ::: $(seq 200))

start_parc_bg "${args[@]}"
count_markers() { [ "$(ls m | wc -l)" -ge "$1" ] || gone "$BG_PID"; }
wait_for 60 count_markers 20 || fail "fewer than 20 jobs finished in 60 s"
if gone "$BG_PID"; then
  wait_parc_bg 1
  fail "parc ended (exit $RC) before it could be interrupted"
fi
kill -INT "$BG_PID"
wait_parc_bg 30
check_eq "SIGINT: exit status 130" 130 "$RC"
done1=$(ls m | wc -l | tr -d ' ')
check_true "SIGINT stopped the sweep early ($done1 of 200 jobs done)" [ "$done1" -lt 200 ]
check_gone "SIGINT: no job process left running" $(cat p/*)
sleep 0.3
check_eq "SIGINT: no job started or finished after parc exited" "$done1" "$(ls m | wc -l | tr -d ' ')"
multi=$(for f in m/*; do [ "$(count_lines "$f")" = 1 ] || echo "$f"; done)
check_eq "SIGINT: no job ran twice" "" "$multi"
logged=$(awk -F'\t' 'NR > 1 && $7 == 0 { n++ } END { print n + 0 }' jl)
check_eq "SIGINT: joblog lists exactly the jobs that finished" "$done1" "$logged"
check_eq "SIGINT: joblog has no failed job" 0 "$(awk -F'\t' 'NR > 1 && $7 != 0' jl | wc -l | tr -d ' ')"
check_eq "SIGINT: results.csv lists exactly the jobs that finished" "$done1" \
  "$(($(count_lines R/results.csv) - 1))"
notlogged=$(for f in m/*; do v=${f#m/}; csv_field R/results.csv arg1 "$v" job | grep . >/dev/null || echo "$v"; done)
check_eq "SIGINT: every finished job is in results.csv" "" "$notlogged"

rm -f p/*
run_parc --resume "${args[@]}"
check_rc "--resume after SIGINT" 0
check_eq "after --resume: all 200 jobs have a marker" 200 "$(ls m | wc -l | tr -d ' ')"
multi=$(for i in $(seq 200); do [ "$(count_lines "m/$i")" = 1 ] || echo "$i"; done)
check_eq "after --resume: every job ran exactly once" "" "$multi"
check_eq "after --resume: joblog has each job once" "$(seq 200)" \
  "$(awk -F'\t' 'NR > 1 { print $1 }' jl | sort -n)"
check_eq "after --resume: joblog has 200 job lines" 201 "$(count_lines jl)"
check_eq "after --resume: results.csv has each job once" "$(seq 200)" \
  "$(awk -F, 'NR > 1 { print $1 }' R/results.csv | sort -n)"

# SIGTERM: exit 143; each job's whole process group is stopped (a background
# grandchild too); a job stopped this way is recorded nowhere.
rm -rf m p jl R
mkdir m p
start_parc_bg -j 3 --joblog jl2 --shell 'sleep 30 & echo $! > p/{}; wait; touch m/{}' ::: 1 2 3
count_pids() { [ "$(ls p | wc -l)" -ge "$1" ] || gone "$BG_PID"; }
wait_for 30 count_pids 3 || fail "jobs did not start"
sleep 0.2
kill -TERM "$BG_PID"
wait_parc_bg 30
check_eq "SIGTERM: exit status 143" 143 "$RC"
check_gone "SIGTERM: background grandchildren of the jobs are gone" $(cat p/*)
check_eq "SIGTERM: no job finished" "" "$(ls m)"
check_eq "SIGTERM: stopped jobs are not in the joblog" 0 \
  "$(awk 'NR > 1' jl2 2>/dev/null | wc -l | tr -d ' ')"

# Jobs that ignore TERM are killed after --grace.
rm -f p/*
start_parc_bg -j 2 --grace 1 --shell 'trap "" TERM; sleep 30 & echo $! > p/{}; wait' ::: 1 2
wait_for 30 count_pids 2 || fail "jobs did not start"
sleep 0.2
kill -INT "$BG_PID"
wait_parc_bg 30
check_eq "SIGINT with TERM-immune jobs: exit status 130" 130 "$RC"
check_gone "TERM-immune jobs were killed after the grace time" $(cat p/*)

# A second SIGINT kills at once, without waiting for a long --grace.
rm -f p/*
start_parc_bg -j 2 --grace 60 --shell 'trap "" TERM; sleep 30 & echo $! > p/{}; wait' ::: 1 2
wait_for 30 count_pids 2 || fail "jobs did not start"
sleep 0.2
t0=$(date +%s)
kill -INT "$BG_PID"
sleep 0.5
kill -INT "$BG_PID"
wait_parc_bg 30
t1=$(date +%s)
check_eq "second SIGINT: exit status 130" 130 "$RC"
check_true "second SIGINT: parc did not wait for the 60 s grace ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 20 ]
check_gone "second SIGINT: jobs killed" $(cat p/*)

done_testing
