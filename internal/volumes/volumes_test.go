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
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/poddir"
)

// fakeSource serves configmaps and secrets from maps keyed by "ns/name",
// issues numbered tokens valid for the requested lifetime, serves
// ClusterTrustBundles by name, and stores PodCertificateRequests as named
// "req-1", "req-2"... that a test then issues or denies.
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

	bundles   map[string]*certificatesv1.ClusterTrustBundle
	listCalls int
	pcrs      map[string]*certificatesv1.PodCertificateRequest // by "ns/name"
	created   []*certificatesv1.PodCertificateRequest          // as the Manager sent them
	pcrErr    error                                            // returned by GetPodCertificateRequest
}

func newFakeSource(now func() time.Time) *fakeSource {
	return &fakeSource{
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, now: now,
		bundles: map[string]*certificatesv1.ClusterTrustBundle{}, pcrs: map[string]*certificatesv1.PodCertificateRequest{},
	}
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

func (f *fakeSource) setBundle(name, signer, pems string, lbls map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bundles[name] = &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: pems},
	}
}

func (f *fakeSource) GetClusterTrustBundle(_ context.Context, name string) (*certificatesv1.ClusterTrustBundle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.bundles[name]; ok {
		return b.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(certificatesv1.Resource("clustertrustbundles"), name)
}

// ListClusterTrustBundles returns every bundle, as a server that ignored
// the selectors would: the Manager must select by itself too.
func (f *fakeSource) ListClusterTrustBundles(_ context.Context, _ string, _ labels.Selector) ([]certificatesv1.ClusterTrustBundle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	var out []certificatesv1.ClusterTrustBundle
	for _, b := range f.bundles {
		out = append(out, *b.DeepCopy())
	}
	return out, nil
}

func (f *fakeSource) GetServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("sa-uid-" + name)}}, nil
}

func (f *fakeSource) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	if name == "" {
		return nil, errors.New("resource name may not be empty")
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-uid-" + name)}}, nil
}

func (f *fakeSource) CreatePodCertificateRequest(_ context.Context, req *certificatesv1.PodCertificateRequest) (*certificatesv1.PodCertificateRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, req.DeepCopy())
	out := req.DeepCopy()
	out.Name = fmt.Sprintf("%s%d", req.GenerateName, len(f.created))
	out.CreationTimestamp = metav1.NewTime(f.now())
	f.pcrs[out.Namespace+"/"+out.Name] = out
	return out.DeepCopy(), nil
}

func (f *fakeSource) GetPodCertificateRequest(_ context.Context, ns, name, nodeName string) (*certificatesv1.PodCertificateRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pcrErr != nil {
		return nil, f.pcrErr
	}
	if r, ok := f.pcrs[ns+"/"+name]; ok && string(r.Spec.NodeName) == nodeName {
		return r.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(certificatesv1.Resource("podcertificaterequests"), name)
}

// updatePCR changes the stored request ns/name, as a signer would.
func (f *fakeSource) updatePCR(t *testing.T, ns, name string, change func(*certificatesv1.PodCertificateRequest)) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.pcrs[ns+"/"+name]
	if !ok {
		t.Fatalf("no PodCertificateRequest %s/%s", ns, name)
	}
	change(r)
}

func (f *fakeSource) createdCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.created)
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
