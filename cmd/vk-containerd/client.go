package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vk-containerd/vk-containerd/internal/version"
)

// apiCheckTimeout bounds the first request to the API server.
const apiCheckTimeout = 15 * time.Second

// NewClient builds a Kubernetes client from the kubeconfig at path (or the
// in-cluster configuration when path is empty) and checks that the API server
// answers, so a wrong kubeconfig fails at start with a clear reason.
func NewClient(ctx context.Context, path string) (kubernetes.Interface, error) {
	cfg, err := restConfig(path)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = version.Component + "/" + version.Version
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	check := rest.CopyConfig(cfg)
	check.Timeout = apiCheckTimeout
	dc, err := kubernetes.NewForConfig(check)
	if err != nil {
		return nil, err
	}
	if _, err := dc.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("cannot reach the API server at %s (from kubeconfig %s): %w", cfg.Host, path, err)
	}
	return client, nil
}

// restConfig is the client configuration in the kubeconfig at path, or the
// in-cluster one when path is empty.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig given and not running in a cluster: %w", err)
		}
		return cfg, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("kubeconfig %s does not exist: set --kubeconfig to the node's kubeconfig", path)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
