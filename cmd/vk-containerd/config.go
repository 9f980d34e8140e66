package main

// This file and agent.go wire vk-containerd together: the API client, the
// containerd runtime, the CNI network, the node and pod controllers of
// virtual-kubelet and the kubelet API server. main builds a Config from the
// flags and calls Run.

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/nodecidr"
)

// Config is everything the agent needs to run a node.
type Config struct {
	Kubeconfig string // path of the kubeconfig; empty means in-cluster
	// BootstrapKubeconfig holds a bootstrap token: with it the node obtains
	// its client certificate (TLS bootstrap) and writes Kubeconfig.
	BootstrapKubeconfig string
	CertDir             string // the node's certificates; empty means RootDir/pki
	NodeName            string // name of the node object
	NodeIP              net.IP // InternalIP; detected when nil
	NodeLabels          map[string]string
	RegisterWithTaints  []string // key=value:Effect
	MaxPods             int
	ContainerdAddress   string
	ContainerdNamespace string
	CNIConfDir          string
	CNIBinDirs          []string
	// NetworkBridge, when set, is the Linux bridge of a pod network the
	// agent configures itself from PodCIDRs, or else from its node's
	// spec.podCIDRs, instead of reading CNIConfDir.
	NetworkBridge     string
	PodCIDRs          []string
	NetworkMasquerade bool // the bridge network's outbound traffic takes the host's address
	// HostNetworkNamespace, when set, is the network namespace of
	// hostNetwork pods: the agent's own, where that is not containerd's.
	HostNetworkNamespace string
	RootDir              string
	HostRootDir          string // the host's / as the agent sees it; "/" on the host
	RegistryConfigDir    string // containerd-style hosts directory (certs.d) for registry mirrors and plain HTTP
	Address              string // kubelet API listen address (IP)
	Port                 int
	TLSCertFile          string
	TLSPrivateKeyFile    string
	// RotateServerCertificates requests the serving certificate from the
	// cluster (kubernetes.io/kubelet-serving) and renews it.
	RotateServerCertificates bool
	ClientCAFile             string
	PodWorkers               int
	// EvictionPressureTransitionPeriod is how long the node stays under a
	// pressure condition after its figures went back below the threshold.
	EvictionPressureTransitionPeriod time.Duration
	ContainerLogMaxSize              int64 // bytes at which a container log rotates
	ContainerLogMaxFiles             int
	ClusterDNS                       []string // nameservers of ClusterFirst pods
	ClusterDomain                    string
	ResolvConf                       string // the host's resolv.conf, the base of Default pods
}

// certDir is where the node keeps its client and serving certificates.
func (c *Config) certDir() string {
	if c.CertDir != "" {
		return c.CertDir
	}
	return filepath.Join(c.RootDir, "pki")
}

// bridge is the agent's own pod network on cidrs. It is named after its
// bridge, which is unique on the host: the plugins' iptables rules carry the
// name, so the rules of two agents' networks on one host tell apart.
func (c *Config) bridge(cidrs []*net.IPNet) cni.Bridge {
	return cni.Bridge{Name: c.NetworkBridge, Device: c.NetworkBridge, CIDRs: cidrs,
		IPAMDir: filepath.Join(c.bridgeDir(), "ipam"), Masquerade: c.NetworkMasquerade}
}

// bridgeDir holds the agent's own pod network: its configuration list and
// host-local's store.
func (c *Config) bridgeDir() string { return filepath.Join(c.RootDir, "network") }

// criNamespace is where containerd's CRI keeps a kubelet's containers; two
// agents in one namespace would take each other's containers for orphans.
const criNamespace = "k8s.io"

// Validate checks the fields that need no outside system.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("--node-name is empty"))
	} else if strings.ToLower(c.NodeName) != c.NodeName {
		errs = append(errs, fmt.Errorf("--node-name %q must be lower case", c.NodeName))
	}
	if c.EvictionPressureTransitionPeriod < 0 {
		errs = append(errs, fmt.Errorf("--eviction-pressure-transition-period must not be negative, got %s", c.EvictionPressureTransitionPeriod))
	}
	if len(c.PodCIDRs) > 0 && c.NetworkBridge == "" {
		errs = append(errs, errors.New("--pod-cidr is for the agent's own bridge network: set --network-bridge too"))
	}
	if c.NetworkBridge != "" {
		err := cni.ValidBridgeName(c.NetworkBridge)
		if err == nil && len(c.PodCIDRs) > 0 {
			var cidrs []*net.IPNet
			if cidrs, err = nodecidr.Parse(c.PodCIDRs); err == nil {
				err = c.bridge(cidrs).Validate()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--network-bridge, --pod-cidr: %w", err))
		}
	}
	if c.HostNetworkNamespace != "" {
		if err := cni.CheckOwnNetwork(c.HostNetworkNamespace); err != nil {
			errs = append(errs, fmt.Errorf("--host-network-namespace: %w", err))
		}
	}
	if c.MaxPods <= 0 {
		errs = append(errs, fmt.Errorf("--max-pods must be positive, got %d", c.MaxPods))
	}
	if c.Port <= 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is not a TCP port", c.Port))
	}
	if c.RootDir == "" {
		errs = append(errs, errors.New("--root-dir is empty"))
	}
	if c.Address != "" && net.ParseIP(c.Address) == nil {
		errs = append(errs, fmt.Errorf("--address %q is not an IP address", c.Address))
	}
	if c.ContainerdNamespace == criNamespace {
		errs = append(errs, fmt.Errorf("--containerd-namespace %s is the namespace of containerd's CRI (a kubelet's pods): give the node a namespace of its own", criNamespace))
	}
	if c.BootstrapKubeconfig != "" && c.Kubeconfig == "" {
		errs = append(errs, errors.New("--bootstrap-kubeconfig needs --kubeconfig: the path the node's own kubeconfig is written to"))
	}
	if c.RotateServerCertificates && (c.TLSCertFile != "" || c.TLSPrivateKeyFile != "") {
		errs = append(errs, errors.New("--rotate-server-certificates requests the serving certificate from the cluster: drop --tls-cert-file and --tls-private-key-file"))
	}
	return errors.Join(errs...)
}
