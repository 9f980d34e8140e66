package crilog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vk-containerd/vk-containerd/internal/roottest"
)

// countingReader counts what was read of it.
type countingReader struct {
	r    *strings.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// A full disk must not block the container (its output is still read to the
// end) nor spoil the log: once space is back, records parse again.
func TestFullDiskDropsRecordsAndKeepsReading(t *testing.T) {
	path, w := writerOnTmpfs(t, "size=64k")

	var lines strings.Builder
	for i := 0; lines.Len() < 1<<20; i++ {
		fmt.Fprintf(&lines, "line %d of a container that writes more than the disk holds\n", i)
	}
	in := &countingReader{r: strings.NewReader(lines.String())}
	err := w.Copy("stdout", in)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Copy on a full disk: %v, want ENOSPC", err)
	}
	if in.read != lines.Len() {
		t.Fatalf("read %d of %d bytes: the writer stopped reading", in.read, lines.Len())
	}

	if err := os.Truncate(path, 0); err != nil { // space comes back
		t.Fatal(err)
	}
	write(t, w, "stdout", "after the disk was freed\n")
	raw, _ := os.ReadFile(path)
	got := read(t, path, Options{Tail: -1})
	if !strings.HasSuffix(got, "after the disk was freed\n") {
		t.Fatalf("log after recovery ends %q, want the new record (file: %q)", tail(got), tail(string(raw)))
	}
}

// writerOnTmpfs is a Writer of a log on a tmpfs of its own, mounted with opts.
func writerOnTmpfs(t *testing.T, opts string) (string, *Writer) {
	t.Helper()
	roottest.Require(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	path := filepath.Join(dir, "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path, w
}

func tail(s string) string {
	if len(s) > 120 {
		return s[len(s)-120:]
	}
	return s
}

// A record the disk cut short leaves the next one on a line of its own.
func TestTornRecordIsIsolated(t *testing.T) {
	path, w := writerOnTmpfs(t, "size=8k")
	long := strings.Repeat("x", 3000)
	for i := 0; i < 5; i++ {
		_ = w.record("stdout", "F", []byte(long)) // 8k holds two and part of a third
	}
	if !w.torn {
		t.Fatal("no torn record after filling the disk")
	}
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, nil, 0o640); err != nil { // free the space, keep the torn state
		t.Fatal(err)
	}
	if err := w.record("stdout", "F", []byte("next")); err != nil {
		t.Fatalf("record after space came back: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(after), "\n") || w.torn {
		t.Fatalf("record after a torn one = %q (torn %v), want it on a line of its own", after, w.torn)
	}
	if len(raw) == 0 {
		t.Fatal("nothing was written before the disk filled")
	}
}
