package podspec

import (
	"context"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// cfsPeriod is the CPU quota period the kubelet uses, in microseconds.
const cfsPeriod = 100000

// WithResources sets cgroup limits from the container's resources as the
// kubelet does: cpu shares from the request (2 minimum), a CFS quota from
// the cpu limit, and the memory limit.
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
		shares := uint64(cpuReq * 1024 / 1000)
		if shares < 2 {
			shares = 2
		}
		res.CPU.Shares = &shares
		if lim := r.Limits.Cpu().MilliValue(); lim > 0 {
			quota := lim * cfsPeriod / 1000
			if quota < 1000 {
				quota = 1000
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
