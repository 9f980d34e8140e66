package provider

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/stats"
)

// cgroupRoot is where the host's cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// sample measures the node and every running container: two requests to
// containerd, whatever the number of pods.
func (p *Pods) sample(ctx context.Context) (stats.Sample, error) {
	usages, err := p.cfg.Runtime.TaskUsages(ctx)
	if err != nil {
		return stats.Sample{}, err
	}
	infos, err := p.cfg.Runtime.ContainerInfos(ctx)
	if err != nil {
		return stats.Sample{}, err
	}
	node, err := stats.NodeUsage(cgroupRoot)
	if err != nil {
		return stats.Sample{}, err
	}
	node.MemoryLimit = uint64(max(p.cfg.NodeMemory, 0))
	s := stats.Sample{Time: time.Now(), NodeName: p.cfg.NodeName, NodeStartTime: p.cfg.BootTime, Node: node}
	for id, u := range usages {
		info, ok := infos[id]
		l := info.Labels
		if !ok || l[ctrd.LabelPodUID] == "" {
			continue
		}
		s.Containers = append(s.Containers, stats.Container{
			ID: id, Image: info.Image, Namespace: l[ctrd.LabelPodNamespace], Pod: l[ctrd.LabelPodName], PodUID: l[ctrd.LabelPodUID],
			Name: l[ctrd.LabelContainerName], StartTime: ctrd.StartedAt(l),
			Usage: stats.Usage{
				CPUNanos: u.CPUNanos, MemoryUsage: u.MemoryUsage, MemoryWorkingSet: stats.WorkingSet(u.MemoryUsage, u.MemoryInactiveFile),
				MemoryRSS: u.MemoryRSS, PageFaults: u.PageFaults, MajorPageFaults: u.MajorPageFaults, MemoryLimit: u.MemoryLimit,
				Processes: u.Processes,
			},
		})
	}
	s.Networks = p.podNetworks(ctx, s.Containers)
	p.rate(&s)
	return s, nil
}

// minRateWindow is the shortest time over which cpu rates are computed:
// two reads a moment apart would give noise.
const minRateWindow = time.Second

// rate gives the sample cpu rates since the last sample at least
// minRateWindow older, which the sample then replaces; a sample taken
// sooner than that after the last one is rated against the one before.
func (p *Pods) rate(s *stats.Sample) {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if p.rateBase != nil && s.Time.Sub(p.rateBase.Time) < minRateWindow {
		s.Rate(p.rateBefore)
		return
	}
	s.Rate(p.rateBase)
	base := *s
	p.rateBefore, p.rateBase = p.rateBase, &base
}

// GetStatsSummary serves /stats/summary.
func (p *Pods) GetStatsSummary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	s, err := p.sample(ctx)
	if err != nil {
		return nil, err
	}
	return stats.Summary(s), nil
}

// GetMetricsResource serves /metrics/resource.
func (p *Pods) GetMetricsResource(ctx context.Context) ([]*dto.MetricFamily, error) {
	s, err := p.sample(ctx)
	if err != nil {
		return nil, err
	}
	return stats.MetricFamilies(s), nil
}

// podNetworks reads the interfaces of each pod's pinned network namespace;
// a pod on the host's network has none pinned, and is left out.
func (p *Pods) podNetworks(ctx context.Context, cs []stats.Container) map[string][]stats.Interface {
	out := map[string][]stats.Interface{}
	for _, c := range cs {
		if _, done := out[c.PodUID]; done || poddir.CheckUID(c.PodUID) != nil {
			continue
		}
		path := filepath.Join(p.cfg.PodDirs.Pod(c.PodUID).Namespaces(), "net")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		ifs, err := stats.NetworkOf(path)
		if err != nil {
			log.G(ctx).WithError(err).WithField("pod-uid", c.PodUID).Debug("cannot read the pod's network counters")
			continue
		}
		out[c.PodUID] = ifs
	}
	return out
}

// CadvisorMetrics serves /metrics/cadvisor: a sample of the node's
// containers as cAdvisor's container_* series, in the format the scraper
// asks for.
func (p *Pods) CadvisorMetrics() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s, err := p.sample(r.Context())
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		format := expfmt.Negotiate(r.Header)
		rw.Header().Set("Content-Type", string(format))
		enc := expfmt.NewEncoder(rw, format)
		for _, f := range stats.CadvisorFamilies(s) {
			if err := enc.Encode(f); err != nil {
				return
			}
		}
	})
}
