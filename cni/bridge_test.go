package cni

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func cidrs(t *testing.T, ss ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// The bridge network is the bridge plugin on the node's CIDRs (one range
// set per family) and portmap, and loads back with its plugins found.
func TestWriteBridge(t *testing.T) {
	b := Bridge{Name: "vk-containerd", Device: "vkc0", CIDRs: cidrs(t, "10.244.3.0/24", "fd00:10:244:3::/64"), IPAMDir: "/r/network/ipam", Masquerade: true}
	file := filepath.Join(t.TempDir(), "network", "vk-containerd.conflist")
	list, err := WriteBridge(file, b, []string{fakePlugins(t, "bridge", "host-local", "portmap")})
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != "vk-containerd" || len(list.Plugins) != 2 || list.Plugins[0].Network.Type != "bridge" || list.Plugins[1].Network.Type != "portmap" {
		t.Fatalf("loaded %s with %d plugins", list.Name, len(list.Plugins))
	}
	var bridge struct {
		Bridge           string `json:"bridge"`
		IsDefaultGateway bool   `json:"isDefaultGateway"`
		IPMasq           bool   `json:"ipMasq"`
		IPAM             struct {
			Type    string                `json:"type"`
			DataDir string                `json:"dataDir"`
			Ranges  [][]map[string]string `json:"ranges"`
		} `json:"ipam"`
	}
	if err := json.Unmarshal(list.Plugins[0].Bytes, &bridge); err != nil {
		t.Fatal(err)
	}
	if bridge.Bridge != "vkc0" || !bridge.IsDefaultGateway || !bridge.IPMasq || bridge.IPAM.Type != "host-local" || bridge.IPAM.DataDir != "/r/network/ipam" {
		t.Errorf("bridge plugin %+v", bridge)
	}
	if len(bridge.IPAM.Ranges) != 2 || bridge.IPAM.Ranges[0][0]["subnet"] != "10.244.3.0/24" || bridge.IPAM.Ranges[1][0]["subnet"] != "fd00:10:244:3::/64" {
		t.Errorf("ranges %v, want one per CIDR", bridge.IPAM.Ranges)
	}
	if !strings.Contains(string(list.Plugins[1].Bytes), `"portMappings":true`) {
		t.Errorf("portmap %s has no portMappings capability", list.Plugins[1].Bytes)
	}
	b.Masquerade = false
	if data, _ := b.Conflist(); !strings.Contains(string(data), `"ipMasq": false`) {
		t.Errorf("without masquerading: %s", data)
	}
	if _, err := WriteBridge(file, b, []string{fakePlugins(t, "bridge", "host-local")}); err == nil || !strings.Contains(err.Error(), `"portmap" not found`) {
		t.Errorf("without portmap: %v, want it named", err)
	}
}

func TestBridgeValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		device string
		cidrs  []string
		want   string
	}{
		{"no name", "", []string{"10.0.0.0/24"}, "want a Linux interface name"},
		{"slash", "a/b", []string{"10.0.0.0/24"}, "want a Linux interface name"},
		{"no CIDR", "vkc0", nil, "no pod CIDR"},
		{"two v6", "vkc0", []string{"fd00::/64", "fd01::/64"}, "of one IP family"},
		{"three", "vkc0", []string{"10.0.0.0/24", "fd00::/64", "10.1.0.0/24"}, "want one, or one of each"},
	} {
		b := Bridge{Name: "n", Device: tc.device, CIDRs: cidrs(t, tc.cidrs...)}
		if _, err := b.Conflist(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
