# The local cluster's add-ons, run as pods of its vk-containerd node as a kubelet node runs
# them: kube-proxy (a host-network DaemonSet, nftables mode) and CoreDNS (a Deployment behind
# the kube-dns Service), from images built here (hack/image/steps.sh: Debian's iptables and
# nftables under kube-proxy, each binary from hack/deps.sh) and pushed to the local registry.
# Source it after lib.sh and local.sh, with cluster.sh's REGISTRY, APISERVER, CLUSTER_CIDR,
# DNS_IP and CLUSTER_DOMAIN set; do not run it.
# shellcheck shell=bash
# shellcheck source=../image/steps.sh
source "$HACK_DIR/image/steps.sh"

ADDON_NODE_LABEL=local.vk-containerd.io/kube-proxy=true   # the nodes that run the add-ons

# addon_image NAME TAG ENTRYPOINT FILE=PATH...: push REGISTRY/NAME:TAG, the Debian base ($BASE)
# and those files, unless the registry holds it as made from the same base and files.
addon_image() {
  local name=$1 tag=$2 entry=$3; shift 3
  local stamp=$LOCAL/addons/$name.key key
  key=$({ printf '%s\n' "$BASE" "$entry" "$@"; sha256sum "${@%%=*}"; } | sha256sum | cut -c1-16)
  if [[ $(cat "$stamp" 2>/dev/null) == "$key" ]] &&
    curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$REGISTRY/v2/$name/manifests/$tag"; then
    return
  fi
  local stage; stage=$(mktemp -d)
  component_image "$stage" "$BASE" "$REGISTRY/$name:$tag" "$entry" push "$@" || { rm -rf "$stage"; return 1; }
  rm -rf "$stage"
  mkdir -p "$LOCAL/addons"
  echo "$key" >"$stamp"
}

addon_images() {
  TOOL=$REPO_ROOT/_output/bin/image
  (cd "$REPO_ROOT" && go build -o "$TOOL" ./hack/image)
  local packages; mapfile -t packages < <("$TOOL" list packages)
  BASE=$(debian_rootfs "$("$TOOL" list suite)" "${packages[@]}")
  addon_image kube-proxy "$KUBERNETES_VERSION" "" "$K8S_NODE_BIN/kube-proxy=usr/local/bin/kube-proxy"
  addon_image coredns "$COREDNS_VERSION" '["/coredns"]' "$COREDNS_BIN/coredns=coredns"
}

# addon_manifests prints the add-ons' manifests for this cluster.
addon_manifests() {
  local f
  for f in kube-proxy coredns; do
    echo ---
    sed -e "s|@REGISTRY@|$REGISTRY|g" -e "s|@APISERVER@|$APISERVER|g" -e "s|@CLUSTER_CIDR@|$CLUSTER_CIDR|g" \
      -e "s|@DNS_IP@|$DNS_IP|g" -e "s|@NODE_ADDRESSES@|$NODE_ADDRESSES|g" -e "s|@DOMAIN@|$CLUSTER_DOMAIN|g" \
      -e "s|@KUBERNETES_VERSION@|$KUBERNETES_VERSION|g" -e "s|@COREDNS_VERSION@|$COREDNS_VERSION|g" \
      "$HACK_DIR/addons/$f.yaml"
  done
}

# addons_up pushes the images, applies the manifests and waits until kube-proxy runs on
# every labelled node and CoreDNS answers.
addons_up() {
  timed "add-on images" addon_images
  addon_manifests | kubectl apply -f - >/dev/null
  kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=120s >/dev/null ||
    die "kube-proxy did not start; kubectl -n kube-system describe pods -l k8s-app=kube-proxy"
  kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
    die "CoreDNS did not become ready; kubectl -n kube-system describe pods -l k8s-app=kube-dns"
}

# kube_proxy_tables lists the nftables tables kube-proxy made in this network namespace.
kube_proxy_tables() { nft list tables 2>/dev/null | awk '$3 == "kube-proxy" {print $2, $3}' || true; }

# addons_clean_host deletes kube-proxy's nftables tables (as kube-proxy --cleanup does); its
# pod is gone by then, or it would make them again.
addons_clean_host() {
  local t
  while read -r t; do
    if [[ -n $t ]]; then nft delete table $t; fi
  done < <(kube_proxy_tables)
}
