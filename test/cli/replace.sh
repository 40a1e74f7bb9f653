#!/usr/bin/env bash
# Replacement strings: {} {n} {NAME} {#} {%} and the path modifiers
# {.} {/} {//} {/.}, alone and per source; values appended when the template
# has none; unknown {word} left as written.
. "$(dirname "$0")/lib.sh"

# Path modifiers, cases where GNU parallel 20221122 agrees with the spec.
for case in 'dir/a.tar.gz|dir/a.tar|a.tar.gz|dir|a.tar' \
            'x/y/z.c|x/y/z|z.c|x/y|z' \
            '/abs/x.y|/abs/x|x.y|/abs|x'; do
  IFS='|' read -r v dot base dir basedot <<<"$case"
  run_parc -q -k printf '%s|%s|%s|%s|%s\n' '{}' '{.}' '{/}' '{//}' '{/.}' ::: "$v"
  check_rc "modifiers of $v" 0
  check_eq "{} {.} {/} {//} {/.} of $v" "$v|$dot|$base|$dir|$basedot" "$OUT"
done

run_parc -q -k printf '%s|%s|%s\n' '{.}' '{/}' '{/.}' ::: noext
check_eq "modifiers of a plain name without extension" "noext|noext|noext" "$OUT"

run_parc -q -k printf '%s\n' '{.}' ::: noext.d/file
check_eq "{.} only strips an extension of the last component" "noext.d/file" "$OUT"

run_parc -q -k printf '%s %s %s %s\n' '{2.}' '{1/}' '{2//}' '{1/.}' ::: d/a.b ::: e/f.g
check_eq "per-source modifiers {2.} {1/} {2//} {1/.}" "e/f a.b e a" "$OUT"

run_parc -q -k --grid 'path=dir/a.tar.gz' printf '%s %s %s %s %s\n' \
  '{path}' '{path.}' '{path/}' '{path//}' '{path/.}'
check_eq "per-axis modifiers {NAME.} {NAME/} {NAME//} {NAME/.}" \
  "dir/a.tar.gz dir/a.tar a.tar.gz dir a.tar" "$OUT"

run_parc -q -k --grid C=1,2 --grid kernel=rbf,lin printf '%s-%s\n' '{kernel}' '{C}'
check_eq "{NAME} takes the value of the --grid axis" \
  "$(lines rbf-1 lin-1 rbf-2 lin-2)" "$OUT"

run_parc -q -k printf '[%s]\n' '{}' ::: 'a b' ::: c
check_eq "a word that is exactly {} becomes one argument per value" \
  "$(lines '[a b]' '[c]')" "$OUT"

run_parc -q -k printf '[%s]\n' 'x{}y' ::: a ::: b
check_eq "{} inside a word: the word once per value, as GNU parallel's" \
  "$(lines '[xa]' '[by]')" "$OUT"

run_parc -q -k printf '[%s]\n' 'pre-{1}-{2}-post' ::: a ::: b
check_eq "several replacement strings in one word" "[pre-a-b-post]" "$OUT"

run_parc -q -k printf '[%s]\n' ::: a 'b c'
check_eq "no replacement string: each value appended as one argument" \
  "$(lines '[a]' '[b c]')" "$OUT"

run_parc -q -k printf '[%s]\n' ::: a ::: b
check_eq "no replacement string: every source's value appended" \
  "$(lines '[a]' '[b]')" "$OUT"

run_parc -q -k printf '%s|%s\n' '{word}' '{}' ::: a
check_eq "an unknown {word} stays as written" "{word}|a" "$OUT"

run_parc -q -k --grid x=1 printf '%s|%s\n' '{y}' '{x}'
check_eq "{NAME} that is not an axis stays as written" "{y}|1" "$OUT"

run_parc -q -k awk '{print "got " $0}' ::: /dev/null
check_eq "awk '{print}' program is not touched, value appended" "" "$OUT"
check_rc "awk '{print}' program is not touched" 0

printf 'line1\n' >"$T/in.txt"
run_parc -q -k awk '{print "got " $0}' ::: "$T/in.txt"
check_eq "awk program with braces runs as written" "got line1" "$OUT"

run_parc -k --shell 'awk "BEGIN{print 1+1}"; echo {}' ::: v
check_eq "braces inside a --shell command stay as written" "$(lines 2 v)" "$OUT"

run_parc -q -k printf '%s:%s\n' '{#}' '{}' ::: a b c
check_eq "{#} is the job number" "$(lines 1:a 2:b 3:c)" "$OUT"

run_parc -q -k -j 1 printf '%s\n' '{%}' ::: a b c
check_eq "{%} is 1 with one lane" "$(lines 1 1 1)" "$OUT"

run_parc -q -k -j 2 printf '%s\n' '{%}' ::: a b c d e f
bad=$(printf '%s\n' "$OUT" | grep -Ev '^[12]$')
check_eq "{%} stays within 1..-j" "" "$bad"
check_eq "{%} printed once per job" 6 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"

run_parc -k '{1}' hello ::: echo
check_eq "a replacement string may be the command word itself" "hello" "$OUT"

done_testing
