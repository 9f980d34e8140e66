package poddns

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzHosts checks that the hosts file has exactly the lines its inputs
// make, so that no name or IP can add a line or a name of its own, and that
// the hostname keeps the kernel's limit.
func FuzzHosts(f *testing.F) {
	f.Add("web-0", "ns1", "", "", "", "cluster.local", "10.0.0.5", "fd00::5", "10.1.2.3", "foo.local", false)
	f.Add("web-0", "ns1", "db", "dbs", "", "cluster.local", "10.0.0.5", "", "", "", false)
	f.Add("web-0", "ns1", "db", "dbs", "custom.name", "", "10.0.0.5", "", "fd00::9", "v6.local", true)
	f.Add(strings.Repeat("c", 61)+"--x", "ns", "", "", "", "", "10.0.0.5", "", "", "", false)
	f.Add("web-0", "ns1", "db\n6.6.6.6 evil", "", "", "", "10.0.0.5", "", "", "", false)
	f.Add("web-0", "ns1", "", "", "", "", "10.0.0.5", "", "10.1.2.3", "a.local\n6.6.6.6\tevil", false)
	const nodeHosts = "127.0.0.1\tlocalhost\n192.168.0.7\tnode-a\n"
	hostFile := filepath.Join(f.TempDir(), "hosts")
	if err := os.WriteFile(hostFile, []byte(nodeHosts), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, namespace, hostname, subdomain, override, clusterDomain, ip1, ip2, aliasIP, aliasName string, hostNetwork bool) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec: corev1.PodSpec{Hostname: hostname, Subdomain: subdomain, HostNetwork: hostNetwork}}
		if override != "" {
			pod.Spec.HostnameOverride = &override
		}
		if aliasIP != "" {
			pod.Spec.HostAliases = []corev1.HostAlias{{IP: aliasIP, Hostnames: []string{aliasName, "fixed.alias"}}}
		}
		ips := []string{ip1}
		if ip2 != "" {
			ips = append(ips, ip2)
		}

		h := Hostname(pod)
		if len(h) > maxHostnameLen {
			t.Fatalf("hostname %q is longer than %d", h, maxHostnameLen)
		}
		if !strings.HasPrefix(name, h) && !strings.HasPrefix(hostname, h) && !strings.HasPrefix(override, h) {
			t.Fatalf("hostname %q is none of the pod's names", h)
		}

		got, err := Hosts(pod, ips, clusterDomain, hostFile)
		if err != nil {
			return
		}

		// entries are the lines made of the pod's names and addresses.
		var want, entries []string
		if hostNetwork {
			want = append(want, strings.TrimSuffix(hostsHeaderHostNetwork+nodeHosts, "\n"))
		} else {
			want = append(want, strings.TrimSuffix(localhostLines, "\n"))
			names := h
			if d := hostDomain(pod, clusterDomain); d != "" {
				names = h + "." + d + "\t" + h
			}
			for _, ip := range ips {
				entries = append(entries, ip+"\t"+names)
			}
			want = append(want, entries...)
		}
		if aliasIP != "" {
			alias := aliasIP + "\t" + aliasName + "\tfixed.alias"
			want = append(want, "", "# Entries added by HostAliases.", alias)
			entries = append(entries, alias)
		}
		wantText := strings.Join(want, "\n") + "\n"
		if string(got) != wantText {
			t.Fatalf("hosts file:\n%q\nwant:\n%q", got, wantText)
		}
		// Each entry is an address and names without blanks, so a resolver
		// reads exactly the names the pod has, and no line more.
		for _, l := range entries {
			for _, field := range strings.Split(l, "\t") {
				if field == "" || strings.ContainsFunc(field, isSpace) || strings.Contains(field, "#") {
					t.Fatalf("hosts line %q has the field %q", l, field)
				}
			}
		}
	})
}

var policies = []corev1.DNSPolicy{"", corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone, "Bogus"}

