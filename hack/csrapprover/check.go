package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

const nodeUserPrefix = "system:node:"

func nodeNameOf(username string) string { return strings.TrimPrefix(username, nodeUserPrefix) }

// check returns why csr is not a node's request for a serving certificate of
// its own names and addresses, or nil.
func check(csr *certificatesv1.CertificateSigningRequest, node *corev1.Node) error {
	if !strings.HasPrefix(csr.Spec.Username, nodeUserPrefix) || !slices.Contains(csr.Spec.Groups, "system:nodes") {
		return fmt.Errorf("requested by %q, not by a node", csr.Spec.Username)
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("the request is not a PEM certificate request")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return fmt.Errorf("the request does not parse: %w", err)
	}
	if req.Subject.CommonName != csr.Spec.Username || !slices.Equal(req.Subject.Organization, []string{"system:nodes"}) {
		return fmt.Errorf("subject %q does not name the requesting node", req.Subject)
	}
	for _, u := range csr.Spec.Usages {
		if u != certificatesv1.UsageDigitalSignature && u != certificatesv1.UsageKeyEncipherment && u != certificatesv1.UsageServerAuth {
			return fmt.Errorf("usage %q is not for serving", u)
		}
	}
	if node == nil {
		return fmt.Errorf("node %s is not registered", nodeNameOf(csr.Spec.Username))
	}
	if len(req.DNSNames)+len(req.IPAddresses) == 0 {
		return errors.New("the request names no host")
	}
	names, ips := []string{node.Name}, []string{}
	for _, a := range node.Status.Addresses {
		switch a.Type {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			names = append(names, a.Address)
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			ips = append(ips, a.Address)
		}
	}
	for _, n := range req.DNSNames {
		if !slices.Contains(names, n) {
			return fmt.Errorf("name %q is not one of node %s's", n, node.Name)
		}
	}
	for _, ip := range req.IPAddresses {
		if !slices.Contains(ips, ip.String()) {
			return fmt.Errorf("address %s is not one of node %s's", ip, node.Name)
		}
	}
	if len(req.EmailAddresses)+len(req.URIs) > 0 {
		return errors.New("the request names e-mail addresses or URIs")
	}
	return nil
}
