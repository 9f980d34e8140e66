# Build steps that images share, sourced after hack/lib.sh by hack/image/image.sh,
# hack/kind/node-image.sh and hack/addons/addons.sh:
#   debian_rootfs   Debian root filesystems, made by mmdebstrap from the host's apt
#                   sources and cached under $VKC_CACHE/rootfs, keyed by suite,
#                   packages and options (remove $VKC_CACHE/rootfs to take
#                   Debian's newer updates);
#   static_cni_plugins  CNI plugins built static into $CNI_STATIC_BIN, unlike the
#                   local cluster's (hack/deps.sh), which run on the host;
#   file_layer, component_image  images of a Debian layer and a few binaries.

CNI_STATIC_BIN=$(bindir cni-plugins-static "$CNI_PLUGINS_VERSION")

# static_cni_plugins PACKAGE... builds the plugins of those Go packages (as
# hack/image list cni-plugins prints them) unless the cache holds them.
static_cni_plugins() {
  local pkgs=("$@") p ok=1
  for p in "${pkgs[@]}"; do [[ -x $CNI_STATIC_BIN/${p##*/} ]] || ok=0; done
  ((ok)) && return
  log "building static CNI plugins $CNI_PLUGINS_VERSION"
  rm -rf "$CNI_STATIC_BIN.tmp"
  CGO_ENABLED=0 GOBIN=$CNI_STATIC_BIN.tmp go install -trimpath \
    -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
    "${pkgs[@]/%/@$CNI_PLUGINS_VERSION}"
  rm -rf "$CNI_STATIC_BIN" && mv "$CNI_STATIC_BIN.tmp" "$CNI_STATIC_BIN"
}

# A fixed time (Debian 12's release day) for every file mmdebstrap writes, so
# that the same packages give the same tarball, byte for byte.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1686355200}

# debian_rootfs SUITE PACKAGE... prints the path of a tarball of Debian SUITE with PACKAGES
# and what they depend on, making it with mmdebstrap unless the cache holds it.
debian_rootfs() {
  local suite=$1; shift
  local pkgs=("$@")
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
    mkdir -p "${tar%/*}"
    command -v mmdebstrap >/dev/null || {
      log "installing mmdebstrap"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    } || die "cannot install mmdebstrap (apt-get install mmdebstrap as root)"
    local sources=() aptopts=() o
    # The mirrors this machine's apt is configured for (host_sources, hack/lib.sh), or
    # DEBIAN_MIRROR (a Debian archive's URL) where the host is not Debian, e.g. a CI runner.
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then sources=("deb $DEBIAN_MIRROR $suite main")
    else mapfile -t sources < <(host_sources); fi
    ((${#sources[@]})) || die "no apt sources in /etc/apt to take Debian's mirrors from: set DEBIAN_MIRROR"
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


# file_layer DIR TAR: a layer tarball of DIR's files, owned by root, with fixed times and order.
file_layer() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$1" -cf "$2" .
}

# component_image STAGE BASE REF ENTRYPOINT OUTPUT FILE=PATH...: the image REF of the Debian
# layer BASE and a layer of each FILE installed at PATH (mode 0755), staged in STAGE (a new
# directory); ENTRYPOINT is a JSON array or empty. OUTPUT is an archive to write, or "push"
# for REF's registry. Needs TOOL, the hack/image binary.
component_image() {
  local stage=$1 base=$2 ref=$3 entry=$4 output=$5 f; shift 5
  for f in "$@"; do
    install -D -m 0755 "${f%%=*}" "$stage/files/${f#*=}"
  done
  file_layer "$stage/files" "$stage/layer.tar"
  local out=(-archive "$output"); [[ $output == push ]] && out=(-push)
  "$TOOL" assemble -layer "$base" -layer "$stage/layer.tar" -ref "$ref" \
    ${entry:+-entrypoint "$entry"} "${out[@]}" 2>/dev/null
}
