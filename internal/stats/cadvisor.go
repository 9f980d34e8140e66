package stats

import (
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// CadvisorFamilies renders a sample as the kubelet's /metrics/cadvisor:
// the container_* series dashboards read, each labelled container, pod,
// namespace, image, name and id (here both the containerd container id), and
// the network series of a pod on its pod-level row (container=""), as
// cAdvisor writes them for the pod's sandbox.
func CadvisorFamilies(s Sample) []*dto.MetricFamily {
	ts := proto.Int64(s.Time.UnixMilli())
	var families []*dto.MetricFamily
	family := func(name, help string, typ dto.MetricType) *dto.MetricFamily {
		f := newFamily(name, help, typ)
		families = append(families, f)
		return f
	}
	add := func(f *dto.MetricFamily, v float64, labels ...string) { addMetric(f, ts, v, labels) }
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	cpu := family("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", counter)
	memUsage := family("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge)
	memWS := family("container_memory_working_set_bytes", "Current working set in bytes.", gauge)
	memRSS := family("container_memory_rss", "Size of RSS in bytes.", gauge)
	faults := family("container_memory_failures_total", "Cumulative count of memory allocation failures.", counter)
	limit := family("container_spec_memory_limit_bytes", "Memory limit for the container.", gauge)
	procs := family("container_processes", "Number of processes running inside the container.", gauge)
	start := family("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", gauge)
	rx := family("container_network_receive_bytes_total", "Cumulative count of bytes received.", counter)
	rxErr := family("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", counter)
	tx := family("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", counter)
	txErr := family("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", counter)

	type podKey struct{ ns, name, uid string }
	var pods []podKey
	seen := map[string]bool{}
	for _, c := range s.Containers {
		l := []string{"container", c.Name, "id", c.ID, "image", c.Image, "name", c.ID, "namespace", c.Namespace, "pod", c.Pod}
		u := c.Usage
		add(cpu, float64(u.CPUNanos)/1e9, append(l, "cpu", "total")...)
		add(memUsage, float64(u.MemoryUsage), l...)
		add(memWS, float64(u.MemoryWorkingSet), l...)
		add(memRSS, float64(u.MemoryRSS), l...)
		add(faults, float64(u.PageFaults-min(u.PageFaults, u.MajorPageFaults)), append(l, "failure_type", "pgfault", "scope", "container")...)
		add(faults, float64(u.MajorPageFaults), append(l, "failure_type", "pgmajfault", "scope", "container")...)
		add(limit, float64(u.MemoryLimit), l...)
		add(procs, float64(u.Processes), l...)
		if !c.StartTime.IsZero() {
			add(start, float64(c.StartTime.UnixNano())/1e9, l...)
		}
		if !seen[c.PodUID] {
			seen[c.PodUID] = true
			pods = append(pods, podKey{c.Namespace, c.Pod, c.PodUID})
		}
	}
	for _, p := range pods {
		for _, i := range s.Networks[p.uid] {
			l := []string{"container", "", "id", "", "image", "", "interface", i.Name, "name", "", "namespace", p.ns, "pod", p.name}
			add(rx, float64(i.RxBytes), l...)
			add(rxErr, float64(i.RxErrors), l...)
			add(tx, float64(i.TxBytes), l...)
			add(txErr, float64(i.TxErrors), l...)
		}
	}
	out := families[:0]
	for _, f := range families {
		if len(f.Metric) > 0 {
			out = append(out, f)
		}
	}
	return out
}
