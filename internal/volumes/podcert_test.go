package volumes

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testSigner = "example.com/spiffe"

// testCA signs pod certificates the way a signer controller would.
type testCA struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert}
}

// leafFor returns a PEM certificate for pub valid from notBefore for lifetime.
func (ca *testCA) leafFor(t *testing.T, pub crypto.PublicKey, notBefore time.Time, lifetime time.Duration) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: notBefore, NotAfter: notBefore.Add(lifetime)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// issue signs request ns/name: a chain of the leaf and the CA, with the
// kind of text between blocks the kubelet drops. It returns the clean chain.
func (ca *testCA) issue(t *testing.T, src *fakeSource, ns, name string, notBefore time.Time, lifetime, refreshBefore time.Duration) []byte {
	t.Helper()
	var chain []byte
	src.updatePCR(t, ns, name, func(r *certificatesv1.PodCertificateRequest) {
		csr, err := x509.ParseCertificateRequest(r.Spec.StubPKCS10Request)
		if err != nil {
			t.Fatal(err)
		}
		leaf := ca.leafFor(t, csr.PublicKey, notBefore, lifetime)
		chain = append(leaf, ca.pem()...)
		withHeader := strings.Replace(string(leaf), "-----\n", "-----\nComment: leaf\n\n", 1)
		r.Status.CertificateChain = "leaf:\n" + withHeader + "intermediate:\n" + string(ca.pem()) + "end\n"
		r.Status.NotBefore = ptr(metav1.NewTime(notBefore))
		r.Status.NotAfter = ptr(metav1.NewTime(notBefore.Add(lifetime)))
		r.Status.BeginRefreshAt = ptr(metav1.NewTime(notBefore.Add(lifetime - refreshBefore)))
		r.Status.Conditions = []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue, Reason: "Reason", Message: "Issued"}}
	})
	return chain
}

func podCertPod(p corev1.PodCertificateProjection) *corev1.Pod {
	pod := testPod(corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{PodCertificate: &p}},
	}}})
	pod.Spec.ServiceAccountName = "builder"
	pod.Spec.NodeName = "vk-node"
	return pod
}

func TestPodCertificateIssuance(t *testing.T) {
	m, src, clock, _ := newTestManager(t)
	m.refreshJitter = func() time.Duration { return time.Minute }
	ca := newTestCA(t)
	pod := podCertPod(corev1.PodCertificateProjection{
		SignerName: testSigner, KeyType: "ECDSAP256", MaxExpirationSeconds: ptr(int32(3600)),
		UserAnnotations:      map[string]string{"spiffe/path-overriding": "/custom"},
		CredentialBundlePath: "cred-bundle.pem", KeyPath: "tls.key", CertificateChainPath: "tls.crt",
	})

	// The first call asks for a certificate; until it is issued, the
	// volume cannot be written.
	for range 2 {
		if _, err := m.Prepare(context.Background(), pod); !errors.Is(err, errNotIssued) ||
			err.Error() != `volume "tls": credential bundle is not issued yet` {
			t.Fatalf("Prepare before issuance: %v", err)
		}
	}
	if n := src.createdCount(); n != 1 {
		t.Fatalf("%d requests created, want 1", n)
	}
	req := src.created[0]
	wantMeta := metav1.ObjectMeta{Namespace: "ns1", GenerateName: "req-", OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web", UID: "uid-1"}}}
	if !reflect.DeepEqual(req.ObjectMeta, wantMeta) {
		t.Errorf("request metadata = %+v, want %+v", req.ObjectMeta, wantMeta)
	}
	stub := req.Spec.StubPKCS10Request
	req.Spec.StubPKCS10Request = nil
	wantSpec := certificatesv1.PodCertificateRequestSpec{
		SignerName: testSigner, PodName: "web", PodUID: "uid-1",
		ServiceAccountName: "builder", ServiceAccountUID: "sa-uid-builder",
		NodeName: "vk-node", NodeUID: "node-uid-vk-node",
		MaxExpirationSeconds:      ptr(int32(3600)),
		UnverifiedUserAnnotations: map[string]string{"spiffe/path-overriding": "/custom"},
	}
	if !reflect.DeepEqual(req.Spec, wantSpec) {
		t.Errorf("request spec = %+v, want %+v", req.Spec, wantSpec)
	}
	csr, err := x509.ParseCertificateRequest(stub)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil || csr.Subject.String() != "" || len(csr.DNSNames)+len(csr.URIs) != 0 {
		t.Errorf("stub request: signature %v, subject %q, SANs %v %v; want a valid, empty request", err, csr.Subject, csr.DNSNames, csr.URIs)
	}
	if pub, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("stub request key = %T, want ECDSA P-256", csr.PublicKey)
	}

	notBefore := clock.t.Add(-2 * time.Minute)
	chain := ca.issue(t, src, "ns1", "req-1", notBefore, 24*time.Hour, 30*time.Minute)
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["tls"]
	key := readString(t, filepath.Join(dir, "tls.key"))
	checkFile(t, dir, "tls.key", key, 0o644)
	checkFile(t, dir, "tls.crt", string(chain), 0o644)
	checkFile(t, dir, "cred-bundle.pem", key+string(chain), 0o644)
	block, rest := pem.Decode([]byte(key))
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key file is not one PRIVATE KEY block: %q", key)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
		t.Error("the key file does not hold the requested key")
	}
	if n := src.createdCount(); n != 1 {
		t.Errorf("%d requests created, want 1", n)
	}

	// Renewal is due at beginRefreshAt plus the jitter.
	next, err := m.Refresh(context.Background(), pod)
	if want := notBefore.Add(24*time.Hour - 30*time.Minute + time.Minute); err != nil || !next.Equal(want) {
		t.Errorf("Refresh = %v, %v; want next %v", next, err, want)
	}
}

