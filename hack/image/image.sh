#!/usr/bin/env bash
# Builds the agent's container image without Docker (make image), with the
# files of the Dockerfile's final stage:
#   1. the agent, as make build compiles it (so it reuses that build; it links
#      only the C library, which the Debian layer has), and the static CNI
#      plugins (cached per version);
#   2. Debian's packages, made by mmdebstrap from the host's apt sources into a
#      rootfs tarball cached under $VKC_CACHE/rootfs, keyed by suite, packages
#      and options (remove $VKC_CACHE/rootfs to take Debian's newer updates);
#   3. hack/image stacks the two layers, pushes $IMAGE_REGISTRY/vk-containerd:$VERSION
#      and writes it to _output/images/vk-containerd.tar.
# Progress goes to stderr; the last line on stdout is "image: <reference>".
#   VERSION          tag and version stamp (the Makefile passes its VERSION)
#   IMAGE_REGISTRY   registry to push to over plain HTTP; default the local
#                    cluster's, 127.0.0.1:5000
set -euo pipefail
# Errors inside $(...) stop the script too.
shopt -s inherit_errexit
source "$(dirname "$0")/../lib.sh"
cd "$REPO_ROOT"

VERSION=${VERSION:?set VERSION (make image does)}
REGISTRY=${IMAGE_REGISTRY:-127.0.0.1:5000}
OUT=$REPO_ROOT/_output
TOOL=$OUT/bin/image
CNI_STATIC_BIN=$(bindir cni-plugins-static "$CNI_PLUGINS_VERSION")
# A fixed time (Debian 12's release day) for every file mmdebstrap writes, so
# that the same packages give the same tarball, byte for byte.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1686355200}

mkdir -p "$VKC_CACHE/rootfs" "$OUT/bin" "$OUT/image"
exec 9>"$VKC_CACHE/.build.lock"

# locked runs a command holding the build lock that hack/deps.sh takes too:
# one big build at a time on shared cores.
locked() {
  flock 9
  "$@"
  flock -u 9
}

# agent builds with make build's compiler settings: only the link differs
# (stripped), so a machine that ran make build compiles nothing again.
agent() {
  log "building vk-containerd $VERSION"
  local t0=$SECONDS
  go build -ldflags "-s -w -X github.com/vk-containerd/vk-containerd/internal/version.Version=$VERSION" \
    -o "$OUT/image/vk-containerd" ./cmd/vk-containerd
  log "vk-containerd built in $((SECONDS - t0))s"
}

# cni_plugins builds the plugins hack/image lists, static, unlike the local
# cluster's (hack/deps.sh), which run on the host.
cni_plugins() {
  local pkgs=() p ok=1
  mapfile -t pkgs < <("$TOOL" list cni-plugins)
  for p in "${pkgs[@]}"; do [[ -x $CNI_STATIC_BIN/${p##*/} ]] || ok=0; done
  ((ok)) && return
  log "building static CNI plugins $CNI_PLUGINS_VERSION"
  rm -rf "$CNI_STATIC_BIN.tmp"
  CGO_ENABLED=0 GOBIN=$CNI_STATIC_BIN.tmp go install -trimpath \
    -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
    "${pkgs[@]/%/@$CNI_PLUGINS_VERSION}"
  rm -rf "$CNI_STATIC_BIN" && mv "$CNI_STATIC_BIN.tmp" "$CNI_STATIC_BIN"
}

# host_sources lists the host's apt source files: mmdebstrap fetches from the
# mirrors this machine is configured for.
host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && grep -qE '^[[:space:]]*[^#[:space:]]' "$f" && echo "$f"
  done
  return 0
}

# rootfs prints the path of the tarball of Debian's packages, making it with
# mmdebstrap unless the cache holds it.
rootfs() {
  local suite pkgs=()
  suite=$("$TOOL" list suite)
  mapfile -t pkgs < <("$TOOL" list packages)
  # The essential variant has no apt: the image installs nothing at run time.
  # The merged-usr hook sets up /usr with the small usr-is-merged instead of
  # usrmerge, which would bring in perl.
  local opts=(--variant=essential --include="$(IFS=,; echo "${pkgs[*]}")"
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/* "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/etc/apt/sources.list.d/* "$1"/etc/apt/apt.conf.d/99mmdebstrap')
  local key tar
  key=$(printf '%s\n' "$suite" "${opts[@]}" | sha256sum | cut -c1-16)
  tar=$VKC_CACHE/rootfs/debian-$suite-$key.tar
  if [[ ! -s $tar ]]; then
    command -v mmdebstrap >/dev/null || {
      log "installing mmdebstrap"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    } || die "cannot install mmdebstrap (apt-get install mmdebstrap as root)"
    local sources=() aptopts=() o
    mapfile -t sources < <(host_sources)
    ((${#sources[@]})) || die "no apt sources in /etc/apt to take Debian's mirrors from"
    # The host's own apt settings for reaching its mirrors; the hook above
    # removes them from the image again.
    while IFS= read -r o; do aptopts+=(--aptopt="$o"); done < <(apt-config dump --no-empty --format '%f "%v";%n' \
      Acquire::Check-Valid-Until Acquire::Check-Date Acquire::http::Proxy Acquire::https::Proxy)
    log "making the $suite rootfs (${pkgs[*]}) with mmdebstrap, about a minute"
    local t0=$SECONDS
    mmdebstrap --quiet --format=tar "${opts[@]}" "${aptopts[@]}" "$suite" "$tar.tmp" "${sources[@]}" \
      >"$tar.log" 2>&1 || { tail -n 30 "$tar.log" >&2; rm -f "$tar.tmp"; die "mmdebstrap failed (log: $tar.log)"; }
    # The host's /etc/hostname and /etc/resolv.conf are no part of an image (the
    # runtime provides both), nor are device nodes.
    tar --delete --wildcards -f "$tar.tmp" './dev/?*' ./etc/hostname ./etc/resolv.conf
    mv "$tar.tmp" "$tar"
    log "mmdebstrap done in $((SECONDS - t0))s: $tar"
  fi
  echo "$tar"
}

go build -o "$TOOL" ./hack/image
"$TOOL" ping "$REGISTRY"
locked agent
locked cni_plugins
ROOTFS=$(locked rootfs)
"$TOOL" build -rootfs "$ROOTFS" -agent "$OUT/image/vk-containerd" -cni-dir "$CNI_STATIC_BIN" \
  -registry "$REGISTRY" -version "$VERSION" -archive "$OUT/images/vk-containerd.tar"
