#!/usr/bin/env bash
# Performance figures for the README, printed to stdout as markdown.
#
# Usage (from the repo root): bash scripts/bench.sh
#
# Needs Go, curl and the usual coreutils; uses hyperfine and GNU time when
# present. The state backend benchmarks need PostgreSQL's server binaries
# or QUOTAWATCH_TEST_DATABASE_URL, as the tests do; without them they are
# skipped. Everything talks to a fake AIHubMix (scripts/fakeupstream) on
# 127.0.0.1 only; nothing leaves the machine. Takes about a minute or two.
# Progress goes to stderr, results to stdout. RUNS=N changes the number of
# runs of the single-account comparison (default 30).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${RUNS:-30}
ACCOUNTS=1000
CONCURRENCY=16
LATENCY_MS=50

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quotawatch-bench.XXXXXX")
pids=()
cleanup() {
	local p
	for p in ${pids[@]+"${pids[@]}"}; do
		kill "$p" 2>/dev/null || true
	done
	for p in ${pids[@]+"${pids[@]}"}; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

# now_us prints the wall clock in microseconds, without forking when the
# shell can (bash 5's EPOCHREALTIME), so the clock costs the same for every
# command measured.
if [[ -n ${EPOCHREALTIME:-} ]]; then
	now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "${t#0}"; }
else
	now_us() { echo $(($(date +%s%N) / 1000)); }
fi

# median FILE prints the median of the numbers in FILE (one per line).
median() {
	sort -n "$1" | awk '{a[NR] = $1} END {
		if (NR == 0) exit 1
		if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
		print m }'
}

# calc EXPR evaluates a floating-point awk expression.
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
verdict() { # verdict VALUE OP LIMIT
	if awk -v v="$1" -v l="$3" "BEGIN { exit !(v $2 l) }"; then echo "met"; else echo "**missed**"; fi
}

# ---------------------------------------------------------------- build
log "building bin/quotawatch (scripts/build.sh) and the fake upstream"
sh scripts/build.sh bin/quotawatch >&2
go build -o "$tmp/fakeupstream" ./scripts/fakeupstream
qw=$PWD/bin/quotawatch

# start_upstream LATENCY starts a fake upstream on a free loopback port and
# sets upstream_url and upstream_pid.
upstream_url=
upstream_pid=
start_upstream() {
	local out=$tmp/upstream-$1.out i
	"$tmp/fakeupstream" -addr 127.0.0.1:0 -latency "$1" >"$out" 2>"$tmp/upstream-$1.err" &
	upstream_pid=$!
	pids+=("$upstream_pid")
	for ((i = 0; i < 200; i++)); do
		if [[ -s $out ]]; then
			upstream_url=$(head -n1 "$out")
			return
		fi
		sleep 0.05
	done
	die "the fake upstream did not start: $(cat "$tmp/upstream-$1.err")"
}

# write_config FILE N URL [EXTRA YAML] writes a config of N accounts on URL,
# thresholds $50 / $10, a console notifier, state in FILE's folder.
write_config() {
	local file=$1 n=$2 url=$3 extra=${4:-} i
	mkdir -p "$(dirname "$file")"
	{
		echo "state_file: $(dirname "$file")/state.json"
		echo "concurrency: $CONCURRENCY"
		if [[ -n $extra ]]; then printf '%s\n' "$extra"; fi
		echo "accounts:"
		for ((i = 0; i < n; i++)); do
			printf '  - name: acct-%04d\n    base_url: %s\n    token: fake-key-%04d\n' "$i" "$url" "$i"
			printf '    thresholds:\n      - { usd: 50, severity: warning }\n      - { usd: 10, severity: critical }\n'
		done
		echo "notifiers:"
		echo "  - { name: console, type: console }"
	} >"$file"
}

# peak_rss_kb OUTFILE CMD... runs CMD and writes its peak RSS in kB to
# OUTFILE ("n/a" when it cannot be measured); returns CMD's status.
if /usr/bin/time -f %M -o "$tmp/gnutime" true 2>/dev/null && [[ $(tail -n1 "$tmp/gnutime") =~ ^[0-9]+$ ]]; then
	rss_method="GNU time %M"
	peak_rss_kb() {
		local out=$1 rc=0
		shift
		/usr/bin/time -f %M -o "$out.raw" "$@" || rc=$?
		tail -n1 "$out.raw" >"$out"
		return "$rc"
	}
