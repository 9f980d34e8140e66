package volumes

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// caPEM returns a new self-signed CA certificate named cn, PEM-encoded.
func caPEM(t *testing.T, cn string) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func ctbVolume(name string, projections ...corev1.ClusterTrustBundleProjection) corev1.Volume {
	v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}
	for i := range projections {
		v.Projected.Sources = append(v.Projected.Sources, corev1.VolumeProjection{ClusterTrustBundle: &projections[i]})
	}
	return v
}

// pemBlocks splits a PEM file into its blocks, sorted, to compare sets.
func pemBlocks(t *testing.T, data string) []string {
	t.Helper()
	var out []string
	rest := []byte(data)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(b)))
	}
	if strings.TrimSpace(string(rest)) != "" {
		t.Errorf("text after the last PEM block: %q", rest)
	}
	sort.Strings(out)
	return out
}

func sameBlocks(t *testing.T, got string, want ...string) {
	t.Helper()
	sort.Strings(want)
	g := pemBlocks(t, got)
	if strings.Join(g, "") != strings.Join(want, "") {
		t.Errorf("got %d certificates, want %d:\n%s", len(g), len(want), got)
	}
}

func TestClusterTrustBundleByName(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	a, b := caPEM(t, "a"), caPEM(t, "b")
	// Headers, text between blocks and a repeated certificate are dropped.
	withHeaders := strings.Replace(b, "-----\n", "-----\nComment: hi\n\n", 1)
	src.setBundle("bundle", "", "intro\n"+a+"between\n"+withHeaders+a, nil)
	pod := testPod(ctbVolume("ctb", corev1.ClusterTrustBundleProjection{Name: ptr("bundle"), Path: "trust-anchors.pem"}))
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	got := readString(t, filepath.Join(paths["ctb"], "trust-anchors.pem"))
	sameBlocks(t, got, a, b)
	if len(got) != len(a)+len(b) {
		t.Errorf("file has more than the two bare certificates:\n%s", got)
	}
	checkFile(t, paths["ctb"], "trust-anchors.pem", got, 0o644)

	// The file follows changes of the bundle on Refresh.
	c := caPEM(t, "c")
	src.setBundle("bundle", "", c, nil)
	if _, err := m.Refresh(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	checkFile(t, paths["ctb"], "trust-anchors.pem", c, 0o644)
}

func TestClusterTrustBundleMissing(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	missing := corev1.ClusterTrustBundleProjection{Name: ptr("does-not-exist"), Path: "ca.pem"}
	_, err := m.Prepare(context.Background(), testPod(ctbVolume("ctb", missing)))
	want := `volume "ctb": while getting ClusterTrustBundle: clustertrustbundles.certificates.k8s.io "does-not-exist" not found`
	if err == nil || err.Error() != want || !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound %s", err, want)
	}

	missing.Optional = ptr(true)
	paths, err := m.Prepare(context.Background(), testPod(ctbVolume("ctb", missing)))
	if err != nil {
		t.Fatalf("optional missing bundle: %v", err)
	}
	checkFile(t, paths["ctb"], "ca.pem", "", 0o644)

	_, err = m.Prepare(context.Background(), testPod(ctbVolume("ctb", corev1.ClusterTrustBundleProjection{Path: "ca.pem"})))
	if err == nil || !strings.HasSuffix(err.Error(), "ClusterTrustBundle projection requires either name or signerName to be set") {
		t.Fatalf("err = %v, want name or signerName required", err)
	}
}

func TestClusterTrustBundleBySigner(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	const one, two = "example.com/one", "example.com/two"
	alive := map[string]string{"alive": "true"}
	shared, a1, a2, dead, other, noSigner := caPEM(t, "shared"), caPEM(t, "a1"), caPEM(t, "a2"), caPEM(t, "dead"), caPEM(t, "other"), caPEM(t, "nosigner")
	src.setBundle("example.com:one:1", one, a1+shared, alive)
	src.setBundle("example.com:one:2", one, shared+a2, alive)
	src.setBundle("example.com:one:3", one, dead, map[string]string{"alive": "false"})
	src.setBundle("example.com:two:1", two, other, alive)
	src.setBundle("plain", "", noSigner, alive)

	for _, tt := range []struct {
		name     string
		selector *metav1.LabelSelector
		optional *bool
		want     []string // nil: an error
	}{
		{"labels select, deduplicated", &metav1.LabelSelector{MatchLabels: alive}, nil, []string{a1, a2, shared}},
		{"empty selector selects all of the signer", &metav1.LabelSelector{}, nil, []string{a1, a2, shared, dead}},
		{"expression", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "alive", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}},
		}}, nil, []string{dead}},
		{"nil selector matches nothing, optional", nil, ptr(true), []string{}},
		{"no match, optional", &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}, ptr(true), []string{}},
		{"nil selector matches nothing", nil, nil, nil},
		{"no match", &metav1.LabelSelector{MatchLabels: map[string]string{"alive": "unknown"}}, ptr(false), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(ctbVolume("ctb", corev1.ClusterTrustBundleProjection{
				SignerName: ptr(one), LabelSelector: tt.selector, Optional: tt.optional, Path: "bundle.crt",
			}))
			paths, err := m.Prepare(context.Background(), pod)
			if tt.want == nil {
				if err == nil || err.Error() != `volume "ctb": combination of signerName and labelSelector matched zero ClusterTrustBundles` {
					t.Fatalf("err = %v, want zero matched", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := readString(t, filepath.Join(paths["ctb"], "bundle.crt"))
			sameBlocks(t, got, tt.want...)
		})
	}

	calls := src.listCalls
	pod := testPod(ctbVolume("ctb", corev1.ClusterTrustBundleProjection{SignerName: ptr(one), Path: "x", Optional: ptr(true)}))
	if _, err := m.Prepare(context.Background(), pod); err != nil || src.listCalls != calls {
		t.Errorf("a nil selector listed bundles (err %v)", err)
	}

	bad := testPod(ctbVolume("ctb", corev1.ClusterTrustBundleProjection{SignerName: ptr(one), Path: "x",
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "v"}}}))
	if _, err := m.Prepare(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "while parsing label selector") {
		t.Errorf("err = %v, want an invalid label selector", err)
	}
}

