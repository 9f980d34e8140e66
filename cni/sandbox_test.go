package cni

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vk-containerd/vk-containerd/internal/roottest"
)

func TestPinNamespaces(t *testing.T) {
	roottest.Require(t)
	dir := filepath.Join(t.TempDir(), "ns")
	ns, err := PinNamespaces(dir, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	defer UnpinNamespaces(dir)
	for _, p := range []string{ns.Net, ns.IPC, ns.UTS} {
		if !Pinned(p) {
			t.Fatalf("%s is not a pinned namespace", p)
		}
	}
	out, err := exec.Command("nsenter", "--uts="+ns.UTS, "hostname").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "pod-a" {
		t.Fatalf("hostname in the pod's UTS namespace = %q, want pod-a", got)
	}
	// ip asks the kernel over netlink, which answers for the entered namespace.
	out, err = exec.Command("nsenter", "--net="+ns.Net, "ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	if links := strings.TrimSpace(string(out)); strings.Count(links, "\n") != 0 || !strings.Contains(links, "lo: <LOOPBACK,UP") {
		t.Fatalf("links in the pod's network namespace: %q, want only lo, up", links)
	}
	host, _ := os.Hostname()
	if host == "pod-a" {
		t.Fatal("the agent's own hostname changed")
	}
	// Pinning again is a no-op that returns the same paths.
	again, err := PinNamespaces(dir, "pod-a")
	if err != nil || again != ns {
		t.Fatalf("second pin = %+v, %v", again, err)
	}
	if err := UnpinNamespaces(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after unpin: %v", dir, err)
	}
	// Unpinning twice is fine.
	if err := UnpinNamespaces(dir); err != nil {
		t.Fatalf("second unpin: %v", err)
	}
}

func TestCheckOwnNetwork(t *testing.T) {
	// The thread's: the main thread may be parked in another test's namespace.
	if err := CheckOwnNetwork("/proc/thread-self/ns/net"); err != nil {
		t.Errorf("the process's own namespace: %v", err)
	}
	if err := CheckOwnNetwork(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is no pinned namespace") {
		t.Errorf("a directory: %v, want no pinned namespace", err)
	}
	roottest.Require(t)
	dir := filepath.Join(t.TempDir(), "ns")
	ns, err := PinNamespaces(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	defer UnpinNamespaces(dir)
	if err := CheckOwnNetwork(ns.Net); err == nil || !strings.Contains(err.Error(), "is not the agent's own network namespace") {
		t.Errorf("another namespace: %v, want not the agent's own", err)
	}
}
