package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	logruslogger "github.com/virtual-kubelet/virtual-kubelet/log/logrus"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// options are the parsed command line.
type options struct {
	config      Config
	verbosity   int
	showVersion bool
}

// parseFlags parses the command line with the kubelet's flag names where the
// kubelet has one.
func parseFlags(args []string) (*options, error) {
	hostname, _ := os.Hostname()
	o := &options{}
	c := &o.config
	var nodeIP string
	var labels map[string]string
	fs := pflag.NewFlagSet("vk-containerd", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "Path to the kubeconfig of the node's identity. Empty: the in-cluster configuration.")
	fs.StringVar(&c.BootstrapKubeconfig, "bootstrap-kubeconfig", "", "Path to a kubeconfig with a bootstrap token. When --kubeconfig has no valid client certificate, the node requests one (a CertificateSigningRequest for system:node:<node-name>), keeps it in --cert-dir, renews it before it expires, and writes --kubeconfig. A cluster without a server: the cluster the agent runs in.")
	fs.StringVar(&c.CertDir, "cert-dir", "", "Directory of the node's client and serving certificates. Empty: --root-dir/pki.")
	fs.StringVar(&c.NodeName, "node-name", strings.ToLower(hostname), "Name of the node object.")
	fs.StringVar(&nodeIP, "node-ip", "", "IP address reported as the node's InternalIP. Empty: detected.")
	fs.StringToStringVar(&labels, "node-labels", nil, "Labels added to the node at registration, key=value,...")
	fs.StringSliceVar(&c.RegisterWithTaints, "register-with-taints", nil, "Taints added to the node at registration, key=value:Effect,...")
	fs.IntVar(&c.MaxPods, "max-pods", 110, "Number of pods the node can run (its pods capacity).")
	fs.StringVar(&c.ContainerdAddress, "containerd-address", ctrd.DefaultAddress, "Path of containerd's socket.")
	fs.StringVar(&c.ContainerdNamespace, "containerd-namespace", "vk-containerd", "containerd namespace that holds the node's images and containers (never k8s.io, the CRI's).")
	fs.StringVar(&c.CNIConfDir, "cni-conf-dir", "/etc/cni/net.d", "Directory of the CNI network configuration; the first file by name is used.")
	fs.StringSliceVar(&c.CNIBinDirs, "cni-bin-dir", []string{"/opt/cni/bin"}, "Directories searched for CNI plugins, comma separated.")
	fs.StringVar(&c.NetworkBridge, "network-bridge", "", "Give pods a network of the agent's own instead of --cni-conf-dir's: this Linux bridge as their gateway, addresses from --pod-cidr or else from the node's spec.podCIDRs (the controller-manager's --allocate-node-cidrs), outbound traffic masqueraded (--network-masquerade), hostPorts. Needs the bridge, host-local and portmap plugins; the configuration is written to --root-dir/network.")
	fs.BoolVar(&c.NetworkMasquerade, "network-masquerade", true, "Masquerade the --network-bridge pods' traffic that leaves their subnets behind the host's address (iptables rules per pod). Off where the network beyond routes the pod CIDRs.")
	fs.StringSliceVar(&c.PodCIDRs, "pod-cidr", nil, "Pod CIDRs of the --network-bridge network (one, or one per IP family), for clusters that allocate none. Empty: the node's spec.podCIDRs.")
	fs.StringVar(&c.HostNetworkNamespace, "host-network-namespace", "", "Network namespace of hostNetwork pods (a path such as /run/netns/NAME), for an agent that runs in a namespace of its own, not containerd's: several nodes on one machine, each in its own. It must be the agent's own. Empty: containerd's.")
	fs.StringVar(&c.RootDir, "root-dir", "/var/lib/vk-containerd", "Directory for the node's files (pod volumes, logs).")
	fs.StringVar(&c.HostRootDir, "host-root-dir", "/", "Where the host's / is mounted when the agent runs in a container (the chart mounts it at /host): hostPath volumes are checked, created and opened for subPath there.")
	fs.StringVar(&c.RegistryConfigDir, "registry-config-dir", "", "Hosts directory for registries (containerd's certs.d layout: <host>/hosts.toml).")
	fs.StringVar(&c.Address, "address", "", "IP address the kubelet API listens on. Empty: all addresses.")
	fs.IntVar(&c.Port, "port", 10250, "Port of the kubelet API.")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "Serving certificate of the kubelet API. Empty: a self-signed one.")
	fs.StringVar(&c.TLSPrivateKeyFile, "tls-private-key-file", "", "Key of --tls-cert-file.")
	fs.BoolVar(&c.RotateServerCertificates, "rotate-server-certificates", false, "Request the serving certificate from the cluster with a CertificateSigningRequest (signer kubernetes.io/kubelet-serving; someone must approve it), kept under --root-dir/pki and renewed before it expires.")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", "", "CA bundle that signs client certificates accepted by the kubelet API.")
	fs.StringSliceVar(&c.ClusterDNS, "cluster-dns", nil, "DNS server IPs for pods with dnsPolicy ClusterFirst, comma separated.")
	fs.StringVar(&c.ClusterDomain, "cluster-domain", "cluster.local", "The cluster's DNS domain.")
	fs.StringVar(&c.ResolvConf, "resolv-conf", "/etc/resolv.conf", "The host's resolv.conf, used by pods with dnsPolicy Default.")
	logMaxSize := fs.String("container-log-max-size", "10Mi", "Size at which a container's log file is rotated.")
	fs.IntVar(&c.ContainerLogMaxFiles, "container-log-max-files", 5, "Log files kept per container, the current one included.")
	fs.IntVar(&c.PodWorkers, "pod-sync-workers", 10, "Pods the pod controller handles at once.")
	fs.DurationVar(&c.EvictionPressureTransitionPeriod, "eviction-pressure-transition-period", 5*time.Minute, "How long the node stays under disk pressure after free space (10% of --root-dir's filesystem) or inodes (5%) came back.")
	fs.IntVarP(&o.verbosity, "v", "v", 0, "Log verbosity: 0 info, 4 and more debug.")
	fs.BoolVar(&o.showVersion, "version", false, "Print the version and exit.")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if nodeIP != "" {
		if c.NodeIP = net.ParseIP(nodeIP); c.NodeIP == nil {
			return nil, fmt.Errorf("--node-ip %q is not an IP address", nodeIP)
		}
	}
	c.NodeLabels = labels
	q, err := resource.ParseQuantity(*logMaxSize)
	if err != nil || q.Value() <= 0 {
		return nil, fmt.Errorf("--container-log-max-size %q is not a positive size (like 10Mi)", *logMaxSize)
	}
	c.ContainerLogMaxSize = q.Value()
	return o, nil
}

// setupLogging sends the library's logs and ours to stderr through logrus.
func setupLogging(verbosity int) {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	if verbosity >= 4 {
		l.SetLevel(logrus.DebugLevel)
	}
	log.L = logruslogger.FromLogrus(logrus.NewEntry(l))
}
