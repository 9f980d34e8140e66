// Package volumes materializes a pod's volumes on the host so that its
// containers can bind-mount them.
//
// A Manager creates emptyDir directories (tmpfs for medium Memory), checks or
// creates hostPath paths, and writes configMap, secret, downwardAPI and
// projected volumes (including service-account tokens, ClusterTrustBundles
// and pod certificates) with WriteAtomic so that running containers see
// updates switch all at once. ContainerMounts turns a container's
// volumeMounts into host bind mounts.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/poddir"
)

// ErrUnsupported is wrapped by the error returned for a volume type (or a
// projected source or emptyDir medium) that this node cannot provide.
var ErrUnsupported = errors.New("volume type not supported")

// unsupportedError carries a specific message and unwraps to ErrUnsupported.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

// unsupported returns an ErrUnsupported error saying what is not supported.
func unsupported(what string) error {
	return &unsupportedError{msg: what + " are not supported by this node"}
}

// Source is what volumes read from the API server, for pods bound to this node.
type Source interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
	TrustBundleSource
	PodCertificateSource
}

// TrustBundleSource reads ClusterTrustBundles for clusterTrustBundle projections.
type TrustBundleSource interface {
	GetClusterTrustBundle(ctx context.Context, name string) (*certificatesv1.ClusterTrustBundle, error)
	// ListClusterTrustBundles lists the bundles of signerName whose labels
	// match selector. selector is never labels.Nothing(): a selector that
	// matches nothing is answered without asking.
	ListClusterTrustBundles(ctx context.Context, signerName string, selector labels.Selector) ([]certificatesv1.ClusterTrustBundle, error)
}

// PodCertificateSource is what podCertificate projections need: the
// identities a PodCertificateRequest names, and the requests themselves.
type PodCertificateSource interface {
	GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	CreatePodCertificateRequest(ctx context.Context, req *certificatesv1.PodCertificateRequest) (*certificatesv1.PodCertificateRequest, error)
	// GetPodCertificateRequest returns request namespace/name, which names
	// node nodeName, or a NotFound error once it is gone.
	GetPodCertificateRequest(ctx context.Context, namespace, name, nodeName string) (*certificatesv1.PodCertificateRequest, error)
}

// Manager materializes pod volumes below a root directory. It is safe for
// concurrent use; calls for the same pod are serialized.
type Manager struct {
	// HostRoot is where the agent sees the host's / when it runs in a
	// container (hostPath volumes are checked and created there); empty on
	// the host.
	HostRoot string

	root        poddir.Root
	src         Source
	now         func() time.Time
	allocatable corev1.ResourceList // the downward API's value of a limit a container does not set
	// trustOrder keys the order of trust anchors in clusterTrustBundle
	// files: fixed for the life of the Manager, new at each start.
	trustOrder []byte
	// refreshJitter is added to a pod certificate's beginRefreshAt so that
	// pods given certificates together do not all renew at once.
	refreshJitter func() time.Duration

	mu   sync.Mutex
	pods map[string]*podState
}

// podState is the per-pod lock and what the pod's volumes hold between
// writes: its service-account tokens and pod certificates.
type podState struct {
	mu     sync.Mutex
	refs   int
	tokens map[string]*tokenState
	certs  map[string]*certState
}

// held reports whether ps keeps credentials that must outlive its last lock.
func (ps *podState) held() bool { return len(ps.tokens) > 0 || len(ps.certs) > 0 }

// NewManager returns a Manager keeping pod volumes in each pod's volumes
// directory (package poddir), reading objects and tokens from src.
// allocatable is the node's, for downward API limits a container does not
// set. now is the clock used for token and certificate lifetimes; nil means
// time.Now.
func NewManager(root poddir.Root, src Source, allocatable corev1.ResourceList, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{
		root: root, src: src, now: now, allocatable: allocatable,
		trustOrder:    newTrustOrder(),
		refreshJitter: randomRefreshJitter,
		pods:          make(map[string]*podState),
	}
}

// lockPod locks the state of pod uid and returns it with its unlock function.
func (m *Manager) lockPod(uid string) (*podState, func()) {
	m.mu.Lock()
	ps := m.pods[uid]
	if ps == nil {
		ps = &podState{}
		m.pods[uid] = ps
	}
	ps.refs++
	m.mu.Unlock()
	ps.mu.Lock()
	return ps, func() {
		ps.mu.Unlock()
		m.mu.Lock()
		ps.refs--
		if ps.refs == 0 && !ps.held() {
			delete(m.pods, uid)
		}
		m.mu.Unlock()
	}
}

// podVolumesDir returns the pod's volumes directory after checking uid is a plain name.
func (m *Manager) podVolumesDir(uid types.UID) (string, error) {
	if err := checkPlainName("pod UID", string(uid)); err != nil {
		return "", err
	}
	return m.root.Pod(string(uid)).Volumes(), nil
}

// checkPlainName rejects names that are not a single, ordinary path element.
func checkPlainName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid %s %q", what, name)
	}
	return nil
}

