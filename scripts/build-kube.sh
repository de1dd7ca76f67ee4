#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package,
# offline (the package ships its vendor/ tree), with Debian's golang-go. Used by the
# real-apiserver test tier (tests/realkube, tests/support/realkube.py); see
# docs/testing-real-apiserver.md.
#
#   scripts/build-kube.sh            build once into the cache, print the bin dir
#   scripts/build-kube.sh --deps     only install the Debian packages the tier needs
#
# Cache: ${OCRBATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocrbatch}/kube-<version>/bin
# A machine builds once (about 11-12 minutes on 2 cores); later calls return at once.
#
# The deb-src entry is derived from this machine's own apt configuration: the deb entry
# (deb822 or one-line) that carries the machine's release codename gives the archive URI and
# keyring; only the suite name may change. bookworm has it (1.20.5+really1.20.2-1.1+deb12u1),
# bullseye too (1.20.5+really1.20.2-1), tried next.
# apt runs with a private source list, list state and cache: /etc/apt is not touched.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.20.2}"
# Suites to look in, in order; the machine's own codename is tried first.
KUBE_SRC_SUITES="${KUBE_SRC_SUITES:-bullseye}"
CACHE_ROOT="${OCRBATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocrbatch}"
DEST="$CACHE_ROOT/kube-$KUBE_VERSION"
WORK="$CACHE_ROOT/kube-$KUBE_VERSION.work"
# Bump when the recipe changes what gets built: cached binaries of another recipe are rebuilt.
RECIPE=3
APT_PACKAGES=(golang-go etcd-server golang-github-modern-go-reflect2-dev
  golang-github-json-iterator-go-dev openssl dpkg-dev)
GOCODE=/usr/share/gocode/src
# Vendored modules replaced by Debian's newer sources (Go >= 1.18 needs them).
REPLACE_VENDORED=(github.com/modern-go/reflect2 github.com/json-iterator/go)

log() { printf '[build-kube %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

have_binaries() {
  [ -x "$DEST/bin/kube-apiserver" ] && [ -x "$DEST/bin/kube-controller-manager" ] \
    && [ "$(cat "$DEST/RECIPE" 2>/dev/null)" = "$RECIPE" ]
}

install_deps() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
      log "not root: cannot apt-get install ${missing[*]}"
      return 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# Print "URI<TAB>SIGNED-BY" for each deb entry of the machine's own codename (no -updates,
# -security, ... suites), from /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources}.
machine_archives() {
  local codename
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [ -n "$codename" ] || { log "no VERSION_CODENAME in /etc/os-release"; return 1; }
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v cn="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") && enabled != "no")
          { n = split(uris, u, " "); for (i = 1; i <= n; i++) print u[i] "\t" signed }
        types = ""; uris = ""; suites = ""; signed = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0
        else if (key == "uris") uris = $0
        else if (key == "suites") suites = $0
        else if (key == "signed-by") signed = $0
        else if (key == "enabled") enabled = tolower($0)
      }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v cn="$codename" '
      /^[ \t]*deb[ \t]/ {
        opts = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
        if ($(i + 1) != cn) next
        signed = ""
        if (match(opts, /signed-by=[^ \]]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        print $i "\t" signed
      }' "$f"
  done
}

# Private apt configuration: our own source list, lists and archives under $WORK/apt.
APT_OPTS=()
setup_private_apt() {
  local suite="$1" aptdir="$WORK/apt"
  rm -rf "$aptdir"
  mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
  local src="$aptdir/sources.list.d/ocrbatch-kube-src.sources" uri signed
  : > "$src"
  while IFS=$'\t' read -r uri signed; do
    [ -n "$uri" ] || continue
    {
      echo "Types: deb-src"
      echo "URIs: $uri"
      echo "Suites: $suite"
      echo "Components: main"
      [ -n "$signed" ] && echo "Signed-By: $signed"
      echo
    } >> "$src"
  done < <(machine_archives | sort -u)
  if [ ! -s "$src" ]; then
    log "no deb entry for this machine's codename in its apt configuration"
    return 1
  fi
  APT_OPTS=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
    -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
  )
}

