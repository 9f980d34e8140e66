package stats

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func sample() Sample {
	start := time.Unix(1700000000, 0)
	return Sample{
		Time: time.Unix(1700000100, 0), NodeName: "n1",
		Node: Usage{CPUNanos: 5e9, MemoryUsage: 300, MemoryWorkingSet: 200},
		Containers: []Container{
			{Namespace: "ns", Pod: "p", PodUID: "u1", Name: "a", StartTime: start, Usage: Usage{CPUNanos: 2e9, MemoryUsage: 20, MemoryWorkingSet: 10}},
			{Namespace: "ns", Pod: "p", PodUID: "u1", Name: "b", StartTime: start, Usage: Usage{CPUNanos: 1e9, MemoryUsage: 8, MemoryWorkingSet: 5}},
			{Namespace: "ns", Pod: "idle", PodUID: "u2", Name: "c", StartTime: start},
		},
	}
}

// TestMetricFamiliesParseAsMetricsServerReads encodes /metrics/resource as
// the kubelet API does (Prometheus text) and parses it back with the text
// parser, checking the names and labels metrics-server looks up.
func TestMetricFamiliesParseAsMetricsServerReads(t *testing.T) {
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range MetricFamilies(sample()) {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, buf.String())
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f, ok := fams[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range f.Metric {
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if len(got) != len(labels) {
				continue
			}
			if m.TimestampMs == nil || *m.TimestampMs != 1700000100000 {
				t.Errorf("%s: timestamp %v", name, m.TimestampMs)
			}
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			return m.Gauge.GetValue(), true
		}
		return 0, false
	}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"node_cpu_usage_seconds_total", nil, 5},
		{"node_memory_working_set_bytes", nil, 200},
		{"container_cpu_usage_seconds_total", map[string]string{"container": "a", "pod": "p", "namespace": "ns"}, 2},
		{"container_memory_working_set_bytes", map[string]string{"container": "b", "pod": "p", "namespace": "ns"}, 5},
		{"container_start_time_seconds", map[string]string{"container": "a", "pod": "p", "namespace": "ns"}, 1700000000},
		{"pod_cpu_usage_seconds_total", map[string]string{"pod": "p", "namespace": "ns"}, 3},
		{"pod_memory_working_set_bytes", map[string]string{"pod": "p", "namespace": "ns"}, 15},
	}
	for _, tc := range cases {
		got, ok := value(tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// metrics-server drops zero samples; none are written.
	if _, ok := value("container_cpu_usage_seconds_total", map[string]string{"container": "c", "pod": "idle", "namespace": "ns"}); ok {
		t.Error("a zero cpu sample was written")
	}
}

// TestMetricFamiliesWithoutContainers encodes a node that runs no
// containers: the text encoder refuses a family without samples, which made
// /metrics/resource answer 500 on an idle node.
func TestMetricFamiliesWithoutContainers(t *testing.T) {
	s := sample()
	s.Containers = nil
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	var names []string
	for _, mf := range MetricFamilies(s) {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, ","); got != "node_cpu_usage_seconds_total,node_memory_working_set_bytes" {
		t.Errorf("families %s, want the node's two", got)
	}
}

func TestSummary(t *testing.T) {
	s := Summary(sample())
	if s.Node.NodeName != "n1" || *s.Node.CPU.UsageCoreNanoSeconds != 5e9 || *s.Node.Memory.WorkingSetBytes != 200 {
		t.Fatalf("node stats %+v", s.Node)
	}
	if len(s.Pods) != 2 || len(s.Pods[0].Containers) != 2 {
		t.Fatalf("pods %+v", s.Pods)
	}
	p := s.Pods[0]
	if p.PodRef.UID != "u1" || *p.CPU.UsageCoreNanoSeconds != 3e9 || *p.Memory.WorkingSetBytes != 15 {
		t.Fatalf("pod totals %+v cpu %d mem %d", p.PodRef, *p.CPU.UsageCoreNanoSeconds, *p.Memory.WorkingSetBytes)
	}
}

func TestNodeUsageCgroupV1(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpuacct/cpuacct.usage", "123456789\n")
	write("memory/memory.usage_in_bytes", "1000\n")
	write("memory/memory.stat", "cache 5\ntotal_inactive_file 300\n")
	u, err := NodeUsage(root)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUNanos != 123456789 || u.MemoryUsage != 1000 || u.MemoryWorkingSet != 700 {
		t.Fatalf("usage %+v", u)
	}
	if WorkingSet(10, 20) != 0 {
		t.Fatal("working set below zero")
	}
}

// TestSummaryRatesAndMemory: cpu rates from an earlier sample (a container
// new since has none, and so has its pod), memory figures, and what is
// available below a limit.
func TestSummaryRatesAndMemory(t *testing.T) {
	prev := sample()
	prev.Time = prev.Time.Add(-2 * time.Second)
	prev.Node.CPUNanos = 4e9
	prev.Containers[0].ID, prev.Containers[0].Usage.CPUNanos = "a1", 1.5e9
	prev.Containers[1].ID = "b-older" // b restarted since: a new id
	s := sample()
	s.Containers[0].ID, s.Containers[1].ID, s.Containers[2].ID = "a1", "b2", "c1"
	s.Containers[0].Usage.MemoryRSS, s.Containers[0].Usage.PageFaults, s.Containers[0].Usage.MajorPageFaults = 7, 100, 3
	s.Containers[0].Usage.MemoryLimit = 64
	s.Node.MemoryLimit = 1000
	s.Rate(&prev)

	out := Summary(s)
	if got := out.Node.CPU.UsageNanoCores; got == nil || *got != 5e8 {
		t.Errorf("node usageNanoCores = %v, want 5e8 (1 s of cpu in 2 s)", got)
	}
	if got := out.Node.Memory.AvailableBytes; got == nil || *got != 800 {
		t.Errorf("node availableBytes = %v, want 1000 - 200", got)
	}
	a := out.Pods[0].Containers[0]
	if a.CPU.UsageNanoCores == nil || *a.CPU.UsageNanoCores != 2.5e8 {
		t.Errorf("container a usageNanoCores = %v, want 2.5e8", a.CPU.UsageNanoCores)
	}
	if *a.Memory.RSSBytes != 7 || *a.Memory.PageFaults != 100 || *a.Memory.MajorPageFaults != 3 || a.Memory.AvailableBytes == nil || *a.Memory.AvailableBytes != 54 {
		t.Errorf("container a memory = %+v", a.Memory)
	}
	if b := out.Pods[0].Containers[1]; b.CPU.UsageNanoCores != nil || b.Memory.AvailableBytes != nil {
		t.Errorf("container b (new, no limit): rate %v, available %v; want neither", b.CPU.UsageNanoCores, b.Memory.AvailableBytes)
	}
	if out.Pods[0].CPU.UsageNanoCores != nil {
		t.Errorf("pod p has a rate though one of its containers has none")
	}

	// Counters that went back give no rate.
	back := sample()
	back.Time = s.Time.Add(time.Second)
	back.Node.CPUNanos = 1
	back.Rate(&s)
	if back.NodeNanoCores != nil {
		t.Errorf("a counter that went back: rate %d", *back.NodeNanoCores)
	}
}

func TestSummaryNetworkAndProcesses(t *testing.T) {
	s := sample()
	s.Containers[0].Usage.Processes, s.Containers[1].Usage.Processes = 2, 3
	s.Networks = map[string][]Interface{"u1": {{Name: "net1", RxBytes: 1}, {Name: "eth0", RxBytes: 10, TxBytes: 20, RxErrors: 1}}}
	out := Summary(s)
	p := out.Pods[0]
	if p.ProcessStats == nil || *p.ProcessStats.ProcessCount != 5 {
		t.Errorf("process stats %+v", p.ProcessStats)
	}
	if p.Network == nil || p.Network.Name != "eth0" || *p.Network.RxBytes != 10 || *p.Network.TxBytes != 20 || *p.Network.RxErrors != 1 || len(p.Network.Interfaces) != 2 {
		t.Errorf("network %+v", p.Network)
	}
	if out.Pods[1].Network != nil {
		t.Errorf("a pod without a network namespace of its own: %+v", out.Pods[1].Network)
	}
}

// NetworkOf reads a network namespace's links over netlink, leaving out loopback.
func TestNetworkOfSkipsLoopback(t *testing.T) {
	ifs, err := NetworkOf("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) == 0 {
		t.Fatal("no interface but loopback in this namespace")
	}
	for _, i := range ifs {
		if i.Name == "lo" {
			t.Errorf("loopback listed: %+v", ifs)
		}
	}
}

// TestCadvisorFamilies parses /metrics/cadvisor as Prometheus would and
// checks the series and labels dashboards select on.
func TestCadvisorFamilies(t *testing.T) {
	s := sample()
	s.Containers[0].ID, s.Containers[0].Image = "a1", "registry/app:1"
	s.Containers[0].Usage.MemoryLimit, s.Containers[0].Usage.Processes = 64, 2
	s.Networks = map[string][]Interface{"u1": {{Name: "eth0", RxBytes: 10, TxBytes: 20}}}
	var buf bytes.Buffer
	for _, f := range CadvisorFamilies(s) {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string, want map[string]string) float64 {
		t.Helper()
		for _, m := range fams[name].GetMetric() {
			l := map[string]string{}
			for _, p := range m.Label {
				l[p.GetName()] = p.GetValue()
			}
			match := true
			for k, v := range want {
				match = match && l[k] == v
			}
			if match {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return m.Gauge.GetValue()
			}
		}
		t.Errorf("%s has no series %v", name, want)
		return -1
	}
	a := map[string]string{"container": "a", "pod": "p", "namespace": "ns", "image": "registry/app:1", "id": "a1", "name": "a1"}
	if v := find("container_cpu_usage_seconds_total", map[string]string{"container": "a", "cpu": "total", "image": "registry/app:1"}); v != 2 {
		t.Errorf("cpu = %v, want 2 s", v)
	}
	for name, want := range map[string]float64{"container_memory_working_set_bytes": 10, "container_memory_usage_bytes": 20, "container_spec_memory_limit_bytes": 64, "container_processes": 2} {
		if v := find(name, a); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := find("container_network_transmit_bytes_total", map[string]string{"container": "", "pod": "p", "namespace": "ns", "interface": "eth0"}); v != 20 {
		t.Errorf("transmit = %v, want 20", v)
	}
}
