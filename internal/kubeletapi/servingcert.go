package kubeletapi

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate"
)

// ServingCertificates requests the kubelet API's serving certificate from the
// cluster with a CertificateSigningRequest for the kubernetes.io/kubelet-serving
// signer, as the kubelet does with --rotate-server-certificates, keeps it in
// dir, and requests a new one when 70-90% of its lifetime has passed. Someone
// (a person or an approver) must approve each request: the cluster does not.
// Until the first is issued, TLS handshakes fail.
func ServingCertificates(client kubernetes.Interface, nodeName string, ips []net.IP, dir string) (certificate.Manager, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("serving certificate directory: %w", err)
	}
	store, err := certificate.NewFileStore("kubelet-server", dir, dir, "", "")
	if err != nil {
		return nil, fmt.Errorf("serving certificate store in %s: %w", dir, err)
	}
	m, err := certificate.NewManager(&certificate.Config{
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		Template: &x509.CertificateRequest{
			// The signer issues kubelet-serving certificates only to a node,
			// for the node's own names and addresses.
			Subject:     pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
			DNSNames:    []string{nodeName},
			IPAddresses: ips,
		},
		SignerName: certificatesv1.KubeletServingSignerName,
		Usages: []certificatesv1.KeyUsage{
			certificatesv1.UsageDigitalSignature,
			certificatesv1.UsageServerAuth,
		},
		CertificateStore: store,
		Name:             "kubelet-serving",
	})
	if err != nil {
		return nil, fmt.Errorf("serving certificate manager: %w", err)
	}
	return m, nil
}
