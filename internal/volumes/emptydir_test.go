package volumes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vk-containerd/vk-containerd/internal/roottest"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// mountCount counts the mounts in /proc/self/mountinfo whose mount point is dir.
func mountCount(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

func TestEmptyDirMemory(t *testing.T) {
	roottest.Require(t)
	m, _, _, _ := newTestManager(t)
	size := resource.MustParse("1Mi")
	pod := testPod(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: &size,
	}}})
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["mem"]
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })

	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("filesystem type %#x, want tmpfs", st.Type)
	}
	if got := int64(st.Blocks) * st.Bsize; got != size.Value() {
		t.Errorf("tmpfs size = %d, want %d", got, size.Value())
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o777 {
		t.Errorf("tmpfs root mode = %v, %v; want 0777", info, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	if _, err := m.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if n := mountCount(t, dir); n != 1 {
		t.Errorf("%d mounts on %s after a second Prepare, want 1", n, dir)
	}

	if err := m.Cleanup("uid-1"); err != nil {
		t.Fatal(err)
	}
	if n := mountCount(t, dir); n != 0 {
		t.Errorf("%d mounts left on %s after Cleanup", n, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still exists after Cleanup: %v", dir, err)
	}
}

func TestEmptyDirModeAndMedium(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Mode: ptr(int32(0o1770))}}})
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(paths["shared"])
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o770 || info.Mode()&os.ModeSticky == 0 {
		t.Errorf("mode = %v, want sticky 0770", info.Mode())
	}

	huge := testPod(corev1.Volume{Name: "huge", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}}})
	if _, err := m.Prepare(context.Background(), huge); !errors.Is(err, ErrUnsupported) {
		t.Errorf("hugepages emptyDir: err = %v, want ErrUnsupported", err)
	}
	bad := testPod(corev1.Volume{Name: "bad", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Mode: ptr(int32(0o7777))}}})
	if _, err := m.Prepare(context.Background(), bad); err == nil {
		t.Error("emptyDir mode 07777 accepted")
	}
}

// A bind mount from the same filesystem is a mount point too: Cleanup must
// unmount it, not remove what it shows (an image volume's single layer).
func TestCleanupUnmountsSameDeviceBind(t *testing.T) {
	roottest.Require(t)
	m, _, _, _ := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "busybox"}}})
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	layer := filepath.Join(filepath.Dir(filepath.Dir(paths["img"])), "layer") // same filesystem
	if err := os.MkdirAll(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layer, "sh"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(layer, paths["img"], "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(paths["img"], unix.MNT_DETACH) })
	if err := m.Cleanup(string(pod.UID)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(layer, "sh")); err != nil {
		t.Errorf("the layer's file went with the pod's volumes: %v", err)
	}
}
