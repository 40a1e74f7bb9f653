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
    </dev/null >"$OUT_FILE" 2>"$ERR_FILE"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
  [ "$RC" -ne 124 ] && [ "$RC" -ne 137 ] || fail "mpirun parc run $* hung"
}

cd "$T" || exit 1
job='echo {} >> marks; echo v={}; [ {} != 13 ]'
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
if [ -n "${MPI_SINGLETON:-}" ]; then
  mpi_parc "$MPI_SINGLETON" ::: 1 2 3
  check_rc "MPI programs as jobs" 0
  check_eq "each MPI job runs as a singleton" \
    "$(lines 'size=1' 'size=1' 'size=1')" "$OUT"
fi

done_testing
