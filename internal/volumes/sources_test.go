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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func cmVolume(name, cm string, items []corev1.KeyToPath, optional bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Items: items, Optional: ptr(optional),
	}}}
}

func secretVolume(name, secret string, items []corev1.KeyToPath, optional bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: secret, Items: items, Optional: ptr(optional),
	}}}
}

func checkFile(t *testing.T, dir, name, want string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	if got := readString(t, p); got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != mode {
		t.Errorf("%s mode = %v, want %v", name, info.Mode().Perm(), mode)
	}
}

func TestConfigMapVolume(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	src.setConfigMap("ns1", "cfg", map[string]string{"a": "1", "b": "2"})
	src.configMaps["ns1/cfg"].BinaryData = map[string][]byte{"bin": {0, 1}}
	all := cmVolume("all", "cfg", nil, false)
	all.ConfigMap.DefaultMode = ptr(int32(0o640))
	pod := testPod(all, cmVolume("items", "cfg", []corev1.KeyToPath{
		{Key: "a", Path: "dir/first"},
		{Key: "b", Path: "second", Mode: ptr(int32(0o600))},
	}, false))
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, paths["all"], "a", "1", 0o640)
	checkFile(t, paths["all"], "b", "2", 0o640)
	checkFile(t, paths["all"], "bin", "\x00\x01", 0o640)
	checkFile(t, paths["items"], "dir/first", "1", 0o644)
	checkFile(t, paths["items"], "second", "2", 0o600)
	if _, err := os.Lstat(filepath.Join(paths["items"], "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("unlisted key a written with items set")
	}

	// An update shows up on Refresh, and a removed key disappears.
	src.setConfigMap("ns1", "cfg", map[string]string{"a": "changed"})
	if _, err := m.Refresh(context.Background(), pod); err == nil || !strings.Contains(err.Error(), "configmap references non-existent config key: b") {
		t.Fatalf("Refresh err = %v, want missing key b for the items volume", err)
	}
	checkFile(t, paths["all"], "a", "changed", 0o640)
	if _, err := os.Lstat(filepath.Join(paths["all"], "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("removed key b still present after Refresh")
	}
}

func TestConfigMapMissing(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	_, err := m.Prepare(context.Background(), testPod(cmVolume("cfg", "nope", nil, false)))
	if err == nil || err.Error() != `volume "cfg": configmap "nope" not found` || !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound `volume \"cfg\": configmap \"nope\" not found`", err)
	}
	paths, err := m.Prepare(context.Background(), testPod(cmVolume("cfg", "nope", nil, true)))
	if err != nil {
		t.Fatalf("optional missing configmap: %v", err)
	}
	if entries, err := os.ReadDir(paths["cfg"]); err != nil || len(hiddenEntries(t, paths["cfg"])) != len(entries) {
		t.Errorf("optional missing configmap should give an empty volume: %v %v", entries, err)
	}

	src.setConfigMap("ns1", "cfg", map[string]string{"a": "1"})
	items := []corev1.KeyToPath{{Key: "a", Path: "a"}, {Key: "k", Path: "k"}}
	_, err = m.Prepare(context.Background(), testPod(cmVolume("cfg2", "cfg", items, false)))
	if err == nil || !strings.HasSuffix(err.Error(), "configmap references non-existent config key: k") {
		t.Fatalf("err = %v, want missing config key k", err)
	}
	paths, err = m.Prepare(context.Background(), testPod(cmVolume("cfg3", "cfg", items, true)))
	if err != nil {
		t.Fatalf("optional missing key: %v", err)
	}
	checkFile(t, paths["cfg3"], "a", "1", 0o644)
}

func TestSecretVolume(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	src.setSecret("ns1", "creds", map[string][]byte{"user": []byte("admin"), "pass": []byte("pw")})
	pod := testPod(secretVolume("s", "creds", nil, false),
		secretVolume("i", "creds", []corev1.KeyToPath{{Key: "pass", Path: "p/pass", Mode: ptr(int32(0o400))}}, false))
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, paths["s"], "user", "admin", 0o644)
	checkFile(t, paths["s"], "pass", "pw", 0o644)
	checkFile(t, paths["i"], "p/pass", "pw", 0o400)

	_, err = m.Prepare(context.Background(), testPod(secretVolume("s", "gone", nil, false)))
	if err == nil || err.Error() != `volume "s": secret "gone" not found` {
		t.Fatalf("err = %v, want secret not found", err)
	}
	if _, err := m.Prepare(context.Background(), testPod(secretVolume("s", "gone", nil, true))); err != nil {
		t.Fatalf("optional missing secret: %v", err)
	}
	_, err = m.Prepare(context.Background(), testPod(secretVolume("s", "creds", []corev1.KeyToPath{{Key: "x", Path: "x"}}, false)))
	if err == nil || !strings.HasSuffix(err.Error(), "references non-existent secret key: x") {
		t.Fatalf("err = %v, want missing secret key x", err)
	}
	bad := secretVolume("s", "creds", []corev1.KeyToPath{{Key: "user", Path: "../escape"}}, false)
	if _, err := m.Prepare(context.Background(), testPod(bad)); err == nil {
		t.Fatal("item path with '..' accepted")
	}
}

// kubeAPIAccess is the projected volume the API server injects into pods.
func kubeAPIAccess() corev1.Volume {
	return corev1.Volume{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o644)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr(int64(3607)), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
			}}},
		},
	}}}
}

func TestKubeAPIAccessVolume(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	src.setConfigMap("ns1", "kube-root-ca.crt", map[string]string{"ca.crt": "PEM"})
	pod := testPod(kubeAPIAccess())
	pod.Spec.ServiceAccountName = "builder"
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["kube-api-access-x7k2p"]
	checkFile(t, dir, "token", "token-1", 0o644)
	checkFile(t, dir, "ca.crt", "PEM", 0o644)
	checkFile(t, dir, "namespace", "ns1", 0o644)

	if src.lastNS != "ns1" || src.lastSA != "builder" {
		t.Errorf("token requested for %s/%s, want ns1/builder", src.lastNS, src.lastSA)
	}
	spec := src.lastReq.Spec
	if spec.ExpirationSeconds == nil || *spec.ExpirationSeconds != 3607 || len(spec.Audiences) != 0 {
		t.Errorf("token spec = %+v, want 3607s and default audiences", spec)
	}
	ref := spec.BoundObjectRef
	if ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != "uid-1" {
		t.Errorf("BoundObjectRef = %+v, want the pod", ref)
	}

	// Preparing again reuses the still-fresh token.
	if _, err := m.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if src.calls() != 1 {
		t.Errorf("CreateToken called %d times, want 1", src.calls())
	}
}

func TestProjectedMerge(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	src.setConfigMap("ns1", "cfg", map[string]string{"a": "cm"})
	src.setSecret("ns1", "sec", map[string][]byte{"a": []byte("secret"), "b": []byte("2")})
	pod := testPod(corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o440)),
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"},
				Items: []corev1.KeyToPath{{Key: "b", Path: "sub/b"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: ptr(true)}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "vault-token"}},
		},
	}}})
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, paths["p"], "a", "cm", 0o440)
	checkFile(t, paths["p"], "sub/b", "2", 0o440)
	checkFile(t, paths["p"], "vault-token", "token-1", 0o440)
	spec := src.lastReq.Spec
	if len(spec.Audiences) != 1 || spec.Audiences[0] != "vault" || *spec.ExpirationSeconds != 3600 || src.lastSA != "default" {
		t.Errorf("token request = %+v for %s, want audience vault, 3600s, service account default", spec, src.lastSA)
	}
}
