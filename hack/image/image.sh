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
#                    cluster's, 127.0.0.1:5000; localhost: no push, the archive only
set -euo pipefail
# Errors inside $(...) stop the script too.
shopt -s inherit_errexit
source "$(dirname "$0")/../lib.sh"
# shellcheck source=steps.sh
source "$HACK_DIR/image/steps.sh"
cd "$REPO_ROOT"

VERSION=${VERSION:?set VERSION (make image does)}
REGISTRY=${IMAGE_REGISTRY:-127.0.0.1:5000}
OUT=$REPO_ROOT/_output
TOOL=$OUT/bin/image

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

go build -o "$TOOL" ./hack/image
# "localhost" is no registry: the image goes to the archive only (kind load image-archive).
[[ $REGISTRY == localhost ]] || "$TOOL" ping "$REGISTRY"
locked agent
mapfile -t PLUGINS < <("$TOOL" list cni-plugins)
locked static_cni_plugins "${PLUGINS[@]}"
mapfile -t PACKAGES < <("$TOOL" list packages)
ROOTFS=$(locked debian_rootfs "$("$TOOL" list suite)" "${PACKAGES[@]}")
"$TOOL" build -rootfs "$ROOTFS" -agent "$OUT/image/vk-containerd" -cni-dir "$CNI_STATIC_BIN" \
  -registry "$REGISTRY" -version "$VERSION" -archive "$OUT/images/vk-containerd.tar"
