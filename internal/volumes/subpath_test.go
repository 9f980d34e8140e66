package volumes

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/roottest"
)

// sentinel is a directory outside every volume, with a file and a
// subdirectory, that the code under test must leave alone.
type sentinel struct {
	dir    string
	before string
}

func newSentinel(t *testing.T) *sentinel {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("host data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &sentinel{dir: dir, before: snapshot(t, dir)}
}

// check fails t if anything below the sentinel was created, changed or
// removed, or if anything is mounted on or below it.
func (s *sentinel) check(t *testing.T, what string) {
	t.Helper()
	if now := snapshot(t, s.dir); now != s.before {
		t.Errorf("%s: the directory outside changed:\nbefore:\n%s\nafter:\n%s", what, s.before, now)
	}
	if m := mountsUnder(t, s.dir); len(m) > 0 {
		t.Errorf("%s: mounts in the directory outside: %v", what, m)
	}
}

// snapshot lists every entry below dir with its mode, size and mtime.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %d", p, info.Mode(), info.Size(), info.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// sameFile reports whether a and b are the same file (a mount of b counts).
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	ia, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(ia, ib)
}

// subPathFixture is a prepared pod with an emptyDir (scratch), a hostPath
// (host), a configMap (cfg) volume, and a sentinel outside them all.
type subPathFixture struct {
	m       *Manager
	root    poddir.Root
	pod     *corev1.Pod
	paths   map[string]string
	outside *sentinel
}

func newSubPathFixture(t *testing.T) *subPathFixture {
	t.Helper()
	m, src, _, root := newTestManager(t)
	src.setConfigMap("ns1", "cfg", map[string]string{"app.conf": "x=1"})
	src.setSecret("ns1", "sec", map[string][]byte{"key": []byte("k")})
	pod := mountsPod(t.TempDir())
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	return &subPathFixture{m: m, root: poddir.Root(root), pod: pod, paths: paths, outside: newSentinel(t)}
}

func (f *subPathFixture) subPathDir() string {
	return f.root.Pod(string(f.pod.UID)).VolumeSubpaths()
}

// mounts runs ContainerMounts for one volumeMount of container "app".
func (f *subPathFixture) mounts(vm corev1.VolumeMount, env map[string]string) ([]Mount, error) {
	c := &f.pod.Spec.Containers[0]
	c.VolumeMounts = []corev1.VolumeMount{vm}
	return ContainerMounts(f.pod, c, f.paths, env, f.subPathDir(), "")
}

