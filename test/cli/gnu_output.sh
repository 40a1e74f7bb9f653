#!/usr/bin/env bash
# What parc shows, as GNU parallel 20221122 shows it: -v (the command
# before its output, on stdout), --tag and --tagstring (with -v, --dry-run
# and -n), -u (output straight through), --bar and --eta (stderr), and
# --timeout N%. parc's own: the summary of failed jobs and its progress bar
# on a terminal, cut to the terminal's width.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
unset COLUMNS
printf '#!/bin/sh\nsleep "$1"; echo "$1"; exit "${2:-0}"\n' > se
cat > ug <<'X'
#!/bin/sh
case $1 in
  a) echo a1; sleep 1.5; echo a2;;
  b) sleep 0.5; echo b;;
esac
X
chmod +x se ug

run_parc -k -v echo ::: 'a b' c
check_eq "-v: each command before its output" "echo 'a b'
a b
echo c
c" "$OUT"

run_parc -k --tag -v echo ::: a b
check_eq "--tag -v: the command is tagged too" "a	echo a
a	a
b	echo b
b	b" "$OUT"

run_parc -k -j2 --tagstring '<{}:{#}>' echo ::: a b
check_eq "--tagstring with {} and {#}" "<a:1>	a
<b:2>	b" "$OUT"

run_parc -k --tagstring 'x {1}-{2} y' echo ::: a b ::: 1
check_eq "--tagstring with {1} {2} and spaces" "x a-1 y	a 1
x b-1 y	b 1" "$OUT"

run_parc -k --tag --dry-run echo ::: a b
check_eq "--tag --dry-run: the tag before each command" "a	echo a
b	echo b" "$OUT"

run_parc -k --tag -n2 echo ::: a b c
check_eq "--tag -n2: the job's values" "a b	a b
c	c" "$OUT"

run_parc -j2 -u ./ug ::: a b
check_eq "-u: output as it comes, not grouped" "a1
b
a2" "$OUT"
run_parc -j2 ./ug ::: a b
check_eq "default: each job's output whole" "b
a1
a2" "$OUT"

# --bar: GNU's format on stderr (80 columns when not a terminal); the
# last redraw is the final state: 100%, 2 done, 0 left, the last job's {}.
run_parc -j1 --bar ./se ::: 0 0
last=${ERR##*$'\r'}
expect=$(printf '\033[7m%-80s\033[0m\033[0m' "100% 2:0=0s 0")
check_eq "--bar: the final bar" "$expect" "$last"
check_eq "--bar: stdout is the jobs'" "0
0" "$OUT"

run_parc -j2 --eta ./se ::: 0 0
check_match "--eta: GNU's computers header" "^1:local / [0-9]+ / 2$" "$ERR"
check_contains "--eta: GNU's status header" "Computer:jobs running/jobs completed/%of started jobs/Average seconds to complete" "$ERR"
last=${ERR##*$'\r'}
check_match "--eta: the final status" '^ETA: 0s Left: 0 AVG: [0-9]+\.[0-9]{2}s  local:0/2/100%/[0-9]+\.[0-9]s $' "$last"

# --timeout N%: killed when it runs over N% of the median run time of the
# jobs that succeeded so far.
run_parc -k -j1 --timeout 300% ./se ::: 0.1 0.1 0.1 3
check_eq "--timeout 300%: the slow job is killed" "0.1
0.1
0.1" "$OUT"
check_eq "--timeout 300%: GNU's warning" "parc run: Warning: This job was killed because it timed out:
parc run: Warning: ./se 3" "$ERR"
check_rc "--timeout 300%" 1

# --memfree: a job starts only with that much memory available.
run_parc -k --memfree 1k echo ::: a
check_eq "--memfree 1k: runs" "a" "$OUT"

# On a terminal (script(1)): the summary of failed jobs, and the bar fits
# a 40-column terminal.
if command -v script >/dev/null 2>&1; then
  script -qec "stty cols 40 2>/dev/null; '$PARC' run -j1 ./se {} {} ::: 0 3 4 0 2>&1 >/dev/null" /dev/null > tty.out < /dev/null
  text=$(tr -d '\r' < tty.out | sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g')
  check_contains "summary: the count" "parc run: 2 of 4 jobs failed:" "$text"
  check_contains "summary: each failed job" "  #2 exit 3: ./se 3 3" "$text"
  check_contains "summary: each failed job (2)" "  #3 exit 4: ./se 4 4" "$text"
  widest=$(sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' tty.out | tr '\r' '\n' | awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }')
  check_true "the bar fits 40 columns (widest line $widest)" [ "$widest" -le 40 ]
  script -qec "'$PARC' run --quiet -j1 ./se {} {} ::: 0 3 2>&1 >/dev/null" /dev/null > tty.out < /dev/null
  check_not_contains "--quiet: no summary" "jobs failed" "$(cat tty.out)"
fi

done_testing
