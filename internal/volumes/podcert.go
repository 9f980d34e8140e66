package volumes

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"strconv"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// maxRefreshJitter bounds the delay added to beginRefreshAt.
	maxRefreshJitter = 5 * time.Minute
	// pendingRenewalCheck is how often a pending renewal is looked at; the
	// files keep the current certificate meanwhile.
	pendingRenewalCheck = 10 * time.Second
)

// errNotIssued is returned until the first certificate of a projection is issued.
var errNotIssued = errors.New("credential bundle is not issued yet")

// certState is a podCertificate projection's progress, which moves as the
// kubelet's does: no request yet; a first request pending (pending set,
// chain nil); issued (chain set); renewing (chain and pending set, the
// files keep chain until the new request is issued); and, for good, denied
// or failed (failed set, nothing is served any more).
type certState struct {
	key, chain []byte    // the issued PEM private key and certificate chain
	refreshAt  time.Time // when to ask for the next certificate

	pending    string           // name of the request awaiting issuance
	pendingKey []byte           // its PEM private key
	pendingPub crypto.PublicKey // its public key, which the issued leaf must hold

	failed error
}

// podCertificate returns the private key and certificate chain that
// projection p (source index of volume volName) serves, and when it next
// needs a look: its renewal time, or soon while a renewal is pending. The
// first call asks for a certificate and, like every call until it is
// issued, fails with errNotIssued.
func (m *Manager) podCertificate(ctx context.Context, pod *corev1.Pod, ps *podState, volName string, index int, p *corev1.PodCertificateProjection) (key, chain []byte, next time.Time, err error) {
	k := volName + "\x00" + strconv.Itoa(index)
	st := ps.certs[k]
	if st == nil {
		st = &certState{}
		if ps.certs == nil {
			ps.certs = make(map[string]*certState)
		}
		ps.certs[k] = st
	}
	if st.failed != nil {
		return nil, nil, time.Time{}, st.failed
	}
	now := m.now()
	switch {
	case st.pending != "":
		if err := m.checkRequest(ctx, pod, st); err != nil {
			return nil, nil, time.Time{}, err
		}
	case st.chain == nil:
		if err := m.requestCertificate(ctx, pod, p, st); err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("while creating initial PodCertificateRequest: %w", err)
		}
	case !now.Before(st.refreshAt):
		if err := m.requestCertificate(ctx, pod, p, st); err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("while creating refresh PodCertificateRequest: %w", err)
		}
	}
	switch {
	case st.failed != nil:
		return nil, nil, time.Time{}, st.failed
	case st.chain == nil:
		return nil, nil, time.Time{}, errNotIssued
	case st.pending != "":
		return st.key, st.chain, now.Add(pendingRenewalCheck), nil
	}
	return st.key, st.chain, st.refreshAt, nil
}

// requestCertificate creates a PodCertificateRequest for p with a new key
// and records it as pending in st.
func (m *Manager) requestCertificate(ctx context.Context, pod *corev1.Pod, p *corev1.PodCertificateProjection, st *certState) error {
	// NodeRestriction admits only requests whose service account and node
	// (names and UIDs) are the pod's.
	if pod.Spec.ServiceAccountName == "" {
		return errors.New("while fetching service account: the pod names none")
	}
	sa, err := m.src.GetServiceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return fmt.Errorf("while fetching service account: %w", err)
	}
	node, err := m.src.GetNode(ctx, pod.Spec.NodeName)
	if err != nil {
		return fmt.Errorf("while getting node object: %w", err)
	}
	priv, err := newPrivateKey(p.KeyType)
	if err != nil {
		return fmt.Errorf("while generating keypair: %w", err)
	}
	// The signer takes only the public key from the request; the empty
	// subject proves that the requester holds the private key.
	stub, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, priv)
	if err != nil {
		return fmt.Errorf("while generating stub PKCS#10 request: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("while PEM-encoding private key: %w", err)
	}
	req := &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    pod.Namespace,
			GenerateName: "req-",
			// Garbage collected with the pod.
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}},
		},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName:                p.SignerName,
			PodName:                   pod.Name,
			PodUID:                    pod.UID,
			ServiceAccountName:        pod.Spec.ServiceAccountName,
			ServiceAccountUID:         sa.UID,
			NodeName:                  types.NodeName(pod.Spec.NodeName),
			NodeUID:                   node.UID,
			MaxExpirationSeconds:      p.MaxExpirationSeconds,
			StubPKCS10Request:         stub,
			UnverifiedUserAnnotations: p.UserAnnotations,
		},
	}
	created, err := m.src.CreatePodCertificateRequest(ctx, req)
	if err != nil {
		return fmt.Errorf("while creating on API: %w", err)
	}
	if created == nil || created.Name == "" {
		return errors.New("while creating on API: the created PodCertificateRequest has no name")
	}
	st.pending = created.Name
	st.pendingKey = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	st.pendingPub = priv.Public()
	return nil
}

