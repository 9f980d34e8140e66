// Package podenv resolves the environment of a pod's container the way the
// kubelet does once the pod has its IPs: envFrom sources first, then the
// container's env entries, with valueFrom sources (downward API fields,
// container resources, ConfigMap and Secret keys) looked up and $(VAR)
// references expanded.
//
// Service link variables (FOO_SERVICE_HOST, KUBERNETES_PORT, ...) come from
// Facts.Services (see ServiceEnv): usable in $(VAR) references and added
// after the container's own variables, which win. valueFrom.fileKeyRef is not
// supported. The result is deterministic: variables keep the position where
// their name first appeared, and the keys of one envFrom source are taken in
// sorted order (the kubelet iterates a map there).
package podenv

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Source is what env resolution reads from the API server.
type Source interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
}

// Facts are the pod facts known only on the node.
//
// PodIPs and HostIPs fall back to the pod's status when empty; NodeName is
// used when pod.Spec.NodeName is empty; Allocatable stands in for a
// container's cpu, memory and ephemeral-storage limits when they are not set.
type Facts struct {
	PodIPs      []string
	HostIPs     []string
	NodeName    string
	Allocatable corev1.ResourceList
	// Services are the variables of the services the pod sees (ServiceEnv).
	Services map[string]string
}

// ErrConfig is wrapped by every error caused by the pod's own configuration
// (a missing ConfigMap, Secret or key that is not optional, an unsupported
// field or resource reference), so callers can report the container as
// CreateContainerConfigError. Transient API errors do not wrap it.
var ErrConfig = errors.New("container configuration error")

// ErrSource is wrapped by every error of the API source itself (it did not
// answer, it refused): not the pod's fault, and gone on a later try.
var ErrSource = errors.New("configuration source unavailable")

// sourceErrorf is an error of the source: its text is the kubelet's, and it
// wraps ErrSource and the cause.
func sourceErrorf(cause error, format string, args ...any) error {
	return &classError{class: ErrSource, msg: fmt.Sprintf(format, args...), cause: cause}
}

// classError is an error of one class, with a kubelet-style message.
type classError struct {
	class error
	msg   string
	cause error
}

func (e *classError) Error() string { return e.msg }

func (e *classError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.class}
	}
	return []error{e.class, e.cause}
}

// configErrorf is an error of the pod's configuration: its text is the
// kubelet's, and it wraps ErrConfig and the cause, if any.
func configErrorf(cause error, format string, args ...any) error {
	return &classError{class: ErrConfig, msg: fmt.Sprintf(format, args...), cause: cause}
}

// envList is an ordered set of variables: a name keeps the position of its
// first appearance and a later assignment replaces its value.
type envList struct {
	names  []string
	values map[string]string
}

func (l *envList) set(name, value string) {
	if _, ok := l.values[name]; !ok {
		l.names = append(l.names, name)
	}
	l.values[name] = value
}

// Resolve returns the container's environment as NAME=value, in the
// kubelet's order: envFrom sources first (in order, with their prefix; keys
// that are not valid variable names are skipped), then env entries. A later
// duplicate name replaces the earlier value in place. $(VAR) references in
// plain values are expanded against the variables defined before them ($$
// escapes to $, unknown references are left as is); values from valueFrom
// and envFrom are never expanded. Optional ConfigMaps, Secrets and keys that
// are missing are skipped. Errors caused by the pod's configuration wrap
// ErrConfig.
func Resolve(ctx context.Context, src Source, pod *corev1.Pod, c *corev1.Container, f Facts) ([]string, error) {
	if pod == nil || c == nil {
		return nil, errors.New("podenv: pod and container must not be nil")
	}
	r := &resolver{
		src:        src,
		pod:        pod,
		ctr:        c,
		facts:      f,
		configMaps: map[string]*corev1.ConfigMap{},
		secrets:    map[string]*corev1.Secret{},
	}
	env := &envList{values: map[string]string{}}
	for _, from := range c.EnvFrom {
		if err := r.addEnvFrom(ctx, env, from); err != nil {
			return nil, err
		}
	}

	for _, ev := range c.Env {
		val, ok, err := r.value(ctx, env, ev)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(ev.Name, val)
		}
	}

	// Service variables come last, unless the container set them itself.
	services := make([]string, 0, len(f.Services))
	for name := range f.Services {
		services = append(services, name)
	}
	sort.Strings(services)
	for _, n := range services {
		if _, ok := env.values[n]; !ok {
			env.set(n, f.Services[n])
		}
	}

	out := make([]string, 0, len(env.names))
	for _, n := range env.names {
		out = append(out, n+"="+env.values[n])
	}
	return out, nil
}

