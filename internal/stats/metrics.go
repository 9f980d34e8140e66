package stats

import (
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// MetricFamilies renders a sample as /metrics/resource, with the names and
// labels metrics-server reads: node_cpu_usage_seconds_total,
// node_memory_working_set_bytes, container_cpu_usage_seconds_total,
// container_memory_working_set_bytes and container_start_time_seconds (labels
// container, pod, namespace), pod_cpu_usage_seconds_total and
// pod_memory_working_set_bytes (labels pod, namespace). metrics-server drops
// zero samples, so zeros are not written; a family without samples (no
// containers run) is left out, as the text format has no empty family.
func MetricFamilies(s Sample) []*dto.MetricFamily {
	ts := proto.Int64(s.Time.UnixMilli())
	family := newFamily
	add := func(f *dto.MetricFamily, v float64, labels ...string) {
		if v != 0 {
			addMetric(f, ts, v, labels)
		}
	}
	nodeCPU := family("node_cpu_usage_seconds_total", "Cumulative cpu time consumed by the node in core-seconds", dto.MetricType_COUNTER)
	nodeMem := family("node_memory_working_set_bytes", "Current working set of the node in bytes", dto.MetricType_GAUGE)
	ctrCPU := family("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds", dto.MetricType_COUNTER)
	ctrMem := family("container_memory_working_set_bytes", "Current working set of the container in bytes", dto.MetricType_GAUGE)
	ctrStart := family("container_start_time_seconds", "Start time of the container since unix epoch in seconds", dto.MetricType_GAUGE)
	podCPU := family("pod_cpu_usage_seconds_total", "Cumulative cpu time consumed by the pod in core-seconds", dto.MetricType_COUNTER)
	podMem := family("pod_memory_working_set_bytes", "Current working set of the pod in bytes", dto.MetricType_GAUGE)

	add(nodeCPU, float64(s.Node.CPUNanos)/1e9)
	add(nodeMem, float64(s.Node.MemoryWorkingSet))
	type podKey struct{ ns, name string }
	pods := map[podKey]Usage{}
	var order []podKey
	for _, c := range s.Containers {
		add(ctrCPU, float64(c.Usage.CPUNanos)/1e9, "container", c.Name, "namespace", c.Namespace, "pod", c.Pod)
		add(ctrMem, float64(c.Usage.MemoryWorkingSet), "container", c.Name, "namespace", c.Namespace, "pod", c.Pod)
		if !c.StartTime.IsZero() {
			add(ctrStart, float64(c.StartTime.UnixNano())/1e9, "container", c.Name, "namespace", c.Namespace, "pod", c.Pod)
		}
		k := podKey{c.Namespace, c.Pod}
		if _, ok := pods[k]; !ok {
			order = append(order, k)
		}
		u := pods[k]
		u.CPUNanos += c.Usage.CPUNanos
		u.MemoryWorkingSet += c.Usage.MemoryWorkingSet
		pods[k] = u
	}
	for _, k := range order {
		add(podCPU, float64(pods[k].CPUNanos)/1e9, "namespace", k.ns, "pod", k.name)
		add(podMem, float64(pods[k].MemoryWorkingSet), "namespace", k.ns, "pod", k.name)
	}
	var out []*dto.MetricFamily
	for _, f := range []*dto.MetricFamily{ctrCPU, ctrMem, ctrStart, nodeCPU, nodeMem, podCPU, podMem} {
		if len(f.Metric) > 0 {
			out = append(out, f)
		}
	}
	return out
}

func newFamily(name, help string, typ dto.MetricType) *dto.MetricFamily {
	return &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: typ.Enum()}
}

// addMetric adds a sample of v, at ts, with labels given as name, value pairs.
func addMetric(f *dto.MetricFamily, ts *int64, v float64, labels []string) {
	m := &dto.Metric{TimestampMs: ts}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
	}
	if f.GetType() == dto.MetricType_COUNTER {
		m.Counter = &dto.Counter{Value: proto.Float64(v)}
	} else {
		m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
	}
	f.Metric = append(f.Metric, m)
}