// link makes a symlink named name (relative to the volume) to target.
func (f *subPathFixture) link(t *testing.T, vol, target, name string) {
	t.Helper()
	p := filepath.Join(f.paths[vol], name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// relTo is target relative to the directory of the symlink vol/name.
func (f *subPathFixture) relTo(t *testing.T, vol, name, target string) string {
	t.Helper()
	rel, err := filepath.Rel(filepath.Dir(filepath.Join(f.paths[vol], name)), target)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// Every subPath that names something outside its volume is refused with the
// kubelet's message, and nothing outside is created, changed or mounted.
// None of these reach a mount, so they run without root.
func TestSubPathRefusals(t *testing.T) {
	const prepare = `failed to prepare subPath for volumeMount "%s" of container "app": `
	const create = `failed to create subPath directory for volumeMount "%s" of container "app": `
	cases := []struct {
		name  string
		setup func(t *testing.T, f *subPathFixture)
		vm    corev1.VolumeMount
		env   map[string]string
		want  string
	}{
		{name: "absolute", vm: corev1.VolumeMount{Name: "scratch", SubPath: "/etc"},
			want: "error SubPath `/etc` must not be an absolute path"},
		{name: "leading dotdot", vm: corev1.VolumeMount{Name: "scratch", SubPath: "../x"},
			want: "unable to provision SubPath `../x`: must not contain '..'"},
		{name: "inner dotdot", vm: corev1.VolumeMount{Name: "scratch", SubPath: "a/../../x"},
			want: "unable to provision SubPath `a/../../x`: must not contain '..'"},
		{name: "trailing dotdot", vm: corev1.VolumeMount{Name: "scratch", SubPath: "a/.."},
			want: "unable to provision SubPath `a/..`: must not contain '..'"},
		{name: "subPathExpr expanding to dotdot", vm: corev1.VolumeMount{Name: "scratch", SubPathExpr: "$(DIR)/sub"},
			env:  map[string]string{"DIR": ".."},
			want: "unable to provision SubPath `../sub`: must not contain '..'"},
		{name: "subPathExpr expanding to an absolute path", vm: corev1.VolumeMount{Name: "scratch", SubPathExpr: "$(DIR)"},
			env:  map[string]string{"DIR": "/etc"},
			want: "error SubPath `/etc` must not be an absolute path"},
		{name: "absolute symlink out",
			setup: func(t *testing.T, f *subPathFixture) { f.link(t, "scratch", f.outside.dir, "esc") },
			vm:    corev1.VolumeMount{Name: "scratch", SubPath: "esc"},
			want:  fmt.Sprintf(prepare, "scratch") + "leads outside the volume"},
		{name: "relative symlink out",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "scratch", f.relTo(t, "scratch", "esc", f.outside.dir), "esc")
			},
			vm:   corev1.VolumeMount{Name: "scratch", SubPath: "esc"},
			want: fmt.Sprintf(prepare, "scratch") + "leads outside the volume"},
		{name: "symlink chain out",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "scratch", "two", "one")
				f.link(t, "scratch", "d/three", "two")
				f.link(t, "scratch", "../../../..", "d/three")
			},
			vm:   corev1.VolumeMount{Name: "scratch", SubPath: "one/sub"},
			want: fmt.Sprintf(create, "scratch") + "leads outside the volume"},
		{name: "symlink as the last element",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "scratch", filepath.Join(f.outside.dir, "secret"), "dir/last")
			},
			vm:   corev1.VolumeMount{Name: "scratch", SubPath: "dir/last"},
			want: fmt.Sprintf(prepare, "scratch") + "leads outside the volume"},
		{name: "directory to create through a symlink out",
			setup: func(t *testing.T, f *subPathFixture) { f.link(t, "scratch", f.outside.dir, "esc") },
			vm:    corev1.VolumeMount{Name: "scratch", SubPath: "esc/newdir/deeper"},
			want:  fmt.Sprintf(create, "scratch") + "leads outside the volume"},
		{name: "dangling symlink out",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "scratch", filepath.Join(f.outside.dir, "newdir"), "dangling")
			},
			vm:   corev1.VolumeMount{Name: "scratch", SubPath: "dangling"},
			want: fmt.Sprintf(create, "scratch") + "leads outside the volume"},
		{name: "out and back in",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "scratch", filepath.Join("..", filepath.Base(f.paths["scratch"])), "back")
			},
			vm:   corev1.VolumeMount{Name: "scratch", SubPath: "back"},
			want: fmt.Sprintf(prepare, "scratch") + "leads outside the volume"},
		{name: "symlink loop",
			setup: func(t *testing.T, f *subPathFixture) { f.link(t, "scratch", "loop", "loop") },
			vm:    corev1.VolumeMount{Name: "scratch", SubPath: "loop"},
			want:  fmt.Sprintf(prepare, "scratch") + `"loop": too many levels of symbolic links`},
		{name: "hostPath: absolute symlink out",
			setup: func(t *testing.T, f *subPathFixture) { f.link(t, "host", f.outside.dir, "esc") },
			vm:    corev1.VolumeMount{Name: "host", SubPath: "esc"},
			want:  fmt.Sprintf(prepare, "host") + "leads outside the volume"},
		{name: "hostPath: relative symlink out, directory to create",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "host", f.relTo(t, "host", "a/esc", f.outside.dir), "a/esc")
			},
			vm:   corev1.VolumeMount{Name: "host", SubPath: "a/esc/newdir"},
			want: fmt.Sprintf(create, "host") + "leads outside the volume"},
		{name: "hostPath: symlink to a file outside",
			setup: func(t *testing.T, f *subPathFixture) {
				f.link(t, "host", filepath.Join(f.outside.dir, "sub", "..", "secret"), "file")
			},
			vm:   corev1.VolumeMount{Name: "host", SubPath: "file"},
			want: fmt.Sprintf(prepare, "host") + "leads outside the volume"},
		{name: "missing in a read-only volume", vm: corev1.VolumeMount{Name: "cfg", SubPath: "nope"},
			want: fmt.Sprintf(prepare, "cfg") + "does not exist in the volume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newSubPathFixture(t)
			if c.setup != nil {
				c.setup(t, f)
			}
			c.vm.MountPath = "/x"
			before := map[string]string{}
			for name, p := range f.paths {
				before[name] = snapshot(t, p)
			}
			_, err := f.mounts(c.vm, c.env)
			if err == nil || err.Error() != c.want {
				t.Errorf("err = %v\nwant %s", err, c.want)
			}
			f.outside.check(t, c.name)
			if m := mountsUnder(t, string(f.root)); len(m) > 0 {
				t.Errorf("mounts made for a refused subPath: %v", m)
			}
			if c.vm.Name == "cfg" && snapshot(t, f.paths["cfg"]) != before["cfg"] {
				t.Error("the read-only volume changed")
			}
		})
	}
}

// A container name that is not a plain name cannot name the subPath mount point.
func TestSubPathRefusesContainerNamesWithPaths(t *testing.T) {
	f := newSubPathFixture(t)
	f.pod.Spec.Containers[0].Name = "../../escape"
	_, err := f.mounts(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "a"}, nil)
	if want := `invalid container name "../../escape"`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	if _, err := os.Lstat(f.subPathDir()); !os.IsNotExist(err) {
		t.Errorf("subPath directory made: %v", err)
	}
}