elif [[ -r /proc/self/status ]]; then
	rss_method="VmHWM polled from /proc"
	peak_rss_kb() {
		local out=$1 pid hwm=n/a v rc=0
		shift
		"$@" &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || true
			[[ -n $v ]] && hwm=$v
			sleep 0.02
		done
		wait "$pid" || rc=$?
		echo "$hwm" >"$out"
		return "$rc"
	}
else
	rss_method="unavailable"
	peak_rss_kb() {
		echo n/a >"$1"
		shift
		"$@"
	}
fi

# ---------------------------------------------------------------- a. one account vs curl
log "a. check for one account vs curl, $RUNS runs each"
start_upstream 0s
url0=$upstream_url
write_config "$tmp/one/config.yaml" 1 "$url0" 'schedule: "@every 5m"'
sed -i 's/name: acct-0000/name: bench/; s/token: fake-key-0000/token: x/' "$tmp/one/config.yaml"
check_one=("$qw" --config "$tmp/one/config.yaml" check)
curl_one=(curl -s -f -o /dev/null -H 'Authorization: Bearer x' "$url0/api/user/self")
out=$("${check_one[@]}" 2>"$tmp/one/stderr") || die "check (1 account) failed: $(cat "$tmp/one/stderr")"
[[ -z $out ]] || die "check (1 account) sent alerts; the balance should be above the thresholds: $out"
"${curl_one[@]}" || die "curl of the fake upstream failed"

if command -v hyperfine >/dev/null; then
	timing="hyperfine, median of $RUNS"
	hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$tmp/hf.json" \
		"$qw --config $tmp/one/config.yaml check" \
		"curl -s -f -o /dev/null -H 'Authorization: Bearer x' $url0/api/user/self" >&2
	medians=($(grep -o '"median": *[0-9.eE+-]*' "$tmp/hf.json" | sed 's/.*: *//'))
	check_ms=$(calc "${medians[0]} * 1000")
	curl_ms=$(calc "${medians[1]} * 1000")
else
	timing="shell loop, interleaved, median of $RUNS"
	: >"$tmp/check.us"
	: >"$tmp/curl.us"
	for ((i = 0; i < 3; i++)); do # warm-up
		"${check_one[@]}" >/dev/null 2>&1
		"${curl_one[@]}"
	done
	for ((i = 0; i < RUNS; i++)); do
		t0=$(now_us)
		"${check_one[@]}" >/dev/null 2>&1 || die "check (1 account) failed"
		t1=$(now_us)
		"${curl_one[@]}" || die "curl failed"
		t2=$(now_us)
		echo $((t1 - t0)) >>"$tmp/check.us"
		echo $((t2 - t1)) >>"$tmp/curl.us"
	done
	check_ms=$(calc "$(median "$tmp/check.us") / 1000")
	curl_ms=$(calc "$(median "$tmp/curl.us") / 1000")
fi
ratio=$(calc "$check_ms / $curl_ms")

# ---------------------------------------------------------------- b. 1,000 accounts
log "b. check for $ACCOUNTS accounts, concurrency $CONCURRENCY, upstream latency ${LATENCY_MS}ms"
start_upstream "${LATENCY_MS}ms"
write_config "$tmp/many/config.yaml" "$ACCOUNTS" "$upstream_url" $'schedule: "@every 5m"\ndefaults: { runway: { below: 24h, window: 6h }, poll_failure_alert_after: 3 }'
ideal_s=$(calc "$ACCOUNTS / $CONCURRENCY * $LATENCY_MS / 1000")
many_s=()
many_rss=()
for run in first steady; do # first: no state file yet; steady: the usual case
	t0=$(now_us)
	peak_rss_kb "$tmp/many/rss" "$qw" --config "$tmp/many/config.yaml" check >"$tmp/many/stdout" 2>"$tmp/many/stderr" ||
		die "check ($ACCOUNTS accounts, $run) failed: $(tail -n3 "$tmp/many/stderr")"
	t1=$(now_us)
	[[ ! -s $tmp/many/stdout ]] || die "check ($ACCOUNTS accounts) sent alerts"
	many_s+=("$(calc "($t1 - $t0) / 1e6")")
	many_rss+=("$(cat "$tmp/many/rss")")
done
state_kb=$(($(stat -c %s "$tmp/many/state.json") / 1024))
# The upstream's own count: requests per connection shows keep-alive at work.
kill -TERM "$upstream_pid"
wait "$upstream_pid" || true
conns=$(sed -n 's/.*served \([0-9]*\) requests on \([0-9]*\) connections.*/\1 requests on \2 connections/p' \
	"$tmp/upstream-${LATENCY_MS}ms.err")
