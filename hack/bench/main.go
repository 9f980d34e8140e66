// Command bench measures how fast a node starts and removes pods: it creates
// N pods bound to the node at once, times create->Ready and delete->gone per
// pod from a watch, and samples the node agent's CPU time and RSS (busy, and
// idle with the pods running). It prints a table and writes JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Result is one run of N pods.
type Result struct {
	Pods             int          `json:"pods"`
	CreateToReady    Distribution `json:"create_to_ready_ms"`
	AllReadySeconds  float64      `json:"all_ready_s"`
	PodsPerSecond    float64      `json:"pods_per_second"`
	DeleteToGone     Distribution `json:"delete_to_gone_ms"`
	AllGoneSeconds   float64      `json:"all_gone_s"`
	AgentCPUCreate   float64      `json:"agent_cpu_seconds_create"`
	AgentCPUDelete   float64      `json:"agent_cpu_seconds_delete"`
	AgentRSSMB       float64      `json:"agent_rss_mb_with_pods"`
	IdleCPUPercent   float64      `json:"agent_idle_cpu_percent_of_a_core"`
	IdleWindowSecond float64      `json:"idle_window_s"`
}

// Distribution summarizes latencies in milliseconds.
type Distribution struct {
	P50, P90, P99, Max float64
}

func main() {
	kc := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	node := flag.String("node", "vk-node", "node the pods are bound to")
	sizes := flag.String("n", "1,50", "pod counts to run, comma separated")
	image := flag.String("image", "127.0.0.1:5000/busybox:1.35", "image of the pods (must have sh)")
	pidFile := flag.String("agent-pid-file", "", "pid file of the node agent, for CPU and RSS")
	idle := flag.Duration("idle", 10*time.Second, "how long to sample idle CPU with the pods running")
	out := flag.String("out", "bench.json", "JSON output file")
	pfMiB := flag.Int("port-forward-mib", 100, "MiB to read through port-forward and from the pod IP (0: skip)")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kc)
	check(err)
	cfg.QPS, cfg.Burst = 500, 1000
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	ns := "vkc-bench"
	_, _ = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	waitServiceAccount(ctx, cs, ns)

	var results []Result
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		check(err)
		r := run(ctx, cs, ns, *node, *image, n, agentPID(*pidFile), *idle)
		results = append(results, r)
	}
	printTable(results)
	report := map[string]interface{}{
		"node": *node, "image": *image, "time": time.Now().UTC().Format(time.RFC3339), "results": results,
	}
	if *pfMiB > 0 {
		t := measurePortForward(ctx, cfg, cs, ns, *node, *image, *pfMiB)
		fmt.Printf("port-forward: %d MiB in %.2fs (%.1f MB/s); direct to the pod IP: %.2fs (%.1f MB/s)\n",
			t.Bytes>>20, t.PortForwardSeconds, t.PortForwardMBPerSec, t.DirectToPodIPSeconds, t.DirectMBPerSec)
		report["port_forward"] = t
	}
	data, err := json.MarshalIndent(report, "", "  ")
	check(err)
	check(os.WriteFile(*out, append(data, '\n'), 0o644))
	fmt.Printf("wrote %s\n", *out)
}

func run(ctx context.Context, cs kubernetes.Interface, ns, node, image string, n, pid int, idle time.Duration) Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	label := fmt.Sprintf("bench-%d-%d", n, time.Now().UnixNano())
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "bench=" + label})
	check(err)
	t := newTracker(n)
	go t.follow(watchPods(ctx, cs, ns, "bench="+label, list.ResourceVersion))

	cpu0 := cpuSeconds(pid)
	start := time.Now()
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("%s-%03d", label, i))
	}
	forAll(names, func(name string) {
		t.mark(t.created, name)
		_, err := cs.CoreV1().Pods(ns).Create(ctx, benchPod(name, label, node, image), metav1.CreateOptions{})
		check(err)
	})
	waitOrDie(t.allReady, 5*time.Minute, "pods Ready")
	r := Result{Pods: n, AllReadySeconds: time.Since(start).Seconds()}
	r.PodsPerSecond = float64(n) / r.AllReadySeconds
	r.AgentCPUCreate = cpuSeconds(pid) - cpu0

	// Idle: nothing changes, the agent should do (almost) nothing.
	time.Sleep(2 * time.Second)
	c0 := cpuSeconds(pid)
	time.Sleep(idle)
	r.IdleCPUPercent = 100 * (cpuSeconds(pid) - c0) / idle.Seconds()
	r.IdleWindowSecond = idle.Seconds()
	r.AgentRSSMB = rssMB(pid)

	cpu1 := cpuSeconds(pid)
	start = time.Now()
	forAll(names, func(name string) {
		t.mark(t.deleted, name)
		check(cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}))
	})
	waitOrDie(t.allGone, 5*time.Minute, "pods gone")
	r.AllGoneSeconds = time.Since(start).Seconds()
	r.AgentCPUDelete = cpuSeconds(pid) - cpu1
	t.mu.Lock()
	r.CreateToReady, r.DeleteToGone = summarize(t.ready), summarize(t.gone)
	t.mu.Unlock()
	return r
}

