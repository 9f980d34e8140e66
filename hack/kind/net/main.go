// Command net is the pod network of this repository's kind node image, a
// DaemonSet on every kind node (hack/kind/manifests/default-cni.yaml): it
// writes the node's CNI configuration, a bridge on the node's podCIDRs, and
// routes every other node's podCIDRs to that node's InternalIP, as kindnet
// does. A vk-containerd node sharing a kind node's host (the chart) is routed
// like any node: its InternalIP is its host's.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/nodecidr"
)

func main() {
	confFile := flag.String("conf", "/etc/cni/net.d/10-kind-net.conflist", "the CNI configuration to write")
	binDir := flag.String("cni-bin-dir", "/opt/cni/bin", "where the node's CNI plugins are (checked, not run)")
	bridge := flag.String("bridge", "kindbr0", "the pods' bridge")
	interval := flag.Duration("interval", 5*time.Second, "how often the nodes are read again")
	flag.Parse()
	log.SetPrefix("kind-net ")
	self := os.Getenv("NODE_NAME")
	if self == "" {
		log.Fatal("set NODE_NAME (the downward API's spec.nodeName)")
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		log.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	wrote := false
	for ; ; time.Sleep(*interval) {
		nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			log.Printf("list nodes: %v", err)
			continue
		}
		for _, n := range nodes.Items {
			if n.Name == self {
				if !wrote {
					wrote = writeConf(n, *confFile, *bridge, *binDir)
				}
				continue
			}
			route(n)
		}
	}
}

// writeConf writes the bridge network on n's podCIDRs once they are there.
func writeConf(n corev1.Node, file, bridge, binDir string) bool {
	cidrs, err := nodecidr.Parse(nodecidr.Of(&n))
	if err != nil || len(cidrs) == 0 {
		log.Printf("node %s: no podCIDRs yet (%v)", n.Name, err)
		return false
	}
	b := cni.Bridge{Name: "kind-net", Device: bridge, CIDRs: cidrs, IPAMDir: filepath.Join("/var/lib/cni/networks", "kind-net")}
	if _, err := cni.WriteBridge(file, b, []string{binDir}); err != nil {
		log.Printf("write %s: %v", file, err)
		return false
	}
	log.Printf("wrote %s: bridge %s on %v", file, bridge, cidrs)
	return true
}

// route sends n's podCIDRs to n's InternalIP, unless that address is this
// host's own (a vk-containerd node on this host: its bridge is local).
func route(n corev1.Node) {
	gw := internalIP(n)
	if gw == nil || isLocal(gw) {
		return
	}
	cidrs, err := nodecidr.Parse(nodecidr.Of(&n))
	if err != nil {
		log.Printf("node %s: %v", n.Name, err)
		return
	}
	for _, c := range cidrs {
		if (c.IP.To4() != nil) != (gw.To4() != nil) {
			continue
		}
		r := &netlink.Route{Dst: c, Gw: gw}
		if err := netlink.RouteReplace(r); err != nil {
			log.Printf("route %s via %s (node %s): %v", c, gw, n.Name, err)
		}
	}
}

func internalIP(n corev1.Node) net.IP {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return net.ParseIP(a.Address)
		}
	}
	return nil
}

func isLocal(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
