#!/usr/bin/env bash
# --halt as GNU parallel 20221122 has it: its exit status (the failing job's
# own for a limit of one job, the share of failed jobs for N%, their number
# otherwise; 0 for success=N), its messages on stderr ("This job failed:"
# and the command, "Starting no more jobs. Waiting for N jobs to finish."),
# the warning for a job killed by --timeout, and retries that run again at
# once. Every expected output below is GNU parallel's (its "parallel: "
# is parc's "parc run: ").
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
printf '#!/bin/sh\nexit "$1"\n' > ex
printf '#!/bin/sh\nsleep "$1"; echo "$1"; exit "${2:-0}"\n' > se
printf '#!/bin/sh\nkill -"$1" $$\n' > kil
chmod +x ex se kil
P="parc run:"

# case ARGS...: runs parc; then check_case DESC RC STDOUT STDERR
check_case() {
  check_eq "$1: stdout" "$3" "$OUT"
  check_eq "$1: stderr" "$4" "$ERR"
  check_rc "$1" "$2"
}

run_parc -j1 --halt now,fail=1 ./ex ::: 0 3 4 0
check_case "now,fail=1: the failing job's status" 3 "" "$P This job failed:
./ex 3"

run_parc -j1 --halt soon,fail=1 ./ex ::: 0 3 4 0
check_case "soon,fail=1: the failing job's status" 3 "" "$P This job failed:
./ex 3"

run_parc -j1 --halt 2 ./ex ::: 0 4 0
check_case "--halt 2 (now,fail=1)" 4 "" "$P This job failed:
./ex 4"

run_parc -j1 --halt now,fail=2 ./ex ::: 4 0 5 6 0
check_case "now,fail=2: the number failed" 2 "" "$P This job failed:
./ex 4
$P This job failed:
./ex 5"

run_parc -j1 --halt now,fail=3 ./ex ::: 1 0 2
check_case "fail=3 not reached: the number failed" 2 "" "$P This job failed:
./ex 1
$P This job failed:
./ex 2"

run_parc -j1 --halt soon,fail=30% ./ex ::: 0 1 0 1 0 0 0 0 0 0
check_case "fail=30% not reached: % of the jobs started" 20 "" "$P This job failed:
./ex 1
$P This job failed:
./ex 1"

run_parc -j1 --halt now,fail=1% ./ex ::: 0 0 3 0
check_case "now,fail=1%: % of all jobs, rounded up" 25 "" "$P This job failed:
./ex 3"

run_parc -j1 --halt now,success=1 ./ex ::: 1 0 1
check_case "now,success=1: 0" 0 "" "$P This job succeeded:
./ex 0"

run_parc -j1 --halt now,success=1 ./ex ::: 1 2
check_case "success=1 not reached: the number failed" 2 "" ""

run_parc -j1 --halt soon,done=2 ./ex ::: 1 0 1
check_case "soon,done=2: the number failed" 1 "" "$P This job finished:
./ex 1
$P This job finished:
./ex 0"

run_parc -j1 --halt now,done=50% ./ex ::: 0 3 0 0
check_case "now,done=50%: % failed" 25 "" "$P This job finished:
./ex 0
$P This job finished:
./ex 3"

run_parc -j1 --halt now,fail=1 ./kil ::: 15 9
check_case "now,fail=1, a signal: 128 + it" 143 "" "$P This job failed:
./kil 15"

# Two lanes: soon waits for the running job (and says so), now kills it
# and prints nothing more (with -k the failed job's output waited for the
# first one's, so none is printed).
run_parc -k -j2 --halt soon,fail=1 ./se {1} {2} ::: 3 0.1 0 :::+ 0 1 0
check_case "-k soon,fail=1 with a job running" 1 "3
0.1" "$P This job failed:
./se 0.1 1
$P Starting no more jobs. Waiting for 1 jobs to finish."

run_parc -k -j2 --halt now,fail=1 ./se {1} {2} ::: 3 0.1 0 :::+ 0 1 0
check_case "-k now,fail=1 with a job running" 1 "" "$P This job failed:
./se 0.1 1"

# --timeout: GNU's warning, then the failure; the status of a killed job is 255.
run_parc -k -j1 --timeout 0.5 --halt now,fail=1 ./se ::: 0 3 0
check_case "--timeout with now,fail=1" 255 "0" "$P Warning: This job was killed because it timed out:
$P Warning: ./se 3
$P This job failed:
./se 3"

# Retries run again at once, before the next job.
cat > rec <<'X'
#!/bin/sh
echo "$1" >> log
[ "$1" != 2 ]
X
chmod +x rec
run_parc -j1 --retries 3 ./rec ::: 1 2 3 4
check_eq "--retries: again at once" "1 2 2 2 3 4" "$(tr '\n' ' ' < log | sed 's/ $//')"
check_rc "--retries: one failure" 1
rm -f log
run_parc -j1 --retries 2 --halt now,fail=1 ./rec ::: 1 2 3 4
check_eq "--retries with --halt: stops after the last try" "1 2 2" "$(tr '\n' ' ' < log | sed 's/ $//')"
check_case "--retries with --halt" 1 "" "$P This job failed:
./rec 2"

done_testing