// checkRequest looks at st's pending request and, once the signer decided,
// takes the certificate or records the denial or failure.
func (m *Manager) checkRequest(ctx context.Context, pod *corev1.Pod, st *certState) error {
	name := pod.Namespace + "/" + st.pending
	pcr, err := m.src.GetPodCertificateRequest(ctx, pod.Namespace, st.pending, pod.Spec.NodeName)
	if err == nil && pcr == nil {
		err = apierrors.NewNotFound(certificatesv1.Resource("podcertificaterequests"), st.pending)
	}
	if apierrors.IsNotFound(err) {
		// Deleted before it was issued: the next call asks again.
		st.pending, st.pendingKey, st.pendingPub = "", nil, nil
		return fmt.Errorf("PodCertificateRequest %q appears to have been deleted", name)
	}
	if err != nil {
		return fmt.Errorf("while getting PodCertificateRequest %q: %w", name, err)
	}
	for _, c := range pcr.Status.Conditions {
		switch c.Type {
		case certificatesv1.PodCertificateRequestConditionTypeDenied:
			st.failed = fmt.Errorf("PodCertificateRequest was permanently denied: reason=%q message=%q", c.Reason, c.Message)
		case certificatesv1.PodCertificateRequestConditionTypeFailed:
			st.failed = fmt.Errorf("PodCertificateRequest was permanently failed: reason=%q message=%q", c.Reason, c.Message)
		case certificatesv1.PodCertificateRequestConditionTypeIssued:
			if err := m.takeIssued(st, &pcr.Status); err != nil {
				st.failed = fmt.Errorf("PodCertificateRequest %q was issued %w", name, err)
			}
		default:
			continue
		}
		return nil
	}
	return nil // the signer has not decided yet
}

// takeIssued makes the issued certificate of st's pending request current.
// Renewal starts at beginRefreshAt plus up to maxRefreshJitter, never after
// the certificate expires.
func (m *Manager) takeIssued(st *certState, status *certificatesv1.PodCertificateRequestStatus) error {
	chain, leaf, err := cleanChain(status.CertificateChain)
	if err != nil {
		return err
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(st.pendingPub) {
		return errors.New("a certificate for another key")
	}
	notAfter := leaf.NotAfter
	if status.NotAfter != nil {
		notAfter = status.NotAfter.Time
	}
	// The API requires beginRefreshAt with the chain; without one, renew
	// at 80% of the lifetime, as service-account tokens are.
	begin := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 8 / 10)
	if status.BeginRefreshAt != nil {
		begin = status.BeginRefreshAt.Time
	}
	refreshAt := begin.Add(m.refreshJitter())
	if refreshAt.After(notAfter) {
		refreshAt = notAfter
	}
	st.key, st.chain, st.refreshAt = st.pendingKey, chain, refreshAt
	st.pending, st.pendingKey, st.pendingPub = "", nil, nil
	return nil
}

// cleanChain re-encodes the certificates of an issued chain without PEM
// headers or text between blocks, and returns it with the parsed leaf
// (the first certificate).
func cleanChain(in string) ([]byte, *x509.Certificate, error) {
	var out []byte
	var leaf *x509.Certificate
	rest := []byte(in)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("with an invalid certificate chain: %w", err)
		}
		if leaf == nil {
			leaf = cert
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})...)
	}
	if leaf == nil {
		return nil, nil, errors.New("with no certificate in its chain")
	}
	return out, leaf, nil
}

// newPrivateKey generates a key of one of the types a podCertificate
// projection may ask for.
func newPrivateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "RSA3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "RSA4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ECDSAP256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECDSAP384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECDSAP521":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ED25519":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unknown key type %q", keyType)
}

// randomRefreshJitter spreads the renewals of certificates issued together.
func randomRefreshJitter() time.Duration {
	return mathrand.N(maxRefreshJitter)
}

// addPodCertificate writes the files a podCertificate projection asks for:
// the credential bundle (the key, then the chain), the key alone, the chain
// alone.
func addPodCertificate(files map[string]File, p *corev1.PodCertificateProjection, key, chain []byte, mode os.FileMode) {
	if p.CredentialBundlePath != "" {
		bundle := append(append(make([]byte, 0, len(key)+len(chain)), key...), chain...)
		files[p.CredentialBundlePath] = File{Data: bundle, Mode: mode}
	}
	if p.KeyPath != "" {
		files[p.KeyPath] = File{Data: key, Mode: mode}
	}
	if p.CertificateChainPath != "" {
		files[p.CertificateChainPath] = File{Data: chain, Mode: mode}
	}
}
