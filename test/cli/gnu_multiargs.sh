#!/usr/bin/env bash
# Several values per job as GNU parallel 20221122 gives them: -n, -N, -m,
# -X (and the spreading of the last values over the job slots), within
# GNU's command line length. Every expected output below is what GNU
# parallel printed for the same command line.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# ---------------------------------------------------------------- -n
run_parc -k -n2 echo ::: a b c d e
check_eq "-n2: values appended two at a time" "$(lines 'a b' 'c d' e)" "$OUT"
run_parc -k -n2 printf '[%s]' '{}' ::: a b c
check_eq "-n2: {} is one argument per value" "[a][b][c]" "$OUT"
run_parc -k -n2 echo 'pre{}post' ::: a b c
check_eq "-n2: {} inside a word" "$(lines 'prea bpost' precpost)" "$OUT"
run_parc -k -n2 echo '{1}-{2}' ::: a b c d e
check_eq "-n2: {1} {2} are the job's values" "$(lines a-b c-d e-)" "$OUT"
run_parc -k -n2 echo ::: a b ::: 1 2
check_eq "-n2 with two sources: two tuples a job" \
  "$(lines 'a 1 a 2' 'b 1 b 2')" "$OUT"
run_parc -k -n2 echo '{.}' '{/}' ::: a.x b/c.y c
check_eq "-n2: modifiers apply to each value" "$(lines 'a b/c a.x c.y' 'c c')" "$OUT"
run_parc -k -n2 echo '{#}' ::: a b c
check_eq "-n2: {#} counts jobs" "$(lines 1 2)" "$OUT"
run_parc -k -n2 --tag echo x ::: a b c
check_eq "-n2 --tag: the job's values" "$(lines 'a b	x a b' 'c	x c')" "$OUT"
run_parc -k -j1 -n2 printf '[%s]' '{1}{}{2}' ::: 1 2 3
check_eq "-n2: {1}{}{2} in one word" "[11][22][33]" "$OUT"

# ---------------------------------------------------------------- -N
run_parc -k -N2 echo '{1}-{2}' ::: a b c d e
check_eq "-N2: {1} {2}, a missing one empty" "$(lines a-b c-d e-)" "$OUT"
run_parc -k -N3 echo '{1}-{2}-{3}-{4}' ::: a b c d
check_eq "-N3: beyond N empty" "$(lines a-b-c- 'd---')" "$OUT"
run_parc -k -N2 echo '[{}]' ::: a b c d e
check_eq "-N2: a word with {} repeats per value" \
  "$(lines '[a] [b]' '[c] [d]' '[e]')" "$OUT"
run_parc -k -N2 echo ::: a b c d e
check_eq "-N2: values appended" "$(lines 'a b' 'c d' e)" "$OUT"
run_parc -k -N2 echo '{1}-{2}-{3}-{4}' ::: a b ::: 1 2
check_eq "-N2 with two sources: the tuples' values in order" \
  "$(lines a-1-a-2 b-1-b-2)" "$OUT"
run_parc -k -j1 -N2 printf '[%s]' '{1}{}{2}' ::: 1 2 3
check_eq "-N2: {1}{}{2} repeated per value" "[112][122][33]" "$OUT"

# ---------------------------------------------------------------- -m -X
run_parc -k -j1 -m echo ::: 1 2 3 4 5 6 7
check_eq "-j1 -m: all in one job" "1 2 3 4 5 6 7" "$OUT"
run_parc -k -j1 -X printf '[%s]' 'x{}y' ::: a b c
check_eq "-X: context replace" "[xay][xby][xcy]" "$OUT"
run_parc -k -j1 -m printf '[%s]' 'x{}y' ::: a b c
check_eq "-m: {} inside a word" "[xa][b][cy]" "$OUT"
run_parc -k -j1 -X printf '[%s]' 'x{}y' ::: 1 2 ::: a
check_eq "-X with two sources: per value" "[x1y][xay][x2y][xay]" "$OUT"
run_parc -k -j1 -X printf '[%s]' 'x{1}{}y' ::: 1 2 ::: a
check_eq "-X: {1} stays the first value" "[x11y][x1ay][x12y][x1ay]" "$OUT"
run_parc -k -j1 -X echo '{}' '{1}x' ::: 1 2 3 ::: a b
check_eq "-X: a word without {} is not repeated" \
  "1 a 1 b 2 a 2 b 3 a 3 b 1x" "$OUT"
