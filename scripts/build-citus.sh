#!/usr/bin/env bash
# Builds and installs Citus 13.2.2 (distributed PostgreSQL) for this machine's PostgreSQL 15 from
# the vendored release source (../shared/vendor/citus-13.2.2.tar.gz, found by walking up from the
# repository, or CITUS_TARBALL), with the patches of scripts/citus/ that the headers need.
#
# Later PostgreSQL 15 minor releases (15.20 here) declare have_createdb_privilege() in
# commands/dbcommands.h, which Citus's pg_version_compat.h defines again as a static function:
# the release does not compile against them. The patch guards that definition, and the build
# defines the guard only when the server headers declare the function. Where they do not, the
# release builds as it is: the vendor's own build-citus.sh does it (it stays the reference).
#
#   scripts/build-citus.sh                 build and install (root; nothing when installed)
#   DESTDIR=/tmp/x scripts/build-citus.sh  build and install under /tmp/x only (a dry run)
#
# Prints one line at the end: "citus: installed ..." or "citus: unavailable: <why>" (exit 1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=13.2.2
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
destdir=${DESTDIR:-}
fail() { echo "citus: unavailable: $*"; exit 1; }

find_vendor() {
  local dir=$here
  while [ "$dir" != / ]; do
    dir=$(dirname "$dir")
    if [ -f "$dir/shared/vendor/citus-$version.tar.gz" ]; then
      echo "$dir/shared/vendor"
      return
    fi
  done
}
vendor=$(find_vendor || true)
tarball=${CITUS_TARBALL:-${vendor:+$vendor/citus-$version.tar.gz}}
[ -n "$tarball" ] && [ -f "$tarball" ] ||
  fail "no citus-$version.tar.gz (set CITUS_TARBALL or put shared/vendor beside the repository)"

[ -x "$pg_config" ] || fail "no pg_config at $pg_config (install postgresql-server-dev-15)"
libdir=$("$pg_config" --pkglibdir)
if [ -z "$destdir" ] && [ -f "$libdir/citus.so" ]; then
  echo "citus: installed already in $libdir"
  exit 0
fi

deps="postgresql-server-dev-15 libkrb5-dev liblz4-dev libzstd-dev libcurl4-openssl-dev make gcc patch"
missing=$(for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || fail "missing $(echo $missing) and installing them needs root"
  apt-get update -qq >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 ||
    fail "apt-get install $missing failed"
fi
[ -n "$destdir" ] || [ "$(id -u)" = 0 ] || fail "installing into $libdir needs root"

header="$("$pg_config" --includedir-server)/commands/dbcommands.h"
defines=""
if grep -q 'have_createdb_privilege' "$header"; then
  defines="-DCITUS_PG_HAS_CREATEDB_PRIVILEGE"
elif [ -z "$destdir" ] && [ -x "$vendor/build-citus.sh" ]; then
  # These headers take the release as it is: the vendor's script builds it.
  exec bash "$vendor/build-citus.sh"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
cd "$work/citus-$version"
log="$work/build.log"
for p in "$here"/citus/"$version"-*.patch; do
  patch -p1 --forward --quiet <"$p" >>"$log" 2>&1 || { tail -5 "$log" >&2; fail "patch $p failed"; }
done
{
  # configure's CPPFLAGS reach every compile (gcc's and the JIT bitcode's) through Citus's
  # Makefile.global.
  PG_CONFIG="$pg_config" ./configure ${defines:+CPPFLAGS="$defines"} &&
    make -j"$(nproc)" &&
    make install ${destdir:+DESTDIR="$destdir"}
} >>"$log" 2>&1 || {
  tail -20 "$log" >&2
  fail "the build failed (last lines above)"
}
[ -f "$destdir$libdir/citus.so" ] || fail "make install left no citus.so in $destdir$libdir"
echo "citus: installed $version in $destdir$libdir${defines:+ (patched: $defines)}" \
  "(add shared_preload_libraries = 'citus' to each node)"
