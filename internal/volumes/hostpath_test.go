package volumes

import (
	"context"
	"net"
	"os"
	"path/filepath"
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
