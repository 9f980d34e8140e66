// Package bootstrap gives the node its client identity the way the kubelet's
// TLS bootstrap does: with a bootstrap token it asks the cluster for a
// certificate of system:node:<name> (a CertificateSigningRequest for the
// kubernetes.io/kube-apiserver-client-kubelet signer, which the
// controller-manager approves for bootstrap tokens that may ask), keeps the
// certificate in a directory, writes the node's kubeconfig around it and
// renews it before it expires. The node then acts under Node authorization
// and the NodeRestriction admission plugin, as a kubelet does.
package bootstrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/certificate/csr"
	"k8s.io/client-go/util/keyutil"
)

// Config says where the identity comes from and where it goes.
type Config struct {
	NodeName string
	// BootstrapKubeconfig holds the bootstrap token. A cluster without a
	// server means the cluster the agent runs in (KUBERNETES_SERVICE_HOST).
	BootstrapKubeconfig string
	// Kubeconfig is written: the node's kubeconfig, pointing at the current
	// certificate in CertDir.
	Kubeconfig string
	CertDir    string
	// Wait bounds the wait for the request's approval.
	Wait time.Duration
}

// Usages are those the kubelet asks for; the approver checks them.
var usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}

// Identity makes sure a valid client certificate of the node is in
// cfg.CertDir, requesting one with the bootstrap token if not, writes
// cfg.Kubeconfig and returns the manager that renews the certificate (start
// it). The kubeconfig names the certificate file, which client-go reloads
// when the manager replaces it.
func Identity(ctx context.Context, cfg Config) (certificate.Manager, error) {
	boot, err := loadBootstrap(cfg.BootstrapKubeconfig)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("client certificate directory: %w", err)
	}
	store, err := certificate.NewFileStore("kubelet-client", cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("client certificate store in %s: %w", cfg.CertDir, err)
	}
	if !valid(store, cfg.NodeName, time.Now()) {
		if err := request(ctx, boot, cfg, store); err != nil {
			return nil, err
		}
	}
	if err := writeKubeconfig(cfg.Kubeconfig, boot, store.CurrentPath()); err != nil {
		return nil, err
	}
	return certificate.NewManager(&certificate.Config{
		// Renewals are asked for as the node itself, with the certificate
		// being renewed.
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) {
			nodeCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
			if err != nil {
				return nil, err
			}
			return kubernetes.NewForConfig(nodeCfg)
		},
		Template:         template(cfg.NodeName),
		SignerName:       certificatesv1.KubeAPIServerClientKubeletSignerName,
		Usages:           usages,
		CertificateStore: store,
		Name:             "kubelet-client",
	})
}

// loadBootstrap reads the bootstrap kubeconfig, filling an empty server
// from the in-cluster environment.
func loadBootstrap(path string) (*rest.Config, error) {
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap-kubeconfig %s: %w", path, err)
	}
	if ctx := raw.Contexts[raw.CurrentContext]; ctx != nil {
		if c := raw.Clusters[ctx.Cluster]; c != nil && c.Server == "" {
			host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
			if host == "" || port == "" {
				return nil, fmt.Errorf("--bootstrap-kubeconfig %s names no server and the agent does not run in a cluster (no KUBERNETES_SERVICE_HOST)", path)
			}
			c.Server = "https://" + net.JoinHostPort(host, port)
		}
	}
	boot, err := clientcmd.NewDefaultClientConfig(*raw, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("--bootstrap-kubeconfig %s: %w", path, err)
	}
	return boot, nil
}

// valid says whether the store holds a certificate of this node that is not
// about to expire.
func valid(store certificate.Store, nodeName string, now time.Time) bool {
	cert, err := store.Current()
	if err != nil || cert.Leaf == nil {
		return false
	}
	leaf := cert.Leaf
	return leaf.Subject.CommonName == "system:node:"+nodeName && now.Add(time.Minute).Before(leaf.NotAfter)
}

func template(nodeName string) *x509.CertificateRequest {
	return &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
	}
}

// request asks for the node's certificate with the bootstrap token and waits
// for it, so that a refused token or an unapproved request ends the agent
// with the reason.
func request(ctx context.Context, boot *rest.Config, cfg Config, store certificate.Store) error {
	client, err := kubernetes.NewForConfig(boot)
	if err != nil {
		return fmt.Errorf("bootstrap client: %w", err)
	}
	keyPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return err
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return err
	}
	csrPEM, err := certutil.MakeCSRFromTemplate(key, template(cfg.NodeName))
	if err != nil {
		return err
	}
	name, uid, err := csr.RequestCertificateWithContext(ctx, client, csrPEM, "",
		certificatesv1.KubeAPIServerClientKubeletSignerName, nil, usages, key)
	if err != nil {
		return fmt.Errorf("request the node's client certificate with the bootstrap token of %s at %s: %w", cfg.BootstrapKubeconfig, boot.Host, err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, cfg.Wait)
	defer cancel()
	certPEM, err := csr.WaitForCertificate(waitCtx, client, name, uid)
	if errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != nil {
		return fmt.Errorf("CertificateSigningRequest %s for system:node:%s was not approved and signed within %s: the bootstrap token's group needs the nodeclient approval role, and the controller-manager a signing key", name, cfg.NodeName, cfg.Wait)
	}
	if err != nil {
		return fmt.Errorf("CertificateSigningRequest %s: %w", name, err)
	}
	if _, err := store.Update(certPEM, keyPEM); err != nil {
		return fmt.Errorf("store the node's client certificate: %w", err)
	}
	return nil
}

// writeKubeconfig writes the node's kubeconfig: the bootstrap one's server
// and CA, and the certificate file of the store.
func writeKubeconfig(path string, boot *rest.Config, certFile string) error {
	ca := boot.CAData
	if len(ca) == 0 && boot.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(boot.CAFile); err != nil {
			return fmt.Errorf("the bootstrap kubeconfig's CA: %w", err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: boot.Host, CertificateAuthorityData: ca, TLSServerName: boot.ServerName}
	kc.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: certFile}
	kc.Contexts["node"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "node"}
	kc.CurrentContext = "node"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := clientcmd.WriteToFile(*kc, tmp); err != nil {
		return fmt.Errorf("write the node's kubeconfig: %w", err)
	}
	return os.Rename(tmp, path)
}
