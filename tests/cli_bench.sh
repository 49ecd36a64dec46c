#!/usr/bin/env bash
# cli_bench.sh - `bhive bench` and `bhive optimise` end to end against
# bhive-emulator's scripted models with known prices: the table, CSV and
# JSON contents and their source, resumption through the store, malformed
# JSONL lines (skipped or fatal, with their line number), data without
# expected answers (run by bench, refused by optimise), corrupt and foreign
# stores (refused and left untouched), the optimiser's best configuration
# and the early stop of an over-budget configuration.
set -u

: "${BHIVE:?}" "${BHIVE_EMULATOR:?}"
for tool in jq curl sqlite3 md5sum; do
	command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done

work=$(mktemp -d)
emu_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }
expect_in() { grep -q -- "$2" "$1" || { fail "$3: [$2] not in $1:"; cat "$1" >&2; }; }

# Four scripted models: bad answers 41, ok answers 42 only to "even"
# questions, good always 42, pricey always 42 at a hundred times the price.
cat >"$work/emu.json" <<'EOF'
{"models": {
  "test.bad-v1:0": {"kind": "scripted", "base_latency_ms": 1, "script": {"rules": [
      {"regex": ".", "reply": {"text": "I think <answer>41</answer>"}}]}},
  "test.ok-v1:0": {"kind": "scripted", "base_latency_ms": 1, "script": {"rules": [
      {"contains": "even", "reply": {"text": "It is <answer>42</answer>"}},
      {"regex": ".", "reply": {"text": "It is <answer>41</answer>"}}]}},
  "test.good-v1:0": {"kind": "scripted", "base_latency_ms": 1, "script": {"rules": [
      {"regex": ".", "reply": {"text": "Surely <answer>42</answer>"}}]}},
  "test.pricey-v1:0": {"kind": "scripted", "base_latency_ms": 1, "script": {"rules": [
      {"regex": ".", "reply": {"text": "Surely <answer>42</answer>"}}]}}
}}
EOF
cat >"$work/prices.json" <<'EOF'
{"models": {
  "test.bad-v1:0": {"input": 0.0001, "output": 0.0001},
  "test.ok-v1:0": {"input": 0.0002, "output": 0.0002},
  "test.good-v1:0": {"input": 0.001, "output": 0.001},
  "test.pricey-v1:0": {"input": 0.1, "output": 0.1}}}
EOF

"$BHIVE_EMULATOR" --port 0 --config "$work/emu.json" --no-default-models \
	>"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 100); do
	grep -q listening "$work/emu.out" 2>/dev/null && break
	sleep 0.05
done
url=$(grep -o 'http://[0-9.:]*' "$work/emu.out" | head -1)
[ -n "$url" ] || { echo "emulator did not start"; cat "$work/emu.err"; exit 1; }

export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1
unset AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK BHIVE_LOG_LEVEL
sim="simulated models (bhive-emulator)"
calls() { curl -s "$url/_emulator/stats" | jq -r '.total // 0'; }
bench() {
	"$BHIVE" bench --endpoint-url "$url" --prices "$work/prices.json" --no-progress \
		--evaluator in-tags "$@"
}
optimise() {
	"$BHIVE" optimise --endpoint-url "$url" --prices "$work/prices.json" --no-progress \
		--evaluator in-tags "$@"
}

# Ten questions expecting 42, half of them "even".
for i in $(seq 0 9); do
	kind=odd; [ $((i % 2)) -eq 0 ] && kind=even
	printf '{"id": "q%d", "prompt": "question %d (%s)", "expected": 42}\n' "$i" "$i" "$kind"
done >"$work/ten.jsonl"

# 1. A bench: the table names its source and shows accuracy per configuration.
bench --dataset "$work/ten.jsonl" --model test.ok-v1:0 --reflections 0,1 \
	--store "$work/r.db" >"$work/table.txt" 2>"$work/err.txt"
expect_eq "$?" 0 "bench exit"
expect_eq "$(head -1 "$work/table.txt")" "Figures from: $sim" "table source line"
expect_in "$work/table.txt" "^r=0 .* 10/10 .* 50.0%" "table r=0 row"
expect_in "$work/table.txt" "^r=1 .* 10/10 .* 50.0%" "table r=1 row"
expect_in "$work/err.txt" "SIMULATED" "stderr says simulated"
expect_eq "$(calls)" 30 "calls of r=0 and r=1"