func TestPodCertificateSeparateFiles(t *testing.T) {
	m, src, clock, _ := newTestManager(t)
	ca := newTestCA(t)
	pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: "ED25519", KeyPath: "k", CertificateChainPath: "c"})
	pod.Spec.Volumes[0].Projected.DefaultMode = ptr(int32(0o440))
	if _, err := m.Prepare(context.Background(), pod); !errors.Is(err, errNotIssued) {
		t.Fatalf("Prepare before issuance: %v", err)
	}
	chain := ca.issue(t, src, "ns1", "req-1", clock.t, time.Hour, 10*time.Minute)
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	entries := hiddenEntries(t, paths["tls"])
	all, _ := os.ReadDir(paths["tls"])
	if len(all)-len(entries) != 2 {
		t.Errorf("volume has %d files, want k and c only", len(all)-len(entries))
	}
	checkFile(t, paths["tls"], "c", string(chain), 0o440)
	if _, err := os.Lstat(filepath.Join(paths["tls"], "cred-bundle.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a credential bundle was written without credentialBundlePath")
	}
}

func TestPodCertificateKeyTypes(t *testing.T) {
	for _, tt := range []struct {
		keyType string
		check   func(crypto.PublicKey) bool
	}{
		{"RSA3072", func(k crypto.PublicKey) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 3072 }},
		{"RSA4096", func(k crypto.PublicKey) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 4096 }},
		{"ECDSAP256", func(k crypto.PublicKey) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P256() }},
		{"ECDSAP384", func(k crypto.PublicKey) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P384() }},
		{"ECDSAP521", func(k crypto.PublicKey) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P521() }},
		{"ED25519", func(k crypto.PublicKey) bool { _, ok := k.(ed25519.PublicKey); return ok }},
	} {
		t.Run(tt.keyType, func(t *testing.T) {
			m, src, _, _ := newTestManager(t)
			pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: tt.keyType, CredentialBundlePath: "b"})
			if _, err := m.Prepare(context.Background(), pod); !errors.Is(err, errNotIssued) {
				t.Fatalf("Prepare: %v", err)
			}
			csr, err := x509.ParseCertificateRequest(src.created[0].Spec.StubPKCS10Request)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil || !tt.check(csr.PublicKey) {
				t.Errorf("stub request: key %T, signature %v", csr.PublicKey, err)
			}
		})
	}

	m, src, _, _ := newTestManager(t)
	pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: "DSA", CredentialBundlePath: "b"})
	_, err := m.Prepare(context.Background(), pod)
	if err == nil || err.Error() != `volume "tls": while creating initial PodCertificateRequest: while generating keypair: unknown key type "DSA"` {
		t.Errorf("err = %v, want unknown key type", err)
	}
	if src.createdCount() != 0 {
		t.Error("a request was created for an unknown key type")
	}
}