to_mb() { if [[ $1 =~ ^[0-9]+$ ]]; then fmt "$(calc "$1 / 1024")" '%.1f'; else echo n/a; fi; }
rss_first_mb=$(to_mb "${many_rss[0]}")
rss_steady_mb=$(to_mb "${many_rss[1]}")

# ---------------------------------------------------------------- c. idle run
log "c. idle run with 10 accounts"
write_config "$tmp/idle/config.yaml" 10 "$url0" $'schedule: "@every 1h"\nlisten: 127.0.0.1:0'
"$qw" --config "$tmp/idle/config.yaml" run >"$tmp/idle/stdout" 2>"$tmp/idle/stderr" &
run_pid=$!
pids+=("$run_pid")
for ((i = 0; i < 200; i++)); do
	grep -q 'msg="cycle done"' "$tmp/idle/stderr" && break
	kill -0 "$run_pid" 2>/dev/null || die "run exited early: $(cat "$tmp/idle/stderr")"
	sleep 0.05
done
grep -q 'msg="cycle done"' "$tmp/idle/stderr" || die "run did not finish its first cycle in 10 s"
addr=$(grep -o 'msg=serving addr=[^ ]*' "$tmp/idle/stderr" | head -n1 | sed 's/.*addr=//')
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz" || true)
sleep 3
idle_rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$run_pid/status")
idle_hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$run_pid/status")
idle_threads=$(awk '/^Threads:/ { print $2 }' "/proc/$run_pid/status")
kill -TERM "$run_pid"
t0=$(now_us)
run_rc=0
wait "$run_pid" || run_rc=$?
stop_ms=$(calc "($(now_us) - $t0) / 1000")
idle_rss_mb=$(calc "$idle_rss_kb / 1024")
idle_hwm_mb=$(calc "$idle_hwm_kb / 1024")

# ---------------------------------------------------------------- d. go benchmarks
log "d. go test -bench (count 3)"
go test -run '^$' -bench . -benchmem -count 3 -timeout 10m ./internal/app/ >"$tmp/gobench.txt" 2>&1 ||
	die "go test -bench failed: $(tail -n20 "$tmp/gobench.txt")"

# ---------------------------------------------------------------- report
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
fs=$(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 }' || true)
cat <<EOF
## Performance