// FuzzResolvConf checks that every nameserver, search domain and option in
// the pod's resolv.conf comes whole from one of its sources (the node's
// config and resolv.conf, the pod's namespace and dnsConfig), that the
// kubelet's limits hold, and that the file parses back to itself.
func FuzzResolvConf(f *testing.F) {
	const host = "nameserver 192.168.0.1\nsearch corp.example.\noptions ndots:2 rotate\n"
	f.Add(uint8(0), false, "ns1", host, "1.1.1.1", "a.example", "ndots", "3")
	f.Add(uint8(3), true, "ns1", host, "", "", "", "")
	f.Add(uint8(4), false, "ns1", "", "1.1.1.1", "a.example.", "edns0", "")
	f.Add(uint8(4), false, "ns1", "", "1.1.1.1", "a.example\nnameserver 6.6.6.6", "edns0", "")
	f.Add(uint8(4), false, "ns1", "", "1.1.1.1 6.6.6.6", "a.example", "timeout", "1\nnameserver 6.6.6.6")
	f.Add(uint8(5), false, "n s", "search ..\n", "8.8.8.8", strings.Repeat("a", 254), "", "x")
	f.Fuzz(func(t *testing.T, policy uint8, hostNetwork bool, namespace, hostResolv, nameserver, search, optName, optValue string) {
		cfg := Config{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local"}
		if hostResolv != "" {
			cfg.HostResolvConf = filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(cfg.HostResolvConf, []byte(hostResolv), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: namespace},
			Spec: corev1.PodSpec{DNSPolicy: policies[int(policy)%len(policies)], HostNetwork: hostNetwork,
				DNSConfig: &corev1.PodDNSConfig{}}}
		dc := pod.Spec.DNSConfig
		if nameserver != "" {
			dc.Nameservers = []string{nameserver}
		}
		if search != "" {
			dc.Searches = []string{search}
		}
		opt := optName
		if optName != "" {
			dc.Options = []corev1.PodDNSConfigOption{{Name: optName, Value: &optValue}}
			if optValue != "" {
				opt += ":" + optValue
			}
		}
		got, _, err := ResolvConf(pod, cfg)
		if err != nil {
			return
		}

		hostConf := parseResolvConf(hostResolv)
		servers := append([]string{"127.0.0.1", nameserver}, cfg.ClusterDNS...)
		servers = append(servers, hostConf.servers...)
		searches := append([]string{".", search, namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local"}, hostConf.searches...)
		options := append([]string{"ndots:5", opt}, hostConf.options...)

		var seen []string
		for _, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
			if line == "" {
				continue
			}
			keyword, rest, _ := strings.Cut(line, " ")
			if slices.Contains(seen, keyword) && keyword != "nameserver" {
				t.Fatalf("second %s line in\n%s", keyword, got)
			}
			seen = append(seen, keyword)
			var from []string
			switch keyword {
			case "nameserver":
				from = servers
			case "search":
				from = searches
				if len(rest) > maxSearchLineLen || len(strings.Split(rest, " ")) > maxSearchPaths {
					t.Fatalf("search line beyond the limits: %q", line)
				}
			case "options":
				from = options
			default:
				t.Fatalf("unexpected line %q in\n%s", line, got)
			}
			for _, v := range strings.Split(rest, " ") {
				if !slices.Contains(from, v) || (keyword == "search" && len(v) > maxSearchPathLen) {
					t.Fatalf("%s %q comes from none of the sources: line %q", keyword, v, line)
				}
			}
		}
		if n := strings.Count(string(got), "nameserver "); n > maxNameservers {
			t.Fatalf("%d nameservers", n)
		}
		if again := parseResolvConf(string(got)); !reflect.DeepEqual(again, parseResolvConf(string(again.format()))) {
			t.Fatalf("resolv.conf %q does not parse back to itself", got)
		}
	})
}

// FuzzParseResolvConf checks that what parseResolvConf reads from any file
// is stable: written out and read again it is the same config.
func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 192.168.0.1\nsearch a.example. b.example\noptions ndots:2 rotate ndots:3\n")
	f.Add("# comment\n; other\nsearch .\nsearch x\nnameserver\n")
	f.Add("search ..\n")
	f.Add("options a:b:c a\r\nnameserver 1.1.1.1 2.2.2.2\n\x00")
	f.Fuzz(func(t *testing.T, data string) {
		dc := parseResolvConf(data)
		again := parseResolvConf(string(dc.format()))
		if !reflect.DeepEqual(normal(dc), normal(again)) {
			t.Fatalf("%q parses as %+v, which writes as %q and parses as %+v", data, dc, dc.format(), again)
		}
		for _, list := range [][]string{dc.servers, dc.searches, dc.options} {
			for _, v := range list {
				if v == "" || strings.ContainsFunc(v, isSpace) {
					t.Fatalf("%q parses to the value %q", data, v)
				}
			}
		}
	})
}

// normal makes empty and nil lists compare equal.
func normal(dc dnsConfig) dnsConfig {
	for _, l := range []*[]string{&dc.servers, &dc.searches, &dc.options} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return dc
}

func isSpace(r rune) bool { return strings.TrimSpace(string(r)) == "" }
