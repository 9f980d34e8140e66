// Package stats reads resource usage of the node and of the pods' containers
// (cgroup counters through containerd's task metrics) and presents it as the
// kubelet does: /stats/summary and /metrics/resource, the endpoint that
// metrics-server scrapes for `kubectl top`.
package stats

import (
	"time"
)

// Usage is one sample of cumulative CPU time and memory working set.
type Usage struct {
	CPUNanos         uint64 // cumulative CPU time
	MemoryUsage      uint64
	MemoryWorkingSet uint64 // usage minus inactive file pages, as the kubelet counts it
}

// Container is one running container's identity and usage.
type Container struct {
	Namespace, Pod, PodUID, Name string
	StartTime                    time.Time
	Usage                        Usage
}

// Sample is everything measured at one time.
type Sample struct {
	Time          time.Time
	NodeName      string
	NodeStartTime time.Time
	Node          Usage
	Containers    []Container
}

// WorkingSet subtracts inactive file pages from usage, never going below 0.
func WorkingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}