run_parc -k -j1 -m printf '[%s]' 'x{}' ::: 'a b' c
check_eq "-m: a value with a space stays one word" "[xa b][c]" "$OUT"
run_parc -k --xargs echo ::: 1 2 3 4 5 6 7
check_eq "--xargs: no spreading over job slots" "1 2 3 4 5 6 7" "$OUT"

# The last values are spread over the job slots (GNU's populate).
run_parc -k -j2 -m echo ::: 1 2 3 4 5 6
check_eq "-j2 -m: spread evenly" "$(lines '1 2 3' '4 5 6')" "$OUT"
run_parc -k -j3 -m echo ::: 1 2 3 4 5 6 7
check_eq "-j3 -m: at most ceil(7/3) a job" "$(lines '1 2 3' '4 5 6' 7)" "$OUT"
run_parc -k -j4 -m echo ::: 1 2
check_eq "-j4 -m, two values: one a job" "$(lines 1 2)" "$OUT"
run_parc -k -j2 -m -n2 echo ::: 1 2 3 4 5
check_eq "-m -n2: -n caps a job" "$(lines '1 2' '3 4' 5)" "$OUT"
run_parc -k -j2 -X echo '{1}-{2}' ::: 1 2 3 ::: a b
check_eq "-j2 -X: tuples spread, {1} {2} of each job" "$(lines 1-a 2-b)" "$OUT"

# GNU's command line length: the same number of values a job.
seq 1 20000 >nums
run_parc -k -j2 -m echo :::: nums
check_eq "-m: as many as fit, then the rest spread (values a job)" \
  "$(lines 12460 3770 3770)" "$(printf '%s\n' "$OUT" | awk '{print NF}')"
run_parc -k -j1 -X echo 'x{}y' :::: nums
check_eq "-X: as many as fit (values a job)" "$(lines 9252 8050 2698)" \
  "$(printf '%s\n' "$OUT" | awk '{print NF}')"

# -N0 and -n0: a job per value, none of it in the command (GNU 20221122)
run_parc -k -N0 echo {} x ::: a b
check_eq "-N0: {} is empty, one job per value" "$(printf 'x\nx')" "$OUT"
run_parc -k -n0 echo '[{}]' {#} {1} ::: a b
check_eq "-n0: {#} counts the jobs, {1} is empty" "$(printf '[] 1\n[] 2')" "$OUT"
run_parc -k -n0 echo hi ::: a b c
check_eq "-n0: nothing appended" "$(printf 'hi\nhi\nhi')" "$OUT"
run_parc --pipe -N0 cat
check_rc "--pipe -N0 is refused" 255

# -s N with -X / -m: command lines under N characters (GNU 20221122)
run_parc -k -j1 -s 25 -X echo ::: 'line 1' 'line 1' 'line 2'
check_eq "-s 25 -X: lines as GNU's" "$(printf 'line 1 line 1\nline 2')" "$OUT"
run_parc -k -j1 -s 20 -m echo ::: aaa bbb ccc ddd eee fff
check_eq "-s 20 -m: three values a job" "$(printf 'aaa bbb ccc\nddd eee fff')" "$OUT"
run_parc -k -j1 -s 5 -X echo ::: aaaaaaa
check_rc "-s: a value that cannot fit" 255
check_contains "GNU's words" "command line too long (12 >= 5) at input 0: aaaaaaa" "$ERR"
run_parc -s 5 echo ::: a
check_rc "-s without -m or -X" 255
