package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

func request(t *testing.T, user, cn string, names []string, ips ...string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}}, DNSNames: names}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
		Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		SignerName: certificatesv1.KubeletServingSignerName,
		Username:   user,
		Groups:     []string{"system:nodes", "system:authenticated"},
		Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
	}}
}

func TestCheck(t *testing.T) {
	node := &corev1.Node{}
	node.Name = "n1"
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.5"}, {Type: corev1.NodeHostName, Address: "host1"}}
	good := request(t, "system:node:n1", "system:node:n1", []string{"n1", "host1"}, "10.0.0.5")
	if err := check(good, node); err != nil {
		t.Fatalf("a node's request for its own names was refused: %v", err)
	}
	clientUsage := request(t, "system:node:n1", "system:node:n1", []string{"n1"})
	clientUsage.Spec.Usages = append(clientUsage.Spec.Usages, certificatesv1.UsageClientAuth)
	for _, c := range []struct {
		name string
		csr  *certificatesv1.CertificateSigningRequest
		node *corev1.Node
		want string
	}{
		{"another node's address", request(t, "system:node:n1", "system:node:n1", []string{"n1"}, "10.0.0.6"), node, "address 10.0.0.6"},
		{"another name", request(t, "system:node:n1", "system:node:n1", []string{"evil.example"}), node, "name \"evil.example\""},
		{"subject of another node", request(t, "system:node:n1", "system:node:n2", []string{"n1"}), node, "subject"},
		{"not a node", request(t, "alice", "system:node:n1", []string{"n1"}), node, "not by a node"},
		{"client usage", clientUsage, node, "not for serving"},
		{"unregistered node", good, nil, "not registered"},
		{"no host", request(t, "system:node:n1", "system:node:n1", nil), node, "names no host"},
	} {
		err := check(c.csr, c.node)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
	}
}
