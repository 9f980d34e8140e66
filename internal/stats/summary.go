package stats

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Summary renders a sample as the kubelet's /stats/summary: the node, and
// each pod with its containers: cpu (cumulative, and the rate since the
// sample before), memory (usage, working set, rss, page faults, and what is
// available below a limit), process count and network per interface (of
// pods). Filesystem figures are not collected.
func Summary(s Sample) *statsv1alpha1.Summary {
	at := metav1.NewTime(s.Time)
	cpu := func(u Usage, nanoCores *uint64) *statsv1alpha1.CPUStats {
		n := u.CPUNanos
		return &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: &n, UsageNanoCores: nanoCores}
	}
	mem := func(u Usage) *statsv1alpha1.MemoryStats {
		m := &statsv1alpha1.MemoryStats{Time: at, UsageBytes: ptr(u.MemoryUsage), WorkingSetBytes: ptr(u.MemoryWorkingSet),
			RSSBytes: ptr(u.MemoryRSS), PageFaults: ptr(u.PageFaults), MajorPageFaults: ptr(u.MajorPageFaults)}
		if u.MemoryLimit > 0 {
			m.AvailableBytes = ptr(u.MemoryLimit - min(u.MemoryLimit, u.MemoryWorkingSet))
		}
		return m
	}
	out := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{
		NodeName:  s.NodeName,
		StartTime: metav1.NewTime(s.NodeStartTime),
		CPU:       cpu(s.Node, s.NodeNanoCores),
		Memory:    mem(s.Node),
	}}
	index := map[string]int{}
	totals := map[string]*podTotal{}
	for _, c := range s.Containers {
		i, ok := index[c.PodUID]
		if !ok {
			i = len(out.Pods)
			index[c.PodUID] = i
			totals[c.PodUID] = &podTotal{rated: true}
			out.Pods = append(out.Pods, statsv1alpha1.PodStats{
				PodRef:    statsv1alpha1.PodReference{Name: c.Pod, Namespace: c.Namespace, UID: c.PodUID},
				StartTime: metav1.NewTime(c.StartTime),
			})
		}
		p := &out.Pods[i]
		if !c.StartTime.IsZero() && (p.StartTime.IsZero() || c.StartTime.Before(p.StartTime.Time)) {
			p.StartTime = metav1.NewTime(c.StartTime)
		}
		p.Containers = append(p.Containers, statsv1alpha1.ContainerStats{
			Name: c.Name, StartTime: metav1.NewTime(c.StartTime), CPU: cpu(c.Usage, c.NanoCores), Memory: mem(c.Usage),
		})
		totals[c.PodUID].add(c)
	}
	for uid, i := range index {
		t := totals[uid]
		var nanoCores *uint64
		if t.rated {
			nanoCores = &t.nanoCores
		}
		// A pod has no cgroup of its own here, so no limit to be below.
		t.usage.MemoryLimit = 0
		p := &out.Pods[i]
		p.CPU, p.Memory = cpu(t.usage, nanoCores), mem(t.usage)
		p.ProcessStats = &statsv1alpha1.ProcessStats{ProcessCount: ptr(t.usage.Processes)}
		if ifs, ok := s.Networks[uid]; ok {
			p.Network = network(at, ifs)
		}
	}
	return out
}

// network is a pod's traffic, by interface, with eth0 (the pod's CNI
// interface), or else the first, as the default one.
func network(at metav1.Time, ifs []Interface) *statsv1alpha1.NetworkStats {
	n := &statsv1alpha1.NetworkStats{Time: at}
	for _, i := range ifs {
		st := statsv1alpha1.InterfaceStats{Name: i.Name, RxBytes: ptr(i.RxBytes), RxErrors: ptr(i.RxErrors), TxBytes: ptr(i.TxBytes), TxErrors: ptr(i.TxErrors)}
		n.Interfaces = append(n.Interfaces, st)
		if i.Name == "eth0" || n.InterfaceStats.Name == "" {
			n.InterfaceStats = st
		}
	}
	return n
}

// podTotal sums a pod's containers.
type podTotal struct {
	usage     Usage
	nanoCores uint64
	rated     bool // every container has a rate
}

func (t *podTotal) add(c Container) {
	u := &t.usage
	u.CPUNanos += c.Usage.CPUNanos
	u.MemoryUsage += c.Usage.MemoryUsage
	u.MemoryWorkingSet += c.Usage.MemoryWorkingSet
	u.MemoryRSS += c.Usage.MemoryRSS
	u.PageFaults += c.Usage.PageFaults
	u.MajorPageFaults += c.Usage.MajorPageFaults
	u.Processes += c.Usage.Processes
	if c.NanoCores == nil {
		t.rated = false
	} else {
		t.nanoCores += *c.NanoCores
	}
}

func ptr(v uint64) *uint64 { return &v }
