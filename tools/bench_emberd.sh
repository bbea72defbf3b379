#!/usr/bin/env bash
# emberd on loopback under wrk: requests/s and p50/p99 for health, JSON infer and binary infer of
# the demo model (one connection, then 8), the stripped binary's size and its idle RSS.
#
#     bash tools/bench_emberd.sh [SECONDS]      # needs wrk (apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
command -v wrk >/dev/null || { echo "bench_emberd: needs wrk (apt-get install wrk)" >&2; exit 1; }
for product in emberd ember; do swift build -c release --static-swift-stdlib --product "$product" >/dev/null; done
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/models"
"$bin/ember" demo --output "$work/demo" >/dev/null
cp "$work/demo/demo.ember" "$work/models/"
cp "$bin/emberd" "$work/emberd" && strip "$work/emberd"
python3 - "$work" <<'PY'
import json, struct, sys
work = sys.argv[1]
d = open(f"{work}/demo/input.npy", "rb").read()
raw = d[10 + int.from_bytes(d[8:10], "little"):]
x = list(struct.unpack("256f", raw))
body = json.dumps({"inputs": [{"name": "image", "shape": [1, 16, 16, 1], "datatype": "FP32", "data": x}]})
open(f"{work}/json.lua", "w").write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                                    f"wrk.body = [[{body}]]\n")
head = json.dumps({"inputs": [{"name": "image", "shape": [1, 16, 16, 1], "datatype": "FP32",
                               "parameters": {"binary_data_size": 1024}}],
                   "outputs": [{"name": "orientation", "parameters": {"binary_data": True}}]})
blob = "".join("\\%d" % b for b in head.encode() + raw)
open(f"{work}/binary.lua", "w").write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'
                                      f'wrk.headers["Inference-Header-Content-Length"] = "{len(head)}"\nwrk.body = "{blob}"\n')
PY
"$work/emberd" --models "$work/models" --socket "$work/emberd.sock" --listen 127.0.0.1:18765 2>"$work/log" &
pid=$!
sleep 1
echo "emberd $("$work/emberd" --version): stripped $(du -k "$work/emberd" | cut -f1) KiB, idle RSS $(ps -o rss= -p "$pid") KiB"
url=http://127.0.0.1:18765
# "request-seconds inference-seconds count" summed over the demo model's variants, then the
# server-overhead histogram's cumulative bucket counts (le=... in order, summed over variants).
server_seconds() {
  curl -s "$url/metrics" | awk '/^ember_request_duration_seconds_sum/ {r += $2} /^ember_inference_duration_seconds_sum/ {i += $2}
      /^ember_inference_duration_seconds_count/ {n += $2}
      /^ember_server_overhead_seconds_bucket/ {split($1, a, "le=\""); le = a[2]; sub(/".*/, "", le); if (!(le in b)) order[++k] = le; b[le] += $2}
      END {printf "%s %s %s", r + 0, i + 0, n + 0; for (j = 1; j <= k; j++) printf " %s:%s", order[j], b[order[j]]; print ""}'
}
for run in "health 1 $url/v2/health/live" "json 1 $url/v2/models/demo/infer" "binary 1 $url/v2/models/demo/infer" \
           "json 8 $url/v2/models/demo/infer"; do
  set -- $run
  script=()
  [ "$1" != health ] && script=(-s "$work/$1.lua")
  before=$(server_seconds)
  out=$(wrk -t"$([ "$2" = 1 ] && echo 1 || echo 2)" -c"$2" -d"${seconds}s" --latency "${script[@]}" "$3")
  after=$(server_seconds)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  # emberd's own time per inference request (handler time minus the inference), from its metrics.
  own=$(python3 -c 'import sys
def parse(text):
    f = text.split()
    return [float(x) for x in f[:3]], [(float(le), float(c)) for le, c in (x.split(":") for x in f[3:])]
(b, bb), (a, ab) = parse(sys.argv[1]), parse(sys.argv[2])
n = a[2] - b[2]
if not n: sys.exit()
# p50 of the server overhead from the histogram deltas, interpolated inside its bucket (as histogram_quantile).
counts = [(le, c - dict(bb).get(le, 0)) for le, c in ab]
lower, below, p50 = 0.0, 0.0, float("nan")
for le, c in counts:
    if c >= n / 2:
        p50 = (lower + (le - lower) * (n / 2 - below) / max(c - below, 1)) if le != float("inf") else lower
        break
    lower, below = le, c
print(f", in emberd {(a[0] - b[0]) / n * 1e6:.1f} us of which inference {(a[1] - b[1]) / n * 1e6:.1f} us,"
      f" server overhead p50 {p50 * 1e6:.0f} us")' "$before" "$after")
  echo "$1, $2 connection(s): $rps requests/s, p50 $p50, p99 $p99${non2xx:+, non-2xx $non2xx}$own"
done
echo "RSS after the runs: $(ps -o rss= -p "$pid") KiB"
"$bin/ember" bench "$work/demo/demo.ember" --repeat 2000 | tail -1
