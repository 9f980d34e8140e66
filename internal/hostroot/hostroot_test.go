package hostroot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/vk-containerd/vk-containerd/internal/roottest"
)

func TestPath(t *testing.T) {
	if got := Path("", "/srv/a"); got != "/srv/a" {
		t.Errorf("on the host: %q", got)
	}
	if got := Path("/host", "/srv/a"); got != "/host/srv/a" {
		t.Errorf("in a container: %q", got)
	}
}

// The copies below root+dir go, deepest first; a mount elsewhere stays.
func TestDetachCopies(t *testing.T) {
	roottest.Require(t)
	base := t.TempDir()
	root := filepath.Join(base, "host")
	copies := filepath.Join(root, "var/lib/agent/pods/p1")
	other := filepath.Join(base, "other")
	for _, d := range []string{copies, filepath.Join(copies, "vol"), other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(target string) {
		if err := unix.Mount("tmpfs", target, "tmpfs", 0, ""); err != nil {
			t.Fatalf("mount %s: %v", target, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	}
	mount(copies)
	if err := os.MkdirAll(filepath.Join(copies, "vol"), 0o755); err != nil {
		t.Fatal(err)
	}
	mount(filepath.Join(copies, "vol"))
	mount(other)
	n, err := DetachCopies(root, "/var/lib/agent")
	if err != nil || n != 2 {
		t.Fatalf("DetachCopies: %d, %v; want 2 unmounted", n, err)
	}
	for _, m := range []string{copies, filepath.Join(copies, "vol")} {
		if mounted, err := mountinfo.Mounted(m); err != nil || mounted {
			t.Errorf("%s is still mounted (%v)", m, err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(other, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Errorf("a mount outside the agent's directory was touched")
	}
	if n, err := DetachCopies("", "/var/lib/agent"); n != 0 || err != nil {
		t.Errorf("on the host: %d, %v; want nothing done", n, err)
	}
}

func TestIsCopy(t *testing.T) {
	dir := "/var/lib/agent"
	for mp, want := range map[string]bool{
		"/var/lib/agent":                                        false, // the agent's own
		"/var/lib/agent/pods/p/ns/net":                          false,
		"/host/var/lib/agent":                                   true,
		"/host/var/lib/agent/pods/p/ns/net":                     true,
		"/run/c/task/k8s.io/x/rootfs/host/var/lib/agent/pods/p": true,
		"/host/var/lib/agent2/pods":                             false,
		"/host/srv/var/lib/agentx":                              false,
		"/var/lib":                                              false,
	} {
		if got := isCopy(mp, dir); got != want {
			t.Errorf("isCopy(%q) = %v, want %v", mp, got, want)
		}
	}
}