# 2. The same command again resumes: nothing is sent, the figures stay.
bench --dataset "$work/ten.jsonl" --model test.ok-v1:0 --reflections 0,1 \
	--store "$work/r.db" --output json >"$work/r.json" 2>/dev/null
expect_eq "$?" 0 "resumed bench exit"
expect_eq "$(calls)" 30 "no call on resume"
expect_eq "$(jq -r .source "$work/r.json")" "$sim" "json source"
expect_eq "$(jq -r '.rows | length' "$work/r.json")" 2 "json rows"
expect_eq "$(jq -r '.rows[1].accuracy' "$work/r.json")" 0.5 "json accuracy"
expect_eq "$(jq -r '.rows[1].reflections' "$work/r.json")" 1 "json reflections"
expect_eq "$(jq -r '.rows[1].samples' "$work/r.json")" 10 "json samples"
# r=1: two calls of 12+ tokens... the cost is the store's own mean, and positive
expect_eq "$(jq -r '.rows[0].mean_cost_usd > 0' "$work/r.json")" true "json cost"
expect_eq "$(sqlite3 "$work/r.db" 'SELECT count(*), count(DISTINCT run || "-" || idx) FROM samples')" \
	"20|20" "store has each sample once"

# 3. CSV: header, source on every row, one row per configuration.
bench --dataset "$work/ten.jsonl" --model test.ok-v1:0 --reflections 0,1 \
	--store "$work/r.db" --output csv --csv "$work/copy.csv" >"$work/r.csv" 2>/dev/null
expect_eq "$(head -1 "$work/r.csv" | tr -d '\r' | cut -d, -f1-6)" \
	"name,source,dataset,evaluator,models,reflections" "csv header"
expect_eq "$(tail -n +2 "$work/r.csv" | wc -l)" 2 "csv rows"
expect_eq "$(sed -n 2p "$work/r.csv" | cut -d, -f2,5,6,14)" "$sim,test.ok-v1:0,0,0.5" "csv row"
cmp -s "$work/r.csv" "$work/copy.csv" || fail "--csv file differs from stdout"

# 4. Malformed JSONL: fatal by default with the line number; skipped on request.
cp "$work/ten.jsonl" "$work/bad.jsonl"
sed -i '3s/.*/{"prompt": "broken", "expected": 42/' "$work/bad.jsonl"
bench --dataset "$work/bad.jsonl" --model test.good-v1:0 --store "$work/bad.db" \
	>/dev/null 2>"$work/err.txt"
expect_eq "$?" 2 "bad line fatal exit"
expect_in "$work/err.txt" "line 3" "bad line number"
[ -e "$work/bad.db" ] && fail "a fatal bad line must not create the store"
bench --dataset "$work/bad.jsonl" --model test.good-v1:0 --store "$work/bad.db" \
	--on-bad-line skip --output json >"$work/skip.json" 2>"$work/err.txt"
expect_eq "$?" 0 "bad line skipped exit"
expect_in "$work/err.txt" "line 3 skipped" "skipped line reported"
expect_eq "$(jq -r '.rows[0].samples' "$work/skip.json")" 9 "skipped line not run"

# 5. No expected answers: bench runs it unscored; optimise refuses it.
sed 's/, "expected": 42//' "$work/ten.jsonl" >"$work/open.jsonl"
bench --dataset "$work/open.jsonl" --model test.good-v1:0 --store "$work/open.db" \
	--output json >"$work/open.json" 2>"$work/err.txt"
expect_eq "$?" 0 "unscored bench exit"
expect_eq "$(jq -r '.rows[0].samples' "$work/open.json")" 10 "unscored samples"
expect_eq "$(jq -r '.rows[0].accuracy' "$work/open.json")" null "unscored accuracy"
before=$(calls)
optimise --dataset "$work/open.jsonl" --model test.good-v1:0 --store "$work/open2.db" \
	>/dev/null 2>"$work/err.txt"
expect_eq "$?" 2 "optimise refuses unscored data"
expect_in "$work/err.txt" 'no expected answer for sample "q0" (line 1)' "optimise message"
expect_eq "$(calls)" "$before" "optimise sent nothing"
[ -e "$work/open2.db" ] && fail "optimise must refuse before creating a store"

