#!/usr/bin/env bash
# Braces that are no replacement string stay as written: {2x} is neither a
# source number nor an axis (not "source 2x" out of range), and a word
# full of '{' with or without a '}' is copied through.
. "$(dirname "$0")/lib.sh"

run_parc --dry-run echo '{2x}' '{1}' ::: a
check_rc "{2x} with one source" 0
check_eq "{2x} stays as written, {1} is replaced" "echo '{2x}' a" "$OUT"

run_parc --dry-run echo '{12a}{x}' ::: a
check_eq "{12a} and {x} without such an axis stay as written" "echo '{12a}{x}' a" "$OUT"

run_parc --dry-run echo '{2}' ::: a
check_rc "{2} with one source is still an error" 255

braces=$(printf '{%.0s' $(seq 5000))
run_parc --dry-run echo "${braces}" ::: a
check_eq "5000 '{' and no '}'" "echo '${braces}' a" "$OUT"
run_parc --dry-run echo "${braces}{1}}" ::: a
check_eq "5000 '{' then {1}" "echo '${braces}a}'" "$OUT"

done_testing
