#!/usr/bin/env bash
# Builds an installable release: `ember` and `emberd` (stripped, Swift runtime linked in with
# --static-swift-stdlib), the systemd unit, libember.so (the C API, SONAME libember.so.0, same),
# libember.a (static, with the Swift runtime; ember-static.pc), ember.h, ember.pc, the C example's
# source and the docs — as dist/ember-VERSION-ARCH.tar.gz and dist/ember_VERSION_ARCH.deb (dpkg-deb).
# Then, unless --no-check, installs the .deb into a temporary root (dpkg -x), builds the C example
# against it with pkg-config (shared, then static) and runs the installed `ember`, both builds of
# the example and the installed emberd on the bundled demo model, comparing their outputs.
#
#     bash tools/package.sh             # build, package, check (about 5 minutes on 2 cores)
#     bash tools/package.sh --no-check
#
# Runtime dependencies of the .deb: libc6, libzstd1, libsodium23, libstdc++6, libgcc-s1 (Debian 12,
# Ubuntu 22.04+); no Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
check=1
[ "${1:-}" = "--no-check" ] && check=0

command -v dpkg-deb >/dev/null || { echo "package: dpkg-deb is needed (apt-get install dpkg)" >&2; exit 1; }
flags=(-c release --static-swift-stdlib)
echo "package: building ember and libember (release, static Swift runtime)" >&2
swift build "${flags[@]}" --product ember
swift build "${flags[@]}" --product emberd
# --static-swift-stdlib links executables only; the library gets the runtime with -static-stdlib,
# in a build tree of its own (other compiler flags would rebuild everything in .build each time).
lib_flags=(-c release --scratch-path .build-libember -Xswiftc -static-stdlib -Xlinker -soname -Xlinker libember.so.0)
swift build "${lib_flags[@]}" --product EmberC
swift build -c release --scratch-path .build-libember --product EmberCStatic
bin=$(swift build "${flags[@]}" --show-bin-path)
lib=$(swift build "${lib_flags[@]}" --show-bin-path)
version=$("$bin/ember" --version)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
mkdir -p "$root/usr/bin" "$root/usr/lib/pkgconfig" "$root/usr/include" "$root/usr/share/doc/ember/examples" \
  "$root/usr/lib/systemd/system"
install -m 0755 "$bin/ember" "$root/usr/bin/ember"
install -m 0755 "$bin/emberd" "$root/usr/bin/emberd"
install -m 0644 Examples/systemd/emberd.service "$root/usr/lib/systemd/system/emberd.service"
install -m 0644 "$lib/libEmberC.so" "$root/usr/lib/libember.so.0"
ln -s libember.so.0 "$root/usr/lib/libember.so"
# libember.a: Ember's objects and the static Swift runtime in one archive, swiftrt.o beside it.
swift_static=$(dirname "$(command -v swift)")/../lib/swift_static/linux
{
  echo "create $root/usr/lib/libember.a"
  echo "addlib $lib/libEmberCStatic.a"
  for l in swift_StringProcessing swift_RegexParser swift_Concurrency swiftSynchronization swiftGlibc swiftCore \
           dispatch BlocksRuntime; do
    echo "addlib $swift_static/lib$l.a"
  done
  echo "save"
  echo "end"
} | ar -M
mkdir -p "$root/usr/lib/ember"
install -m 0644 "$swift_static/x86_64/swiftrt.o" "$root/usr/lib/ember/swiftrt.o" 2>/dev/null || \
  install -m 0644 "$swift_static/$(uname -m)/swiftrt.o" "$root/usr/lib/ember/swiftrt.o"
strip --strip-unneeded "$root/usr/bin/ember" "$root/usr/bin/emberd" "$root/usr/lib/libember.so.0"
install -m 0644 Sources/CEmberAPI/include/ember.h "$root/usr/include/ember.h"
sed -e "s|@PREFIX@|/usr|" -e "s|@VERSION@|$version|" tools/ember.pc.in > "$root/usr/lib/pkgconfig/ember.pc"
sed -e "s|@PREFIX@|/usr|" -e "s|@VERSION@|$version|" tools/ember-static.pc.in > "$root/usr/lib/pkgconfig/ember-static.pc"
install -m 0644 Examples/c-daemon/main.c "$root/usr/share/doc/ember/examples/c-daemon.c"
install -m 0644 README.md docs/FORMAT.md "$root/usr/share/doc/ember/"

