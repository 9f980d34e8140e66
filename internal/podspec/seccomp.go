package podspec

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	corev1 "k8s.io/api/core/v1"
)

// WithSeccomp applies the container's seccomp profile, or else the pod's:
// RuntimeDefault is containerd's default profile, Localhost a JSON profile
// under localRoot, Unconfined (and no profile, the kubelet's default) none.
// Privileged containers run unconfined. It must come after the
// capabilities are set, which the default profile reads.
func WithSeccomp(pod *corev1.PodSecurityContext, c *corev1.SecurityContext, localRoot string) oci.SpecOpts {
	var p *corev1.SeccompProfile
	if pod != nil {
		p = pod.SeccompProfile
	}
	if c != nil && c.SeccompProfile != nil {
		p = c.SeccompProfile
	}
	privileged := c != nil && c.Privileged != nil && *c.Privileged
	return func(ctx context.Context, client oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if p == nil || privileged {
			return nil
		}
		switch p.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			return seccomp.WithDefaultProfile()(ctx, client, ctr, s)
		case corev1.SeccompProfileTypeLocalhost:
			if p.LocalhostProfile == nil || strings.Contains(*p.LocalhostProfile, "..") {
				return fmt.Errorf("seccomp profile: Localhost needs a relative localhostProfile path")
			}
			return seccomp.WithProfile(filepath.Join(localRoot, *p.LocalhostProfile))(ctx, client, ctr, s)
		}
		return nil
	}
}
