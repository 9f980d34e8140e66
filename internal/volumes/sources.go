package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// volumeFiles computes the content of a configMap, secret, downwardAPI or
// projected volume, and when its tokens next need renewal (zero if never).
func (m *Manager) volumeFiles(ctx context.Context, pod *corev1.Pod, ps *podState, v *corev1.Volume) (map[string]File, time.Time, error) {
	files := make(map[string]File)
	switch {
	case v.ConfigMap != nil:
		s := v.ConfigMap
		def, err := fileMode(s.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
		if err != nil {
			return nil, time.Time{}, err
		}
		return files, time.Time{}, m.addConfigMap(ctx, files, pod.Namespace, s.Name, s.Items, def, isTrue(s.Optional))
	case v.Secret != nil:
		s := v.Secret
		def, err := fileMode(s.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
		if err != nil {
			return nil, time.Time{}, err
		}
		return files, time.Time{}, m.addSecret(ctx, files, pod.Namespace, s.SecretName, s.Items, def, isTrue(s.Optional))
	case v.DownwardAPI != nil:
		def, err := fileMode(v.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode)
		if err != nil {
			return nil, time.Time{}, err
		}
		return files, time.Time{}, addDownwardAPI(files, pod, v.DownwardAPI.Items, def, m.allocatable)
	case v.Projected != nil:
		next, err := m.addProjected(ctx, files, pod, ps, v.Name, v.Projected)
		return files, next, err
	}
	return nil, time.Time{}, errors.New("not a configMap, secret, downwardAPI or projected volume")
}

// addProjected merges all sources of a projected volume into files; a later
// source wins when two write the same path. Like the kubelet, it goes through
// every source even after one failed, so that a pod certificate is asked for
// while, say, a trust bundle is still missing, and reports every error.
func (m *Manager) addProjected(ctx context.Context, files map[string]File, pod *corev1.Pod, ps *podState, volName string, p *corev1.ProjectedVolumeSource) (time.Time, error) {
	def, err := fileMode(p.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	if err != nil {
		return time.Time{}, err
	}
	cred := credentialMode(def, pod)
	var next time.Time
	var errs []error
	for i, s := range p.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = m.addConfigMap(ctx, files, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, def, isTrue(s.ConfigMap.Optional))
		case s.Secret != nil:
			err = m.addSecret(ctx, files, pod.Namespace, s.Secret.Name, s.Secret.Items, def, isTrue(s.Secret.Optional))
		case s.DownwardAPI != nil:
			err = addDownwardAPI(files, pod, s.DownwardAPI.Items, def, m.allocatable)
		case s.ServiceAccountToken != nil:
			var tok []byte
			var renew time.Time
			tok, renew, err = m.token(ctx, pod, ps, volName, s.ServiceAccountToken)
			if err == nil {
				files[s.ServiceAccountToken.Path] = File{Data: tok, Mode: cred}
				next = earliest(next, renew)
			}
		case s.ClusterTrustBundle != nil:
			var anchors []byte
			anchors, err = m.trustAnchors(ctx, s.ClusterTrustBundle)
			if err == nil {
				files[s.ClusterTrustBundle.Path] = File{Data: anchors, Mode: cred}
			}
		case s.PodCertificate != nil:
			var key, chain []byte
			var renew time.Time
			key, chain, renew, err = m.podCertificate(ctx, pod, ps, volName, i, s.PodCertificate)
			if err == nil {
				addPodCertificate(files, s.PodCertificate, key, chain, cred)
				next = earliest(next, renew)
			}
		default:
			err = fmt.Errorf("projected source %d has no source set", i)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch len(errs) {
	case 0:
		return next, nil
	case 1:
		return time.Time{}, errs[0]
	}
	return time.Time{}, sourceErrors(errs)
}

// sourceErrors are the errors of several sources of a projected volume. They
// read on one line, as the kubelet's do: [first, second].
type sourceErrors []error

func (e sourceErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

func (e sourceErrors) Unwrap() []error { return e }

// credentialMode is the mode of a token, trust bundle or certificate file.
// In a pod with an fsGroup the kubelet writes them 0600 and then grants the
// group read (0640, see WriteAtomicGroup), whatever defaultMode says, so
// that other users never read them.
func credentialMode(def os.FileMode, pod *corev1.Pod) os.FileMode {
	if fsGroup(pod) >= 0 {
		return 0o600
	}
	return def
}

// addConfigMap adds the keys of configmap ns/name to files.
func (m *Manager) addConfigMap(ctx context.Context, files map[string]File, ns, name string, items []corev1.KeyToPath, def os.FileMode, optional bool) error {
	if name == "" {
		return errors.New("configmap name is empty")
	}
	cm, err := m.src.GetConfigMap(ctx, ns, name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting configmap %q: %w", name, err)
	}
	if err != nil || cm == nil {
		return missingObject("configmap", name, optional)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return addKeys(files, data, items, def, optional, "configmap references non-existent config key")
}

// addSecret adds the keys of secret ns/name to files.
func (m *Manager) addSecret(ctx context.Context, files map[string]File, ns, name string, items []corev1.KeyToPath, def os.FileMode, optional bool) error {
	if name == "" {
		return errors.New("secret name is empty")
	}
	s, err := m.src.GetSecret(ctx, ns, name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting secret %q: %w", name, err)
	}
	if err != nil || s == nil {
		return missingObject("secret", name, optional)
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	for k, v := range s.Data {
		data[k] = v
	}
	return addKeys(files, data, items, def, optional, "secret references non-existent secret key")
}

// missingObject is nil for an optional source and a NotFound error otherwise,
// worded like the kubelet's: configmap "x" not found.
func missingObject(kind, name string, optional bool) error {
	if optional {
		return nil
	}
	return apierrors.NewNotFound(corev1.Resource(kind), name)
}

// addKeys adds data to files: every key under its own name when items is
// empty, otherwise only the listed keys under their paths.
func addKeys(files map[string]File, data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, optional bool, missingKey string) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = File{Data: v, Mode: def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s: %s", missingKey, it.Key)
		}
		mode, err := fileMode(it.Mode, int32(def))
		if err != nil {
			return fmt.Errorf("item %q: %w", it.Key, err)
		}
		files[it.Path] = File{Data: v, Mode: mode}
	}
	return nil
}

// fileMode converts an optional API file mode (0-0777) to a FileMode, using
// def when it is unset.
func fileMode(m *int32, def int32) (os.FileMode, error) {
	v := def
	if m != nil {
		v = *m
	}
	if v < 0 || v > 0o777 {
		return 0, fmt.Errorf("invalid file mode %#o: must be between 0 and 0777", v)
	}
	return os.FileMode(v), nil
}

// isTrue reports whether an optional bool is set and true.
func isTrue(b *bool) bool { return b != nil && *b }
