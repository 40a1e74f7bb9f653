#!/usr/bin/env bash
# --halt: after N (or N% of all) failures, `soon` starts no new job and waits
# for the running ones; `now` also stops the running ones. `never` (the
# default) runs everything.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# Six jobs on two lanes. Job 1 fails, but only once job 2 is surely running;
# job 2 runs for a while (60 s for `now`, 1 s for `soon`) then marks itself
# done; the others would just mark themselves started and done.
mkjob() { # SLEEP-OF-JOB-2
  echo "echo \$\$ > p/{}; touch s/{}; case {} in
    1) i=0; until [ -e s/2 ]; do i=\$((i+1)); [ \$i -gt 600 ] && break; sleep 0.05; done; exit 1;;
    2) sleep $1; touch d/{};;
    *) touch d/{};;
  esac"
}

rm -rf s d p && mkdir s d p
t0=$(date +%s)
run_parc -j 2 --halt now,fail=1 --shell "$(mkjob 60)" ::: 1 2 3 4 5 6
t1=$(date +%s)
check_ne "--halt now,fail=1: parc fails" 0 "$RC"
check_ne "--halt now,fail=1: not a usage error" 255 "$RC"
check_true "--halt now: running job stopped, not waited for ($((t1 - t0)) s of its 60)" [ $((t1 - t0)) -lt 30 ]
check_absent "--halt now: the running job did not finish" d/2
check_gone "--halt now: the running job's process is gone" "$(cat p/2)"
check_eq "--halt now: no new job started after the failure" "1 2" "$(ls s | sort -n | tr '\n' ' ' | sed 's/ $//')"

rm -rf s d p && mkdir s d p
run_parc -j 2 --halt soon,fail=1 --shell "$(mkjob 1)" ::: 1 2 3 4 5 6
check_ne "--halt soon,fail=1: parc fails" 0 "$RC"
check_ne "--halt soon,fail=1: not a usage error" 255 "$RC"
check_file "--halt soon: the running job was waited for and finished" d/2
check_eq "--halt soon: no new job started after the failure" "1 2" "$(ls s | sort -n | tr '\n' ' ' | sed 's/ $//')"

# Percentages of all jobs: with 4 jobs, 50% is 2 failures.
pjob='touch s/{}; case {} in f*) exit 1;; esac'
rm -rf s && mkdir s
run_parc -j 1 --halt soon,fail=50% --shell "$pjob" ::: f1 f2 s3 s4
check_ne "--halt soon,fail=50%: parc fails" 0 "$RC"
check_eq "--halt soon,fail=50%: stops after 2 of 4 jobs failed" "f1 f2" "$(ls s | sort | tr '\n' ' ' | sed 's/ $//')"

rm -rf s && mkdir s
run_parc -j 1 --halt soon,fail=50% --shell "$pjob" ::: f1 s2 s3 s4
# GNU's status when the limit is not reached: the % of the jobs started
# that failed (1 of 4: 25).
check_rc "--halt soon,fail=50% with 1 of 4 failed runs all" 25
check_eq "--halt soon,fail=50%: 1 failure of 4 does not halt" "f1 s2 s3 s4" "$(ls s | sort | tr '\n' ' ' | sed 's/ $//')"

rm -rf s && mkdir s
run_parc -j 1 --halt now,fail=2 --shell "$pjob" ::: f1 s2 f3 s4 s5
check_ne "--halt now,fail=2: parc fails" 0 "$RC"
check_eq "--halt now,fail=2: stops at the second failure" "f1 f3 s2" "$(ls s | sort | tr '\n' ' ' | sed 's/ $//')"

rm -rf s && mkdir s
run_parc -j 1 --halt never --shell "$pjob" ::: f1 f2 s3
check_rc "--halt never: exit status counts failures" 2
check_eq "--halt never: every job ran" "f1 f2 s3" "$(ls s | sort | tr '\n' ' ' | sed 's/ $//')"

rm -rf s && mkdir s
run_parc -j 1 --shell "$pjob" ::: f1 f2 s3
check_eq "default: failures do not halt" "f1 f2 s3" "$(ls s | sort | tr '\n' ' ' | sed 's/ $//')"

done_testing
