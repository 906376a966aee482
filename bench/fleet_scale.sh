#!/usr/bin/env bash
# The fleet database at scale, on SQLite and on PostgreSQL (started on the
# loopback address by tests/servers.sh, as the tests do; fsync on, the
# server's defaults otherwise): for each size, a simulated fleet of
# DEVICES devices (`vigie fleet simulate`) is ingested from a file, then
# ingested again (every frame a duplicate), and `vigie fleet status` is
# timed. Prints one line per engine and size: frames per second, bytes
# stored per frame, status latency, peak memory of the ingest. Then, with
# mosquitto, MQTT_FRAMES frames (default 100,000) through the broker:
# `vigie fleet publish` to `vigie fleet ingest --mqtt` into SQLite.
#
#   bench/fleet_scale.sh [FRAMES ...]     (default: 1000000 10000000)
#
# Needs the release binary (cargo build --release -p vigie-trainer) and,
# for PostgreSQL, its server binaries (apt-get install postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
vigie=${VIGIE:-${CARGO_TARGET_DIR:-target}/release/vigie}
[ -x "$vigie" ] || { echo "build vigie first: cargo build --release -p vigie-trainer" >&2; exit 1; }
devices=${DEVICES:-10000}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)

work=$(mktemp -d /tmp/vigie-fleet-bench.XXXXXX)
export PGOPTIONS="-c client_min_messages=warning"
# shellcheck source=../tests/servers.sh
. tests/servers.sh
trap 'stop_servers; rm -rf "$work"' EXIT
start_postgres >&2
start_mosquitto >&2

# Seconds and peak KiB of a command, its output discarded.
timed() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; return 1; }
    cat "$work/time"
}

printf '%-9s %11s %8s %14s %14s %12s %11s %10s\n' engine frames devices "ingest frames/s" "again frames/s" "bytes/frame" "status s" "ingest MiB"
for n in "${sizes[@]}"; do
    reports=$(( (n + devices - 1) / devices ))
    frames="$work/frames-$n.bin"
    "$vigie" fleet simulate --devices "$devices" --reports "$reports" --seed 1 --out "$frames" --force >/dev/null
    total=$((devices * reports))
    engines=(sqlite)
    [ -n "${VIGIE_TEST_POSTGRES:-}" ] && engines+=(postgres)
    for engine in "${engines[@]}"; do
        if [ "$engine" = sqlite ]; then
            db="$work/fleet-$n.db"
        else
            name="bench_$n"
            psql "$VIGIE_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
            db="${VIGIE_TEST_POSTGRES%/*}/$name"
        fi
        read -r first rss < <(timed "$vigie" fleet ingest --db "$db" --from "$frames")
        grep -q " $total reports stored, 0 already there" "$work/out" || { cat "$work/out" >&2; exit 1; }
        read -r again _ < <(timed "$vigie" fleet ingest --db "$db" --from "$frames")
        grep -q ": 0 reports stored, $total already there" "$work/out" || { cat "$work/out" >&2; exit 1; }
        if [ "$engine" = sqlite ]; then
            bytes=$(stat -c %s "$db")
        else
            bytes=$(psql "$db" -Atc "SELECT pg_database_size(current_database())")
        fi
        read -r status _ < <(timed "$vigie" fleet status --db "$db")
        lines=$(wc -l <"$work/out")
        awk -v e="$engine" -v t="$total" -v d="$devices" -v f="$first" -v a="$again" -v b="$bytes" \
            -v s="$status" -v r="$rss" -v l="$lines" 'BEGIN {
            printf "%-9s %11d %8d %14.0f %14.0f %12.1f %11.2f %10.1f   (status: %d lines)\n",
                e, t, d, t / f, t / a, b / t, s, r / 1024, l }'
        [ "$engine" = sqlite ] && rm -f "$db"
        [ "$engine" = postgres ] && psql "$VIGIE_TEST_POSTGRES" -qc "DROP DATABASE $name" >/dev/null
    done
    rm -f "$frames"
done

if [ -n "${VIGIE_TEST_MQTT:-}" ]; then
    n=${MQTT_FRAMES:-100000}
    frames="$work/mqtt.bin"
    "$vigie" fleet simulate --devices "$devices" --reports $(( (n + devices - 1) / devices )) --seed 2 --out "$frames" --force >/dev/null
    total=$(( devices * ((n + devices - 1) / devices) ))
    "$vigie" fleet ingest --db "$work/mqtt.db" --mqtt "$VIGIE_TEST_MQTT" --count "$total" --idle 60 >"$work/mqtt.out" 2>"$work/mqtt.err" &
    ingest=$!
    until grep -q subscribed "$work/mqtt.err"; do
        kill -0 "$ingest" 2>/dev/null || { cat "$work/mqtt.err" >&2; exit 1; }
        sleep 0.1
    done
    start=$(date +%s.%N)
    "$vigie" fleet publish --mqtt "$VIGIE_TEST_MQTT" --from "$frames" >/dev/null
    wait "$ingest"
    end=$(date +%s.%N)
    grep -q " $total reports stored" "$work/mqtt.out" || { cat "$work/mqtt.out" "$work/mqtt.err" >&2; exit 1; }
    awk -v t="$total" -v s="$start" -v e="$end" 'BEGIN {
        printf "mqtt      %11d frames through mosquitto into SQLite: %.1f s, %.0f frames/s end to end\n", t, e - s, t / (e - s) }'
fi
