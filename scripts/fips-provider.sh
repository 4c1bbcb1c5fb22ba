#!/usr/bin/env bash
# Builds OpenSSL 3.0's FIPS provider (fips.so) from Debian's openssl source package and writes an
# openssl.cnf that loads it into Node, so the `fips: true` path can be tested for real:
#   cnf=$(bash scripts/fips-provider.sh /var/cache/moat-fips)
#   node --openssl-config="$cnf" --enable-fips -p 'crypto.getFips()'   # -> 1
# Why build: Debian ships no fips.so and Node (nodesource) links OpenSSL statically, so the provider
# has to come from a 3.0.x source; the provider ABI is stable within 3.0.x, so the newest 3.0.x
# source in Debian's archive loads into Node's bundled 3.0.x.
# Idempotent: a second run with the same cache directory only re-checks and prints the path.
# Needs root (apt), gcc, make, perl and the system `openssl` (3.0) for `fipsinstall`.
# Prints only the openssl.cnf path on stdout; progress goes to stderr.
set -euo pipefail

cache=${1:?usage: fips-provider.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
cnf=$cache/openssl.cnf
log() { printf '[fips-provider] %s\n' "$*" >&2; }

fips_ok() { [ -f "$cnf" ] && [ "$(node --openssl-config="$cnf" --enable-fips -p 'crypto.getFips()' 2>/dev/null)" = 1 ]; }
if fips_ok; then log "cached: $cnf"; echo "$cnf"; exit 0; fi

node_ossl=$(node -p 'process.versions.openssl')
case $node_ossl in 3.0.*) ;; *) log "Node's OpenSSL is $node_ossl; this script builds a 3.0.x provider"; exit 1 ;; esac

t0=$SECONDS
out=$cache/fips
mkdir -p "$out"
if [ ! -f "$out/fips.so" ]; then
  # A private apt configuration holding only deb-src entries, so /etc/apt is left untouched and the
  # other (possibly unreachable) repositories of the machine are not fetched.
  apt_dir=$cache/apt
  mkdir -p "$apt_dir/lists/partial"
  for suite in debian:bookworm debian:bookworm-updates debian-security:bookworm-security; do
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/${suite%%:*} ${suite#*:} main"
  done > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- \
    -o "Dir::State::lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Get::List-Cleanup=0 \
    -o APT::Sandbox::User=root)
  mkdir -p "$apt_dir/cache/archives/partial"

  src_dir=$(ls -d "$cache"/openssl-3.0.*/ 2>/dev/null | head -n1 || true)
  if [ -z "$src_dir" ]; then
    log "apt-get update (deb-src only)"
    apt-get "${apt_opts[@]}" -qq update >&2
    # Newest 3.0.x first. Only the upstream orig tarball is needed; apt checks it against the
    # signed Sources index. A mirror may lack a version's .dsc (seen: 3.0.22 in bookworm-security
    # gave 404 for the .dsc while the tarball came), so each version is tried in turn.
    versions=$(apt-cache "${apt_opts[@]}" showsrc openssl | sed -n 's/^Version: //p' | grep '^3\.0\.' | sort -Vr)
    [ -n "$versions" ] || { log "no openssl 3.0.x source in Debian's archive"; exit 1; }
    dl=$cache/download
    mkdir -p "$dl"
    for v in $versions; do
      up=${v%%-*}
      tarball=$dl/openssl_$up.orig.tar.gz
      if [ ! -f "$tarball" ]; then
        (cd "$dl" && apt-get "${apt_opts[@]}" -qq source --download-only "openssl=$v" >&2) || true
      fi
      # The sha256 of this version's tarball, from its stanza of the (signed) Sources index.
      want=$(apt-cache "${apt_opts[@]}" showsrc openssl | awk -v v="$v" -v f="openssl_$up.orig.tar.gz" \
        '/^$/{inv=0} /^Version: /{inv=($2==v)} /^[^ ]/{s=0} /^Checksums-Sha256:/{s=1;next} inv&&s&&$3==f{print $1; exit}')
      if [ -f "$tarball" ] && [ -n "$want" ] && echo "$want  $tarball" | sha256sum -c --quiet - >&2; then
        log "using openssl $up source (Debian $v)"
        # Extract beside, then rename: a killed run never leaves a half tree that looks ready.
        rm -rf "$cache/.x" && mkdir "$cache/.x" && tar -xzf "$tarball" -C "$cache/.x"
        mv "$cache/.x/openssl-$up" "$cache/openssl-$up" && rmdir "$cache/.x"
        src_dir=$cache/openssl-$up/
        break
      fi
      rm -f "$tarball"
    done
    [ -n "$src_dir" ] || { log "could not download any openssl 3.0.x source"; exit 1; }
  fi
  src_dir=${src_dir%/}
  log "source ready after $((SECONDS - t0))s"

  t1=$SECONDS
  if [ ! -f "$src_dir/providers/fips.so" ]; then
    # Only the provider is built (~270 objects), not libcrypto/libssl/apps.
    (cd "$src_dir" && { [ -f Makefile ] || ./Configure enable-fips no-tests >&2; })
    (cd "$src_dir" && make -s -j"$(nproc)" build_generated >&2 && make -s -j"$(nproc)" providers/fips.so >&2)
  fi
  log "fips.so built after $((SECONDS - t1))s"

  cp "$src_dir/providers/fips.so" "$out/fips.so.tmp" && mv "$out/fips.so.tmp" "$out/fips.so"
  # Only fips.so is kept: the source tree and tarball are ~120 MB, the provider ~1.5 MB.
  rm -rf "$src_dir" "$cache/download" "$apt_dir"
fi
# fipsinstall runs the module's self-tests and records its HMAC; the absolute module path is added
# so that no OPENSSL_MODULES variable is needed (Node's static OpenSSL looks in its own build dir).
openssl fipsinstall -module "$out/fips.so" -out "$out/fipsmodule.cnf" -provider_name fips >/dev/null 2>&1 \
  || { log "openssl fipsinstall failed"; openssl fipsinstall -module "$out/fips.so" -out /dev/null >&2; exit 1; }
sed -i "/^\[fips_sect\]/a module = $out/fips.so" "$out/fipsmodule.cnf"

# Section name nodejs_conf is what Node reads (Node's docs on FIPS); the default provider stays
# active for non-algorithm needs (encoders/decoders); --enable-fips then restricts fetches to fips=yes.
cat > "$cnf.tmp" <<EOF
nodejs_conf = nodejs_init

.include $out/fipsmodule.cnf

[nodejs_init]
providers = provider_sect

[provider_sect]
default = default_sect
fips = fips_sect

[default_sect]
activate = 1
EOF
mv "$cnf.tmp" "$cnf"
fips_ok || { log "node does not report crypto.getFips() === 1 with $cnf"; exit 1; }
log "ready after $((SECONDS - t0))s: node --openssl-config=$cnf --enable-fips"
echo "$cnf"
