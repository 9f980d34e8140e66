package podspec

import (
	"context"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	corev1 "k8s.io/api/core/v1"
)

// WithSecurity applies the pod's and the container's security context: user
// and group (the container's value wins), supplemental groups, a read-only
// root filesystem, privileged mode and capabilities.
func WithSecurity(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) []oci.SpecOpts {
	var opts []oci.SpecOpts
	var uid, gid *int64
	if pod != nil {
		uid, gid = pod.RunAsUser, pod.RunAsGroup
	}
	if c != nil {
		if c.RunAsUser != nil {
			uid = c.RunAsUser
		}
		if c.RunAsGroup != nil {
			gid = c.RunAsGroup
		}
	}
	switch {
	case uid != nil && gid != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*uid), uint32(*gid)))
	case uid != nil:
		opts = append(opts, oci.WithUserID(uint32(*uid)))
	case gid != nil:
		opts = append(opts, withGID(uint32(*gid)))
	}
	if pod != nil && (len(pod.SupplementalGroups) > 0 || pod.FSGroup != nil) {
		groups := make([]uint32, 0, len(pod.SupplementalGroups)+1)
		for _, g := range pod.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		if pod.FSGroup != nil {
			groups = append(groups, uint32(*pod.FSGroup))
		}
		opts = append(opts, oci.WithAppendAdditionalGroups(), withExtraGIDs(groups))
	}
	if c == nil {
		return opts
	}
	if c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if c.Privileged != nil && *c.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	}
	if c.Capabilities != nil {
		var add, drop []string
		for _, cp := range c.Capabilities.Add {
			add = append(add, capName(cp))
		}
		for _, cp := range c.Capabilities.Drop {
			drop = append(drop, capName(cp))
		}
		if len(add) > 0 {
			opts = append(opts, oci.WithAddedCapabilities(add))
		}
		if len(drop) > 0 {
			opts = append(opts, oci.WithDroppedCapabilities(drop))
		}
	}
	if c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	return opts
}

func capName(c corev1.Capability) string {
	s := string(c)
	if s == "ALL" || (len(s) > 4 && s[:4] == "CAP_") {
		return s
	}
	return "CAP_" + s
}

func withGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		s.Process.User.GID = gid
		return nil
	}
}

func withExtraGIDs(groups []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		seen := map[uint32]bool{}
		for _, g := range s.Process.User.AdditionalGids {
			seen[g] = true
		}
		for _, g := range groups {
			if !seen[g] {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, g)
				seen[g] = true
			}
		}
		return nil
	}
}