func TestPodCertificateRenewal(t *testing.T) {
	m, src, clock, _ := newTestManager(t)
	m.refreshJitter = func() time.Duration { return 0 }
	ca := newTestCA(t)
	pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: "ECDSAP256", CredentialBundlePath: "b", CertificateChainPath: "c"})
	if _, err := m.Prepare(context.Background(), pod); !errors.Is(err, errNotIssued) {
		t.Fatal(err)
	}
	first := ca.issue(t, src, "ns1", "req-1", clock.t, 2*time.Hour, time.Hour)
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}

	// At beginRefreshAt a new request goes out; the files keep the current
	// certificate, and the request is looked at again soon.
	clock.t = clock.t.Add(time.Hour)
	next, err := m.Refresh(context.Background(), pod)
	if err != nil || !next.Equal(clock.t.Add(pendingRenewalCheck)) {
		t.Fatalf("Refresh = %v, %v; want a check in %v", next, err, pendingRenewalCheck)
	}
	if src.createdCount() != 2 {
		t.Fatalf("%d requests, want a second one", src.createdCount())
	}
	checkFile(t, paths["tls"], "c", string(first), 0o644)

	clock.t = clock.t.Add(pendingRenewalCheck)
	if next, err = m.Refresh(context.Background(), pod); err != nil || !next.Equal(clock.t.Add(pendingRenewalCheck)) {
		t.Fatalf("Refresh while pending = %v, %v", next, err)
	}
	second := ca.issue(t, src, "ns1", "req-2", clock.t, 2*time.Hour, time.Hour)
	if next, err = m.Refresh(context.Background(), pod); err != nil || !next.Equal(clock.t.Add(time.Hour)) {
		t.Fatalf("Refresh after renewal = %v, %v; want the new beginRefreshAt", next, err)
	}
	checkFile(t, paths["tls"], "c", string(second), 0o644)
	bundle := readString(t, filepath.Join(paths["tls"], "b"))
	if !strings.HasSuffix(bundle, string(second)) || !strings.HasPrefix(bundle, "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("credential bundle is not the new key and chain:\n%s", bundle)
	}
	if src.createdCount() != 2 {
		t.Errorf("%d requests, want 2", src.createdCount())
	}

	// Cleanup forgets the pod's certificates.
	if err := m.Cleanup("uid-1"); err != nil {
		t.Fatal(err)
	}
	if len(m.pods) != 0 {
		t.Errorf("state of %d pods kept after Cleanup", len(m.pods))
	}
}

