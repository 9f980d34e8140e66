// Command csrapprover approves the kubelet-serving certificate requests of
// the local cluster's nodes. Kubernetes signs such requests but approves none
// by itself; a cluster's operator or an approver does, after checking that the
// node asks only for its own names and addresses. This one checks exactly that.
//
//	csrapprover --kubeconfig FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of a user that may approve kubelet-serving requests")
	interval := flag.Duration("interval", 2*time.Second, "how often pending requests are looked at")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "csrapprover: %v\n", err)
		os.Exit(2)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "csrapprover: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	for ctx.Err() == nil {
		if err := approvePending(ctx, client); err != nil && ctx.Err() == nil {
			log.Printf("listing requests: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(*interval):
		}
	}
}

// approvePending approves each pending kubelet-serving request that passes
// check; it leaves the others pending and says why once.
func approvePending(ctx context.Context, client kubernetes.Interface) error {
	list, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range list.Items {
		csr := &list.Items[i]
		if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName || decided(csr) {
			continue
		}
		node, err := client.CoreV1().Nodes().Get(ctx, nodeNameOf(csr.Spec.Username), metav1.GetOptions{})
		if err != nil {
			node = nil // the node may not be registered yet: check says so
		}
		if err := check(csr, node); err != nil {
			if !reported[csr.Name] {
				log.Printf("%s left pending: %v", csr.Name, err)
				reported[csr.Name] = true
			}
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type:    certificatesv1.CertificateApproved,
			Status:  corev1.ConditionTrue,
			Reason:  "NodeServingCertificate",
			Message: "the node asks for its own names and addresses",
		})
		if _, err := client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			log.Printf("approving %s: %v", csr.Name, err)
			continue
		}
		log.Printf("approved %s for %s", csr.Name, csr.Spec.Username)
	}
	return nil
}

var reported = map[string]bool{}

func decided(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
			return true
		}
	}
	return false
}
