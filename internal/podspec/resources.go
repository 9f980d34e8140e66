package podspec

import (
	"context"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

const (
	// cfsPeriod is the CPU quota period the kubelet uses, in microseconds.
	cfsPeriod = 100000
	// minShares and maxShares bound cpu.shares as the kernel and the
	// kubelet do.
	minShares, maxShares = 2, 262144
	// maxQuota is the largest CFS quota the kernel accepts, in
	// microseconds; a limit above it is as good as none.
	maxQuota = 1<<44 - 1
)

// WithResources sets cgroup limits from the container's resources as the
// kubelet does: cpu shares from the request (2 minimum), a CFS quota from
// the cpu limit, and the memory limit. Shares stay within the kernel's
// range and the quota within what the kernel accepts, however large (or,
// for a request, negative) the quantity.
func WithResources(r corev1.ResourceRequirements) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		res := s.Linux.Resources
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		cpuReq := r.Requests.Cpu().MilliValue()
		if cpuReq == 0 {
			cpuReq = r.Limits.Cpu().MilliValue()
		}
		// Compared before multiplying, which could overflow.
		var shares uint64
		switch {
		case cpuReq <= minShares*1000/1024:
			shares = minShares
		case cpuReq >= maxShares*1000/1024:
			shares = maxShares
		default:
			shares = uint64(cpuReq * 1024 / 1000)
		}
		res.CPU.Shares = &shares
		if lim := r.Limits.Cpu().MilliValue(); lim > 0 {
			quota := int64(maxQuota)
			if lim < maxQuota*1000/cfsPeriod {
				quota = max(lim*cfsPeriod/1000, 1000)
			}
			period := uint64(cfsPeriod)
			res.CPU.Quota, res.CPU.Period = &quota, &period
		}
		if mem := r.Limits.Memory().Value(); mem > 0 {
			if res.Memory == nil {
				res.Memory = &specs.LinuxMemory{}
			}
			res.Memory.Limit = &mem
		}
		return nil
	}
}
