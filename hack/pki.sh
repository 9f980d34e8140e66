# Certificates of the local cluster, made with openssl. Source it; do not run it.
# pki_all DIR NODE NODE_IP API_IP writes a CA and every key pair the cluster uses into DIR,
# keeping what is already there.

# pki_ca DIR NAME CN: a self-signed CA NAME.
pki_ca() {
  local dir=$1 name=$2 cn=$3
  [[ -f $dir/$name.crt ]] && return
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$dir/$name.key" -subj "/CN=$cn" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$dir/$name.crt" 2>/dev/null
}

# pki_cert DIR NAME CN O [SAN] [CA]: a key pair NAME signed by the CA named CA (default: the
# cluster CA, ca). A certificate made for other SANs is made again.
pki_cert() {
  local dir=$1 name=$2 cn=$3 o=$4 san=${5:-} ca=${6:-ca}
  [[ -f $dir/$name.crt && $(cat "$dir/$name.san" 2>/dev/null) == "$san" ]] && return
  printf '%s' "$san" >"$dir/$name.san"
  local subj="/CN=$cn"; [[ -n $o ]] && subj="/O=$o$subj"
  local ext=$dir/$name.ext
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $san ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi
  } > "$ext"
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null
  openssl req -new -key "$dir/$name.key" -subj "$subj" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
}

pki_all() {
  local dir=$1 node=$2 node_ip=$3 api_ip=$4
  mkdir -p "$dir"; chmod 700 "$dir"
  pki_ca "$dir" ca vk-containerd-local-ca
  pki_cert "$dir" apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:10.96.0.1,IP:$api_ip,IP:$node_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  pki_cert "$dir" admin kubernetes-admin system:masters
  pki_cert "$dir" apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  pki_cert "$dir" controller-manager system:kube-controller-manager ""
  pki_cert "$dir" scheduler system:kube-scheduler ""
  pki_cert "$dir" node "system:node:$node" system:nodes
  # metrics-server: a client identity, and a serving certificate for the name the API server
  # verifies when it proxies metrics.k8s.io (the service metrics-server in kube-system).
  pki_cert "$dir" metrics-server system:metrics-server ""
  pki_cert "$dir" metrics-server-serving metrics-server.kube-system.svc "" \
    "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local,IP:$node_ip"
  # The front proxy: the API server's client certificate for aggregated API servers, from a CA
  # of its own that they trust for the requestheader identity.
  pki_ca "$dir" front-proxy-ca vk-containerd-local-front-proxy-ca
  pki_cert "$dir" front-proxy-client front-proxy-client "" "" front-proxy-ca
  if [[ ! -f $dir/sa.key ]]; then
    openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  fi
}

# kubeconfig FILE SERVER CA NAME: a kubeconfig that uses the key pair NAME of the CA's dir.
kubeconfig() {
  local file=$1 server=$2 dir=$3 name=$4
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $server
    certificate-authority: $dir/ca.crt
users:
- name: $name
  user:
    client-certificate: $dir/$name.crt
    client-key: $dir/$name.key
contexts:
- name: local
  context: {cluster: local, user: $name}
current-context: local
KC
  chmod 600 "$file"
}
