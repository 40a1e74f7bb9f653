#!/usr/bin/env bash
# `parc run` under mpirun -n 3 (parc-run-mpi): every job runs exactly once,
# on the serving ranks 1 and 2 (rank 0 only schedules), results.csv and the
# job log say which host:rank ran each, a failing job counts in the exit
# status, and --resume afterwards runs nothing. Run by CTest with $PARC,
# $MPIEXEC and $MPIEXEC_FLAGS (test/mpi/CMakeLists.txt).
. "$(dirname "$0")/../cli/lib.sh"

read -r -a FLAGS <<<"${MPIEXEC_FLAGS:-}"
mpi_parc() { # ARGS...: mpirun -n 3 parc run ARGS..., like run_parc
  OUT_FILE=$T/.parc.out
  ERR_FILE=$T/.parc.err
  timeout -k 5 "$PARC_TEST_LIMIT" "$MPIEXEC" -n 3 "${FLAGS[@]}" "$PARC" run "$@" \
    <"${PARC_STDIN:-/dev/null}" >"$OUT_FILE" 2>"$ERR_FILE"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
  [ "$RC" -ne 124 ] && [ "$RC" -ne 137 ] || fail "mpirun parc run $* hung"
}

cd "$T" || exit 1
# Each job takes 10 ms, so that both serving ranks get some: with jobs of
# 1 ms, a rank whose messages are late by a few ms (seen with MPICH on a
# busy machine) may have none before the 30 are done.
job='echo {} >> marks; echo v={}; sleep 0.01; [ {} != 13 ]'
mpi_parc -j 2 --results R --joblog jl --shell "$job" ::: $(seq 1 30)
check_rc "30 jobs, job 13 fails: exit status 1" 1
check_eq "each job ran exactly once" "$(seq 1 30)" "$(sort -n marks)"
check_eq "each job's output printed once, by rank 0" "$(seq 1 30 | sed 's/^/v=/')" \
  "$(printf '%s\n' "$OUT" | grep '^v=' | sort -t= -k2 -n)"
check_eq "results.csv: header plus one row per job" 31 "$(count_lines R/results.csv)"
host=$(hostname)
hosts=$(for i in $(seq 1 30); do csv_field R/results.csv job "$i" host; done | sort -u)
check_eq "results.csv host column: ranks 1 and 2 ran the jobs" \
  "$(lines "$host:1" "$host:2")" "$hosts"
check_eq "results.csv: the failed job's exit" 1 "$(csv_field R/results.csv job 13 exit)"
check_eq "results.csv: metrics parsed from shipped output" 7 "$(csv_field R/results.csv job 7 v)"
check_eq "job log: header plus one line per job" 31 "$(count_lines jl)"
check_eq "job log Host: host:rank" "$(lines "$host:1" "$host:2")" \
  "$(awk -F'\t' 'NR > 1 { print $2 }' jl | sort -u)"
check_file "a job's stdout saved by rank 0" "R/arg1=5/stdout"

mpi_parc -j 2 --results R --joblog jl --resume --shell "$job" ::: $(seq 1 30)
check_rc "--resume of the whole sweep" 0
check_eq "--resume ran nothing new" 30 "$(count_lines marks)"
check_eq "--resume: joblog unchanged" 31 "$(count_lines jl)"

# A job does not inherit the launcher's word that it is a rank (else an
# MPI program run as a job fails or hangs in MPI_Init), but keeps the
# user's Open MPI settings.
mpi_parc --shell 'env | grep -c -E "^(PMIX_|PMI_|OMPI_COMM_WORLD_|OMPI_MCA_orte_)"; echo ok={}' ::: 1
check_eq "a job sees no launcher variable" "$(lines 0 ok=1)" "$OUT"
mpi_parc --shell 'echo "$OMPI_ALLOW_RUN_AS_ROOT$OMPI_MCA_rmaps_base_oversubscribe" {}' ::: x
check_eq "a job keeps the user's OMPI_ALLOW_RUN_AS_ROOT and OMPI_MCA_*" "11 x" "$OUT"
# Nor the descriptors MPI_Init and the launcher left open (MPICH's Hydra
# waits for its pipes to close, even when a job outlives its rank).
mpi_parc --shell 'ls -l /proc/$$/fd | grep -c socket; : {}' ::: 1 2
check_eq "a job inherits no socket of its rank's MPI" "$(lines 0 0)" "$OUT"

# Jobs from stdin reach rank 0 only: the others see no jobs and say so,
# rank 0 exits 255 (a usage error). (Hydra gives ranks > 0 a stdin that
# never ends.)
printf '1\n2\n' >stdin_jobs
PARC_STDIN=$T/stdin_jobs mpi_parc echo
check_rc "jobs on stdin under mpirun" 255
check_true "... said why" grep -q "not every rank could set up the same jobs" "$T/.parc.err"
if [ -n "${MPI_SINGLETON:-}" ]; then
  mpi_parc "$MPI_SINGLETON" ::: 1 2 3
  check_rc "MPI programs as jobs" 0
  check_eq "each MPI job runs as a singleton" \
    "$(lines 'size=1' 'size=1' 'size=1')" "$OUT"
fi

