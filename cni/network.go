package cni

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// Network attaches pods to the node's CNI network.
type Network struct {
	cni  libcni.CNI
	list *libcni.NetworkConfigList
}

// PortMapping is a hostPort of a pod, the portmap plugin's portMappings capability.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment identifies one pod's attachment to the network.
type Attachment struct {
	ID        string // unique per pod sandbox: the pod UID
	Namespace string
	Name      string
	UID       string
	NetNS     string // path of the pinned network namespace; may be gone at teardown
	Ports     []PortMapping
}

// NewNetwork attaches pods to the network list (see LoadNetwork and
// WriteBridge), with plugins from binDirs, and keeps the plugins' cached
// results in cacheDir, so DEL works after a restart. The pod's "lo" is
// brought up when its namespace is created (PinNamespaces), so no loopback
// plugin runs.
func NewNetwork(list *libcni.NetworkConfigList, binDirs []string, cacheDir string) *Network {
	return &Network{cni: libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, nil), list: list}
}

// Name is the network's name from its configuration.
func (n *Network) Name() string { return n.list.Name }

func (a Attachment) runtimeConf() *libcni.RuntimeConf {
	rc := &libcni.RuntimeConf{
		ContainerID: a.ID,
		NetNS:       a.NetNS,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", a.Namespace},
			{"K8S_POD_NAME", a.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", a.ID},
			{"K8S_POD_UID", a.UID},
		},
	}
	if len(a.Ports) > 0 {
		rc.CapabilityArgs = map[string]interface{}{"portMappings": a.Ports}
	}
	return rc
}

// Setup runs CNI ADD for the pod and returns its IP addresses, IPv4 first.
// A failed ADD is undone with DEL, so nothing stays allocated.
func (n *Network) Setup(ctx context.Context, a Attachment) (ips []net.IP, err error) {
	res, err := n.cni.AddNetworkList(ctx, n.list, a.runtimeConf())
	if err != nil {
		delErr := n.cni.DelNetworkList(ctx, n.list, a.runtimeConf())
		return nil, errors.Join(fmt.Errorf("CNI ADD to network %s: %w", n.list.Name, err), delErr)
	}
	ips, err = resultIPs(res)
	if err != nil {
		delErr := n.cni.DelNetworkList(ctx, n.list, a.runtimeConf())
		return nil, errors.Join(err, delErr)
	}
	return ips, nil
}

// Teardown runs CNI DEL for the pod. It is safe to call more than once and
// after the namespace is gone.
func (n *Network) Teardown(ctx context.Context, a Attachment) error {
	if err := n.cni.DelNetworkList(ctx, n.list, a.runtimeConf()); err != nil {
		return fmt.Errorf("CNI DEL from network %s: %w", n.list.Name, err)
	}
	return nil
}

// Check runs CNI CHECK for an attached pod.
func (n *Network) Check(ctx context.Context, a Attachment) error {
	return n.cni.CheckNetworkList(ctx, n.list, a.runtimeConf())
}

// CachedIPs returns the IPs the last ADD gave the pod, from libcni's cache,
// for a pod attached before the agent restarted.
func (n *Network) CachedIPs(a Attachment) ([]net.IP, error) {
	res, err := n.cni.GetNetworkListCachedResult(n.list, a.runtimeConf())
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("no cached CNI result")
	}
	return resultIPs(res)
}

func resultIPs(res types.Result) ([]net.IP, error) {
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("CNI result: %w", err)
	}
	var v4, v6 []net.IP
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP)
		} else {
			v6 = append(v6, ip.Address.IP)
		}
	}
	if len(v4)+len(v6) == 0 {
		return nil, errors.New("CNI result has no IP address")
	}
	return append(v4, v6...), nil
}
