package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/uninstall"
)

// ownFiles are what the agent makes under its root, apart from what pods
// hold (the pod directories go with their pods).
func ownFiles(cfg Config) []string {
	files := []string{cfg.certDir(), filepath.Join(cfg.RootDir, "bin"), filepath.Join(cfg.RootDir, "cni-cache"),
		cfg.bridgeDir(), filepath.Join(cfg.RootDir, "seccomp"), filepath.Join(cfg.RootDir, "fifo"), filepath.Join(cfg.RootDir, "pods")}
	if cfg.BootstrapKubeconfig != "" {
		files = append(files, cfg.Kubeconfig) // written by the bootstrap
	}
	return files
}

// leaveHost removes the agent's own files (and the pods' bridge, when it is
// the agent's) when it stops because its node is
// being removed (uninstall.TaintKey), after every pod of the node is gone;
// any other stop keeps them, for the next start. A pod directory still
// there means a pod was not torn down: then nothing is removed, since its
// data may be all that is left of it.
func leaveHost(client kubernetes.Interface, cfg Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := client.CoreV1().Nodes().Get(ctx, cfg.NodeName, metav1.GetOptions{})
	if err != nil || !uninstall.Marked(n) {
		return
	}
	if pods, _ := os.ReadDir(filepath.Join(cfg.RootDir, "pods")); len(pods) > 0 {
		log.G(ctx).WithField("pods", len(pods)).Warn("node is being removed but pod directories are left: keeping the agent's files")
		return
	}
	if cfg.NetworkBridge != "" {
		if err := cni.RemoveBridge(cfg.NetworkBridge); err != nil {
			log.G(ctx).WithError(err).Warn("removing the pods' bridge")
		}
	}
	for _, f := range ownFiles(cfg) {
		if err := os.RemoveAll(f); err != nil {
			log.G(ctx).WithError(err).Warn("removing the agent's files")
		}
	}
	log.G(ctx).WithField("node", cfg.NodeName).Info("node is being removed: the agent's files are gone from the host")
}
