package provider

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vk-containerd/vk-containerd/internal/podenv"
)

// apiSource reads the objects pods refer to straight from the API server,
// one GET per use: the node holds no cache of cluster-wide kinds, so its
// memory grows with its pods, not with the cluster.
type apiSource struct{ client kubernetes.Interface }

func (s apiSource) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return s.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s apiSource) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return s.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s apiSource) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return s.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
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
