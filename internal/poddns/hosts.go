package poddns

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
// followed by the hostAliases section. A name or address that is not one
// (the API server's checks, which a pod could have bypassed) is an error.
func Hosts(pod *corev1.Pod, podIPs []string, clusterDomain string, hostHostsFile string) ([]byte, error) {
	if err := checkHostsEntries(pod, podIPs, clusterDomain); err != nil {
		return nil, err
	}
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

// checkHostsEntries refuses, in the API server's words, the names and
// addresses of the pod's hosts lines that are not DNS names or IPs: a blank
// or a newline in one would give the pod's /etc/hosts names or lines the
// pod did not ask for.
func checkHostsEntries(pod *corev1.Pod, podIPs []string, clusterDomain string) error {
	var errs field.ErrorList
	name := func(p *field.Path, v string, check func(string) []string) {
		if msgs := check(v); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, v, strings.Join(msgs, "; ")))
		}
	}
	ip := func(p *field.Path, v string) {
		if _, err := netip.ParseAddr(v); err != nil {
			errs = append(errs, field.Invalid(p, v, "must be a valid IP address"))
		}
	}
	spec := field.NewPath("spec")
	if !pod.Spec.HostNetwork {
		hostname := field.NewPath("metadata", "name")
		switch {
		case pod.Spec.HostnameOverride != nil && *pod.Spec.HostnameOverride != "":
			hostname = spec.Child("hostnameOverride")
		case pod.Spec.Hostname != "":
			hostname = spec.Child("hostname")
		}
		name(hostname, Hostname(pod), validation.IsDNS1123Subdomain)
		if hostDomain(pod, clusterDomain) != "" {
			name(spec.Child("subdomain"), pod.Spec.Subdomain, validation.IsDNS1123Label)
			name(field.NewPath("metadata", "namespace"), pod.Namespace, validation.IsDNS1123Label)
			if clusterDomain != "" {
				name(field.NewPath("clusterDomain"), clusterDomain, validation.IsDNS1123Subdomain)
			}
		}
		for i, v := range podIPs {
			ip(field.NewPath("status", "podIPs").Index(i), v)
		}
	}
	for i, a := range pod.Spec.HostAliases {
		p := spec.Child("hostAliases").Index(i)
		ip(p.Child("ip"), a.IP)
		for j, h := range a.Hostnames {
			name(p.Child("hostnames").Index(j), h, validation.IsDNS1123Subdomain)
		}
	}
	return errs.ToAggregate()
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
