package provider

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vk-containerd/vk-containerd/internal/hostinfo"
	"github.com/vk-containerd/vk-containerd/internal/pressure"
)

// RuntimeHealth is what the node needs to know of the container runtime.
type RuntimeHealth interface {
	Healthy(ctx context.Context) error
	Version(ctx context.Context) (string, error)
}

// NodeConfig describes the node object the agent registers.
type NodeConfig struct {
	Name           string
	InternalIP     net.IP
	Hostname       string
	Port           int32 // kubelet API port, published as status.daemonEndpoints
	MaxPods        int
	Labels         map[string]string
	Taints         []corev1.Taint
	Resources      hostinfo.Resources
	Identity       hostinfo.Identity
	KubeletVersion string
}

// Node conditions' reasons and messages, as the kubelet writes them.
const (
	reasonReady         = "KubeletReady"
	reasonNotReady      = "KubeletNotReady"
	messageReady        = "kubelet is posting ready status"
	reasonHasMemory     = "KubeletHasSufficientMemory"
	reasonHasDisk       = "KubeletHasNoDiskPressure"
	reasonHasPID        = "KubeletHasSufficientPID"
	messageHasMemory    = "kubelet has sufficient memory available"
	messageHasDisk      = "kubelet has no disk pressure"
	messageHasPID       = "kubelet has sufficient PID available"
	reasonDiskPressure  = "KubeletHasDiskPressure"
	messageDiskPressure = "kubelet has disk pressure"
	runtimeCheckPeriod  = 2 * time.Second
	runtimeCheckWait    = 2 * time.Second
)

// NewNodeObject builds the node as the agent registers it.
func NewNodeObject(cfg NodeConfig) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   cfg.Name,
		corev1.LabelOSStable:   cfg.Identity.OperatingSystem,
		corev1.LabelArchStable: cfg.Identity.Architecture,
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(cfg.Resources.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(cfg.Resources.MemoryBytes, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(cfg.Resources.EphemeralStorage, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(cfg.MaxPods), resource.DecimalSI),
	}
	addresses := []corev1.NodeAddress{}
	if cfg.InternalIP != nil {
		addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: cfg.InternalIP.String()})
	}
	addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: cfg.Hostname})
	now := metav1.Now()
	condition := func(t corev1.NodeConditionType, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message,
			LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: cfg.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: cfg.Taints},
		Status: corev1.NodeStatus{
			Capacity:        capacity,
			Allocatable:     capacity.DeepCopy(),
			Addresses:       addresses,
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: cfg.Port}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:       cfg.Identity.MachineID,
				SystemUUID:      cfg.Identity.SystemUUID,
				BootID:          cfg.Identity.BootID,
				KernelVersion:   cfg.Identity.KernelVersion,
				OSImage:         cfg.Identity.OSImage,
				OperatingSystem: cfg.Identity.OperatingSystem,
				Architecture:    cfg.Identity.Architecture,
				KubeletVersion:  cfg.KubeletVersion,
			},
			Conditions: []corev1.NodeCondition{
				condition(corev1.NodeReady, reasonNotReady, "container runtime status not yet checked"),
				condition(corev1.NodeMemoryPressure, reasonHasMemory, messageHasMemory),
				condition(corev1.NodeDiskPressure, reasonHasDisk, messageHasDisk),
				condition(corev1.NodePIDPressure, reasonHasPID, messageHasPID),
			},
		},
	}
}

// NodeStatus keeps the node's status: it watches the container runtime and
// turns the Ready condition False, with the reason, while the runtime is down,
// and sets DiskPressure from the root directory's filesystem.
// It implements node.NodeProvider.
type NodeStatus struct {
	runtime RuntimeHealth
	disk    *pressure.Disk // nil: DiskPressure is never set
	period  time.Duration

	mu   sync.Mutex // guards node
	node *corev1.Node
}

var _ node.NodeProvider = (*NodeStatus)(nil)

// NewNodeStatus checks the runtime and the disk once, so the node registers
// with the right conditions, and returns the status keeper for n.
func NewNodeStatus(ctx context.Context, n *corev1.Node, rt RuntimeHealth, disk *pressure.Disk) *NodeStatus {
	s := &NodeStatus{runtime: rt, disk: disk, period: runtimeCheckPeriod, node: n}
	s.check(ctx)
	return s
}

// Node returns a copy of the node as it is now.
func (s *NodeStatus) Node() *corev1.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node.DeepCopy()
}

// Ping reports whether the agent can vouch for the node. The agent answers as
// long as it runs; the runtime's health is carried by the Ready condition,
// since a failing Ping would stop status updates altogether.
func (s *NodeStatus) Ping(context.Context) error { return nil }

// NotifyNodeStatus checks the runtime every few seconds and calls cb whenever
// the node's status changes.
func (s *NodeStatus) NotifyNodeStatus(ctx context.Context, cb func(*corev1.Node)) {
	go func() {
		t := time.NewTicker(s.period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.check(ctx) {
					cb(s.Node())
				}
			}
		}
	}()
}

// check asks the runtime for its health and version and reports whether the
// node's status changed.
func (s *NodeStatus) check(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, runtimeCheckWait)
	defer cancel()
	err := s.runtime.Healthy(ctx)
	version := ""
	if err == nil {
		version, err = s.runtime.Version(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	if version != "" && s.node.Status.NodeInfo.ContainerRuntimeVersion != version {
		s.node.Status.NodeInfo.ContainerRuntimeVersion = version
		changed = true
	}
	status, reason, message := corev1.ConditionTrue, reasonReady, messageReady
	if err != nil {
		status, reason, message = corev1.ConditionFalse, reasonNotReady, "container runtime is down: "+err.Error()
	}
	changed = setCondition(s.node, corev1.NodeReady, status, reason, message) || changed
	return s.checkDisk() || changed
}

// checkDisk sets DiskPressure; s.mu is held.
func (s *NodeStatus) checkDisk() bool {
	if s.disk == nil {
		return false
	}
	under, why, err := s.disk.Check(time.Now())
	if err != nil {
		log.L.WithError(err).Warn("cannot read the root directory's filesystem")
	}
	if !under {
		return setCondition(s.node, corev1.NodeDiskPressure, corev1.ConditionFalse, reasonHasDisk, messageHasDisk)
	}
	if setCondition(s.node, corev1.NodeDiskPressure, corev1.ConditionTrue, reasonDiskPressure, messageDiskPressure) {
		log.L.WithField("why", why).Warn("node under disk pressure")
		return true
	}
	return false
}

// setCondition sets a node condition and reports whether it changed.
func setCondition(n *corev1.Node, t corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string) bool {
	now := metav1.Now()
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastHeartbeatTime = status, reason, message, now
		return true
	}
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastHeartbeatTime: now, LastTransitionTime: now,
	})
	return true
}

// ParseTaints parses taints in the kubelet's --register-with-taints form,
// key=value:Effect or key:Effect, separated by commas.
func ParseTaints(specs []string) ([]corev1.Taint, error) {
	var taints []corev1.Taint
	for _, spec := range specs {
		i := strings.LastIndex(spec, ":")
		if i <= 0 {
			return nil, fmt.Errorf("invalid taint %q: want key=value:Effect or key:Effect", spec)
		}
		kv, effect := spec[:i], spec[i+1:]
		switch corev1.TaintEffect(effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("invalid taint %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", spec, effect)
		}
		key, value, _ := strings.Cut(kv, "=")
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, fmt.Errorf("invalid taint %q: key: %s", spec, strings.Join(errs, "; "))
		}
		taints = append(taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)})
	}
	return taints, nil
}
