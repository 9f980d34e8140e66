package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/nodecidr"
)

// podCIDRTimeout bounds the wait for the controller-manager to give a new
// node its pod CIDRs, which it does as soon as it sees the node.
const podCIDRTimeout = 2 * time.Minute

// podNetwork is the network pods join: the first configuration in
// --cni-conf-dir, or with --network-bridge the agent's own bridge on the
// node's pod CIDRs. Those come from --pod-cidr or from the node object,
// which is registered here, ahead of the node controller, for the
// controller-manager to allocate them.
func podNetwork(ctx context.Context, cfg Config, client kubernetes.Interface, node *corev1.Node) (*libcni.NetworkConfigList, error) {
	if cfg.NetworkBridge == "" {
		return cni.LoadNetwork(cfg.CNIConfDir, cfg.CNIBinDirs)
	}
	cidrs, err := nodecidr.Parse(cfg.PodCIDRs)
	if err != nil {
		return nil, err
	}
	if len(cidrs) == 0 {
		if cidrs, err = nodecidr.Wait(ctx, client.CoreV1().Nodes(), node, podCIDRTimeout); err != nil {
			return nil, err
		}
	}
	file := filepath.Join(cfg.bridgeDir(), cfg.NetworkBridge+".conflist")
	list, err := cni.WriteBridge(file, cfg.bridge(cidrs), cfg.CNIBinDirs)
	if err != nil {
		return nil, err
	}
	log.G(ctx).WithField("bridge", cfg.NetworkBridge).WithField("podCIDRs", cidrs).WithField("config", file).Info("pod network configured")
	return list, nil
}
