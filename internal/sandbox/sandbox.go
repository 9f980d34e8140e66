// Package sandbox prepares what the containers of a pod share, without a
// pause container: a directory on the host, pinned network, IPC and UTS
// namespaces, the pod's place on the CNI network, and its /etc/hosts,
// /etc/resolv.conf and /etc/hostname. Ensure builds a sandbox step by step
// and undoes what it built when a step fails; Remove is idempotent.
//
// The pod's directory and what lives in it are named by package poddir.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/poddns"
)

// Network is the part of the CNI network a sandbox uses.
type Network interface {
	Setup(ctx context.Context, a cni.Attachment) ([]net.IP, error)
	Teardown(ctx context.Context, a cni.Attachment) error
	CachedIPs(a cni.Attachment) ([]net.IP, error)
}

// Manager creates and removes pod sandboxes.
type Manager struct {
	root    poddir.Root
	network Network
	dns     poddns.Config
}

// Sandbox is a pod's shared environment.
type Sandbox struct {
	Dir         poddir.Dir
	Namespaces  cni.Namespaces
	IPs         []net.IP // empty for hostNetwork pods
	HostNetwork bool
	Hosts       string // path of the pod's /etc/hosts
	ResolvConf  string // path of the pod's /etc/resolv.conf
	Hostname    string // path of the pod's /etc/hostname
	DNSWarning  string // set when DNS fell back from the pod's policy
}

// NewManager returns a sandbox manager that keeps pod directories in root.
func NewManager(root poddir.Root, network Network, dns poddns.Config) *Manager {
	return &Manager{root: root, network: network, dns: dns}
}

func attachment(pod *corev1.Pod, netns string) cni.Attachment {
	a := cni.Attachment{ID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), NetNS: netns}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			a.Ports = append(a.Ports, cni.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: string(proto), HostIP: p.HostIP})
		}
	}
	return a
}

// Ensure builds the pod's sandbox, or returns the one already built (after an
// agent restart too). On error nothing new is left behind, and a sandbox
// built before is left as it was.
func (m *Manager) Ensure(ctx context.Context, pod *corev1.Pod) (_ *Sandbox, err error) {
	if err := poddir.CheckUID(string(pod.UID)); err != nil {
		return nil, err
	}
	dir := m.root.Pod(string(pod.UID))
	if err := os.MkdirAll(dir.Path(), 0o750); err != nil {
		return nil, err
	}
	// A sandbox whose namespaces are pinned already was built by an earlier
	// call (or run of the agent) and may hold running containers: a failure
	// now leaves it as it is. Only a sandbox this call began is undone.
	adopted := pinned(cni.NamespacesIn(dir.Namespaces()))
	ns, err := cni.PinNamespaces(dir.Namespaces(), poddns.Hostname(pod))
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{Dir: dir, Namespaces: ns, HostNetwork: pod.Spec.HostNetwork}
	defer func() {
		if err != nil && !adopted {
			err = errors.Join(err, m.Remove(context.WithoutCancel(ctx), pod))
		}
	}()
	if !sb.HostNetwork {
		a := attachment(pod, ns.Net)
		ips, cerr := m.network.CachedIPs(a)
		if cerr != nil || len(ips) == 0 {
			if ips, err = m.network.Setup(ctx, a); err != nil {
				return nil, err
			}
		}
		sb.IPs = ips
	}
	if err := m.writeEtc(pod, sb); err != nil {
		return nil, err
	}
	return sb, nil
}

// pinned reports whether all of ns are pinned.
func pinned(ns cni.Namespaces) bool {
	return cni.Pinned(ns.Net) && cni.Pinned(ns.IPC) && cni.Pinned(ns.UTS)
}

func (m *Manager) writeEtc(pod *corev1.Pod, sb *Sandbox) error {
	etc := sb.Dir.Etc()
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	ips := make([]string, len(sb.IPs))
	for i, ip := range sb.IPs {
		ips[i] = ip.String()
	}
	hosts, err := poddns.Hosts(pod, ips, m.dns.ClusterDomain, "/etc/hosts")
	if err != nil {
		return fmt.Errorf("pod /etc/hosts: %w", err)
	}
	resolv, warning, err := poddns.ResolvConf(pod, m.dns)
	if err != nil {
		return fmt.Errorf("pod /etc/resolv.conf: %w", err)
	}
	sb.DNSWarning = warning
	sb.Hosts, sb.ResolvConf, sb.Hostname = filepath.Join(etc, "hosts"), filepath.Join(etc, "resolv.conf"), filepath.Join(etc, "hostname")
	for path, data := range map[string][]byte{
		sb.Hosts:      hosts,
		sb.ResolvConf: resolv,
		sb.Hostname:   []byte(poddns.Hostname(pod) + "\n"),
	} {
		if err := writeFile(path, data); err != nil {
			return err
		}
	}
	return nil
}

// writeFile replaces path's content by a rename, so a container never sees
// a half-written file.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Remove tears the pod's sandbox down: CNI DEL, unpin the namespaces, delete
// the pod directory. Safe to call any number of times. Volumes must be
// cleaned up (unmounted) before. A UID that is not a plain name has no
// sandbox: Ensure refuses it.
func (m *Manager) Remove(ctx context.Context, pod *corev1.Pod) error {
	if poddir.CheckUID(string(pod.UID)) != nil {
		return nil
	}
	dir := m.root.Pod(string(pod.UID))
	if _, err := os.Stat(dir.Path()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// The subPath bind mounts are gone with their directory; while it is
	// there, deleting the pod directory could delete through them into a
	// hostPath volume.
	if _, err := os.Lstat(dir.VolumeSubpaths()); err == nil {
		return fmt.Errorf("pod %s: subPath mounts are still there; volumes must be cleaned up first", pod.UID)
	}
	ns := cni.NamespacesIn(dir.Namespaces())
	var errs []error
	if !pod.Spec.HostNetwork {
		// A namespace that is no longer pinned (unmounted by hand, or the
		// host rebooted) is gone: DEL then only releases the IP and rules.
		netns := ns.Net
		if !cni.Pinned(netns) {
			netns = ""
		}
		if err := m.network.Teardown(ctx, attachment(pod, netns)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cni.UnpinNamespaces(dir.Namespaces()); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir.Path()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists the pod UIDs that have a directory under the root.
func (m *Manager) Leftovers() ([]string, error) { return m.root.UIDs() }