// Symlinks that stay in the volume are followed, and the object mounted is
// the one they lead to; Cleanup unmounts and removes every mount point.
func TestSubPathFollowsSymlinksInTheVolume(t *testing.T) {
	roottest.Require(t)
	f := newSubPathFixture(t)
	vol := f.paths["scratch"]
	if err := os.MkdirAll(filepath.Join(vol, "real", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.link(t, "scratch", "real", "rel")                             // relative
	f.link(t, "scratch", filepath.Join(vol, "real"), "abs")         // absolute, inside
	f.link(t, "scratch", "../rel/dir", "chain/hop")                 // a chain with ".." in a target
	f.link(t, "scratch", filepath.Join(f.paths["host"]), "hostvol") // another volume: outside this one
	for _, sub := range []string{"rel/dir", "abs/dir", "chain/hop"} {
		got, err := f.mounts(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: sub}, nil)
		if err != nil {
			t.Fatalf("%s: %v", sub, err)
		}
		if !sameFile(t, got[0].Source, filepath.Join(vol, "real", "dir")) {
			t.Errorf("%s: mounted %s, not real/dir", sub, got[0].Source)
		}
		if n := mountCount(t, got[0].Source); n != 1 {
			t.Errorf("%s: %d mounts on %s, want 1 (the earlier one replaced)", sub, n, got[0].Source)
		}
	}
	if _, err := f.mounts(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "hostvol"}, nil); err == nil {
		t.Error("a symlink into another volume was followed")
	}
	// A configMap key is a chain of relative symlinks (key -> ..data/key,
	// ..data -> the timestamped directory): the file itself is mounted.
	got, err := f.mounts(corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"}, nil)
	if err != nil || readString(t, got[0].Source) != "x=1" {
		t.Fatalf("configMap key: %+v, %v", got, err)
	}
	f.outside.check(t, "in-volume symlinks")
	if err := f.m.Cleanup(string(f.pod.UID)); err != nil {
		t.Fatal(err)
	}
	if m := mountsUnder(t, string(f.root)); len(m) > 0 {
		t.Errorf("mounts left after Cleanup: %v", m)
	}
	if _, err := os.Lstat(f.subPathDir()); !os.IsNotExist(err) {
		t.Errorf("subPath directory left after Cleanup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.paths["host"])); err != nil {
		t.Errorf("Cleanup touched the hostPath volume: %v", err)
	}
}

// The race the kubelet defends against: once checked, a container swaps a
// directory of the subPath for a symlink to the host before the runtime
// mounts it. The path handed to the runtime is the agent's mount of the
// object checked, so the swap changes nothing it sees.
func TestSubPathSwappedForASymlinkAfterTheCheck(t *testing.T) {
	roottest.Require(t)
	f := newSubPathFixture(t)
	vol := f.paths["host"]
	got, err := f.mounts(corev1.VolumeMount{Name: "host", MountPath: "/x", SubPath: "a/b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.m.Cleanup(string(f.pod.UID))
	if strings.HasPrefix(got[0].Source, vol) {
		t.Fatalf("source %s is in the volume, where a container can repoint it", got[0].Source)
	}
	// The container's move: a/ becomes a symlink whose b is the host's directory.
	if err := os.Rename(filepath.Join(vol, "a"), filepath.Join(vol, "a.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(f.outside.dir), filepath.Join(vol, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.outside.dir, filepath.Join(filepath.Dir(f.outside.dir), "b")); err != nil {
		t.Fatal(err)
	}
	f.outside.dir = filepath.Join(filepath.Dir(f.outside.dir), "b")
	if !sameFile(t, got[0].Source, filepath.Join(vol, "a.old", "b")) {
		t.Error("the mount no longer is the directory that was checked")
	}
	if _, err := os.Stat(filepath.Join(got[0].Source, "secret")); !os.IsNotExist(err) {
		t.Errorf("the host's directory shows through the subPath mount: %v", err)
	}
	// A walk started after the swap refuses it: a/ now leads out.
	if _, err := f.mounts(corev1.VolumeMount{Name: "host", MountPath: "/x", SubPath: "a/b/c"}, nil); err == nil {
		t.Error("subPath through the swapped symlink accepted")
	}
	if m := mountsUnder(t, f.outside.dir); len(m) > 0 {
		t.Errorf("mounts in the directory outside: %v", m)
	}
	if _, err := os.Stat(filepath.Join(f.outside.dir, "c")); !os.IsNotExist(err) {
		t.Errorf("a directory was made outside: %v", err)
	}
}

// The walk opens each element with O_NOFOLLOW from its parent's descriptor:
// a symlink met at any step is read through its own descriptor and judged,
// never followed by the kernel. A root that is itself a symlink (a hostPath
// given through one) is followed: it is the pod author's host path.
func TestOpenSubPathRoot(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "real", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	fd, err := openSubPath(filepath.Join(base, "link"), "x", false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil || target != filepath.Join(base, "real", "x") {
		t.Errorf("opened %q, %v; want real/x", target, err)
	}
	outside := newSentinel(t)
	if err := os.Symlink(outside.dir, filepath.Join(base, "real", "esc")); err != nil {
		t.Fatal(err)
	}
	if _, err := openSubPath(filepath.Join(base, "link"), "esc/made", true); err != errOutside {
		t.Errorf("err = %v, want %v", err, errOutside)
	}
	outside.check(t, "openSubPath")
}
