package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/vishvananda/netlink"
)

// Bridge is a pod network of the node's own, as the kubelet's kubenet made
// one: a Linux bridge that is the pods' gateway, addresses from the node's
// pod CIDRs (spec.podCIDRs) handed out by host-local, traffic to the rest of
// the world masqueraded if asked, and hostPorts through portmap.
type Bridge struct {
	Name    string       // the CNI network's name
	Device  string       // the Linux bridge, created by the bridge plugin
	CIDRs   []*net.IPNet // one per IP family
	IPAMDir string       // host-local's store of allocated addresses
	// Masquerade gives traffic that leaves the pods' subnets the host's
	// address. It costs iptables rules per pod, at every ADD and DEL.
	Masquerade bool
}

// ValidBridgeName says what is wrong with name as a Linux bridge's.
func ValidBridgeName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") || name == "." || name == ".." {
		return fmt.Errorf("bridge name %q: want a Linux interface name (1 to 15 characters, no '/', ':' or spaces)", name)
	}
	return nil
}

// Validate says what is wrong with b.
func (b Bridge) Validate() error {
	if err := ValidBridgeName(b.Device); err != nil {
		return err
	}
	switch {
	case len(b.CIDRs) == 0:
		return errors.New("no pod CIDR for the bridge network")
	case len(b.CIDRs) > 2:
		return fmt.Errorf("%d pod CIDRs: want one, or one of each IP family", len(b.CIDRs))
	case len(b.CIDRs) == 2 && (b.CIDRs[0].IP.To4() != nil) == (b.CIDRs[1].IP.To4() != nil):
		return fmt.Errorf("pod CIDRs %s and %s are of one IP family: want one of each", b.CIDRs[0], b.CIDRs[1])
	}
	return nil
}

// Conflist is b as a CNI configuration list.
func (b Bridge) Conflist() ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	type subnet struct {
		Subnet string `json:"subnet"`
	}
	ranges := make([][]subnet, 0, len(b.CIDRs))
	for _, c := range b.CIDRs {
		ranges = append(ranges, []subnet{{c.String()}})
	}
	list := map[string]any{
		"cniVersion": "1.0.0",
		"name":       b.Name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": b.Device,
				"isGateway": true, "isDefaultGateway": true, "ipMasq": b.Masquerade, "hairpinMode": true,
				"ipam": map[string]any{"type": "host-local", "ranges": ranges, "dataDir": b.IPAMDir},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// WriteBridge writes b's configuration list to file, replacing what was
// there in one step (a reader never sees half a file), and loads it back
// with its plugins checked in binDirs.
func WriteBridge(file string, b Bridge, binDirs []string) (*libcni.NetworkConfigList, error) {
	data, err := b.Conflist()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, err
	}
	return LoadFile(file, binDirs)
}

// RemoveBridge deletes the bridge device that the bridge plugin made for
// the network, once no pod's interface is attached to it. A device that is
// gone is not an error; one that is not a bridge, or still has ports, is
// left alone.
func RemoveBridge(device string) error {
	link, err := netlink.LinkByName(device)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", device, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s is a %s, not a bridge: left alone", device, link.Type())
	}
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == link.Attrs().Index {
			return fmt.Errorf("bridge %s still has port %s: left alone", device, l.Attrs().Name)
		}
	}
	return netlink.LinkDel(link)
}
