package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/poddir"
)

// fakeSource serves configmaps and secrets from maps keyed by "ns/name" and
// issues numbered tokens valid for the requested lifetime.
type fakeSource struct {
	mu         sync.Mutex
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	now        func() time.Time
	tokenErr   error
	tokenCalls int
	lastSA     string
	lastNS     string
	lastReq    *authenticationv1.TokenRequest
}

func newFakeSource(now func() time.Time) *fakeSource {
	return &fakeSource{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, now: now}
}

func (f *fakeSource) setConfigMap(ns, name string, data map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configMaps[ns+"/"+name] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func (f *fakeSource) setSecret(ns, name string, data map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[ns+"/"+name] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func (f *fakeSource) GetConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f *fakeSource) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (f *fakeSource) CreateToken(_ context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenErr != nil {
		return nil, f.tokenErr
	}
	f.tokenCalls++
	f.lastNS, f.lastSA, f.lastReq = ns, sa, req.DeepCopy()
	out := req.DeepCopy()
	out.Status.Token = fmt.Sprintf("token-%d", f.tokenCalls)
	out.Status.ExpirationTimestamp = metav1.NewTime(f.now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
	return out, nil
}

func (f *fakeSource) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls
}

// fakeClock is a settable clock for the Manager.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestManager(t *testing.T) (*Manager, *fakeSource, *fakeClock, string) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	src := newFakeSource(clock.now)
	root := t.TempDir()
	return NewManager(poddir.Root(root), src, testAllocatable, clock.now), src, clock, root
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "uid-1"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app"}},
			Volumes:    vols,
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestPrepareEmptyDir(t *testing.T) {
	m, _, _, root := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "uid-1", "volumes", "scratch")
	if paths["scratch"] != want {
		t.Fatalf("path = %q, want %q", paths["scratch"], want)
	}
	info, err := os.Stat(want)
	if err != nil || !info.IsDir() || info.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir stat = %v, %v; want a 0777 directory", info, err)
	}
	if err := os.WriteFile(filepath.Join(want, "f"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(want, "f")); got != "kept" {
		t.Errorf("second Prepare lost emptyDir content: %q", got)
	}
}

func TestUnsupportedVolumes(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	cases := map[string]corev1.VolumeSource{
		"persistentVolumeClaim": {PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}},
		"nfs":                   {NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}},
		"csi":                   {CSI: &corev1.CSIVolumeSource{Driver: "d"}},
		"image":                 {Image: &corev1.ImageVolumeSource{Reference: "busybox"}},
		"ephemeral":             {Ephemeral: &corev1.EphemeralVolumeSource{}},
	}
	for kind, vs := range cases {
		_, err := m.Prepare(context.Background(), testPod(corev1.Volume{Name: "data", VolumeSource: vs}))
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", kind, err)
			continue
		}
		want := fmt.Sprintf("volume %q: %s volumes are not supported by this node", "data", kind)
		if err.Error() != want {
			t.Errorf("%s: err = %q, want %q", kind, err, want)
		}
	}
	ctb := corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "b"}},
	}}}
	if _, err := m.Prepare(context.Background(), testPod(corev1.Volume{Name: "p", VolumeSource: ctb})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("clusterTrustBundle: err = %v, want ErrUnsupported", err)
	}
	if _, err := m.Prepare(context.Background(), testPod(corev1.Volume{Name: "none"})); err == nil {
		t.Error("volume without a source accepted")
	}
}

func TestPrepareRejectsBadNames(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "../x", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if _, err := m.Prepare(context.Background(), pod); err == nil {
		t.Error("volume name with a slash accepted")
	}
	pod = testPod()
	pod.UID = "../../etc"
	if _, err := m.Prepare(context.Background(), pod); err == nil {
		t.Error("pod UID with a slash accepted")
	}
	// Nothing is made for such a UID, so there is nothing to clean, and a
	// pod refused for it must still be released.
	if err := m.Cleanup("../.."); err != nil {
		t.Errorf("Cleanup of a pod UID with a path: %v", err)
	}
}

func TestCleanup(t *testing.T) {
	m, src, _, root := newTestManager(t)
	src.setConfigMap("ns1", "cfg", map[string]string{"k": "v"})
	pod := testPod(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
	)
	if _, err := m.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if err := m.Cleanup("uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "uid-1", "volumes")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("volumes dir still there: %v", err)
	}
	if err := m.Cleanup("uid-1"); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if err := m.Cleanup("never-seen"); err != nil {
		t.Errorf("Cleanup of unknown pod: %v", err)
	}
	m.mu.Lock()
	left := len(m.pods)
	m.mu.Unlock()
	if left != 0 {
		t.Errorf("%d pod states left after Cleanup", left)
	}
}
