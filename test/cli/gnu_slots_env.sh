#!/usr/bin/env bash
# {%} is the lowest free slot, as GNU parallel's; every job has GNU's
# PARALLEL_SEQ and PARALLEL_JOBSLOT (and parc's PARC_JOB, PARC_SLOT);
# -j 0 runs every job at once; --delay spaces the starts. Expected outputs
# are GNU parallel 20221122's.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
cat > penv <<'X'
#!/bin/sh
sleep "$2"
echo "$PARALLEL_SEQ $PARALLEL_JOBSLOT $PARC_JOB $PARC_SLOT $1"
X
chmod +x penv

# Three at once: slots 1, 2 and 3, each job's PARALLEL_JOBSLOT its {%}
# (jobs that start at the same moment may take them in any order).
run_parc -k -j3 ./penv {#}-{%} {} ::: 0.5 0.5 0.5
check_eq "-j3: slots 1 to 3" "1 2 3" "$(cut -d' ' -f2 <<<"$OUT" | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "-j3: seq and slot in the environment" "1 2 3" "$(cut -d' ' -f1 <<<"$OUT" | tr '\n' ' ' | sed 's/ $//')"
check_eq "-j3: PARALLEL_JOBSLOT is {%}" "" "$(awk '{ split($5, a, "-"); if (a[2] != $2 || a[1] != $1) print }' <<<"$OUT")"

# Each job takes the slot a finished job freed: job 1 ends at 1.2 s, job 2
# at 0.2 s, job 3 at 3 s; job 4 (2 s) starts at 0.2 s in job 2's slot, job
# 5 at 1.2 s in job 1's.
run_parc -k -j3 ./penv {%} {} ::: 1.2 0.2 3 2 0
slots=($(cut -d' ' -f2 <<<"$OUT"))
check_eq "the slot a job frees is the next job's" "${slots[1]} ${slots[0]}" "${slots[3]} ${slots[4]}"

# The lowest free slot, not the lane's: with --delay the jobs start one by
# one, each once the last one ended, so each takes slot 1.
run_parc -k -j3 --delay 0.5 ./penv {%} {} ::: 0 0 0
check_eq "the lowest free slot" "1 1 1 1 1
2 1 2 1 1
3 1 3 1 1" "$OUT"

# GNU's own values are not inherited from parc's environment.
PARALLEL_SEQ=99 PARALLEL_JOBSLOT=99 run_parc -k -j1 ./penv x {} ::: 0 0
check_eq "PARALLEL_SEQ/JOBSLOT are the job's" "1 1 1 1 x
2 1 2 1 x" "$OUT"

# -j 0: all at once (as many as there are jobs): slots 1 to 4.
run_parc -k -j0 ./penv {%} {} ::: 0.5 0.5 0.5 0.5
check_eq "-j 0: every job at once" "1 2 3 4" "$(cut -d' ' -f2 <<<"$OUT" | sort -n | tr '\n' ' ' | sed 's/ $//')"

# --delay: starts at least SECS apart, even with free lanes.
cat > stamp <<'X'
#!/bin/sh
date +%s.%N
X
chmod +x stamp
run_parc -j3 --delay 0.4 ./stamp ::: 1 2 3
gaps=$(sort -n <<<"$OUT" | awk 'NR > 1 { d = $1 - p; if (d < 0.35) bad = 1 } { p = $1 } END { print bad ? "short" : "ok" }')
check_eq "--delay 0.4: the starts are 0.4 s apart" ok "$gaps"

# --dry-run: GNU's {%} is 1, 2, 1, 2 ... (1 with -j1).
run_parc --dry-run -j3 echo {%} ::: a b c d
check_eq "--dry-run {%}" "echo 1
echo 2
echo 1
echo 2" "$OUT"

done_testing
