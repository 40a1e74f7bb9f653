#!/usr/bin/env bash
# The job's environment: PARC_JOB ({#}), PARC_SLOT ({%}), and
# OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS from --inner-threads
# (default cores / jobs, at least 1; variables already set are then kept).
. "$(dirname "$0")/lib.sh"

unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS PARC_JOB PARC_SLOT

# Physical cores (what "one per core" means), as lscpu counts them.
if command -v lscpu >/dev/null 2>&1; then
  cores=$(lscpu -p=socket,core | grep -v '^#' | sort -u | wc -l | tr -d ' ')
else
  cores=$(nproc)
fi
echo "# physical cores: $cores"

show_env='echo "$PARC_JOB $PARC_SLOT {#} {%}"'
run_parc -k -j 2 --shell "$show_env" ::: a b c d
check_rc "env run" 0
bad=$(printf '%s\n' "$OUT" | awk '$1 != $3 || $2 != $4 || $2 < 1 || $2 > 2')
check_eq "PARC_JOB is {#} and PARC_SLOT is {%} (in 1..2)" "" "$bad"
check_eq "PARC_JOB counts 1..n in input order" "$(lines 1 2 3 4)" "$(printf '%s\n' "$OUT" | cut -d' ' -f1)"

threads='echo "$OMP_NUM_THREADS $OPENBLAS_NUM_THREADS $MKL_NUM_THREADS"; : {}'
run_parc --inner-threads 3 --shell "$threads" ::: a
check_eq "--inner-threads 3 sets all three variables" "3 3 3" "$OUT"

run_parc -j 1 --shell "$threads" ::: a
check_eq "default inner threads with -j 1: all cores" "$cores $cores $cores" "$OUT"

run_parc -j "$cores" --shell "$threads" ::: a
check_eq "default inner threads with one job per core: 1" "1 1 1" "$OUT"

run_parc --shell "$threads" ::: a
check_eq "default inner threads with the default -j: 1" "1 1 1" "$OUT"

run_parc -j $((cores * 4)) --shell "$threads" ::: a
check_eq "default inner threads never below 1" "1 1 1" "$OUT"

if [ "$cores" -ge 2 ]; then
  half=$((cores / 2))
  run_parc -j 2 --shell "$threads" ::: a
  check_eq "default inner threads with -j 2: cores / 2" "$half $half $half" "$OUT"
fi

OMP_NUM_THREADS=7 run_parc -j 1 --shell "$threads" ::: a
check_eq "a pre-set OMP_NUM_THREADS is kept by default, the others set" "7 $cores $cores" "$OUT"

OMP_NUM_THREADS=7 OPENBLAS_NUM_THREADS=5 MKL_NUM_THREADS=6 run_parc --shell "$threads" ::: a
check_eq "all three pre-set variables kept by default" "7 5 6" "$OUT"

OMP_NUM_THREADS=7 OPENBLAS_NUM_THREADS=5 run_parc --inner-threads 2 --shell "$threads" ::: a
check_eq "an explicit --inner-threads overrides pre-set variables" "2 2 2" "$OUT"

# Each job runs in its own process group (it leads it).
run_parc -k --shell 'echo $$ $(cut -d")" -f2- /proc/$$/stat | cut -d" " -f4); : {}' ::: a b
bad=$(printf '%s\n' "$OUT" | awk '$1 != $2')
check_eq "each job leads its own process group" "" "$bad"
check_ne "the job's process group is not parc's" "$(cut -d')' -f2- /proc/$$/stat | cut -d' ' -f4)" \
  "$(printf '%s\n' "$OUT" | head -n 1 | cut -d' ' -f2)"

# The rest of the environment is passed through.
PARC_TEST_VAR='x y' run_parc --shell 'echo "$PARC_TEST_VAR"; : {}' ::: a
check_eq "other environment variables reach the job" "x y" "$OUT"

done_testing