// benchPod is one pod of a round: a shell that sleeps and ends on SIGTERM.
func benchPod(name, label, node, image string) *corev1.Pod {
	grace := int64(30)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": label}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "c", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
			}},
		},
	}
}

// forAll calls fn for every name at once and waits for all.
func forAll(names []string, fn func(name string)) {
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(name)
		}()
	}
	wg.Wait()
}

// tracker times each pod of a round from its create (delete) request to
// the watch event that shows it Ready (gone).
type tracker struct {
	n                 int
	allReady, allGone chan struct{}

	mu               sync.Mutex // guards the maps
	created, deleted map[string]time.Time
	ready, gone      map[string]time.Duration
}

func newTracker(n int) *tracker {
	return &tracker{
		n: n, allReady: make(chan struct{}), allGone: make(chan struct{}),
		created: map[string]time.Time{}, deleted: map[string]time.Time{},
		ready: map[string]time.Duration{}, gone: map[string]time.Duration{},
	}
}

// mark records now as the request time of name in m.
func (t *tracker) mark(m map[string]time.Time, name string) {
	t.mu.Lock()
	m[name] = time.Now()
	t.mu.Unlock()
}

// follow reads pod events until the channel closes.
func (t *tracker) follow(events <-chan watch.Event) {
	for ev := range events {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		now := time.Now()
		t.mu.Lock()
		if at, ok := t.created[p.Name]; ok && isReady(p) {
			t.record(t.ready, p.Name, now.Sub(at), t.allReady)
		}
		if at, ok := t.deleted[p.Name]; ok && ev.Type == watch.Deleted {
			t.record(t.gone, p.Name, now.Sub(at), t.allGone)
		}
		t.mu.Unlock()
	}
}

// record keeps the first duration of name in m and closes all when every
// pod has one; t.mu is held.
func (t *tracker) record(m map[string]time.Duration, name string, d time.Duration, all chan struct{}) {
	if _, seen := m[name]; seen {
		return
	}
	m[name] = d
	if len(m) == t.n {
		close(all)
	}
}

// watchPods streams pod events from resourceVersion on, watching again from
// the last version seen whenever the API server ends a watch.
func watchPods(ctx context.Context, cs kubernetes.Interface, ns, selector, rv string) <-chan watch.Event {
	out := make(chan watch.Event, 1024)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*corev1.Pod); ok {
					rv = p.ResourceVersion
					select {
					case out <- ev:
					case <-ctx.Done():
						w.Stop()
						return
					}
				}
			}
		}
	}()
	return out
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func summarize(m map[string]time.Duration) Distribution {
	var ms []float64
	for _, d := range m {
		ms = append(ms, float64(d.Microseconds())/1000)
	}
	sort.Float64s(ms)
	at := func(q float64) float64 {
		if len(ms) == 0 {
			return 0
		}
		i := int(q*float64(len(ms))+0.5) - 1
		return ms[max(0, min(i, len(ms)-1))]
	}
	return Distribution{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: at(1)}
}

func printTable(rs []Result) {
	fmt.Printf("%5s  %-28s  %8s  %7s  %-28s  %7s  %9s  %9s  %7s  %8s\n",
		"pods", "create->Ready ms p50/p90/p99/max", "allReady", "pods/s", "delete->gone ms p50/p90/p99/max", "allGone", "cpu create", "cpu del", "RSS MB", "idle %cpu")
	for _, r := range rs {
		fmt.Printf("%5d  %-28s  %7.2fs  %7.1f  %-28s  %6.2fs  %8.2fs  %8.2fs  %7.1f  %8.2f\n",
			r.Pods, dist(r.CreateToReady), r.AllReadySeconds, r.PodsPerSecond, dist(r.DeleteToGone), r.AllGoneSeconds,
			r.AgentCPUCreate, r.AgentCPUDelete, r.AgentRSSMB, r.IdleCPUPercent)
	}
}

func dist(d Distribution) string {
	return fmt.Sprintf("%.0f/%.0f/%.0f/%.0f", d.P50, d.P90, d.P99, d.Max)
}

func agentPID(file string) int {
	if file == "" {
		return 0
	}
	data, err := os.ReadFile(file)
	check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	check(err)
	return pid
}

// cpuSeconds is the user+system CPU time of pid, from /proc/<pid>/stat.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

func rssMB(pid int) float64 {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	return 0
}

func waitServiceAccount(ctx context.Context, cs kubernetes.Interface, ns string) {
	for i := 0; i < 100; i++ {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	check(fmt.Errorf("no default service account in namespace %s", ns))
}

func waitOrDie(ch chan struct{}, d time.Duration, what string) {
	select {
	case <-ch:
	case <-time.After(d):
		check(fmt.Errorf("timed out after %s waiting for %s", d, what))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