// Prepare materializes every volume of the pod and returns the host path of
// each volume by volume name. Safe to call again (idempotent, refreshes content).
func (m *Manager) Prepare(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	if pod == nil {
		return nil, errors.New("nil pod")
	}
	base, err := m.podVolumesDir(pod.UID)
	if err != nil {
		return nil, err
	}
	ps, unlock := m.lockPod(string(pod.UID))
	defer unlock()

	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if err := checkPlainName("volume name", v.Name); err != nil {
			return nil, err
		}
		if _, dup := paths[v.Name]; dup {
			return nil, fmt.Errorf("volume %q is defined twice", v.Name)
		}
		p, err := m.prepareVolume(ctx, pod, ps, filepath.Join(base, v.Name), v)
		if err != nil {
			return nil, err
		}
		paths[v.Name] = p
	}
	return paths, nil
}

// prepareVolume materializes one volume in dir and returns its host path.
func (m *Manager) prepareVolume(ctx context.Context, pod *corev1.Pod, ps *podState, dir string, v *corev1.Volume) (string, error) {
	switch {
	case v.HostPath != nil:
		p, err := prepareHostPath(v.HostPath, m.HostRoot)
		if err != nil {
			return "", fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return p, nil
	case v.EmptyDir != nil:
		if err := prepareEmptyDir(dir, v.EmptyDir, fsGroup(pod)); err != nil {
			return "", fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return dir, nil
	case isAtomicVolume(v):
		if _, err := m.writeAtomicVolume(ctx, pod, ps, dir, v); err != nil {
			return "", err
		}
		return dir, nil
	case v.Image != nil:
		// The directory an image's filesystem is mounted on when a container
		// that mounts it is created; Cleanup unmounts it.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return dir, nil
	}
	kind := volumeKind(v)
	if kind == "" {
		return "", fmt.Errorf("volume %q: no volume source set", v.Name)
	}
	return "", fmt.Errorf("volume %q: %w", v.Name, unsupported(kind+" volumes"))
}

// readOnlyVolume reports whether containers see v read-only, whatever
// their mounts say: atomically written volumes and images.
func readOnlyVolume(v *corev1.Volume) bool { return isAtomicVolume(v) || v.Image != nil }

// isAtomicVolume reports whether v is written with WriteAtomic.
func isAtomicVolume(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

// volumeKind returns the JSON name of the source set in v, such as
// "persistentVolumeClaim", or "" if none is set.
func volumeKind(v *corev1.Volume) string {
	rv := reflect.ValueOf(v.VolumeSource)
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = rt.Field(i).Name
			}
			return name
		}
	}
	return ""
}

// writeAtomicVolume computes the files of an atomically written volume, writes
// them to dir and returns when its tokens next need renewal (zero if never).
func (m *Manager) writeAtomicVolume(ctx context.Context, pod *corev1.Pod, ps *podState, dir string, v *corev1.Volume) (time.Time, error) {
	files, next, err := m.volumeFiles(ctx, pod, ps, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return time.Time{}, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if err := WriteAtomicGroup(dir, files, fsGroup(pod)); err != nil {
		return time.Time{}, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return next, nil
}

// Refresh rewrites configMap, secret, projected and downwardAPI volumes whose
// source changed, renews service-account tokens that passed 80% of their
// lifetime and pod certificates past their beginRefreshAt. Returns the
// earliest time a refresh is next needed (a renewal, or a check of a pending
// certificate request), zero if none. Volumes that Prepare has not created
// are skipped. Every volume is attempted; the errors of all failed volumes
// are joined.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod) (time.Time, error) {
	if pod == nil {
		return time.Time{}, errors.New("nil pod")
	}
	base, err := m.podVolumesDir(pod.UID)
	if err != nil {
		return time.Time{}, err
	}
	ps, unlock := m.lockPod(string(pod.UID))
	defer unlock()

	var next time.Time
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !isAtomicVolume(v) || checkPlainName("volume name", v.Name) != nil {
			continue
		}
		dir := filepath.Join(base, v.Name)
		if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		n, err := m.writeAtomicVolume(ctx, pod, ps, dir, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next = earliest(next, n)
	}
	return next, errors.Join(errs...)
}

// earliest returns the earlier of a and b, treating zero as "never".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Cleanup unmounts (subPaths, memory emptyDirs) and removes the pod's volume
// directories; idempotent. A UID that is not a plain name has nothing to
// clean: nothing is ever made for it.
func (m *Manager) Cleanup(podUID string) error {
	if poddir.CheckUID(podUID) != nil {
		return nil
	}
	base, err := m.podVolumesDir(types.UID(podUID))
	if err != nil {
		return err
	}
	ps, unlock := m.lockPod(podUID)
	defer unlock()
	ps.tokens, ps.certs = nil, nil

	if err := cleanupSubPaths(m.root.Pod(podUID).VolumeSubpaths()); err != nil {
		return fmt.Errorf("cleaning up subPath mounts: %w", err)
	}

	entries, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", base, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if err := unmountIfMounted(filepath.Join(base, e.Name())); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(base); err != nil {
		return fmt.Errorf("removing %s: %w", base, err)
	}
	return nil
}

// fsGroup is the pod's fsGroup, the group that owns its volumes, or -1.
func fsGroup(pod *corev1.Pod) int {
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		return int(*sc.FSGroup)
	}
	return -1
}
