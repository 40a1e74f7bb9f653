#!/usr/bin/env bash
# Input sources: cartesian product (last source fastest) and linked sources
# (:::+ and ::::+), compared with what GNU parallel 20221122 prints for the
# same inputs (`parallel -k echo ...`; outputs hard-coded below).
. "$(dirname "$0")/lib.sh"

run_parc -k echo ::: a b ::: 1 2
check_rc "cartesian of two lists" 0
check_eq "cartesian of two lists" "$(lines 'a 1' 'a 2' 'b 1' 'b 2')" "$OUT"

run_parc -k echo ::: a b ::: 1 2 3 ::: x y
check_eq "cartesian of three lists, last fastest" \
  "$(lines 'a 1 x' 'a 1 y' 'a 2 x' 'a 2 y' 'a 3 x' 'a 3 y' \
           'b 1 x' 'b 1 y' 'b 2 x' 'b 2 y' 'b 3 x' 'b 3 y')" "$OUT"

run_parc -k echo ::: a b c :::+ 1 2 3
check_eq "linked lists of equal length pair up" "$(lines 'a 1' 'b 2' 'c 3')" "$OUT"

run_parc -k echo ::: a b c :::+ 1 2
check_eq "linked: shorter second list decides the length" "$(lines 'a 1' 'b 2')" "$OUT"

run_parc -k echo ::: a b :::+ 1 2 3
check_eq "linked: shorter first list decides the length" "$(lines 'a 1' 'b 2')" "$OUT"

run_parc -k echo ::: a b ::: x y z :::+ 1 2
check_eq "linked pair inside a product" \
  "$(lines 'a x 1' 'a y 2' 'b x 1' 'b y 2')" "$OUT"

run_parc -k echo ::: a b :::+ 1 2 ::: x y
check_eq "product after a linked pair" \
  "$(lines 'a 1 x' 'a 1 y' 'b 2 x' 'b 2 y')" "$OUT"

run_parc -k echo ::: a b c ::: 1 2 :::+ p q r
check_eq "linked group as the fastest axis" \
  "$(lines 'a 1 p' 'a 2 q' 'b 1 p' 'b 2 q' 'c 1 p' 'c 2 q')" "$OUT"

run_parc -k echo ::: a b :::+ 1 2 :::+ X Y Z
check_eq "three linked lists" "$(lines 'a 1 X' 'b 2 Y')" "$OUT"

printf 'f1\nf2\nf3\n' >"$T/f"
printf 'g1\ng2\n' >"$T/g"
run_parc -k echo :::: "$T/f" ::::+ "$T/g"
check_eq ":::: FILE ::::+ FILE pair up lines" "$(lines 'f1 g1' 'f2 g2')" "$OUT"

run_parc -k echo ::: a b :::: "$T/f" ::::+ "$T/g"
check_eq "list times linked files" \
  "$(lines 'a f1 g1' 'a f2 g2' 'b f1 g1' 'b f2 g2')" "$OUT"

run_parc -k echo :::: "$T/g" ::: x y
check_eq ":::: FILE then ::: list" "$(lines 'g1 x' 'g1 y' 'g2 x' 'g2 y')" "$OUT"

run_parc -k echo :::: "$T/g" :::: "$T/g"
check_eq "two :::: files multiply" "$(lines 'g1 g1' 'g1 g2' 'g2 g1' 'g2 g2')" "$OUT"

printf 'no-newline-at-end' >"$T/h"
run_parc -k echo :::: "$T/h"
check_eq ":::: FILE whose last line has no newline" "no-newline-at-end" "$OUT"

run_parc -k echo '{2}' '{1}' ::: a b ::: 1 2 3
check_eq "{2} {1} reorder values of a product" \
  "$(lines '1 a' '2 a' '3 a' '1 b' '2 b' '3 b')" "$OUT"

run_parc -k echo '{#}' '{}' ::: a b ::: 1 2
check_eq "{#} numbers jobs 1..n in input order" \
  "$(lines '1 a 1' '2 a 2' '3 b 1' '4 b 2')" "$OUT"

# --grid axes are sources too, numbered first, before any ::: source.
run_parc -k --grid x=p,q echo '{1}' '{2}' ::: 7 8
check_eq "--grid axis is source 1, ::: list source 2" \
  "$(lines 'p 7' 'p 8' 'q 7' 'q 8')" "$OUT"

run_parc -k --grid x=p,q --grid y=1,2 echo
check_eq "two --grid axes multiply, the later fastest; values appended" \
  "$(lines 'p 1' 'p 2' 'q 1' 'q 2')" "$OUT"

# The first word that is not an option starts the command; options after it
# belong to the command.
run_parc -k echo -k --tag ::: a
check_eq "words after the command are the command's, not parc's" "-k --tag a" "$OUT"

done_testing
