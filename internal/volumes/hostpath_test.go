package volumes

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func hostPathPod(p string, typ corev1.HostPathType) *corev1.Pod {
	return testPod(corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: p, Type: &typ}}})
}

func TestHostPathCreate(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	paths, err := m.Prepare(context.Background(), hostPathPod(dir, corev1.HostPathDirectoryOrCreate))
	if err != nil {
		t.Fatal(err)
	}
	if paths["host"] != dir {
		t.Errorf("path = %q, want %q", paths["host"], dir)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("DirectoryOrCreate did not create %s: %v", dir, err)
	}

	file := filepath.Join(base, "f")
	if _, err := m.Prepare(context.Background(), hostPathPod(file, corev1.HostPathFileOrCreate)); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(file); err != nil || !info.Mode().IsRegular() || info.Size() != 0 {
		t.Fatalf("FileOrCreate did not create an empty file: %v %v", info, err)
	}

	_, err = m.Prepare(context.Background(), hostPathPod(dir, corev1.HostPathFileOrCreate))
	if want := "volume \"host\": hostPath type check failed: " + dir + " is not a file"; err == nil || err.Error() != want {
		t.Errorf("FileOrCreate on a directory: err = %v, want %q", err, want)
	}
	_, err = m.Prepare(context.Background(), hostPathPod(file, corev1.HostPathDirectoryOrCreate))
	if want := "volume \"host\": hostPath type check failed: " + file + " is not a directory"; err == nil || err.Error() != want {
		t.Errorf("DirectoryOrCreate on a file: err = %v, want %q", err, want)
	}
}

func TestHostPathTypeChecks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "d")
	file := filepath.Join(base, "f")
	sock := filepath.Join(base, "s")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(base, "missing")

	cases := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string // "" means success
	}{
		{missing, corev1.HostPathUnset, ""},
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, file + " is not a directory"},
		{missing, corev1.HostPathDirectory, missing + " is not a directory"},
		{file, corev1.HostPathFile, ""},
		{dir, corev1.HostPathFile, dir + " is not a file"},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, file + " is not a socket file"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathCharDev, file + " is not a character device"},
		{"/dev/null", corev1.HostPathBlockDev, "/dev/null is not a block device"},
	}
	m, _, _, _ := newTestManager(t)
	for _, c := range cases {
		paths, err := m.Prepare(context.Background(), hostPathPod(c.path, c.typ))
		if c.wantErr == "" {
			if err != nil || paths["host"] != c.path {
				t.Errorf("%s %q: got %v, %v; want the path itself", c.path, c.typ, paths, err)
			}
			continue
		}
		want := "volume \"host\": hostPath type check failed: " + c.wantErr
		if err == nil || err.Error() != want {
			t.Errorf("%s %q: err = %v, want %q", c.path, c.typ, err, want)
		}
	}
	for _, bad := range []*corev1.Pod{hostPathPod("relative/path", ""), hostPathPod(dir, "Weird")} {
		if _, err := m.Prepare(context.Background(), bad); err == nil {
			t.Errorf("%+v accepted", bad.Spec.Volumes[0].HostPath)
		}
	}
}

// Type checks follow symlinks, as the kubelet's do (it stats the path): the
// hostPath is the pod author's host path, the kind checked is what the link
// leads to, and a path that is there already, through a link, is not made.
func TestHostPathTypesFollowSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "d")
	file := filepath.Join(base, "f")
	sock := filepath.Join(base, "s")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := func(target string) string {
		p := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		target  string
		typ     corev1.HostPathType
		wantErr string // "" means success; %s is the link
	}{
		{dir, corev1.HostPathDirectory, ""},
		{dir, corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathDirectory, "%s is not a directory"},
		{file, corev1.HostPathDirectoryOrCreate, "%s is not a directory"},
		{file, corev1.HostPathFile, ""},
		{file, corev1.HostPathFileOrCreate, ""},
		{dir, corev1.HostPathFile, "%s is not a file"},
		{dir, corev1.HostPathFileOrCreate, "%s is not a file"},
		{sock, corev1.HostPathSocket, ""},
		{dir, corev1.HostPathSocket, "%s is not a socket file"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathCharDev, "%s is not a character device"},
		{"/dev/null", corev1.HostPathBlockDev, "%s is not a block device"},
		{filepath.Join(base, "missing"), corev1.HostPathDirectory, "%s is not a directory"},
		{filepath.Join(base, "missing"), corev1.HostPathSocket, "%s is not a socket file"},
	}
	m, _, _, _ := newTestManager(t)
	before := snapshot(t, base)
	for _, c := range cases {
		p := link(c.target)
		paths, err := m.Prepare(context.Background(), hostPathPod(p, c.typ))
		if c.wantErr == "" {
			if err != nil || paths["host"] != p {
				t.Errorf("link to %s as %q: %v, %v; want the link's path", c.target, c.typ, paths, err)
			}
			continue
		}
		want := `volume "host": hostPath type check failed: ` + fmt.Sprintf(c.wantErr, p)
		if err == nil || err.Error() != want {
			t.Errorf("link to %s as %q: err = %v, want %q", c.target, c.typ, err, want)
		}
	}
	if now := snapshot(t, base); now != before {
		t.Errorf("type checks changed what the links lead to:\n%s\n%s", before, now)
	}

	// DirectoryOrCreate on a dangling link is refused (the kubelet's MkdirAll
	// fails the same way) and makes nothing where it points.
	target := filepath.Join(base, "made")
	p := link(target)
	if _, err := m.Prepare(context.Background(), hostPathPod(p, corev1.HostPathDirectoryOrCreate)); err == nil || !strings.HasPrefix(err.Error(), `volume "host": creating hostPath directory `+p) {
		t.Errorf("DirectoryOrCreate on a dangling link: %v", err)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("DirectoryOrCreate made the link's target: %v", err)
	}
	// FileOrCreate opens with O_CREATE, which follows the link: the file
	// made is its target, as on the kubelet.
	if _, err := m.Prepare(context.Background(), hostPathPod(p, corev1.HostPathFileOrCreate)); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(target); err != nil || !info.Mode().IsRegular() {
		t.Errorf("FileOrCreate through a dangling link: %v, %v", info, err)
	}
	if _, err := m.Prepare(context.Background(), hostPathPod(dir, "Weird")); err == nil || err.Error() != `volume "host": Weird is an invalid volume type` {
		t.Errorf("unknown type: %v", err)
	}
}

// An agent in a container sees the host's / under HostRoot: the checks and
// the creation happen there, and the path handed to the runtime is the host's.
func TestHostPathUnderHostRoot(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	m.HostRoot = t.TempDir()
	if err := os.MkdirAll(filepath.Join(m.HostRoot, "srv", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	paths, err := m.Prepare(context.Background(), hostPathPod("/srv/data", corev1.HostPathDirectory))
	if err != nil {
		t.Fatal(err)
	}
	if paths["host"] != "/srv/data" {
		t.Errorf("path = %q, want the host's /srv/data", paths["host"])
	}
	if _, err := m.Prepare(context.Background(), hostPathPod("/srv/new", corev1.HostPathDirectoryOrCreate)); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(m.HostRoot, "srv", "new")); err != nil || !info.IsDir() {
		t.Errorf("DirectoryOrCreate did not create the directory under the host root: %v", err)
	}
	_, err = m.Prepare(context.Background(), hostPathPod("/srv/missing", corev1.HostPathDirectory))
	if want := "volume \"host\": hostPath type check failed: /srv/missing is not a directory"; err == nil || err.Error() != want {
		t.Errorf("a missing directory: err = %v, want %q", err, want)
	}
}
