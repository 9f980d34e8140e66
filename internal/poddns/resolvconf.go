// Package poddns builds the contents of a pod's /etc/resolv.conf, /etc/hosts
// and /etc/hostname the way the kubelet (and the CRI runtime writing the
// kubelet's DNS config) does. It only produces bytes; writing and mounting
// the files is up to the caller.
package poddns

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits the kubelet applies to the resolv.conf it hands to the runtime.
const (
	maxNameservers    = 3
	maxSearchPaths    = 32
	maxSearchLineLen  = 2048
	maxSearchPathLen  = 253
	maxResolvConfSize = 10 << 20
)

// Config is the node's DNS configuration.
type Config struct {
	// ClusterDNS are the cluster DNS server IPs (the kubelet's clusterDNS).
	ClusterDNS []string
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local".
	ClusterDomain string
	// HostResolvConf is the path of the node's resolv.conf, usually
	// /etc/resolv.conf. Empty means the node has none.
	HostResolvConf string
}

// dnsConfig is a parsed or generated resolv.conf.
type dnsConfig struct {
	servers  []string
	searches []string
	options  []string
}

// ResolvConf returns the pod's resolv.conf for pod.Spec.DNSPolicy:
// ClusterFirst (the default; for hostNetwork pods it behaves as Default),
// ClusterFirstWithHostNet, Default (the node's nameserver, search and options)
// or None (only pod.Spec.DNSConfig). ClusterFirst uses ClusterDNS as
// nameservers, searches <ns>.svc.<domain>, svc.<domain>, <domain> followed by
// the node's search domains, and options ndots:5; with no ClusterDNS it falls
// back to Default and says so in warning. pod.Spec.DNSConfig is then merged
// in, and the kubelet's limits (3 nameservers, 32 search domains of at most
// 253 characters, a 2048-character search line) are enforced by dropping the
// excess, also reported in warning. err is set when the node's resolv.conf
// is needed but cannot be read, or when the pod's namespace or dnsConfig
// holds what resolv.conf cannot carry (checkDNSConfig).
func ResolvConf(pod *corev1.Pod, cfg Config) (content []byte, warning string, err error) {
	if err := checkDNSConfig(pod); err != nil {
		return nil, "", err
	}
	var warnings []string
	policy := pod.Spec.DNSPolicy
	switch policy {
	case "", corev1.DNSClusterFirst:
		policy = corev1.DNSClusterFirst
		if pod.Spec.HostNetwork {
			policy = corev1.DNSDefault
		}
	case corev1.DNSClusterFirstWithHostNet:
		policy = corev1.DNSClusterFirst
	case corev1.DNSDefault, corev1.DNSNone:
	default:
		warnings = append(warnings, fmt.Sprintf("invalid DNSPolicy %q, using %q", policy, corev1.DNSClusterFirst))
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && len(cfg.ClusterDNS) == 0 {
		warnings = append(warnings, fmt.Sprintf("no cluster DNS server is configured, so the pod cannot use the %q DNS policy; falling back to %q",
			corev1.DNSClusterFirst, corev1.DNSDefault))
		policy = corev1.DNSDefault
	}

	var dc dnsConfig
	if policy != corev1.DNSNone {
		host, err := readHostResolvConf(cfg.HostResolvConf)
		if err != nil {
			return nil, "", err
		}
		switch policy {
		case corev1.DNSClusterFirst:
			dc.servers = append([]string(nil), cfg.ClusterDNS...)
			dc.searches = clusterSearches(pod.Namespace, cfg.ClusterDomain, host.searches)
			dc.options = []string{"ndots:5"}
		case corev1.DNSDefault:
			dc = host
			if cfg.HostResolvConf == "" {
				// Like the kubelet with no resolver config: the node's
				// loopback resolver and no search domains.
				dc.servers = []string{"127.0.0.1"}
				dc.searches = []string{"."}
			}
		}
	}

	if pc := pod.Spec.DNSConfig; pc != nil {
		dc.servers = dedupe(append(dc.servers, pc.Nameservers...))
		dc.searches = dedupe(append(dc.searches, pc.Searches...))
		for _, o := range pc.Options {
			opt := o.Name
			if o.Value != nil && *o.Value != "" {
				opt += ":" + *o.Value
			}
			dc.options = setOption(dc.options, opt)
		}
	}

	warnings = append(warnings, dc.fitLimits()...)
	return dc.format(), strings.Join(warnings, "; "), nil
}

// checkDNSConfig refuses, in the API server's words, a namespace that is not
// a DNS label and a dnsConfig whose nameservers are not IPs, whose searches
// are not DNS names, or whose options are blank or hold blanks: a blank or
// a newline in one would give the pod resolver settings it did not ask for.
func checkDNSConfig(pod *corev1.Pod) error {
	var errs field.ErrorList
	if msgs := validation.IsDNS1123Label(pod.Namespace); pod.Namespace != "" && len(msgs) > 0 {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), pod.Namespace, strings.Join(msgs, "; ")))
	}
	dc := pod.Spec.DNSConfig
	if dc == nil {
		return errs.ToAggregate()
	}
	p := field.NewPath("spec", "dnsConfig")
	for i, ns := range dc.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			errs = append(errs, field.Invalid(p.Child("nameservers").Index(i), ns, "must be a valid IP address"))
		}
	}
	for i, s := range dc.Searches {
		// The API server allows a trailing dot, as resolv.conf does; one
		// too long is dropped by fitLimits, as the kubelet does.
		if len(s) > maxSearchPathLen || s == "." {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(strings.TrimSuffix(s, ".")); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("searches").Index(i), s, strings.Join(msgs, "; ")))
		}
	}
	for i, o := range dc.Options {
		op := p.Child("options").Index(i)
		if o.Name == "" {
			errs = append(errs, field.Required(op.Child("name"), "Option.Name must not be empty"))
		} else if strings.ContainsFunc(o.Name, unicode.IsSpace) {
			errs = append(errs, field.Invalid(op.Child("name"), o.Name, "must not contain whitespace"))
		}
		if o.Value != nil && strings.ContainsFunc(*o.Value, unicode.IsSpace) {
			errs = append(errs, field.Invalid(op.Child("value"), *o.Value, "must not contain whitespace"))
		}
	}
	return errs.ToAggregate()
}

