package sandbox

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/poddns"
	"github.com/vk-containerd/vk-containerd/internal/roottest"
)

// fakeNetwork hands out one address and remembers who holds it.
type fakeNetwork struct {
	setupErr  error
	attached  map[string]bool
	teardowns int
}

func (f *fakeNetwork) Setup(_ context.Context, a cni.Attachment) ([]net.IP, error) {
	if f.setupErr != nil {
		return nil, f.setupErr
	}
	if !cni.Pinned(a.NetNS) {
		return nil, errors.New("netns " + a.NetNS + " is not pinned")
	}
	f.attached[a.ID] = true
	return []net.IP{net.ParseIP("10.92.0.7")}, nil
}

func (f *fakeNetwork) Teardown(_ context.Context, a cni.Attachment) error {
	f.teardowns++
	delete(f.attached, a.ID)
	return nil
}

func (f *fakeNetwork) CachedIPs(a cni.Attachment) ([]net.IP, error) {
	if f.attached[a.ID] {
		return []net.IP{net.ParseIP("10.92.0.7")}, nil
	}
	return nil, errors.New("no cached result")
}

func sandboxPod(uid string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: types.UID("0f3b6d0e-0000-0000-0000-" + uid)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
	}
}

func newTestManager(t *testing.T, net *fakeNetwork, hostResolv string) (*Manager, poddir.Root) {
	root := poddir.Root(t.TempDir())
	return NewManager(root, net, poddns.Config{ClusterDomain: "cluster.local", HostResolvConf: hostResolv}), root
}

// ensured is a sandbox built for a DNSDefault pod, with the host
// resolv.conf it read.
func ensured(t *testing.T, uid string) (resolv string, fn *fakeNetwork, m *Manager, root poddir.Root, pod *corev1.Pod, sb *Sandbox) {
	t.Helper()
	resolv = filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fn = &fakeNetwork{attached: map[string]bool{}}
	m, root = newTestManager(t, fn, resolv)
	pod = sandboxPod(uid)
	pod.Spec.DNSPolicy = corev1.DNSDefault
	sb, err := m.Ensure(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	return resolv, fn, m, root, pod, sb
}

func TestEnsureAndRemove(t *testing.T) {
	roottest.Require(t)
	ctx := context.Background()
	_, fn, m, root, pod, sb := ensured(t, "000000000001")
	if len(sb.IPs) != 1 || !cni.Pinned(sb.Namespaces.Net) || !cni.Pinned(sb.Namespaces.UTS) {
		t.Fatalf("sandbox = %+v", sb)
	}
	if b, _ := os.ReadFile(sb.ResolvConf); !strings.Contains(string(b), "10.0.0.53") {
		t.Errorf("resolv.conf = %q", b)
	}
	if b, _ := os.ReadFile(sb.Hosts); !strings.Contains(string(b), "10.92.0.7\tweb") {
		t.Errorf("hosts = %q", b)
	}
	// Again (an agent restart): the same namespaces and the cached address, no new ADD.
	again, err := m.Ensure(ctx, pod)
	if err != nil || again.Namespaces != sb.Namespaces || !again.IPs[0].Equal(sb.IPs[0]) {
		t.Fatalf("second Ensure = %+v, %v", again, err)
	}
	if uids, _ := m.Leftovers(); len(uids) != 1 || uids[0] != string(pod.UID) {
		t.Errorf("Leftovers = %v", uids)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := m.Remove(ctx, pod); err != nil {
			t.Fatalf("Remove %d: %v", i, err)
		}
	}
	if _, err := os.Stat(root.Pod(string(pod.UID)).Path()); !errors.Is(err, os.ErrNotExist) || len(fn.attached) != 0 {
		t.Errorf("after Remove: dir %v, attached %v", err, fn.attached)
	}
}

// A step that fails half-way undoes the steps before it: nothing of the
// pod is left, on the host or on the network.
func TestEnsureUndoesAFailedStep(t *testing.T) {
	roottest.Require(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		setupErr   error
		hostResolv string
	}{
		{"CNI ADD fails", errors.New("no IP addresses available"), "/etc/resolv.conf"},
		{"resolv.conf cannot be written", nil, "/nonexistent/resolv.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn := &fakeNetwork{setupErr: tc.setupErr, attached: map[string]bool{}}
			m, root := newTestManager(t, fn, tc.hostResolv)
			pod := sandboxPod("000000000002")
			pod.Spec.DNSPolicy = corev1.DNSDefault
			if _, err := m.Ensure(ctx, pod); err == nil {
				t.Fatal("Ensure succeeded")
			}
			dir := root.Pod(string(pod.UID))
			if cni.Pinned(filepath.Join(dir.Namespaces(), "net")) {
				t.Error("the network namespace is still pinned")
			}
			if _, err := os.Stat(dir.Path()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pod directory: %v, want it removed", err)
			}
			if len(fn.attached) != 0 {
				t.Errorf("still attached: %v", fn.attached)
			}
		})
	}
}

func TestRefusesUIDsThatAreNotPlainNames(t *testing.T) {
	m, _ := newTestManager(t, &fakeNetwork{attached: map[string]bool{}}, "/etc/resolv.conf")
	pod := sandboxPod("x")
	pod.UID = "../../etc"
	if _, err := m.Ensure(context.Background(), pod); err == nil {
		t.Error("Ensure accepted a UID with a path in it")
	}
	// Nothing was made for it: Remove has nothing to do, and succeeds so
	// that the refused pod can be released.
	if err := m.Remove(context.Background(), pod); err != nil {
		t.Errorf("Remove of a UID with a path in it: %v", err)
	}
}

// While subPath mounts are there, Remove deletes nothing: deleting the pod
// directory would delete through them into the volumes they mount.
func TestRemoveLeavesAPodDirWithSubPathMounts(t *testing.T) {
	fn := &fakeNetwork{attached: map[string]bool{}}
	m, root := newTestManager(t, fn, "/etc/resolv.conf")
	pod := sandboxPod("5")
	pod.Spec.HostNetwork = true
	mountPoint := filepath.Join(root.Pod(string(pod.UID)).VolumeSubpaths(), "vol", "app", "0")
	if err := os.MkdirAll(mountPoint, 0o750); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(mountPoint, "host-file")
	if err := os.WriteFile(kept, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), pod); err == nil || !strings.Contains(err.Error(), "subPath mounts are still there") {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("Remove deleted below a subPath mount point: %v", err)
	}
}

// A sandbox built before (a running pod, after an agent restart) is kept
// when a later Ensure fails: its namespaces stay pinned and its address
// attached.
func TestEnsureKeepsAnAdoptedSandboxOnFailure(t *testing.T) {
	roottest.Require(t)
	ctx := context.Background()
	resolv, fn, m, _, pod, sb := ensured(t, "000000000003")
	defer m.Remove(ctx, pod)
	if err := os.Remove(resolv); err != nil { // the next Ensure cannot write resolv.conf
		t.Fatal(err)
	}
	if _, err := m.Ensure(ctx, pod); err == nil {
		t.Fatal("Ensure succeeded without the host's resolv.conf")
	}
	if !cni.Pinned(sb.Namespaces.Net) || !fn.attached[string(pod.UID)] || fn.teardowns != 0 {
		t.Errorf("adopted sandbox torn down: net pinned %v, attached %v, teardowns %d", cni.Pinned(sb.Namespaces.Net), fn.attached, fn.teardowns)
	}
}
