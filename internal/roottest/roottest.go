// Package roottest gates tests that need root (mounts, namespaces). They run
// when VKC_TEST_ROOT=1, which `make unit` and CI set; elsewhere they are
// skipped with that reason, so `go test ./...` works for anyone.
package roottest

import (
	"os"
	"testing"
)

// Require skips t unless root tests are enabled, and fails it when they are
// enabled but the process is not root.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv("VKC_TEST_ROOT") != "1" {
		t.Skip("needs root: set VKC_TEST_ROOT=1 and run as root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("VKC_TEST_ROOT=1 but not running as root")
	}
}