// clusterSearches returns the ClusterFirst search list: the cluster's
// domains for the namespace, then the node's, without duplicates.
func clusterSearches(namespace, domain string, host []string) []string {
	if domain == "" {
		return append([]string(nil), host...)
	}
	s := []string{namespace + ".svc." + domain, "svc." + domain, domain}
	return dedupe(append(s, host...))
}

// fitLimits drops nameservers and search domains beyond the kubelet's limits
// and returns a warning for each limit that was hit.
func (dc *dnsConfig) fitLimits() []string {
	var warnings []string
	if len(dc.servers) > maxNameservers {
		dc.servers = dc.servers[:maxNameservers]
		warnings = append(warnings, "nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "+
			strings.Join(dc.servers, " "))
	}

	exceeded := false
	if len(dc.searches) > maxSearchPaths {
		dc.searches = dc.searches[:maxSearchPaths]
		exceeded = true
	}
	kept := dc.searches[:0]
	for _, s := range dc.searches {
		if len(s) > maxSearchPathLen {
			exceeded = true
			continue
		}
		kept = append(kept, s)
	}
	dc.searches = kept
	for len(dc.searches) > 0 && len(strings.Join(dc.searches, " ")) > maxSearchLineLen {
		dc.searches = dc.searches[:len(dc.searches)-1]
		exceeded = true
	}
	if exceeded {
		warnings = append(warnings, "search line limits were exceeded, some search paths have been omitted, the applied search line is: "+
			strings.Join(dc.searches, " "))
	}
	return warnings
}

// format renders the config as the runtime writes it: search, nameserver
// and options lines; an empty config yields an empty file.
func (dc *dnsConfig) format() []byte {
	var b bytes.Buffer
	if len(dc.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dc.searches, " "))
	}
	for _, s := range dc.servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dc.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dc.options, " "))
	}
	return b.Bytes()
}

// readHostResolvConf parses the node's resolv.conf; an empty path yields an
// empty config.
func readHostResolvConf(path string) (dnsConfig, error) {
	if path == "" {
		return dnsConfig{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return dnsConfig{}, fmt.Errorf("read host resolv.conf: %w", err)
	}
	if len(data) > maxResolvConfSize {
		return dnsConfig{}, fmt.Errorf("host resolv.conf %s is larger than %d bytes", path, maxResolvConfSize)
	}
	return parseResolvConf(string(data)), nil
}

// parseResolvConf reads the nameserver, search and options lines of a
// resolv.conf. As with the C resolver, the last search line wins and options
// of the same name override earlier ones; trailing dots are removed from
// search entries and entries of dots alone ("." is the root) are dropped,
// so that what is read is read the same once written out.
func parseResolvConf(data string) dnsConfig {
	var dc dnsConfig
	for _, line := range strings.Split(data, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) >= 2 {
				dc.servers = append(dc.servers, fields[1])
			}
		case "search":
			dc.searches = nil
			for _, s := range fields[1:] {
				if s = strings.TrimRight(s, "."); s != "" {
					dc.searches = append(dc.searches, s)
				}
			}
		case "options":
			for _, o := range fields[1:] {
				dc.options = setOption(dc.options, o)
			}
		}
	}
	return dc
}

// setOption sets a resolver option ("name" or "name:value"), replacing an
// option of the same name in place or appending it.
func setOption(options []string, opt string) []string {
	name, _, _ := strings.Cut(opt, ":")
	for i, o := range options {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			options[i] = opt
			return options
		}
	}
	return append(options, opt)
}

// dedupe drops repeated strings, keeping the first occurrence.
func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