# 6. Corrupt and foreign stores are refused and never written.
head -c 3000 /dev/urandom >"$work/corrupt.db"
printf 'SQLite format 3\0' | dd of="$work/corrupt.db" conv=notrunc 2>/dev/null
sqlite3 "$work/foreign.db" 'CREATE TABLE invoices (id INTEGER, total REAL); INSERT INTO invoices VALUES (1, 9.5);'
for db in corrupt foreign; do
	sum=$(md5sum <"$work/$db.db")
	before=$(calls)
	bench --dataset "$work/ten.jsonl" --model test.good-v1:0 --store "$work/$db.db" \
		>/dev/null 2>"$work/err.txt"
	expect_eq "$?" 1 "$db store exit"
	expect_in "$work/err.txt" "refusing\|not a readable\|corrupt\|not a bhive" "$db store message"
	expect_eq "$(md5sum <"$work/$db.db")" "$sum" "$db store untouched"
	expect_eq "$(calls)" "$before" "$db store: nothing sent"
	[ -e "$work/$db.db-wal" ] && [ -s "$work/$db.db-wal" ] && fail "$db store got a WAL"
done

# 7. optimise: four models under a cost budget; pricey stops early on a
# prefix; the best within budget is good (all right, cheaper than pricey).
for i in $(seq 0 29); do
	kind=odd; [ $((i % 2)) -eq 0 ] && kind=even
	printf '{"prompt": "item %d (%s)", "expected": "42"}\n' "$i" "$kind"
done >"$work/thirty.jsonl"
curl -s -X DELETE "$url/_emulator/requests" >/dev/null
optimise --dataset "$work/thirty.jsonl" --model test.bad-v1:0 --model test.ok-v1:0 \
	--model test.good-v1:0 --model test.pricey-v1:0 --max-cost-per-sample 0.001 \
	--min-samples 3 --concurrency 2 --store "$work/opt.db" --output json \
	--plots "$work/plots" >"$work/opt.json" 2>"$work/err.txt"
expect_eq "$?" 0 "optimise exit"
expect_eq "$(jq -r '.rows[.best].name' "$work/opt.json")" "good r=0" "best config"
expect_eq "$(jq -r '.rows[] | select(.name == "pricey r=0") | .stopped_early' \
	"$work/opt.json")" true "pricey stopped early"
expect_in "$work/err.txt" "stopped early after" "early stop said"
expect_in "$work/err.txt" "best within budget: good r=0" "best said"
pricey=$(curl -s "$url/_emulator/stats" | jq -r '.models["test.pricey-v1:0"] | add // 0')
[ "$pricey" -lt 30 ] || fail "pricey ran all 30 samples ($pricey calls)"
expect_eq "$(jq -r '[.pareto[] | tostring] | join(",")' "$work/opt.json")" "0,1,2" "pareto front"
expect_eq "$(jq -r .source "$work/opt.json")" "$sim" "optimise source"
if command -v gnuplot >/dev/null; then
	for f in accuracy tradeoff pareto; do
		[ -s "$work/plots/$f.png" ] || fail "plot $f.png missing"
	done
fi

# 8. Bad arguments are usage errors.
bench --model test.good-v1:0 --store "$work/x.db" >/dev/null 2>&1
expect_eq "$?" 2 "no data"
bench --arithmetic easy --model test.good-v1:0 --reflections 1,x >/dev/null 2>&1
expect_eq "$?" 2 "bad reflections"
bench --arithmetic extreme --model test.good-v1:0 --store "$work/x.db" >/dev/null 2>&1
expect_eq "$?" 2 "bad difficulty"

# 9. demo: says SIMULATED first, finds the emulator next to bhive, prints the
# table beside the published figures, and leaves no emulator running.
"$BHIVE" demo --samples 3 --debate-questions 1 --no-progress --plots "$work/demo" \
	--time-scale 0.01 --seed 7331 \
	>"$work/demo.out" 2>"$work/demo.err"
expect_eq "$?" 0 "demo exit"
head -1 "$work/demo.out" | grep -q "SIMULATED" || fail "demo does not say SIMULATED first"
expect_in "$work/demo.out" "^Figures from: $sim" "demo table source"
expect_in "$work/demo.out" "^hard r=5 .* 3/3" "demo hard r=5 row"
expect_in "$work/demo.out" "^medium .*/  47%" "demo published figures"
expect_in "$work/demo.out" "debate answer" "demo debate"
pgrep -f "time-scale 0.01 --seed 7331" >/dev/null &&
	fail "demo left its emulator running"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "cli_bench: all passed"
