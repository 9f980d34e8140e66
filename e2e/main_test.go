//go:build e2e

// Package e2e holds end-to-end tests of a vk-containerd node. They run against
// any cluster given by KUBECONFIG; the node under test is VKC_NODE_NAME
// (default vk-node). Tests that stop or restart the node's processes use the
// command in VKC_E2E_CONTROL (hack/cluster.sh ctl for the local cluster), and
// are skipped, with the reason, where it is not set.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	client     kubernetes.Interface
	restConfig *rest.Config
	nodeName   string
)

func TestMain(m *testing.M) {
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		fmt.Fprintln(os.Stderr, "e2e: set KUBECONFIG to the cluster under test")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: kubeconfig %s: %v\n", kc, err)
		os.Exit(2)
	}
	// client-go's default of 5 requests a second would pace the tests that
	// create and delete pods by the hundred, not the node.
	cfg.QPS, cfg.Burst = 100, 200
	client, restConfig = kubernetes.NewForConfigOrDie(cfg), cfg
	nodeName = os.Getenv("VKC_NODE_NAME")
	if nodeName == "" {
		nodeName = "vk-node"
	}
	os.Exit(m.Run())
}

// control runs the node-control command: control(t, "stop", "containerd").
func control(t *testing.T, args ...string) {
	t.Helper()
	requireNode(t, "VKC_E2E_CONTROL is not set: this cluster gives the tests no way to stop or start the node's processes")
	cmdline := os.Getenv("VKC_E2E_CONTROL")
	cmd := exec.Command("sh", append([]string{"-c", cmdline + ` "$@"`, "control"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", cmdline, args, err, out)
	}
}

// requireNode skips t when the tests do not run on the node under test
// (VKC_E2E_CONTROL unset), saying why. With VKC_E2E_NO_SKIP=1, which `make
// e2e` sets for the local cluster, it fails instead: there a skip would hide
// a test that did not run.
func requireNode(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("VKC_E2E_CONTROL") != "" {
		return
	}
	skipOrFail(t, why)
}

// skipOrFail skips t for a reason of the cluster under test, or fails it
// under VKC_E2E_NO_SKIP=1.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("VKC_E2E_NO_SKIP") == "1" {
		t.Fatalf("%s (and VKC_E2E_NO_SKIP=1)", why)
	}
	t.Skip(why)
}

// controlOK runs the node-control command and reports whether it succeeded.
func controlOK(args ...string) bool {
	cmdline := os.Getenv("VKC_E2E_CONTROL")
	if cmdline == "" {
		return false
	}
	return exec.Command("sh", append([]string{"-c", cmdline + ` "$@"`, "control"}, args...)...).Run() == nil
}

// eventually polls cond every interval until it returns true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// nodeTempDir makes a directory on the node's host, through the node-control
// command, and removes it when t ends.
func nodeTempDir(t *testing.T) string {
	t.Helper()
	dir := strings.TrimSpace(controlOutput(t, "host-tempdir"))
	t.Cleanup(func() { controlOK("host-rmdir", dir) })
	return dir
}

// nodeFile reads a file of the node's host, through the node-control command.
func nodeFile(t *testing.T, path string) string {
	t.Helper()
	return controlOutput(t, "host-read", path)
}
