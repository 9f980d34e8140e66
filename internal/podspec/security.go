package podspec

import (
	"context"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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
		// "ALL" is no capability the runtime knows but the whole set: it is
		// applied before the single names, so that drop ALL with add
		// NET_BIND_SERVICE keeps that one, as on the kubelet.
		add, addAll := capNames(c.Capabilities.Add)
		drop, dropAll := capNames(c.Capabilities.Drop)
		if addAll {
			opts = append(opts, oci.WithAllCurrentCapabilities)
		}
		if dropAll {
			opts = append(opts, oci.WithCapabilities(nil))
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

// capNames returns the runtime's names of caps, CAP_-prefixed and in upper
// case, without "ALL", and whether "ALL" was among them.
func capNames(caps []corev1.Capability) (names []string, all bool) {
	for _, c := range caps {
		s := strings.ToUpper(string(c))
		switch {
		case s == "ALL":
			all = true
		case strings.HasPrefix(s, "CAP_"):
			names = append(names, s)
		default:
			names = append(names, "CAP_"+s)
		}
	}
	return names, all
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

// WithCgroupMount mounts the container's own cgroup at /sys/fs/cgroup, as
// the kubelet's runtimes do (containerd's default spec has none): read-only,
// but for a privileged container. A workload reads its limits there.
func WithCgroupMount(c *corev1.SecurityContext) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		mode := "ro"
		if c != nil && c.Privileged != nil && *c.Privileged {
			mode = "rw"
		}
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", mode},
		})
		return nil
	}
}
