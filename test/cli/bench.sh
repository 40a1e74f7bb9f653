#!/usr/bin/env bash
# parc bench: bad usage exits 2 having done nothing; --quick --json writes a
# JSON document that parses, CSV files with every transport and size, and
# the plot when gnuplot is installed; without gnuplot or MPI it says so and
# still writes the CSV. (The fit itself is unit-tested in test/test_fit.c.)
. "$(dirname "$0")/lib.sh"

# run_bench ARGS...: `parc bench ARGS...` under the hang guard, with PATH
# set to $BENCH_PATH if that is set; sets $RC, $OUT, $ERR like run_parc.
run_bench() {
  OUT_FILE=$T/.bench.out
  ERR_FILE=$T/.bench.err
  timeout -k 5 "$PARC_TEST_LIMIT" env ${BENCH_PATH:+PATH="$BENCH_PATH"} \
    "$PARC" bench "$@" </dev/null >"$OUT_FILE" 2>"$ERR_FILE"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
    fail "parc bench $* did not end within ${PARC_TEST_LIMIT}s"
  fi
}

# ---------------------------------------------------------------- usage

cd "$T" || exit 1
for bad in "--bogus" "--sizes 4" "--sizes 8,,64" "--sizes 64..8" "--sizes 1Q" \
           "--reps 0" "--reps x" "--fit-tol 0" "--out" "extra"; do
  # shellcheck disable=SC2086 # word splitting of $bad is the point
  run_bench $bad
  check_rc "bad usage '$bad'" 2
  check_eq "bad usage '$bad': one line on stderr" 1 "$(printf '%s\n' "$ERR" | wc -l)"
  check_contains "bad usage '$bad': names the command and the help" \
    "parc bench: " "$ERR"
  check_contains "bad usage '$bad': hint" "(see 'parc bench --help')" "$ERR"
  check_eq "bad usage '$bad': nothing on stdout" "" "$OUT"
done
check_absent "bad usage creates no output directory" "$T/parc-bench"

run_bench --help
check_rc "--help" 0
check_contains "--help shows the usage" "usage: parc bench" "$OUT"

# ---------------------------------------------------------------- --quick --json

QUICK_SIZES="8 64 512 4096 32768 262144 2097152"
run_bench --quick --json --out "$T/q"
check_rc "--quick --json" 0
check_true "--quick --json: stdout is one JSON document" \
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT_FILE"

# What the JSON says each transport is: measured, or skipped and why.
status_of() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for t in d["transports"]:
    if t["name"] == sys.argv[2]:
        print(t["status"])' "$OUT_FILE" "$1"
}
for tr in parc_queue parc_pipe os_pipe unix_socket; do
  check_eq "$tr is measured" measured "$(status_of $tr)"
done
MPI_STATUS=$(status_of mpi)
if command -v mpirun >/dev/null && [ -x "$(dirname "$PARC")/parc-mpi-pingpong" ]; then
  check_eq "mpi is measured (mpirun and the helper are here)" measured "$MPI_STATUS"
  MEASURED="parc_queue parc_pipe os_pipe unix_socket mpi"
else
  check_eq "mpi is skipped (no mpirun or no helper)" skipped "$MPI_STATUS"
  MEASURED="parc_queue parc_pipe os_pipe unix_socket"
fi

CSV=$T/q/transports.csv
check_file "transports.csv written" "$CSV"
check_eq "transports.csv header" \
  "transport,size_bytes,iters_per_rep,reps,median_s,q1_s,q3_s,min_s,max_s,bandwidth_MBps,fit_s" \
  "$(head -n 1 "$CSV")"
for tr in $MEASURED; do
  check_eq "transports.csv: $tr has every --quick size" \
    "$(lines $QUICK_SIZES)" "$(csv_field "$CSV" transport "$tr" size_bytes)"
done
check_true "transports.csv: every time and bandwidth is positive" \
  awk -F, 'NR > 1 && !($5 > 0 && $10 > 0 && $4 == 7) { bad = 1 } END { exit bad }' "$CSV"

FIT=$T/q/fit.csv
for tr in $MEASURED; do
  check_eq "fit.csv: $tr starts at the smallest size" 8 \
    "$(csv_field "$FIT" transport "$tr" from_bytes | head -n 1)"
done
check_true "fit.csv: mu and R^2 are numbers" \
  awk -F, 'NR > 1 && ($6 == "" || $8 == "" || $8 > 1.000001) { bad = 1 } END { exit bad }' "$FIT"

check_eq "startup.csv: thread, process, posix_spawn, the pools' six intervals" \
  "$(lines thread process posix_spawn \
     threads_pool_{create,first_task,destroy,first_result,task_and_destroy,whole} \
     processes_pool_{create,first_task,destroy,first_result,task_and_destroy,whole})" \
  "$(tail -n +2 "$T/q/startup.csv" | cut -d, -f1)"
check_eq "dispatch.csv: both pools, chunks 1, 32, 1024" \
  "$(lines threads,1 threads,32 threads,1024 processes,1 processes,32 processes,1024)" \
  "$(tail -n +2 "$T/q/dispatch.csv" | cut -d, -f1,3)"
check_file "the gnuplot script is written" "$T/q/bandwidth.gp"
if command -v gnuplot >/dev/null; then
  check_file "bandwidth.png drawn (gnuplot is installed)" "$T/q/bandwidth.png"
  check_file "bandwidth.svg drawn" "$T/q/bandwidth.svg"
  check_true "bandwidth.png is a PNG" \
    sh -c "head -c 8 '$T/q/bandwidth.png' | od -An -c | grep -q 'P   N   G'"
  check_true "bandwidth.svg is an SVG" grep -q '<svg' "$T/q/bandwidth.svg"
fi

# ---------------------------------------------------------------- no gnuplot, no MPI

BENCH_PATH=/nonexistent run_bench --quick --sizes 8,1K --reps 3 --out "$T/bare"
check_rc "without gnuplot and MPI on PATH" 0
check_contains "says that MPI is not installed" "MPI: not installed" "$OUT"
check_contains "says that gnuplot is missing" "gnuplot not found" "$OUT"
check_contains "states the method" "median of 3 timed repetitions" "$OUT"
check_contains "states the model" "T(s) = mu + s/B" "$OUT"
check_eq "still writes the CSV: 4 transports x 2 sizes" 9 \
  "$(count_lines "$T/bare/transports.csv")"
check_absent "no PNG without gnuplot" "$T/bare/bandwidth.png"

done_testing
