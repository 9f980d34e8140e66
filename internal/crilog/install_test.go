package crilog

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInstallDriver(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "agent")
	if err := os.WriteFile(self, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "root", "bin")
	path, err := InstallDriver(self, bin)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "v1" {
		t.Fatalf("installed %q, want v1", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", fi.Mode().Perm())
	}
	// A running driver holds the old file open: an upgrade must replace the
	// name and leave that file as it was.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.WriteFile(self, []byte("v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallDriver(self, bin); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "v2" {
		t.Errorf("after the upgrade %q, want v2", got)
	}
	buf := make([]byte, 2)
	if _, err := old.Read(buf); err != nil || string(buf) != "v1" {
		t.Errorf("the old file reads %q (%v), want v1", buf, err)
	}
	if entries, _ := os.ReadDir(bin); len(entries) != 1 {
		t.Errorf("%d files in %s, want 1 (no temporary left)", len(entries), bin)
	}
}
