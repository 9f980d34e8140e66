package poddns

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

const (
	hostsHeader            = "# Kubernetes-managed hosts file.\n"
	hostsHeaderHostNetwork = "# Kubernetes-managed hosts file (host network).\n"
	// maxHostnameLen is the longest hostname the kernel accepts.
	maxHostnameLen = 63
)

// Hosts returns a kubelet-style managed /etc/hosts for the pod: a header
// comment, the IPv4 and IPv6 localhost entries, one line per pod IP mapping it
// to the pod's hostname (preceded by its FQDN
// <hostname>.<subdomain>.<namespace>.svc.<clusterDomain> when spec.subdomain is
// set), and a section with the pod's hostAliases. For hostNetwork pods it is
// instead the node's hosts file, read from hostHostsFile, under a header and
// followed by the hostAliases section.
func Hosts(pod *corev1.Pod, podIPs []string, clusterDomain string, hostHostsFile string) ([]byte, error) {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		data, err := os.ReadFile(hostHostsFile)
		if err != nil {
			return nil, fmt.Errorf("read host hosts file: %w", err)
		}
		b.WriteString(hostsHeaderHostNetwork)
		b.Write(data)
		writeHostAliases(&b, pod.Spec.HostAliases)
		return b.Bytes(), nil
	}

	b.WriteString(hostsHeader)
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")

	hostname := Hostname(pod)
	names := hostname
	if domain := hostDomain(pod, clusterDomain); domain != "" {
		names = hostname + "." + domain + "\t" + hostname
	}
	for _, ip := range podIPs {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	writeHostAliases(&b, pod.Spec.HostAliases)
	return b.Bytes(), nil
}

// hostDomain returns <subdomain>.<namespace>.svc.<clusterDomain> for a pod
// with spec.subdomain set, or "" when it has none or overrides its hostname.
func hostDomain(pod *corev1.Pod, clusterDomain string) string {
	if pod.Spec.Subdomain == "" || pod.Spec.HostnameOverride != nil {
		return ""
	}
	d := pod.Spec.Subdomain + "." + pod.Namespace + ".svc"
	if clusterDomain != "" {
		d += "." + clusterDomain
	}
	return d
}

// writeHostAliases appends the hostAliases section: a blank line, a comment
// and one tab-separated line per alias. Nothing is written without aliases.
func writeHostAliases(b *bytes.Buffer, aliases []corev1.HostAlias) {
	if len(aliases) == 0 {
		return
	}
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		fmt.Fprintf(b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
}

// Hostname returns the pod's hostname: spec.hostnameOverride if set, else
// spec.hostname if set, else the pod's name, cut to 63 characters with any
// trailing '-' or '.' removed, as the kubelet does. For /etc/hostname append
// a newline. For hostNetwork pods the runtime uses the node's hostname
// instead, which this function does not know.
func Hostname(pod *corev1.Pod) string {
	name := pod.Name
	switch {
	case pod.Spec.HostnameOverride != nil && *pod.Spec.HostnameOverride != "":
		name = *pod.Spec.HostnameOverride
	case pod.Spec.Hostname != "":
		name = pod.Spec.Hostname
	}
	if len(name) <= maxHostnameLen {
		return name
	}
	cut := name[:maxHostnameLen]
	if trimmed := strings.TrimRight(cut, "-."); trimmed != "" {
		return trimmed
	}
	return cut
}
