package volumes

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func dataTarget(t *testing.T, dir string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatalf("readlink ..data: %v", err)
	}
	return target
}

// hiddenEntries lists the names in dir that start with "..".
func hiddenEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestWriteAtomicFirstWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	err := WriteAtomic(dir, map[string]File{
		"a":       {Data: []byte("one"), Mode: 0o644},
		"sub/b":   {Data: []byte("two"), Mode: 0o600},
		"default": {Data: []byte("three")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dir, "a")); got != "one" {
		t.Errorf("a = %q", got)
	}
	if got := readString(t, filepath.Join(dir, "sub", "b")); got != "two" {
		t.Errorf("sub/b = %q", got)
	}
	target := dataTarget(t, dir)
	if !strings.HasPrefix(target, "..") || strings.Contains(target, "/") {
		t.Errorf("..data -> %q, want a hidden sibling directory", target)
	}
	for name, want := range map[string]os.FileMode{"a": 0o644, "sub/b": 0o600, "default": 0o644} {
		info, err := os.Stat(filepath.Join(dir, target, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, info.Mode().Perm(), want)
		}
	}
	for _, name := range []string{"a", "sub", "default"} {
		link, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || link != "..data/"+name {
			t.Errorf("%s -> %q (%v), want ..data/%s", name, link, err, name)
		}
	}
	if got := hiddenEntries(t, dir); len(got) != 2 {
		t.Errorf("hidden entries = %v, want ..data and one data dir", got)
	}
}

func TestWriteAtomicUpdate(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("1")}, "b": {Data: []byte("2")}, "d/x": {Data: []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	old := dataTarget(t, dir)
	if err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("new")}, "c": {Data: []byte("4")}}); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dir, "a")); got != "new" {
		t.Errorf("a = %q, want new", got)
	}
	if got := readString(t, filepath.Join(dir, "c")); got != "4" {
		t.Errorf("c = %q", got)
	}
	for _, gone := range []string{"b", "d", old} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists (err %v)", gone, err)
		}
	}
	if got := hiddenEntries(t, dir); len(got) != 2 {
		t.Errorf("hidden entries = %v, want ..data and one data dir", got)
	}

	// Emptying the volume removes every visible name.
	if err := WriteAtomic(dir, map[string]File{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			t.Errorf("visible entry %s left after emptying", e.Name())
		}
	}
}

func TestWriteAtomicUnchangedIsNoop(t *testing.T) {
	dir := t.TempDir()
	files := map[string]File{"a": {Data: []byte("1"), Mode: 0o640}, "s/b": {Data: []byte("2")}}
	if err := WriteAtomic(dir, files); err != nil {
		t.Fatal(err)
	}
	before := dataTarget(t, dir)
	if err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o640}, "s/b": {Data: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if after := dataTarget(t, dir); after != before {
		t.Errorf("unchanged content rewrote ..data: %s -> %s", before, after)
	}
	// A mode change alone is a change.
	files["a"] = File{Data: []byte("1"), Mode: 0o600}
	if err := WriteAtomic(dir, files); err != nil {
		t.Fatal(err)
	}
	if after := dataTarget(t, dir); after == before {
		t.Error("mode change did not rewrite the data directory")
	}
}

func TestWriteAtomicRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "..2001_01_01_00_00_00.123"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if got := hiddenEntries(t, dir); len(got) != 2 {
		t.Errorf("hidden entries = %v, want ..data and one data dir", got)
	}
}

func TestWriteAtomicRefusesToReplaceForeignFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("1")}}); err == nil {
		t.Fatal("expected an error for a regular file in the way")
	}
	if got := readString(t, filepath.Join(dir, "a")); got != "mine" {
		t.Errorf("foreign file changed to %q", got)
	}
}

func TestWriteAtomicRejectsNames(t *testing.T) {
	for _, name := range []string{"", "/abs", "..data", "..x", "../x", "a/../b", "a/..", "./a", "a//b", "a/"} {
		dir := t.TempDir()
		if err := WriteAtomic(dir, map[string]File{name: {Data: []byte("x")}}); err == nil {
			t.Errorf("name %q accepted", name)
		}
		if _, err := os.Lstat(filepath.Join(dir, "..data")); err == nil {
			t.Errorf("name %q: ..data created despite the error", name)
		}
	}
	conflict := map[string]File{"a": {Data: []byte("x")}, "a/b": {Data: []byte("y")}}
	if err := WriteAtomic(t.TempDir(), conflict); err == nil {
		t.Error("file that is also a parent directory accepted")
	}
}

func TestWriteAtomicGroup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	gid := os.Getgid() // a group the test may give files to
	if err := WriteAtomicGroup(dir, map[string]File{"a/b": {Data: []byte("x"), Mode: 0o400}}, gid); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"a/b": 0o440,
		"a":   0o755 | os.ModeSetgid | os.ModeDir,
	} {
		info, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode(), want)
		}
		if st := info.Sys().(*syscall.Stat_t); int(st.Gid) != gid {
			t.Errorf("%s: group %d, want %d", p, st.Gid, gid)
		}
	}
	// Unchanged content is not rewritten.
	before, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := WriteAtomicGroup(dir, map[string]File{"a/b": {Data: []byte("x"), Mode: 0o400}}, gid); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(dir, "..data")); after != before {
		t.Errorf("rewritten although unchanged: %s -> %s", before, after)
	}
}
