package bootstrap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/keyutil"
)

const bootstrapKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: Y2EK
users:
- name: b
  user:
    token: abcdef.0123456789abcdef
contexts:
- name: b
  context: {cluster: c, user: b}
current-context: b
`

func writeBootstrap(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bootstrap.kubeconfig")
	if err := os.WriteFile(p, []byte(strings.Replace(bootstrapKubeconfig, "%s", server, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadBootstrapFillsTheInClusterServer(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	boot, err := loadBootstrap(writeBootstrap(t, `""`))
	if err != nil {
		t.Fatal(err)
	}
	if boot.Host != "https://10.96.0.1:443" || boot.BearerToken != "abcdef.0123456789abcdef" {
		t.Errorf("host %q token %q", boot.Host, boot.BearerToken)
	}
	boot, err = loadBootstrap(writeBootstrap(t, "https://127.0.0.1:6443"))
	if err != nil || boot.Host != "https://127.0.0.1:6443" {
		t.Errorf("a named server: %v, %v", boot, err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := loadBootstrap(writeBootstrap(t, `""`)); err == nil || !strings.Contains(err.Error(), "names no server") {
		t.Errorf("no server out of a cluster: %v", err)
	}
	if _, err := loadBootstrap(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "--bootstrap-kubeconfig") {
		t.Errorf("missing file: %v", err)
	}
}

// storeWith puts a self-signed certificate for cn, valid until notAfter,
// into a new store.
func storeWith(t *testing.T, cn string, notAfter time.Time) certificate.FileStore {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := certificate.NewFileStore("kubelet-client", dir, dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM); err != nil {
		t.Fatal(err)
	}
	return store
}

func TestValid(t *testing.T) {
	now := time.Now()
	if !valid(storeWith(t, "system:node:n1", now.Add(time.Hour)), "n1", now) {
		t.Error("a current certificate of the node is not valid")
	}
	if valid(storeWith(t, "system:node:n2", now.Add(time.Hour)), "n1", now) {
		t.Error("another node's certificate is valid")
	}
	if valid(storeWith(t, "system:node:n1", now.Add(30*time.Second)), "n1", now) {
		t.Error("a certificate about to expire is valid")
	}
	empty, _ := certificate.NewFileStore("kubelet-client", t.TempDir(), t.TempDir(), "", "")
	if valid(empty, "n1", now) {
		t.Error("an empty store is valid")
	}
}

func TestWriteKubeconfig(t *testing.T) {
	boot, err := loadBootstrap(writeBootstrap(t, "https://127.0.0.1:6443"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile := filepath.Join(dir, "kubelet-client-current.pem")
	if err := os.WriteFile(certFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node", "kubeconfig")
	if err := writeKubeconfig(path, boot, certFile); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || string(cfg.CAData) != "ca\n" || cfg.CertFile != certFile ||
		cfg.KeyFile != cfg.CertFile || cfg.BearerToken != "" {
		t.Errorf("node config %+v", cfg)
	}
}
