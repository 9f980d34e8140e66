package volumes

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// trustAnchors returns the content of a clusterTrustBundle projection: the
// certificates of the bundle it names, or of every bundle of its signer
// whose labels match its selector, each once. A missing bundle, or a signer
// and selector that match none, give an empty file when the projection is
// optional and an error otherwise.
func (m *Manager) trustAnchors(ctx context.Context, p *corev1.ClusterTrustBundleProjection) ([]byte, error) {
	optional := isTrue(p.Optional)
	switch {
	case p.Name != nil:
		b, err := m.src.GetClusterTrustBundle(ctx, *p.Name)
		if err == nil && b == nil {
			err = apierrors.NewNotFound(certificatesv1.Resource("clustertrustbundles"), *p.Name)
		}
		if apierrors.IsNotFound(err) && optional {
			return []byte{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("while getting ClusterTrustBundle: %w", err)
		}
		return m.normalizeTrustAnchors([]certificatesv1.ClusterTrustBundle{*b}), nil
	case p.SignerName != nil:
		bundles, err := m.signerBundles(ctx, *p.SignerName, p.LabelSelector)
		if err != nil {
			return nil, err
		}
		if len(bundles) == 0 {
			if optional {
				return []byte{}, nil
			}
			return nil, errors.New("combination of signerName and labelSelector matched zero ClusterTrustBundles")
		}
		return m.normalizeTrustAnchors(bundles), nil
	}
	return nil, errors.New("ClusterTrustBundle projection requires either name or signerName to be set")
}

// signerBundles lists the bundles of signer that ls selects. As in the API,
// a nil selector matches nothing and an empty one everything. The signer
// and labels are checked here too, so that a source that ignores the
// selectors cannot widen the match.
func (m *Manager) signerBundles(ctx context.Context, signer string, ls *metav1.LabelSelector) ([]certificatesv1.ClusterTrustBundle, error) {
	if ls == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("while parsing label selector: %w", err)
	}
	list, err := m.src.ListClusterTrustBundles(ctx, signer, sel)
	if err != nil {
		return nil, fmt.Errorf("while listing ClusterTrustBundles matching label selector %v: %w", sel, err)
	}
	var out []certificatesv1.ClusterTrustBundle
	for _, b := range list {
		if b.Spec.SignerName == signer && sel.Matches(labels.Set(b.Labels)) {
			out = append(out, b)
		}
	}
	return out, nil
}

// normalizeTrustAnchors joins the certificates of bundles into one PEM file:
// each certificate once, as a bare CERTIFICATE block (no headers, no text
// between blocks). Like the kubelet, which shuffles them, it promises no
// order: they are sorted by a hash keyed with m.trustOrder, so the order
// holds while the agent runs (an unchanged set never rewrites the file) and
// changes when it restarts, and nobody comes to rely on it.
func (m *Manager) normalizeTrustAnchors(bundles []certificatesv1.ClusterTrustBundle) []byte {
	type anchor struct{ key, der []byte }
	var anchors []anchor
	seen := make(map[string]bool)
	for _, b := range bundles {
		rest := []byte(b.Spec.TrustBundle)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			// The API admits only certificates; skip anything else rather
			// than publish it as one.
			if block.Type != "CERTIFICATE" || seen[string(block.Bytes)] {
				continue
			}
			seen[string(block.Bytes)] = true
			mac := hmac.New(sha256.New, m.trustOrder)
			mac.Write(block.Bytes)
			anchors = append(anchors, anchor{key: mac.Sum(nil), der: block.Bytes})
		}
	}
	sort.Slice(anchors, func(i, j int) bool { return bytes.Compare(anchors[i].key, anchors[j].key) < 0 })
	out := []byte{}
	for _, a := range anchors {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.der})...)
	}
	return out
}

// newTrustOrder returns a fresh key for the order of trust anchors.
func newTrustOrder() []byte {
	k := make([]byte, 16)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	return k
}
