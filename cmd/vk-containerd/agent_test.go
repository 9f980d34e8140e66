package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{NodeName: "vk-node", MaxPods: 110, Port: 10250, RootDir: "/var/lib/vk-containerd"}
}

func TestValidate(t *testing.T) {
	if err := (&Config{NodeName: "vk-node", MaxPods: 1, Port: 1, RootDir: "/r", Address: "127.0.0.1"}).Validate(); err != nil {
		t.Errorf("a valid config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no node name", func(c *Config) { c.NodeName = "" }, "--node-name is empty"},
		{"upper case", func(c *Config) { c.NodeName = "VK" }, "must be lower case"},
		{"no pods", func(c *Config) { c.MaxPods = 0 }, "--max-pods must be positive"},
		{"bad port", func(c *Config) { c.Port = 70000 }, "is not a TCP port"},
		{"no root", func(c *Config) { c.RootDir = "" }, "--root-dir is empty"},
		{"bad address", func(c *Config) { c.Address = "localhost" }, "is not an IP address"},
		{"the CRI's namespace", func(c *Config) { c.ContainerdNamespace = "k8s.io" }, "--containerd-namespace k8s.io is the namespace of containerd's CRI"},
		{"bootstrap without kubeconfig", func(c *Config) { c.BootstrapKubeconfig = "/b" }, "--bootstrap-kubeconfig needs --kubeconfig"},
		{"rotation and files", func(c *Config) { c.RotateServerCertificates, c.TLSCertFile = true, "/c.pem" }, "drop --tls-cert-file"},
		{"pod CIDR without bridge", func(c *Config) { c.PodCIDRs = []string{"10.1.0.0/24"} }, "set --network-bridge too"},
		{"long bridge name", func(c *Config) { c.NetworkBridge = "a-bridge-name-too-long" }, "want a Linux interface name"},
		{"bad pod CIDR", func(c *Config) { c.NetworkBridge, c.PodCIDRs = "vkc0", []string{"10.1.0.0"} }, `pod CIDR "10.1.0.0"`},
		{"host network not a namespace", func(c *Config) { c.HostNetworkNamespace = "/proc/self/status" }, "--host-network-namespace: /proc/self/status is no pinned namespace"},
		{"two v4 CIDRs", func(c *Config) { c.NetworkBridge, c.PodCIDRs = "vkc0", []string{"10.1.0.0/24", "10.2.0.0/24"} }, "of one IP family"},
	} {
		c := validConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Every problem is reported at once.
	c := Config{}
	if err := c.Validate(); err == nil || strings.Count(err.Error(), "\n") < 3 {
		t.Errorf("empty config: %v, want one line per problem", err)
	}
}

func TestRunRefusesBeforeTouchingAnything(t *testing.T) {
	c := validConfig()
	c.RootDir = filepath.Join(t.TempDir(), "root")
	c.Kubeconfig = filepath.Join(t.TempDir(), "missing.kubeconfig")
	err := Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "does not exist: set --kubeconfig") {
		t.Errorf("Run with a missing kubeconfig: %v", err)
	}
}

func TestNodeObjectRefusesBadTaints(t *testing.T) {
	c := validConfig()
	c.RootDir = t.TempDir()
	c.RegisterWithTaints = []string{"no-effect"}
	if _, _, err := nodeObject(c, net.ParseIP("10.0.0.1")); err == nil || !strings.Contains(err.Error(), "--register-with-taints") {
		t.Errorf("err = %v", err)
	}
	c.RegisterWithTaints = []string{"dedicated=vk:NoSchedule"}
	n, _, err := nodeObject(c, net.ParseIP("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "vk-node" || len(n.Spec.Taints) != 1 || n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || n.Status.Addresses[0].Address != "10.0.0.1" {
		t.Errorf("node = %+v", n)
	}
}

func TestHostnameOr(t *testing.T) {
	if hostnameOr("", "vk") != "vk" || hostnameOr("host", "vk") != "host" {
		t.Error("hostnameOr")
	}
}
