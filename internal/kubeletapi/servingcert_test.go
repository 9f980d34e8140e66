package kubeletapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// testSigner plays the cluster: it approves and signs each request at once,
// for lifetime, and keeps only the newest request.
type testSigner struct {
	t        *testing.T
	ca       *x509.Certificate
	key      *ecdsa.PrivateKey
	lifetime time.Duration
	issued   atomic.Int32
	last     atomic.Pointer[certificatesv1.CertificateSigningRequest]
}

func newTestSigner(t *testing.T, lifetime time.Duration) *testSigner {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &testSigner{t: t, ca: ca, key: key, lifetime: lifetime}
}

func (s *testSigner) react(client *fake.Clientset) k8stesting.ReactionFunc {
	return func(action k8stesting.Action) (bool, runtime.Object, error) {
		csr := action.(k8stesting.CreateAction).GetObject().(*certificatesv1.CertificateSigningRequest)
		block, _ := pem.Decode(csr.Spec.Request)
		req, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			s.t.Errorf("request does not parse: %v", err)
			return true, nil, err
		}
		n := s.issued.Add(1)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(n) + 1), Subject: req.Subject,
			NotBefore: time.Now().Add(-time.Second), NotAfter: time.Now().Add(s.lifetime),
			DNSNames: req.DNSNames, IPAddresses: req.IPAddresses,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, req.PublicKey, s.key)
		if err != nil {
			return true, nil, err
		}
		csr.Status.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
		if old := s.last.Swap(csr.DeepCopy()); old != nil {
			_ = client.Tracker().Delete(certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests"), "", old.Name)
		}
		return false, nil, nil // the tracker stores the signed request
	}
}

func TestServingCertificatesAreRequestedAndRenewed(t *testing.T) {
	client := fake.NewClientset()
	signer := newTestSigner(t, 6*time.Second)
	client.PrependReactor("create", "certificatesigningrequests", signer.react(client))

	ip := net.ParseIP("10.1.2.3")
	m, err := ServingCertificates(client, "node-a", []net.IP{ip}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	defer m.Stop()

	first := waitForCertificate(t, m.Current, nil)
	leaf := first.Leaf
	if leaf.Subject.CommonName != "system:node:node-a" || !slices.Equal(leaf.Subject.Organization, []string{"system:nodes"}) ||
		!slices.Equal(leaf.DNSNames, []string{"node-a"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip) {
		t.Fatalf("issued for %v, names %v, addresses %v", leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	}
	csr := signer.last.Load()
	if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName {
		t.Fatalf("signer %q, want %q", csr.Spec.SignerName, certificatesv1.KubeletServingSignerName)
	}
	if !slices.Contains(csr.Spec.Usages, certificatesv1.UsageServerAuth) {
		t.Fatalf("usages %v lack server auth", csr.Spec.Usages)
	}
	// Renewed at 70-90% of its six seconds.
	second := waitForCertificate(t, m.Current, leaf)
	if second.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 || !second.Leaf.NotAfter.After(leaf.NotAfter) {
		t.Fatalf("renewed certificate is not a new one: serial %v, until %v", second.Leaf.SerialNumber, second.Leaf.NotAfter)
	}
}

// waitForCertificate waits until current returns a certificate other than old.
func waitForCertificate(t *testing.T, current func() *tls.Certificate, old *x509.Certificate) *tls.Certificate {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c := current(); c != nil && c.Leaf != nil && (old == nil || !c.Leaf.Equal(old)) {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no new serving certificate within 20s")
	return nil
}
