package poddns

import (
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const localhostLines = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func TestHosts(t *testing.T) {
	const nodeHosts = "127.0.0.1 localhost\n192.168.0.7 node-a\n"
	hostFile := writeFile(t, "hosts", nodeHosts)
	aliases := []corev1.HostAlias{
		{IP: "10.1.2.3", Hostnames: []string{"foo.local", "bar.local"}},
		{IP: "fd00::9", Hostnames: []string{"v6.local"}},
	}
	const aliasSection = "\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\nfd00::9\tv6.local\n"

	for _, tc := range []struct {
		name          string
		spec          corev1.PodSpec
		podIPs        []string
		clusterDomain string
		want          string
	}{
		{name: "pod name as hostname", podIPs: []string{"10.0.0.5"}, clusterDomain: "cluster.local",
			want: localhostLines + "10.0.0.5\tweb-0\n"},
		{name: "spec hostname, dual stack", spec: corev1.PodSpec{Hostname: "db"}, podIPs: []string{"10.0.0.5", "fd00::5"},
			want: localhostLines + "10.0.0.5\tdb\nfd00::5\tdb\n"},
		{name: "subdomain adds FQDN", spec: corev1.PodSpec{Hostname: "db", Subdomain: "dbs"},
			podIPs: []string{"10.0.0.5", "fd00::5"}, clusterDomain: "cluster.local",
			want: localhostLines + "10.0.0.5\tdb.dbs.ns1.svc.cluster.local\tdb\nfd00::5\tdb.dbs.ns1.svc.cluster.local\tdb\n"},
		{name: "subdomain without cluster domain", spec: corev1.PodSpec{Subdomain: "dbs"}, podIPs: []string{"10.0.0.5"},
			want: localhostLines + "10.0.0.5\tweb-0.dbs.ns1.svc\tweb-0\n"},
		{name: "hostname override drops FQDN", spec: corev1.PodSpec{Subdomain: "dbs", HostnameOverride: ptr("custom.name")},
			podIPs: []string{"10.0.0.5"}, clusterDomain: "cluster.local",
			want: localhostLines + "10.0.0.5\tcustom.name\n"},
		{name: "no pod IPs", want: localhostLines},
		{name: "host aliases", spec: corev1.PodSpec{HostAliases: aliases}, podIPs: []string{"10.0.0.5"},
			want: localhostLines + "10.0.0.5\tweb-0\n" + aliasSection},
		{name: "subdomain and host aliases", spec: corev1.PodSpec{Subdomain: "s", HostAliases: aliases[:1]},
			podIPs: []string{"10.0.0.5"}, clusterDomain: "c.local",
			want: localhostLines + "10.0.0.5\tweb-0.s.ns1.svc.c.local\tweb-0\n" +
				"\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"},
		{name: "host network", spec: corev1.PodSpec{HostNetwork: true, Subdomain: "s"}, podIPs: []string{"192.168.0.7"},
			want: "# Kubernetes-managed hosts file (host network).\n" + nodeHosts},
		{name: "host network with aliases", spec: corev1.PodSpec{HostNetwork: true, HostAliases: aliases},
			want: "# Kubernetes-managed hosts file (host network).\n" + nodeHosts + aliasSection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns1"}, Spec: tc.spec}
			got, err := Hosts(pod, tc.podIPs, tc.clusterDomain, hostFile)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestHostsHostNetworkMissingFile(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{HostNetwork: true}}
	if _, err := Hosts(pod, nil, "cluster.local", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("expected an error for a missing host hosts file")
	}
}

func TestHostname(t *testing.T) {
	long := strings.Repeat("a", 70)
	for _, tc := range []struct {
		name    string
		podName string
		spec    corev1.PodSpec
		want    string
	}{
		{name: "pod name", podName: "web-0", want: "web-0"},
		{name: "spec hostname wins", podName: "web-0", spec: corev1.PodSpec{Hostname: "db"}, want: "db"},
		{name: "override wins", podName: "web-0", spec: corev1.PodSpec{Hostname: "db", HostnameOverride: ptr("o.example")}, want: "o.example"},
		{name: "exactly 63 kept", podName: strings.Repeat("b", 63), want: strings.Repeat("b", 63)},
		{name: "truncated to 63", podName: long, want: long[:63]},
		{name: "trailing dash trimmed", podName: strings.Repeat("c", 61) + "--x", want: strings.Repeat("c", 61)},
		{name: "trailing dots and dashes trimmed", podName: strings.Repeat("d", 60) + ".-.-xyz", want: strings.Repeat("d", 60)},
		{name: "long spec hostname", podName: "p", spec: corev1.PodSpec{Hostname: strings.Repeat("e", 62) + "-f"}, want: strings.Repeat("e", 62)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.podName}, Spec: tc.spec}
			if got := Hostname(pod); got != tc.want {
				t.Fatalf("Hostname = %q, want %q", got, tc.want)
			}
		})
	}
}