mkdir -p dist
tarball="dist/ember-$version-$arch.tar.gz"
tar -C "$root/usr" -czf "$tarball" .
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<EOF
Package: ember
Version: $version
Architecture: $arch
Maintainer: Ember developers <ember@localhost>
Depends: libc6, libzstd1, libsodium23, libstdc++6, libgcc-s1
Section: science
Priority: optional
Description: inference runtime for Linux edge devices
 Runs trained neural networks (.ember packages packed from TFLite and ONNX models) offline
 within a fixed memory, power and heat budget. The ember command, the emberd server (KServe v2
 REST) with its systemd unit, libember (the C API) with ember.h and ember.pc.
EOF
deb="dist/ember_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
rm -rf "$root/DEBIAN"
echo "package: $tarball ($(du -k "$tarball" | cut -f1) KiB), $deb ($(du -k "$deb" | cut -f1) KiB)" >&2
kib() { du -k "$1" | cut -f1; }
echo "package: ember $(kib "$root/usr/bin/ember") KiB, emberd $(kib "$root/usr/bin/emberd") KiB," \
  "libember.so.0 $(kib "$root/usr/lib/libember.so.0") KiB (stripped), libember.a $(kib "$root/usr/lib/libember.a") KiB" >&2

[ "$check" = 1 ] || exit 0
# Install into a temporary root, build the example against it, compare with the installed ember.
installed="$stage/installed"
dpkg -x "$deb" "$installed"
cc=$(command -v cc || command -v clang)
export PKG_CONFIG_SYSROOT_DIR="$installed" PKG_CONFIG_PATH="$installed/usr/lib/pkgconfig" PKG_CONFIG_LIBDIR=""
# shellcheck disable=SC2046
"$cc" -std=c11 -O2 -Wall -Wextra -Werror "$installed/usr/share/doc/ember/examples/c-daemon.c" \
  $(pkg-config --cflags --libs ember) -o "$stage/c-daemon"
export LD_LIBRARY_PATH="$installed/usr/lib"
if ldd "$stage/c-daemon" | grep -q "libswiftCore"; then
  echo "package: FAIL: the C example needs the Swift runtime: libember did not link it in" >&2; exit 1
fi
"$installed/usr/bin/ember" demo --output "$stage/demo" >/dev/null
python3 - "$stage/demo/input.npy" "$stage/input.raw" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(data[10 + int.from_bytes(data[8:10], 'little'):])
EOF
"$stage/c-daemon" "$stage/demo/demo.ember" --variant int8 --runs 3 --input "$stage/input.raw" --output "$stage/c.raw"
"$installed/usr/bin/ember" run "$stage/demo/demo.ember" --variant int8 --input "image=$stage/demo/input.npy" \
  --output "$stage/out" >/dev/null
if ! python3 - "$stage/out/orientation.npy" "$stage/c.raw" <<'EOF'
import sys
npy = open(sys.argv[1], 'rb').read()
payload = npy[10 + int.from_bytes(npy[8:10], 'little'):]
sys.exit(0 if payload == open(sys.argv[2], 'rb').read() else 1)
EOF
then
  echo "package: FAIL: the installed C example and ember run disagree" >&2; exit 1
fi
# The same example linked statically (pkg-config ember-static): no libember or Swift library at run time.
# shellcheck disable=SC2046
"$cc" -std=c11 -O2 -Wall -Wextra -Werror "$installed/usr/share/doc/ember/examples/c-daemon.c" \
  $(pkg-config --cflags --libs ember-static) -o "$stage/c-daemon-static"
if ldd "$stage/c-daemon-static" | grep -Eq "libember|libswift"; then
  echo "package: FAIL: the statically linked example still needs libember or the Swift runtime" >&2; exit 1
fi
"$stage/c-daemon-static" "$stage/demo/demo.ember" --variant int8 --runs 2 --input "$stage/input.raw" --output "$stage/c-static.raw" >/dev/null
cmp -s "$stage/c.raw" "$stage/c-static.raw" || { echo "package: FAIL: static and shared libember disagree" >&2; exit 1; }
# The installed emberd serves the demo model on a temporary socket.
mkdir -p "$stage/models" && cp "$stage/demo/demo.ember" "$stage/models/"
"$installed/usr/bin/emberd" --models "$stage/models" --socket "$stage/emberd.sock" 2>"$stage/emberd.log" &
emberd_pid=$!
for _ in $(seq 50); do [ -S "$stage/emberd.sock" ] && break; sleep 0.1; done
ready=$(curl -s --unix-socket "$stage/emberd.sock" http://localhost/v2/models/demo/ready || true)
kill -TERM "$emberd_pid"; wait "$emberd_pid" || true
if [ "$ready" != '{"name":"demo","ready":true}' ]; then
  echo "package: FAIL: the installed emberd did not serve the demo model: $ready" >&2; cat "$stage/emberd.log" >&2; exit 1
fi
echo "package: OK: installed $deb into a temporary root; the C example built with pkg-config (shared and static) matches ember run; emberd serves" >&2
