package stats

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Summary renders a sample as the kubelet's /stats/summary: the node, and
// each pod with its containers (cpu and memory; network and filesystem
// figures are not collected).
func Summary(s Sample) *statsv1alpha1.Summary {
	at := metav1.NewTime(s.Time)
	cpu := func(u Usage) *statsv1alpha1.CPUStats {
		n := u.CPUNanos
		return &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: &n}
	}
	mem := func(u Usage) *statsv1alpha1.MemoryStats {
		usage, ws := u.MemoryUsage, u.MemoryWorkingSet
		return &statsv1alpha1.MemoryStats{Time: at, UsageBytes: &usage, WorkingSetBytes: &ws}
	}
	out := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{
		NodeName:  s.NodeName,
		StartTime: metav1.NewTime(s.NodeStartTime),
		CPU:       cpu(s.Node),
		Memory:    mem(s.Node),
	}}
	index := map[string]int{}
	for _, c := range s.Containers {
		i, ok := index[c.PodUID]
		if !ok {
			i = len(out.Pods)
			index[c.PodUID] = i
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
			Name: c.Name, StartTime: metav1.NewTime(c.StartTime), CPU: cpu(c.Usage), Memory: mem(c.Usage),
		})
	}
	for i := range out.Pods {
		var total Usage
		for _, c := range out.Pods[i].Containers {
			total.CPUNanos += *c.CPU.UsageCoreNanoSeconds
			total.MemoryUsage += *c.Memory.UsageBytes
			total.MemoryWorkingSet += *c.Memory.WorkingSetBytes
		}
		out.Pods[i].CPU, out.Pods[i].Memory = cpu(total), mem(total)
	}
	return out
}
