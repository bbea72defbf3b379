#!/usr/bin/env bash
# Why emberd has its own HTTP server: the same GET /v2/health/live served by Hummingbird 2
# (SwiftNIO), FlyingFox and emberd, each a release build with the static Swift runtime, stripped;
# their size, idle RSS, and wrk on loopback (1 and 8 connections), interleaved, two rounds.
# Builds the two peers in WORKDIR (default /tmp/ember-http-stacks; ~6 minutes the first time;
# needs network for their packages, libcurl4-openssl-dev for FlyingFox's Foundation, and wrk).
#
#     bash tools/bench_http_stacks.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/ember-http-stacks}
mkdir -p "$work/hb/Sources/hb" "$work/ff/Sources/ff" "$work/models"
cat > "$work/hb/Package.swift" <<'SWIFT'
// swift-tools-version:6.1
import PackageDescription
let package = Package(name: "hb", platforms: [.macOS(.v14)],
  dependencies: [.package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0")],
  targets: [.executableTarget(name: "hb", dependencies: [.product(name: "Hummingbird", package: "hummingbird")])])
SWIFT
cat > "$work/hb/Sources/hb/main.swift" <<'SWIFT'
import Hummingbird
let router = Router()
router.get("/v2/health/live") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"live\":true}")))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 18770)))
try await app.runService()
SWIFT
cat > "$work/ff/Package.swift" <<'SWIFT'
// swift-tools-version:6.1
import PackageDescription
let package = Package(name: "ff", platforms: [.macOS(.v13)],
  dependencies: [.package(url: "https://github.com/swhitty/FlyingFox", from: "0.20.0")],
  targets: [.executableTarget(name: "ff", dependencies: [.product(name: "FlyingFox", package: "FlyingFox")])])
SWIFT
cat > "$work/ff/Sources/ff/main.swift" <<'SWIFT'
import FlyingFox
import Foundation
let server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: 18771))
await server.appendRoute("GET /v2/health/live") { _ in
    HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: Data("{\"live\":true}".utf8))
}
try await server.run()
SWIFT
(cd "$work/hb" && swift build -c release --static-swift-stdlib >/dev/null)
(cd "$work/ff" && swift build -c release --static-swift-stdlib >/dev/null)
for product in emberd ember; do swift build -c release --static-swift-stdlib --product "$product" >/dev/null; done
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
"$bin/ember" demo --output "$work/demo" >/dev/null && cp "$work/demo/demo.ember" "$work/models/"
for b in "$work/hb/.build/release/hb:hummingbird" "$work/ff/.build/release/ff:flyingfox" "$bin/emberd:emberd"; do
  cp "${b%%:*}" "$work/${b##*:}" && strip "$work/${b##*:}"
done
"$work/hummingbird" >/dev/null 2>&1 & pids=($!)
"$work/flyingfox" >/dev/null 2>&1 & pids+=($!)
rm -f "$work/emberd.sock"
"$work/emberd" --models "$work/models" --socket "$work/emberd.sock" --listen 127.0.0.1:18772 2>/dev/null & pids+=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
sleep 2
for i in 0 1 2; do
  name=(hummingbird flyingfox emberd)
  echo "${name[$i]}: stripped $(du -k "$work/${name[$i]}" | cut -f1) KiB, idle RSS $(ps -o rss= -p "${pids[$i]}") KiB"
done
for round in 1 2; do
  for s in "hummingbird 18770" "flyingfox 18771" "emberd 18772"; do
    set -- $s
    for c in 1 8; do
      out=$(wrk -t"$([ "$c" = 1 ] && echo 1 || echo 2)" -c"$c" -d4s --latency "http://127.0.0.1:$2/v2/health/live")
      echo "round $round $1, $c connection(s): $(echo "$out" | awk '/Requests\/sec/ {print $2}') requests/s," \
        "p50 $(echo "$out" | awk '$1 == "50%" {print $2}'), p99 $(echo "$out" | awk '$1 == "99%" {print $2}')"
    done
  done
done
