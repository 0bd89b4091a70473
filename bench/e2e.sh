#!/usr/bin/env bash
# End-to-end throughput of a Release `hush serve` fed by `hush loadgen` over loopback, in spans per CPU-second of
# the Hush process (utime + stime from /proc/PID/stat across the measured run; loadgen shares the machine).
#
#   bench/e2e.sh [minimal|default] [http|grpc]        e.g.  bench/e2e.sh minimal http
#
# minimal: the privacy stage with a policy of no detectors and no rules (the "no processors" case of issue 2);
# default: the shipped default policy. Both use the nop exporter and the batch processor. Environment:
#   WARM=30      seconds of warm-up load before measuring (gRPC is still JIT-compiling after 8 s)
#   SECONDS_=10  seconds measured
#   HBIN=path    hush.dll to run (default: this tree's Release build, built when missing)
#   XENV="A=B"   extra environment for the server (e.g. DOTNET_GCgen0size=0x8000000)
#   PERF=1       record a `perf` profile of the server during the measured run (e2e.perf.data in the work dir)
# Loopback only, bounded in time. Figures go to docs/benchmarks.md with the core count and load average.
set -euo pipefail
POLICY=${1:-minimal}; PROTO=${2:-http}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HBIN=${HBIN:-$ROOT/src/Hush.Cli/bin/Release/net10.0/hush.dll}
[ -f "$HBIN" ] || dotnet build "$ROOT/src/Hush.Cli" -c Release > /dev/null
WORK=$(mktemp -d /tmp/hush-e2e.XXXXXX)
cat > "$WORK/minimal.yaml" <<'YAML'
version: 1
mode: detect
detectors:
  builtin: none
span_names: detect
rules: []
YAML
POLICY_LINE=""
[ "$POLICY" = minimal ] && POLICY_LINE="    policy: $WORK/minimal.yaml"
cat > "$WORK/serve.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:24317
      http:
        endpoint: 127.0.0.1:24318
processors:
  batch:
    send_batch_size: 8192
    timeout: 200ms
  privacy:
$POLICY_LINE
    watch: false
exporters:
  nop: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [privacy, batch]
      exporters: [nop]
  admin:
    endpoint: 127.0.0.1:23200
  data_dir: $WORK/data
YAML
PERFENV=""; [ -n "${PERF:-}" ] && PERFENV="DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0"
# shellcheck disable=SC2086 # XENV and PERFENV are lists of NAME=VALUE words
env $PERFENV ${XENV:-} dotnet "$HBIN" serve -c "$WORK/serve.yaml" > "$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf http://127.0.0.1:23200/readyz > /dev/null && break; sleep 1; done
EP=http://127.0.0.1:24318; [ "$PROTO" = grpc ] && EP=http://127.0.0.1:24317
dotnet "$HBIN" loadgen --endpoint $EP --protocol "$PROTO" --duration "${WARM:-30}s" --concurrency 4 --batch 512 > /dev/null 2>&1
BEFORE=$(awk '{print $14+$15}' /proc/$PID/stat)
PERFPID=""
if [ -n "${PERF:-}" ]; then perf record -F 999 -g -p $PID -o "$WORK/e2e.perf.data" -- sleep "${SECONDS_:-10}" > /dev/null 2>&1 & PERFPID=$!; fi
dotnet "$HBIN" loadgen --endpoint $EP --protocol "$PROTO" --duration "${SECONDS_:-10}s" --concurrency 4 --batch 512 > "$WORK/load.log" 2>&1
AFTER=$(awk '{print $14+$15}' /proc/$PID/stat)
[ -n "$PERFPID" ] && wait "$PERFPID" 2>/dev/null || true
SPANS=$(grep -oE "spans sent[^0-9]*[0-9,]+" "$WORK/load.log" | grep -oE "[0-9,]+$" | tr -d ,)
TICKS=$(getconf CLK_TCK)
echo "policy=$POLICY protocol=$PROTO spans=$SPANS hush_cpu_s=$(echo "scale=2; ($AFTER-$BEFORE)/$TICKS" | bc) spans_per_hush_cpu_s=$(echo "$SPANS*$TICKS/($AFTER-$BEFORE)" | bc) cores=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" work=$WORK"
