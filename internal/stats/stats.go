// Package stats reads resource usage of the node and of the pods' containers
// (cgroup counters through containerd's task metrics) and presents it as the
// kubelet does: /stats/summary and /metrics/resource, the endpoint that
// metrics-server scrapes for `kubectl top`.
package stats

import (
	"time"
)

// Usage is one sample of cumulative CPU time and of memory.
type Usage struct {
	CPUNanos         uint64 // cumulative CPU time
	MemoryUsage      uint64
	MemoryWorkingSet uint64 // usage minus inactive file pages, as the kubelet counts it
	MemoryRSS        uint64
	PageFaults       uint64
	MajorPageFaults  uint64
	MemoryLimit      uint64 // 0 without a limit
	Processes        uint64
}

// Container is one running container's identity and usage.
type Container struct {
	ID, Image                    string
	Namespace, Pod, PodUID, Name string
	StartTime                    time.Time
	Usage                        Usage
	// NanoCores is the cpu used since the sample before, in billionths of
	// a core; nil when there is none to compare with.
	NanoCores *uint64
}

// Sample is everything measured at one time.
type Sample struct {
	Time          time.Time
	NodeName      string
	NodeStartTime time.Time
	Node          Usage
	NodeNanoCores *uint64
	Containers    []Container
	// Networks are the interfaces of each pod's network namespace, by pod
	// UID; a pod on the host's network has none of its own.
	Networks map[string][]Interface
}

// Rate sets the sample's cpu rates (NanoCores) from the cumulative cpu
// times of an earlier sample, for the node and each container that both
// samples have. A counter that went back (a container restarted under the
// same id cannot, but the node's may be read from another cgroup) gives none.
func (s *Sample) Rate(prev *Sample) {
	if prev == nil || !s.Time.After(prev.Time) {
		return
	}
	dt := uint64(s.Time.Sub(prev.Time).Nanoseconds())
	rate := func(now, before uint64) *uint64 {
		if now < before {
			return nil
		}
		// Nanoseconds of cpu per nanosecond, in billionths.
		r := uint64(float64(now-before) / float64(dt) * 1e9)
		return &r
	}
	s.NodeNanoCores = rate(s.Node.CPUNanos, prev.Node.CPUNanos)
	before := make(map[string]uint64, len(prev.Containers))
	for _, c := range prev.Containers {
		before[c.ID] = c.Usage.CPUNanos
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		if b, ok := before[c.ID]; ok && c.ID != "" {
			c.NanoCores = rate(c.Usage.CPUNanos, b)
		}
	}
}

// WorkingSet subtracts inactive file pages from usage, never going below 0.
func WorkingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}