func TestPodCertificateRefused(t *testing.T) {
	for _, tt := range []struct {
		name, condition, want string
	}{
		{"denied", certificatesv1.PodCertificateRequestConditionTypeDenied, `volume "tls": PodCertificateRequest was permanently denied: reason="UnsupportedKeyType" message="use RSA"`},
		{"failed", certificatesv1.PodCertificateRequestConditionTypeFailed, `volume "tls": PodCertificateRequest was permanently failed: reason="UnsupportedKeyType" message="use RSA"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, src, _, _ := newTestManager(t)
			pod := pendingBundlePod(t, m)
			src.updatePCR(t, "ns1", "req-1", func(r *certificatesv1.PodCertificateRequest) {
				r.Status.Conditions = []metav1.Condition{{Type: tt.condition, Status: metav1.ConditionTrue, Reason: "UnsupportedKeyType", Message: "use RSA"}}
			})
			// For good: no new request is made.
			for range 2 {
				if _, err := m.Prepare(context.Background(), pod); err == nil || err.Error() != tt.want {
					t.Fatalf("err = %v, want %s", err, tt.want)
				}
			}
			if src.createdCount() != 1 {
				t.Errorf("%d requests, want 1", src.createdCount())
			}
		})
	}
}

func TestPodCertificateRequestTrouble(t *testing.T) {
	m, src, clock, _ := newTestManager(t)
	ca := newTestCA(t)
	pod := pendingBundlePod(t, m)

	// An error reading the request leaves it pending.
	src.pcrErr = apierrors.NewForbidden(certificatesv1.Resource("podcertificaterequests"), "req-1", errors.New("no"))
	if _, err := m.Prepare(context.Background(), pod); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `while getting PodCertificateRequest "ns1/req-1"`) {
		t.Fatalf("err = %v, want the Forbidden error", err)
	}
	src.pcrErr = nil

	// A request deleted before issuance is made again.
	src.mu.Lock()
	delete(src.pcrs, "ns1/req-1")
	src.mu.Unlock()
	if _, err := m.Prepare(context.Background(), pod); err == nil || !strings.HasSuffix(err.Error(), `PodCertificateRequest "ns1/req-1" appears to have been deleted`) {
		t.Fatalf("err = %v, want deleted", err)
	}
	if _, err := m.Prepare(context.Background(), pod); !errors.Is(err, errNotIssued) || src.createdCount() != 2 {
		t.Fatalf("err = %v with %d requests; want a second request", err, src.createdCount())
	}

	// A certificate for another key is refused.
	src.updatePCR(t, "ns1", "req-2", func(r *certificatesv1.PodCertificateRequest) {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		r.Status.CertificateChain = string(ca.leafFor(t, other.Public(), clock.t, time.Hour))
		r.Status.Conditions = []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue}}
	})
	if _, err := m.Prepare(context.Background(), pod); err == nil || !strings.HasSuffix(err.Error(), `PodCertificateRequest "ns1/req-2" was issued a certificate for another key`) {
		t.Errorf("err = %v, want a certificate for another key", err)
	}
}

func TestPodCertificateBadIssuance(t *testing.T) {
	for _, tt := range []struct {
		name, chain, want string
	}{
		{"empty chain", "", "with no certificate in its chain"},
		{"not PEM", "garbage", "with no certificate in its chain"},
		{"bad certificate", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")})), "with an invalid certificate chain: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, src, _, _ := newTestManager(t)
			pod := pendingBundlePod(t, m)
			src.updatePCR(t, "ns1", "req-1", func(r *certificatesv1.PodCertificateRequest) {
				r.Status.CertificateChain = tt.chain
				r.Status.Conditions = []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue}}
			})
			if _, err := m.Prepare(context.Background(), pod); err == nil || !strings.Contains(err.Error(), `PodCertificateRequest "ns1/req-1" was issued `+tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestPodCertificateWithoutRefreshHint checks the fallback for a signer
// that left out beginRefreshAt: 80% of the leaf's lifetime.
func TestPodCertificateWithoutRefreshHint(t *testing.T) {
	m, src, clock, _ := newTestManager(t)
	m.refreshJitter = func() time.Duration { return 0 }
	ca := newTestCA(t)
	pod := pendingBundlePod(t, m)
	start := clock.t.Truncate(time.Second)
	ca.issue(t, src, "ns1", "req-1", start, 10*time.Hour, time.Hour)
	src.updatePCR(t, "ns1", "req-1", func(r *certificatesv1.PodCertificateRequest) {
		r.Status.BeginRefreshAt, r.Status.NotAfter, r.Status.NotBefore = nil, nil, nil
	})
	if _, err := m.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if next, err := m.Refresh(context.Background(), pod); err != nil || !next.Equal(start.Add(8*time.Hour)) {
		t.Errorf("Refresh = %v, %v; want %v", next, err, start.Add(8*time.Hour))
	}
}

// TestProjectedSourcesAllTried checks that a failing source does not keep
// the pod certificate of a later one from being asked for, and that the
// errors of all sources are reported.
func TestProjectedSourcesAllTried(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: "ECDSAP256", CredentialBundlePath: "b"})
	v := &pod.Spec.Volumes[0]
	v.Projected.Sources = append([]corev1.VolumeProjection{{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{
		SignerName: ptr(testSigner), LabelSelector: &metav1.LabelSelector{}, Path: "ca.pem",
	}}}, v.Projected.Sources...)
	_, err := m.Prepare(context.Background(), pod)
	want := `volume "tls": [combination of signerName and labelSelector matched zero ClusterTrustBundles, credential bundle is not issued yet]`
	if !errors.Is(err, errNotIssued) || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if src.createdCount() != 1 {
		t.Errorf("%d requests, want 1", src.createdCount())
	}
}

func TestPodCertificateNeedsServiceAccount(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: "ECDSAP256", CredentialBundlePath: "b"})
	pod.Spec.ServiceAccountName = ""
	if _, err := m.Prepare(context.Background(), pod); err == nil || !strings.HasSuffix(err.Error(), "while fetching service account: the pod names none") {
		t.Errorf("err = %v, want no service account", err)
	}
	if src.createdCount() != 0 {
		t.Error("a request was created")
	}
}

// pendingBundlePod prepares a pod with one ECDSA credential bundle, whose
// request the fake source holds not yet issued.
func pendingBundlePod(t *testing.T, m *Manager) *corev1.Pod {
	t.Helper()
	pod := podCertPod(corev1.PodCertificateProjection{SignerName: testSigner, KeyType: "ECDSAP256", CredentialBundlePath: "b"})
	if _, err := m.Prepare(context.Background(), pod); !errors.Is(err, errNotIssued) {
		t.Fatalf("first prepare: %v, want the certificate not issued yet", err)
	}
	return pod
}
