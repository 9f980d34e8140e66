package hostinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemTotal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, []byte("MemFree: 10 kB\nMemTotal:       2048 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := memTotal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != 2048*1024 {
		t.Fatalf("memTotal = %d, want %d", got, 2048*1024)
	}
}

func TestMemTotalMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, []byte("MemFree: 10 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := memTotal(p); err == nil {
		t.Fatal("memTotal of a file without MemTotal returned no error")
	}
}

func TestOSImage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(p, []byte("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := osImage(p), "Debian GNU/Linux 12 (bookworm)"; got != want {
		t.Fatalf("osImage = %q, want %q", got, want)
	}
	if got := osImage(filepath.Join(t.TempDir(), "none")); got != "Unknown" {
		t.Fatalf("osImage of a missing file = %q, want Unknown", got)
	}
}

func TestReadResources(t *testing.T) {
	r, err := ReadResources(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUs < 1 || r.MemoryBytes <= 0 || r.EphemeralStorage <= 0 {
		t.Fatalf("implausible resources %+v", r)
	}
}