// resolver holds one Resolve call's state, including the ConfigMaps and
// Secrets already fetched so each is read at most once.
type resolver struct {
	src        Source
	pod        *corev1.Pod
	ctr        *corev1.Container
	facts      Facts
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

// addEnvFrom adds every key of one envFrom source, prefixed, skipping keys
// that do not make valid environment variable names.
func (r *resolver) addEnvFrom(ctx context.Context, env *envList, from corev1.EnvFromSource) error {
	data := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, err := r.configMap(ctx, from.ConfigMapRef.Name)
		if err != nil {
			if isOptional(from.ConfigMapRef.Optional) && apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		for k, v := range cm.Data {
			data[k] = v
		}
	case from.SecretRef != nil:
		s, err := r.secret(ctx, from.SecretRef.Name)
		if err != nil {
			if isOptional(from.SecretRef.Optional) && apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		for k, v := range s.Data {
			data[k] = string(v)
		}
	default:
		return nil
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := from.Prefix + k
		if len(validation.IsRelaxedEnvVarName(name)) != 0 {
			continue
		}
		env.set(name, data[k])
	}
	return nil
}

// value computes one env entry. ok is false when the entry is skipped because
// an optional source or key is missing.
func (r *resolver) value(ctx context.Context, env *envList, ev corev1.EnvVar) (val string, ok bool, err error) {
	if ev.Value != "" || ev.ValueFrom == nil {
		return Expand(ev.Value, r.withServices(env.values)), true, nil
	}
	vf := ev.ValueFrom
	switch {
	case vf.FieldRef != nil:
		val, err = r.fieldRef(vf.FieldRef)
		return val, err == nil, err
	case vf.ResourceFieldRef != nil:
		val, err = r.resourceFieldRef(vf.ResourceFieldRef)
		return val, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := isOptional(ref.Optional)
		cm, err := r.configMap(ctx, ref.Name)
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, err
		}
		v, found := cm.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, configErrorf(nil, "couldn't find key %s in ConfigMap %s/%s", ref.Key, r.pod.Namespace, ref.Name)
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := isOptional(ref.Optional)
		s, err := r.secret(ctx, ref.Name)
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, err
		}
		v, found := s.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, configErrorf(nil, "couldn't find key %s in Secret %s/%s", ref.Key, r.pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	}
	return "", false, configErrorf(nil, "env var %q has an unsupported valueFrom source", ev.Name)
}

// configMap fetches a ConfigMap once per Resolve. A NotFound error comes back
// as a config error that still satisfies apierrors.IsNotFound.
func (r *resolver) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[name]; ok {
		return cm, nil
	}
	if r.src == nil {
		return nil, fmt.Errorf("couldn't get configMap %s/%s, no API source defined", r.pod.Namespace, name)
	}
	cm, err := r.src.GetConfigMap(ctx, r.pod.Namespace, name)
	if err == nil && cm == nil {
		err = apierrors.NewNotFound(corev1.Resource("configmaps"), name)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, configErrorf(err, "configmap %q not found", name)
		}
		return nil, sourceErrorf(err, "couldn't get configMap %s/%s: %v", r.pod.Namespace, name, err)
	}
	r.configMaps[name] = cm
	return cm, nil
}

// secret fetches a Secret once per Resolve, classifying errors like configMap.
func (r *resolver) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := r.secrets[name]; ok {
		return s, nil
	}
	if r.src == nil {
		return nil, fmt.Errorf("couldn't get secret %s/%s, no API source defined", r.pod.Namespace, name)
	}
	s, err := r.src.GetSecret(ctx, r.pod.Namespace, name)
	if err == nil && s == nil {
		err = apierrors.NewNotFound(corev1.Resource("secrets"), name)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, configErrorf(err, "secret %q not found", name)
		}
		return nil, sourceErrorf(err, "couldn't get secret %s/%s: %v", r.pod.Namespace, name, err)
	}
	r.secrets[name] = s
	return s, nil
}

func isOptional(b *bool) bool { return b != nil && *b }

// withServices adds the service variables under those defined so far, for
// $(VAR) references.
func (r *resolver) withServices(vars map[string]string) map[string]string {
	if len(r.facts.Services) == 0 {
		return vars
	}
	all := make(map[string]string, len(vars)+len(r.facts.Services))
	for k, v := range r.facts.Services {
		all[k] = v
	}
	for k, v := range vars {
		all[k] = v
	}
	return all
}