// TestTrustAnchorOrder checks that the order of anchors depends on the
// Manager's key only: neither on the order of the bundles nor on that of
// their certificates.
func TestTrustAnchorOrder(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	var pems []string
	for i := range 12 {
		pems = append(pems, caPEM(t, fmt.Sprint(i)))
	}
	bundle := func(name string, p ...string) certificatesv1.ClusterTrustBundle {
		return certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: strings.Join(p, "")}}
	}
	first := m.normalizeTrustAnchors([]certificatesv1.ClusterTrustBundle{bundle("x", pems[:5]...), bundle("y", pems[3:]...)})
	reversed := append([]string(nil), pems...)
	sort.Sort(sort.Reverse(sort.StringSlice(reversed)))
	second := m.normalizeTrustAnchors([]certificatesv1.ClusterTrustBundle{bundle("y", reversed[:4]...), bundle("x", reversed[2:]...)})
	if string(first) != string(second) {
		t.Errorf("order depends on the input:\n%s\n%s", first, second)
	}
	sameBlocks(t, string(first), pems...)

	// Another key (another start of the agent) orders them differently;
	// with 12 anchors the chance that two keys agree is 1 in 12!.
	other := &Manager{trustOrder: []byte("another key")}
	if third := other.normalizeTrustAnchors([]certificatesv1.ClusterTrustBundle{bundle("x", pems...)}); string(third) == string(first) {
		t.Error("a different key gave the same order")
	}
}

// TestManyClusterTrustBundles projects 150 bundles, as one volume with a
// source each and as one volume each, as the conformance test does.
func TestManyClusterTrustBundles(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	const n = 150
	var sources []corev1.ClusterTrustBundleProjection
	var vols []corev1.Volume
	want := make([]string, n)
	for i := range n {
		want[i] = caPEM(t, fmt.Sprint(i))
		src.setBundle(fmt.Sprintf("example.com:many:%d", i), "example.com/many", want[i], nil)
		p := corev1.ClusterTrustBundleProjection{Name: ptr(fmt.Sprintf("example.com:many:%d", i)), Path: fmt.Sprintf("trust-anchors-%d.pem", i)}
		sources = append(sources, p)
		vols = append(vols, ctbVolume(fmt.Sprintf("ctb-%d", i), p))
	}
	all := ctbVolume("all", corev1.ClusterTrustBundleProjection{SignerName: ptr("example.com/many"), LabelSelector: &metav1.LabelSelector{}, Path: "all.pem"})
	pod := testPod(append(vols, ctbVolume("one", sources...), all)...)
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		checkFile(t, paths["one"], fmt.Sprintf("trust-anchors-%d.pem", i), want[i], 0o644)
		checkFile(t, paths[fmt.Sprintf("ctb-%d", i)], fmt.Sprintf("trust-anchors-%d.pem", i), want[i], 0o644)
	}
	sameBlocks(t, readString(t, filepath.Join(paths["all"], "all.pem")), want...)
}

// TestCredentialModeWithFSGroup checks the kubelet's rule for tokens, trust
// bundles and certificates in a pod with an fsGroup: 0600 plus group read,
// whatever defaultMode says.
func TestCredentialModeWithFSGroup(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	src.setBundle("bundle", "", caPEM(t, "a"), nil)
	src.setConfigMap("ns1", "cfg", map[string]string{"k": "v"})
	v := ctbVolume("ctb", corev1.ClusterTrustBundleProjection{Name: ptr("bundle"), Path: "ca.pem"})
	v.Projected.DefaultMode = ptr(int32(0o644))
	v.Projected.Sources = append(v.Projected.Sources,
		corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}})
	pod := testPod(v)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(os.Getgid()))}
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"ca.pem": 0o640, "token": 0o640, "k": 0o644} {
		info, err := os.Stat(filepath.Join(paths["ctb"], name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, info.Mode().Perm(), want)
		}
	}
}
