package volumes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/roottest"
)

// mountsPod has an emptyDir, a hostPath, a configMap and a secret volume.
func mountsPod(hostDir string) *corev1.Pod {
	unset := corev1.HostPathUnset
	return testPod(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &unset}}},
		cmVolume("cfg", "cfg", nil, false),
		secretVolume("sec", "sec", nil, false),
	)
}

func prepareMounts(t *testing.T, vms ...corev1.VolumeMount) (*corev1.Pod, map[string]string) {
	t.Helper()
	m, src, _, _ := newTestManager(t)
	src.setConfigMap("ns1", "cfg", map[string]string{"app.conf": "x=1"})
	src.setSecret("ns1", "sec", map[string][]byte{"key": []byte("k")})
	pod := mountsPod(t.TempDir())
	pod.Spec.Containers[0].VolumeMounts = vms
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	return pod, paths
}

func TestContainerMountsReadOnly(t *testing.T) {
	pod, paths := prepareMounts(t,
		corev1.VolumeMount{Name: "scratch", MountPath: "/tmp/work"},
		corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: true},
		corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app"},
		corev1.VolumeMount{Name: "sec", MountPath: "relative/secret"},
	)
	got, err := ContainerMounts(pod, &pod.Spec.Containers[0], paths, nil, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Source: paths["scratch"], Destination: "/tmp/work"},
		{Source: paths["host"], Destination: "/host", ReadOnly: true},
		{Source: paths["cfg"], Destination: "/etc/app", ReadOnly: true},
		{Source: paths["sec"], Destination: "/relative/secret", ReadOnly: true},
	}
	if len(got) != len(want) {
		t.Fatalf("mounts = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestContainerMountsSubPath(t *testing.T) {
	roottest.Require(t)
	pod, paths := prepareMounts(t,
		corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"},
		corev1.VolumeMount{Name: "scratch", MountPath: "/data", SubPath: "a/b"},
		corev1.VolumeMount{Name: "scratch", MountPath: "/per-pod", SubPathExpr: "pods/$(POD_NAME)"},
	)
	c := &pod.Spec.Containers[0]
	subDir := t.TempDir()
	got, err := ContainerMounts(pod, c, paths, map[string]string{"POD_NAME": "web"}, subDir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanupSubPaths(subDir)
	// Each subPath is bind-mounted at <dir>/<volume>/<container>/<index>.
	for i, vol := range []string{"cfg", "scratch", "scratch"} {
		if want := filepath.Join(subDir, vol, "app", strconv.Itoa(i)); got[i].Source != want || mountCount(t, want) != 1 {
			t.Errorf("mount %d = %+v, want source %s mounted once", i, got[i], want)
		}
	}
	if !got[0].ReadOnly || readString(t, got[0].Source) != "x=1" {
		t.Errorf("configMap subPath mount = %+v", got[0])
	}
	if got[1].ReadOnly || !sameFile(t, got[1].Source, filepath.Join(paths["scratch"], "a", "b")) {
		t.Errorf("emptyDir subPath mount = %+v, want a/b of the volume", got[1])
	}
	if !sameFile(t, got[2].Source, filepath.Join(paths["scratch"], "pods", "web")) {
		t.Errorf("subPathExpr mount = %+v, want pods/web of the volume", got[2])
	}
}

func TestSubPathExprFromTheEnvironment(t *testing.T) {
	roottest.Require(t)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	c := &corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/m", SubPathExpr: "$(ANNOTATION)/$(POD_NAME)"}}}
	paths := map[string]string{"scratch": t.TempDir()}
	subDir := t.TempDir()
	defer cleanupSubPaths(subDir)
	got, err := ContainerMounts(pod, c, paths, map[string]string{"ANNOTATION": "mypath", "POD_NAME": "foo"}, subDir, "")
	if err != nil || len(got) != 1 || !sameFile(t, got[0].Source, filepath.Join(paths["scratch"], "mypath", "foo")) {
		t.Fatalf("expanded subPath: %+v, %v", got, err)
	}
	// A reference that expands to nothing leaves an absolute path: refused.
	_, err = ContainerMounts(pod, c, paths, map[string]string{"ANNOTATION": "", "POD_NAME": "foo"}, subDir, "")
	if want := "error SubPath `/foo` must not be an absolute path"; err == nil || err.Error() != want {
		t.Fatalf("absolute expansion: %v, want %q", err, want)
	}
}

// An image volume's directory is empty until the node mounts the image
// there; containers see it read-only, and a subPath of it must exist.
func TestImageVolumeMounts(t *testing.T) {
	roottest.Require(t)
	m, _, _, _ := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "kitten:1.8"}}})
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(paths["img"]); err != nil || len(entries) != 0 {
		t.Fatalf("image volume directory: %v entries, %v; want an empty directory", entries, err)
	}
	// Stands for the mounted image.
	if err := os.MkdirAll(filepath.Join(paths["img"], "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "img", MountPath: "/image"},
		{Name: "img", MountPath: "/image-etc", SubPath: "etc"},
	}
	subDir := t.TempDir()
	got, err := ContainerMounts(pod, c, paths, nil, subDir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanupSubPaths(subDir)
	if len(got) != 2 || !got[0].ReadOnly || !got[1].ReadOnly || !sameFile(t, got[1].Source, filepath.Join(paths["img"], "etc")) {
		t.Errorf("mounts = %+v, want both read-only, the second of etc", got)
	}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "img", MountPath: "/x", SubPath: "missing"}}
	if _, err := ContainerMounts(pod, c, paths, nil, subDir, ""); err == nil || !strings.Contains(err.Error(), "failed to prepare subPath") {
		t.Errorf("missing subPath of an image: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(paths["img"], "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing subPath was made in the image: %v", err)
	}
}
