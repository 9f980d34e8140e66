package ctrd

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/typeurl/v2"
)

// TaskUsage is what a task's cgroup counts.
type TaskUsage struct {
	CPUNanos           uint64
	MemoryUsage        uint64
	MemoryInactiveFile uint64
	MemoryRSS          uint64 // anonymous memory (cgroup v1 rss, v2 anon)
	PageFaults         uint64
	MajorPageFaults    uint64
	MemoryLimit        uint64 // 0 without a limit
	Processes          uint64
}

// unlimited is above any memory limit that means one: cgroup v1 reports no
// limit as the largest page-aligned int64, v2 as the largest uint64.
const unlimited = 1 << 62

// TaskUsages returns the cgroup usage of every task in the namespace, by
// container id, in one request.
func (r *Runtime) TaskUsages(ctx context.Context) (map[string]TaskUsage, error) {
	resp, err := r.client.TaskService().Metrics(ctx, &tasks.MetricsRequest{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]TaskUsage, len(resp.Metrics))
	for _, m := range resp.Metrics {
		if m.Data == nil {
			continue
		}
		v, err := typeurl.UnmarshalAny(m.Data)
		if err != nil {
			return nil, fmt.Errorf("metrics of %s: %w", m.ID, err)
		}
		switch s := v.(type) {
		case *cg1.Metrics:
			u := TaskUsage{}
			if s.CPU != nil && s.CPU.Usage != nil {
				u.CPUNanos = s.CPU.Usage.Total
			}
			if s.Pids != nil {
				u.Processes = s.Pids.Current
			}
			if s.Memory != nil {
				u.MemoryInactiveFile = s.Memory.TotalInactiveFile
				u.MemoryRSS, u.PageFaults, u.MajorPageFaults = s.Memory.TotalRSS, s.Memory.TotalPgFault, s.Memory.TotalPgMajFault
				if s.Memory.Usage != nil {
					u.MemoryUsage = s.Memory.Usage.Usage
					u.MemoryLimit = limitOf(s.Memory.Usage.Limit)
				}
			}
			out[m.ID] = u
		case *cg2.Metrics:
			u := TaskUsage{}
			if s.CPU != nil {
				u.CPUNanos = s.CPU.UsageUsec * 1000
			}
			if s.Pids != nil {
				u.Processes = s.Pids.Current
			}
			if s.Memory != nil {
				u.MemoryUsage, u.MemoryInactiveFile = s.Memory.Usage, s.Memory.InactiveFile
				u.MemoryRSS, u.PageFaults, u.MajorPageFaults = s.Memory.Anon, s.Memory.Pgfault, s.Memory.Pgmajfault
				u.MemoryLimit = limitOf(s.Memory.UsageLimit)
			}
			out[m.ID] = u
		}
	}
	return out, nil
}

// limitOf is a cgroup's memory limit, 0 for none.
func limitOf(limit uint64) uint64 {
	if limit >= unlimited {
		return 0
	}
	return limit
}

// ContainerInfo is what the stats need of a container besides its usage.
type ContainerInfo struct {
	Labels map[string]string
	Image  string
}

// ContainerInfos returns the labels and image of every container in the
// namespace, by id, in one request.
func (r *Runtime) ContainerInfos(ctx context.Context) (map[string]ContainerInfo, error) {
	cs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ContainerInfo, len(cs))
	for _, c := range cs {
		info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
		if err != nil {
			continue
		}
		out[c.ID()] = ContainerInfo{Labels: info.Labels, Image: info.Image}
	}
	return out, nil
}

// StartedAt returns the start time the agent recorded on a container.
func StartedAt(labels map[string]string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, labels[LabelStartedAt])
	return t
}