# Find the suite whose source index has kubernetes $KUBE_VERSION; set SRC_VERSION (and
# APT_OPTS for that suite). Not run in a subshell: APT_OPTS must survive.
SRC_VERSION=""
find_source() {
  local codename suite ver
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  for suite in "$codename" $KUBE_SRC_SUITES; do
    setup_private_apt "$suite"
    log "looking for kubernetes $KUBE_VERSION source in suite $suite"
    if ! apt-get "${APT_OPTS[@]}" -qq update >&2; then
      log "apt-get update of the $suite deb-src entry failed"
      continue
    fi
    ver="$(apt-cache "${APT_OPTS[@]}" showsrc kubernetes 2>/dev/null \
      | awk '/^Package: /{p=$2} /^Version: /{ if (p == "kubernetes") print $2 }' \
      | grep -E "^([0-9]+:)?([^-]*really)?${KUBE_VERSION//./\\.}([-+~]|$)" | head -n1 || true)"
    if [ -n "$ver" ]; then
      log "found kubernetes $ver in $suite"
      SRC_VERSION="$ver"
      return 0
    fi
    log "suite $suite has no kubernetes $KUBE_VERSION source"
  done
  return 1
}

build() {
  exec 9>"$CACHE_ROOT/kube-$KUBE_VERSION.lock"
  flock 9
  if have_binaries; then echo "$DEST/bin"; return 0; fi
  local t0 ver srcdir gover
  t0=$(date +%s)
  install_deps
  mkdir -p "$WORK"
  find_source || { log "kubernetes $KUBE_VERSION source not found"; return 1; }
  ver="$SRC_VERSION"
  rm -rf "$WORK/src"
  mkdir -p "$WORK/src"
  log "apt-get source kubernetes=$ver"
  (cd "$WORK/src" && apt-get "${APT_OPTS[@]}" -qq source --only-source "kubernetes=$ver" >&2)
  srcdir="$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
  [ -d "$srcdir/vendor" ] || { log "no vendor/ in $srcdir"; return 1; }
  # reflect2 1.0.1 (vendored) breaks under Go >= 1.18: the apiserver crashes on the first
  # custom-resource create. Debian's 1.0.2 fixes that; Debian's json-iterator 1.1.12 is the
  # release made for reflect2 1.0.2 (the vendored 1.1.10 predates it).
  local mod
  for mod in "${REPLACE_VENDORED[@]}"; do
    [ -d "$GOCODE/$mod" ] || { log "missing $GOCODE/$mod (install its golang-*-dev package)"; return 1; }
    rm -rf "${srcdir:?}/vendor/$mod"
    cp -rL "$GOCODE/$mod" "$srcdir/vendor/$mod"
    rm -f "$srcdir/vendor/$mod/go.mod" "$srcdir/vendor/$mod/go.sum"
    find "$srcdir/vendor/$mod" -name '*_test.go' -delete
    log "vendor/$mod <- Debian $(dpkg -S "$GOCODE/$mod" 2>/dev/null | cut -d: -f1 | head -n1)"
  done
  # The OpenAPI type validators (kube-openapi's fork and go-openapi's) take a value for null
  # when reflect.DeepEqual(reflect.Zero(T), reflect.ValueOf(v)): comparing two reflect.Value
  # structs, which since Go 1.19 share one zero buffer for "" -- so every empty string in a
  # custom resource (and a CRD's `default: ""`) is refused as null. Restore what that test
  # meant under Go 1.15: only a nil map, pointer, channel or func is null.
  local f
  for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
    grep -q 'reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))' "$srcdir/$f" \
      || { log "$f: the zero-value check to patch is not there"; return 1; }
    sed -i 's/reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))/zeroValueIsNull(data)/' \
      "$srcdir/$f"
    cat > "$(dirname "$srcdir/$f")/zz_ocrbatch_zero_is_null.go" <<'GO'
package validate

import "reflect"

// zeroValueIsNull: the Go 1.15 outcome of comparing reflect.Zero(T) with reflect.ValueOf(v)
// by reflect.DeepEqual (patched in by ocrbatch's scripts/build-kube.sh for Go >= 1.19).
func zeroValueIsNull(data interface{}) bool {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Map, reflect.Ptr, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return v.IsNil()
	}
	return false
}
GO
  done
  log "patched the OpenAPI validators' zero-value check"

  gover="$(go version)"
  log "building with $gover"
  # Kubernetes 1.20 builds in GOPATH mode (its hack/lib/init.sh sets GO111MODULE=off): in
  # module mode Go >= 1.16 refuses its go.mod/vendor pair ("updates to go.mod needed").
  local gopath="$WORK/gopath" pkgdir
  pkgdir="$gopath/src/k8s.io/kubernetes"
  mkdir -p "$gopath/src/k8s.io"
  ln -sfn "$srcdir" "$pkgdir"
  local ldflags="-s -w" key val pkg
  for key in gitVersion gitMajor gitMinor gitTreeState; do
    case "$key" in
      gitVersion) val="v$KUBE_VERSION" ;;
      gitMajor) val="${KUBE_VERSION%%.*}" ;;
      gitMinor) val="$(echo "$KUBE_VERSION" | cut -d. -f2)" ;;
      gitTreeState) val=clean ;;
    esac
    for pkg in client-go/pkg/version component-base/version; do
      ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/$pkg.$key=$val"
    done
  done
  mkdir -p "$WORK/out"
  local goenv=(GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
    GOPATH="$gopath" GOCACHE="$WORK/gocache")
  # pkg/generated/openapi/zz_generated.openapi.go is not in the source tree: upstream's
  # Makefile.generated_files makes it with openapi-gen; the same steps here.
  log "generating pkg/generated/openapi with openapi-gen"
  (cd "$pkgdir" && env "${goenv[@]}" go build -o "$WORK/out/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen)
  local inputs
  inputs="$(set +o pipefail; cd "$pkgdir" && find -H . -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) \
      -type f -name '*.go' \
    | sed -e 's|^./staging/src|vendor|' -e 's|/[^/]*$||' -e 's|^./||' | LC_ALL=C sort -u \
    | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)(/|$)' \
    | while read -r dir; do find "$dir" -maxdepth 1 -type f -name '*.go'; done \
    | xargs grep --color=never -l '^// *+k8s:' | xargs grep --color=never -l '+k8s:openapi-gen=' \
    | xargs -n1 dirname | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)"
  [ -n "$inputs" ] || { log "found no +k8s:openapi-gen packages"; return 1; }
  (cd "$pkgdir" && env "${goenv[@]}" "$WORK/out/openapi-gen" --logtostderr \
    -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -o "$gopath/src" -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$WORK/openapi-violations.report" >&2)
  [ -s "$srcdir/pkg/generated/openapi/zz_generated.openapi.go" ] || { log "openapi-gen wrote nothing"; return 1; }
  local cmd
  for cmd in kube-apiserver kube-controller-manager; do
    log "go build ./cmd/$cmd"
    (cd "$pkgdir" && env "${goenv[@]}" go build -trimpath -ldflags "$ldflags" -o "$WORK/out/$cmd" "./cmd/$cmd")
  done
  rm -rf "$DEST.tmp"
  mkdir -p "$DEST.tmp/bin"
  cp "$WORK/out/kube-apiserver" "$WORK/out/kube-controller-manager" "$DEST.tmp/bin/"
  {
    echo "source: kubernetes $ver (Debian source package)"
    echo "reflect2: $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"
    echo "json-iterator: $(dpkg-query -W -f='${Version}' golang-github-json-iterator-go-dev)"
    echo "go: $gover"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - t0 ))s"
  } > "$DEST.tmp/BUILD-INFO"
  echo "$RECIPE" > "$DEST.tmp/RECIPE"
  rm -rf "$DEST"
  mv "$DEST.tmp" "$DEST"
  [ -n "${KEEP_KUBE_WORK:-}" ] || rm -rf "$WORK"
  log "done in $(( $(date +%s) - t0 ))s: $DEST/bin"
  echo "$DEST/bin"
}

mkdir -p "$CACHE_ROOT"
case "${1:-}" in
  --deps) install_deps ;;
  --print-dir) echo "$DEST/bin" ;;
  "") if have_binaries; then echo "$DEST/bin"; else build; fi ;;
  *) echo "usage: $0 [--deps|--print-dir]" >&2; exit 2 ;;
esac