Measured by \`bash scripts/bench.sh\` on $(nproc) cores (${cpu:-unknown CPU}), $(uname -sr),
$(go env GOVERSION), state file on ${fs:-unknown fs}; the upstream is \`scripts/fakeupstream\` on loopback.

| measurement | result | target | |
| --- | --- | --- | --- |
| \`check\`, 1 account, loopback upstream ($timing) | $(fmt "$check_ms" '%.1f') ms | | |
| bare \`curl\` of the same endpoint ($timing) | $(fmt "$curl_ms" '%.1f') ms | | |
| ratio \`check\` / \`curl\` | $(fmt "$ratio" '%.2f')× | ≤ 1.5× | $(verdict "$ratio" '<=' 1.5) |
| \`check\`, $ACCOUNTS accounts, concurrency $CONCURRENCY, ${LATENCY_MS} ms upstream, first run (no state) | $(fmt "${many_s[0]}" '%.2f') s ($(fmt "$(calc "${many_s[0]} / $ideal_s")" '%.2f')× the ideal $(fmt "$ideal_s" '%.3f') s) | ≤ 1.2× | $(verdict "$(calc "${many_s[0]} / $ideal_s")" '<=' 1.2) |
| same, steady run (state of $ACCOUNTS accounts, ${state_kb} KiB; upstream saw ${conns:-n/a} over both runs) | $(fmt "${many_s[1]}" '%.2f') s ($(fmt "$(calc "${many_s[1]} / $ideal_s")" '%.2f')× the ideal) | ≤ 1.2× | $(verdict "$(calc "${many_s[1]} / $ideal_s")" '<=' 1.2) |
| peak RSS of that \`check\` (first / steady; $rss_method) | $rss_first_mb / $rss_steady_mb MB | < 60 MB | $(if [[ $rss_steady_mb == n/a ]]; then echo n/a; else verdict "$(calc "($rss_first_mb > $rss_steady_mb) ? $rss_first_mb : $rss_steady_mb")" '<' 60; fi) |
| idle \`run\`, 10 accounts, \`listen\` on, 3 s after the first cycle: VmRSS (VmHWM) | $(fmt "$idle_rss_mb" '%.1f') MB ($(fmt "$idle_hwm_mb" '%.1f') MB), $idle_threads threads | < 20 MB | $(verdict "$idle_rss_mb" '<' 20) |
| \`run\`: /readyz after the first cycle; SIGTERM → exit code (time to exit) | $ready; $run_rc ($(fmt "$stop_ms" '%.0f') ms) | 200; 0 | $(if [[ $ready == 200 && $run_rc == 0 ]]; then echo met; else echo "**missed**"; fi) |

Go benchmarks (\`go test -run '^\$' -bench . -benchmem -count 3 ./internal/app/\`), median of 3:

| benchmark | time/op | B/op | allocs/op |
| --- | --- | --- | --- |
EOF
awk '/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op") ns[name] = ns[name] " " $i
		if ($(i+1) == "B/op") by[name] = by[name] " " $i
		if ($(i+1) == "allocs/op") al[name] = al[name] " " $i
	}
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
}
function med(s,   a, k, i, j, t) {
	k = split(s, a, " ")
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return a[int((k + 1) / 2)]
}
function dur(ns) {
	if (ns >= 1e9) return sprintf("%.2f s", ns / 1e9)
	if (ns >= 1e6) return sprintf("%.2f ms", ns / 1e6)
	if (ns >= 1e3) return sprintf("%.1f µs", ns / 1e3)
	return sprintf("%.0f ns", ns)
}
END {
	for (i = 1; i <= n; i++) {
		m = order[i]
		printf "| %s | %s | %d | %d |\n", m, dur(med(ns[m])), med(by[m]), med(al[m])
	}
}' "$tmp/gobench.txt"
# API keys (issue 11): a steady cycle with 20 keys per account whose
# keys.every has not elapsed, against the same cycle without keys.
keys_ratio=$(awk '/^BenchmarkKeysSteady1000\/(no-keys|keys)-/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/.*\//, "", name)
	for (i = 3; i < NF; i++) if ($(i+1) == "ns/op") v[name] = v[name] " " $i
}
function med(s,   a, k, i, j, t) {
	k = split(s, a, " ")
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return a[int((k + 1) / 2)]
}
END { if (v["no-keys"] != "" && v["keys"] != "") printf "%.2f", med(v["keys"]) / med(v["no-keys"]) }' "$tmp/gobench.txt")
if [[ -n $keys_ratio ]]; then
	echo
	echo "| measurement | result | target | |"
	echo "| --- | --- | --- | --- |"
	echo "| steady cycle, $ACCOUNTS accounts × 20 API keys, keys.every not elapsed / without keys (BenchmarkKeysSteady1000) | ${keys_ratio}× | ≤ 1.2× | $(verdict "$keys_ratio" '<=' 1.2) |"
fi
echo
if grep -q '^BenchmarkSteadyCycle' "$tmp/gobench.txt"; then
	echo 'State backends (*BenchmarkSteadyCycle*: a steady cycle, state in the file or in PostgreSQL), median of 3:'
	echo
	echo '| accounts | backend | time/op | written per cycle |'
	echo '| --- | --- | --- | --- |'
	awk '/^BenchmarkSteadyCycle\// {
		split($1, p, "/"); backend = p[2]; n = p[3]; sub(/-[0-9]+$/, "", n); key = n " " backend
		for (i = 3; i < NF; i++) {
			if ($(i+1) == "ns/op") ns[key] = ns[key] " " $i
			if ($(i+1) == "rows/op") w[key] = $i " rows"
			if ($(i+1) == "file-bytes/op") w[key] = "the whole file, " $i " bytes"
		}
		if (!(key in seen)) { seen[key] = 1; order[++k] = key }
	}
	function med(s,   a, c, i, j, t) {
		c = split(s, a, " ")
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((c + 1) / 2)]
	}
	END { for (i = 1; i <= k; i++) { split(order[i], q, " "); printf "| %s | %s | %.1f ms | %s |\n", q[1], q[2], med(ns[order[i]]) / 1e6, w[order[i]] } }' "$tmp/gobench.txt"
	echo
fi
echo '<details><summary>raw <code>go test -bench</code> output</summary>'
echo
echo '```'
grep -E '^(goos|goarch|pkg|cpu|Benchmark)' "$tmp/gobench.txt"
echo '```'
echo
echo '</details>'
log "done"