# Under srun a rank also has Slurm's step and task variables; with them an
# MPI program run as a job takes itself for a task of the step (Open MPI 4
# aborts in MPI_Init: "direct launched using srun"). Faked here with env(1)
# between mpirun and parc; the job keeps the allocation's variables.
slurm_parc() { # ARGS...: mpi_parc with Slurm's variables of a step's task
  local saved=$PARC
  PARC=$T/parc-in-step
  printf '#!/bin/sh\nexec env SLURM_JOB_ID=7 SLURM_JOBID=7 SLURM_NODELIST=%s SLURM_STEP_ID=0 SLURM_STEPID=0 SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_STEP_NUM_TASKS=3 "%s" "$@"\n' \
    "$host" "$saved" >"$PARC"
  chmod +x "$PARC"
  mpi_parc "$@"
  PARC=$saved
}
slurm_parc --shell 'env | grep -c -E "^SLURM_(STEP|PROCID|LOCALID)"; echo job=$SLURM_JOB_ID {}' ::: 1
check_eq "a job sees no Slurm step or task variable, keeps the job's" \
  "$(lines 0 'job=7 1')" "$OUT"
if [ -n "${MPI_SINGLETON:-}" ]; then
  slurm_parc "$MPI_SINGLETON" ::: 1 2
  check_rc "MPI programs as jobs of a Slurm step's ranks" 0
  check_eq "... each runs as a singleton" "$(lines 'size=1' 'size=1')" "$OUT"
fi

# --memory on the serving ranks: a job over its limit runs out there, rank
# 0 says so, runs it again with --retry-memory's larger limit (which
# travels with the job), and records both in the job log and results.csv
mpi_parc -q -j 1 --memory 100M --retry-memory 4 --results MR --joblog MJ \
  python3 -c 'bytearray(200 * 2**20); print("ok")' ::: 1
check_rc "--memory under mpirun: the job succeeds when retried" 0
check_contains "rank 0 says it ran out" "ran out of memory (limit 100M); again with 400M" "$ERR"
check_contains "the log has the larger limit" "419430400" "$(tail -n 1 MJ)"
check_eq "results.csv: oom 0 at 400M" "419430400/0" \
  "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
     { print $c["mem_limit"] "/" $c["oom"] }' MR/results.csv)"

# --halving across ranks: rank 0 walks the rungs, the others run the jobs
cat >hjob.sh <<'SH'
#!/bin/sh
case "$2" in 10) echo "score=$1";; 30) echo "score=$((10 - $1))";; *) echo "score=$((100 + $1))";; esac
SH
chmod +x hjob.sh
mpi_parc -j 2 --halving --budget n=10:90 --best score --grid a=1:9 --results HR ./hjob.sh {a} {n}
check_rc "--halving under mpirun" 0
check_contains "the same best as on one machine" "best: a=7 n=90  score = 107" "$OUT"
check_eq "13 jobs, 9 + 3 + 1" 13 "$(($(count_lines HR/results.csv) - 1))"

# early stopping across ranks: the lanes of ranks 1 and 2 read the jobs'
# `step=S score=V` lines and ask rank 0, which holds the rungs; settings
# come best first, two at a time (one lane per rank), and a worse one
# waits longer for its first step (so that 7's comes before 6's, 0.4 s
# apart): 6..1 are each below the best third of what their rung printed
# at step 1 when they print it, and stop there
cat >steps.sh <<'SH'
#!/bin/sh
sleep "$(awk "BEGIN { print (10 - $1) * 0.2 }")"
for s in 1 2 3 4 5 6; do echo "step=$s score=$1"; sleep 0.3; done
echo "score=$1"
SH
chmod +x steps.sh
mpi_parc -j 1 --halving --budget n=10:90 --best score \
  --grid a=9,8,7,6,5,4,3,2,1 --results ER ./steps.sh {a} {n}
check_rc "--halving with early stopping under mpirun" 0
check_eq "settings 1..6 were stopped early at rung 0, on ranks 1 and 2" \
  "1 2 3 4 5 6" \
  "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
     $c["pruned"] == 1 && $c["step"] == 1 && $c["host"] ~ /:[12]$/ { print $c["a"] }' \
     ER/results.csv | sort -n | tr '\n' ' ' | sed 's/ $//')"
check_contains "the summary counts them" "6 jobs stopped early" "$OUT"
check_contains "best is still found" "best: a=9 n=90" "$OUT"

# Ctrl-C (here SIGTERM to mpirun, which passes it on): each rank stops its
# own jobs and none is left running (were the signal taken by a thread of
# MPI_Init's, the rank would die and leave its jobs behind); a stopped job
# is recorded nowhere. No timeout(1) here: it would signal mpirun twice
# (itself and its process group), and Open MPI's mpirun then ends at once
# without passing the signal on.
mkdir p
set -m
"$MPIEXEC" -n 3 "${FLAGS[@]}" "$PARC" run -j 2 --joblog jl_stop \
  --shell 'echo $$ > p/{}; exec sleep 60' ::: 1 2 3 4 </dev/null >/dev/null 2>&1 &
launcher=$!
set +m
four_running() { [ "$(ls p | wc -l)" -ge 4 ]; }
if ! wait_for 30 four_running; then
  kill -KILL "$launcher"
  fail "the 4 jobs did not start under mpirun"
fi
kill -TERM "$launcher"
if ! wait_for 30 gone "$launcher"; then
  kill -KILL "$launcher"
  fail "mpirun did not end after SIGTERM"
fi
check_gone "stopped under mpirun: no job left running" $(cat p/*)
check_true "stopped under mpirun: no job recorded" [ "$(count_lines jl_stop)" -le 1 ]

done_testing
