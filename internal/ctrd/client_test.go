package ctrd

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConnectRejectsMissingSocket(t *testing.T) {
	_, err := Connect(filepath.Join(t.TempDir(), "nope.sock"), "k8s")
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "--containerd-address") {
		t.Fatalf("err = %v, want a 'does not exist' error naming the flag", err)
	}
}

func TestConnectRejectsNonSocket(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Connect(p, "k8s")
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err = %v, want 'not a socket'", err)
	}
}

func TestConnectAcceptsSocket(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := Connect("unix://"+p, "k8s")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.address != p || r.namespace != "k8s" {
		t.Fatalf("address %q namespace %q", r.address, r.namespace)
	}
}
