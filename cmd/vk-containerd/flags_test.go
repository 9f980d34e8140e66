package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseFlagsKubeletNames(t *testing.T) {
	o, err := parseFlags([]string{
		"--kubeconfig=/etc/node.kubeconfig", "--node-name=vk-1", "--node-ip=10.0.0.7",
		"--node-labels=zone=a,tier=edge", "--register-with-taints=dedicated=vk:NoSchedule",
		"--max-pods=42", "--port=10260", "--cluster-dns=10.96.0.10", "--container-log-max-size=1Mi",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := o.config
	if c.Kubeconfig != "/etc/node.kubeconfig" || c.NodeName != "vk-1" || c.NodeIP.String() != "10.0.0.7" ||
		c.NodeLabels["zone"] != "a" || c.NodeLabels["tier"] != "edge" || c.RegisterWithTaints[0] != "dedicated=vk:NoSchedule" ||
		c.MaxPods != 42 || c.Port != 10260 || c.ClusterDNS[0] != "10.96.0.10" || c.ContainerLogMaxSize != 1<<20 {
		t.Errorf("config = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("parsed flags do not validate: %v", err)
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.config
	if c.Port != 10250 || c.MaxPods != 110 || c.ContainerdNamespace != "vk-containerd" || c.ClusterDomain != "cluster.local" || c.ContainerLogMaxFiles != 5 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestParseFlagsRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--node-ip=ten"}, `--node-ip "ten" is not an IP address`},
		{[]string{"--container-log-max-size=0"}, "is not a positive size"},
		{[]string{"--container-log-max-size=lots"}, "is not a positive size"},
		{[]string{"stray"}, `unexpected argument "stray"`},
		{[]string{"--no-such-flag"}, "unknown flag"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseFlags([]string{"--help"}); !errors.Is(err, pflag.ErrHelp) {
		t.Errorf("--help: %v, want pflag.ErrHelp", err)
	}
}

func TestRunExitCodes(t *testing.T) {
	if code := run([]string{"--version"}); code != 0 {
		t.Errorf("--version exits %d", code)
	}
	if code := run([]string{"--node-ip=x"}); code != 2 {
		t.Errorf("a bad flag exits %d, want 2", code)
	}
	// A configuration the agent refuses before it touches anything.
	if code := run([]string{"--max-pods=0", "--kubeconfig=/nonexistent"}); code != 1 {
		t.Errorf("an invalid configuration exits %d, want 1", code)
	}
}
