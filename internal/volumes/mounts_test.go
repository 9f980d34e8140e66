package volumes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
	got, err := ContainerMounts(pod, &pod.Spec.Containers[0], paths, nil)
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
	pod, paths := prepareMounts(t,
		corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"},
		corev1.VolumeMount{Name: "scratch", MountPath: "/data", SubPath: "a/b"},
		corev1.VolumeMount{Name: "scratch", MountPath: "/per-pod", SubPathExpr: "pods/$(POD_NAME)"},
	)
	c := &pod.Spec.Containers[0]
	got, err := ContainerMounts(pod, c, paths, map[string]string{"POD_NAME": "web"})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].ReadOnly || readString(t, got[0].Source) != "x=1" || !strings.HasPrefix(got[0].Source, paths["cfg"]+"/") {
		t.Errorf("configMap subPath mount = %+v", got[0])
	}
	if want := filepath.Join(paths["scratch"], "a", "b"); got[1].Source != want || got[1].ReadOnly {
		t.Errorf("emptyDir subPath mount = %+v, want source %s", got[1], want)
	}
	if info, err := os.Stat(got[1].Source); err != nil || !info.IsDir() {
		t.Errorf("missing subPath not created as a directory: %v", err)
	}
	if want := filepath.Join(paths["scratch"], "pods", "web"); got[2].Source != want {
		t.Errorf("subPathExpr source = %s, want %s", got[2].Source, want)
	}
}

func TestContainerMountsSubPathErrors(t *testing.T) {
	outside := t.TempDir()
	cases := map[string]corev1.VolumeMount{
		"absolute":            {Name: "scratch", MountPath: "/x", SubPath: "/etc"},
		"dotdot":              {Name: "scratch", MountPath: "/x", SubPath: "../x"},
		"inner dotdot":        {Name: "scratch", MountPath: "/x", SubPath: "a/../../x"},
		"symlink escape":      {Name: "scratch", MountPath: "/x", SubPath: "esc"},
		"through symlink":     {Name: "scratch", MountPath: "/x", SubPath: "esc/newdir"},
		"missing in readonly": {Name: "cfg", MountPath: "/x", SubPath: "nope"},
		"unknown volume":      {Name: "x", MountPath: "/x"},
	}
	for name, vm := range cases {
		pod, paths := prepareMounts(t, vm)
		if err := os.Symlink(outside, filepath.Join(paths["scratch"], "esc")); err != nil {
			t.Fatal(err)
		}
		_, err := ContainerMounts(pod, &pod.Spec.Containers[0], paths, nil)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if name == "unknown volume" && (err == nil || err.Error() != `volume "x" not found in pod spec`) {
			t.Errorf("unknown volume: err = %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "newdir")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("subPath created a directory outside the volume: %v", err)
	}
	// An in-volume symlink is fine.
	pod, paths := prepareMounts(t, corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "link"})
	if err := os.Mkdir(filepath.Join(paths["scratch"], "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(paths["scratch"], "link")); err != nil {
		t.Fatal(err)
	}
	got, err := ContainerMounts(pod, &pod.Spec.Containers[0], paths, nil)
	if err != nil || got[0].Source != filepath.Join(paths["scratch"], "real") {
		t.Errorf("in-volume symlink: %+v, %v", got, err)
	}
	// A volume Prepare did not return is an error.
	delete(paths, "scratch")
	if _, err := ContainerMounts(pod, &pod.Spec.Containers[0], paths, nil); err == nil {
		t.Error("unprepared volume accepted")
	}
}

func TestSubPathExprFromTheEnvironment(t *testing.T) {
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/m", SubPathExpr: "$(ANNOTATION)/$(POD_NAME)"}}}
	paths := map[string]string{"scratch": t.TempDir()}
	got, err := ContainerMounts(pod, c, paths, map[string]string{"ANNOTATION": "mypath", "POD_NAME": "foo"})
	if err != nil || len(got) != 1 || got[0].Source != filepath.Join(paths["scratch"], "mypath", "foo") {
		t.Fatalf("expanded subPath: %+v, %v", got, err)
	}
	// A reference that expands to nothing leaves an absolute path: refused,
	// as on the kubelet (the pod waits until the value is there).
	if _, err := ContainerMounts(pod, c, paths, map[string]string{"ANNOTATION": "", "POD_NAME": "foo"}); err == nil || !strings.Contains(err.Error(), "relative") {
		t.Fatalf("absolute expansion: %v", err)
	}
}
