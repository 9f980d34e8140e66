package podspec

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	corev1 "k8s.io/api/core/v1"
)

// safeSysctls are the sysctls the kubelet allows without
// --allowed-unsafe-sysctls: namespaced, and unable to hurt other pods.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
	"net.ipv4.tcp_rmem":                   true,
	"net.ipv4.tcp_wmem":                   true,
}

// ForbiddenSysctl returns the first sysctl of the pod that the node does not
// allow, with the kubelet's message, or "".
func ForbiddenSysctl(pod *corev1.Pod) string {
	if pod.Spec.SecurityContext == nil {
		return ""
	}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		name := strings.ReplaceAll(s.Name, "/", ".")
		if !safeSysctls[name] {
			return fmt.Sprintf("forbidden sysctl: %q not allowlisted", s.Name)
		}
	}
	return ""
}

// WithSysctls sets the pod's sysctls in the container's namespaces (they are
// the pod's, shared by its containers).
func WithSysctls(pod *corev1.PodSecurityContext) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if pod == nil || len(pod.Sysctls) == 0 {
			return nil
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for _, sc := range pod.Sysctls {
			s.Linux.Sysctl[strings.ReplaceAll(sc.Name, "/", ".")] = sc.Value
		}
		return nil
	}
}
