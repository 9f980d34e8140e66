package provider

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/vk-containerd/vk-containerd/internal/podenv"
	"github.com/vk-containerd/vk-containerd/internal/volumes"
)

// apiSource reads the objects pods refer to straight from the API server,
// one GET per use: the node holds no cache of cluster-wide kinds, so its
// memory grows with its pods, not with the cluster.
type apiSource struct{ client kubernetes.Interface }

var _ volumes.Source = apiSource{}

func (s apiSource) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return s.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s apiSource) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return s.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s apiSource) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return s.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
}

func (s apiSource) GetClusterTrustBundle(ctx context.Context, name string) (*certificatesv1.ClusterTrustBundle, error) {
	return s.client.CertificatesV1().ClusterTrustBundles().Get(ctx, name, metav1.GetOptions{})
}

// ListClusterTrustBundles lets the API server select by signer and labels,
// so that only the matching bundles cross the wire.
func (s apiSource) ListClusterTrustBundles(ctx context.Context, signerName string, selector labels.Selector) ([]certificatesv1.ClusterTrustBundle, error) {
	list, err := s.client.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.signerName", signerName).String(),
		LabelSelector: selector.String(),
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (s apiSource) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return s.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s apiSource) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return s.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func (s apiSource) CreatePodCertificateRequest(ctx context.Context, req *certificatesv1.PodCertificateRequest) (*certificatesv1.PodCertificateRequest, error) {
	return s.client.CertificatesV1().PodCertificateRequests(req.Namespace).Create(ctx, req, metav1.CreateOptions{})
}

// GetPodCertificateRequest lists by name and node rather than getting by
// name: the Node authorizer lets a node list the requests that name it,
// while it allows a get only of a request its graph knows, which may not yet
// hold one just created and no longer holds a deleted one (the get is then
// forbidden, never NotFound).
func (s apiSource) GetPodCertificateRequest(ctx context.Context, namespace, name, nodeName string) (*certificatesv1.PodCertificateRequest, error) {
	list, err := s.client.CertificatesV1().PodCertificateRequests(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("metadata.name", name),
			fields.OneTermEqualSelector("spec.nodeName", nodeName),
		).String(),
	})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Name == name {
			return &list.Items[i], nil
		}
	}
	return nil, apierrors.NewNotFound(certificatesv1.Resource("podcertificaterequests"), name)
}

// ServiceEnv lists the service link variables a pod in namespace sees: the
// API server's own service ("kubernetes" in default) always, the services
// of its namespace when links are enabled (the default), as on the kubelet.
func (s apiSource) ServiceEnv(ctx context.Context, namespace string, links bool) (map[string]string, error) {
	var services []corev1.Service
	if master, err := s.client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil {
		services = append(services, *master)
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if links {
		list, err := s.client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		services = append(services, list.Items...)
	}
	return podenv.ServiceEnv(services), nil
}
