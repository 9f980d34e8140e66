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
	// unlimited is the runtime spec's "no limit" for a quota or a memory limit.
	unlimited = -1
)

// WithResources sets cgroup limits from the container's resources as the
// kubelet does (see LinuxResources).
func WithResources(r corev1.ResourceRequirements) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		res := LinuxResources(r)
		s.Linux.Resources.CPU = res.CPU
		if res.Memory != nil {
			s.Linux.Resources.Memory = res.Memory
		}
		return nil
	}
}

// LinuxResources is the cgroup side of a container's resources, as the
// kubelet sets it: cpu shares from the request (2 minimum), a CFS quota from
// the cpu limit, and the memory limit; nil where a limit is not set. Shares
// stay within the kernel's range and the quota within what the kernel
// accepts, however large (or, for a request, negative) the quantity.
func LinuxResources(r corev1.ResourceRequirements) *specs.LinuxResources {
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{}}
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
		res.Memory = &specs.LinuxMemory{Limit: &mem}
	}
	return res
}

// ResizedResources is what a running container's cgroup is updated to for
// new resources: LinuxResources, with a limit that is not set (any more)
// written as unlimited, since an update leaves out what it is not given.
func ResizedResources(r corev1.ResourceRequirements) *specs.LinuxResources {
	res := LinuxResources(r)
	if res.CPU.Quota == nil {
		quota, period := int64(unlimited), uint64(cfsPeriod)
		res.CPU.Quota, res.CPU.Period = &quota, &period
	}
	if res.Memory == nil {
		mem := int64(unlimited)
		res.Memory = &specs.LinuxMemory{Limit: &mem}
	}
	return res
}
