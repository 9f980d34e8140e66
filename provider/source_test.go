package provider

import (
	"context"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// lastList returns the restrictions of the last list the client sent.
func lastList(t *testing.T, client *fake.Clientset) k8stesting.ListRestrictions {
	t.Helper()
	actions := client.Actions()
	list, ok := actions[len(actions)-1].(k8stesting.ListAction)
	if !ok {
		t.Fatalf("last action %v is not a list", actions[len(actions)-1])
	}
	return list.GetListRestrictions()
}

func TestSourceListsTrustBundlesBySignerAndLabels(t *testing.T) {
	client := fake.NewClientset(&certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: "example.com:one:a", Labels: map[string]string{"alive": "true"}},
		Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: "example.com/one", TrustBundle: "pem"},
	})
	src := apiSource{client: client}
	sel := labels.SelectorFromSet(labels.Set{"alive": "true"})
	got, err := src.ListClusterTrustBundles(context.Background(), "example.com/one", sel)
	if err != nil || len(got) != 1 || got[0].Name != "example.com:one:a" {
		t.Fatalf("ListClusterTrustBundles = %v, %v", got, err)
	}
	r := lastList(t, client)
	if r.Fields.String() != "spec.signerName=example.com/one" || r.Labels.String() != "alive=true" {
		t.Errorf("list selected fields %q and labels %q", r.Fields, r.Labels)
	}

	if _, err := src.GetClusterTrustBundle(context.Background(), "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("GetClusterTrustBundle(missing) = %v, want NotFound", err)
	}
}

func TestSourceGetsPodCertificateRequestsByNode(t *testing.T) {
	client := fake.NewClientset(&certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "req-1"},
		Spec:       certificatesv1.PodCertificateRequestSpec{NodeName: "vk-node"},
	})
	src := apiSource{client: client}
	got, err := src.GetPodCertificateRequest(context.Background(), "ns1", "req-1", "vk-node")
	if err != nil || got.Name != "req-1" {
		t.Fatalf("GetPodCertificateRequest = %v, %v", got, err)
	}
	// Node authorization lets a node list only with its own spec.nodeName.
	if f := lastList(t, client).Fields.String(); f != "metadata.name=req-1,spec.nodeName=vk-node" {
		t.Errorf("list selected fields %q", f)
	}
	if _, err := src.GetPodCertificateRequest(context.Background(), "ns1", "req-2", "vk-node"); !apierrors.IsNotFound(err) {
		t.Errorf("GetPodCertificateRequest(req-2) = %v, want NotFound", err)
	}

	created, err := src.CreatePodCertificateRequest(context.Background(), &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns2", Name: "req-3"},
	})
	if err != nil || created.Namespace != "ns2" {
		t.Errorf("CreatePodCertificateRequest = %v, %v; want it in ns2", created, err)
	}
}
