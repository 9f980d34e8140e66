package podenv

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeSource serves ConfigMaps and Secrets from maps keyed "namespace/name";
// err, when set, is returned for every lookup.
type fakeSource struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	err        error
	calls      int
}

func (f *fakeSource) GetConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f *fakeSource) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func newSource() *fakeSource {
	return &fakeSource{
		configMaps: map[string]*corev1.ConfigMap{
			"default/cfg":  {Data: map[string]string{"b": "2", "a": "1", "bad=key": "x"}},
			"default/over": {Data: map[string]string{"z": "26", "a": "override"}},
		},
		secrets: map[string]*corev1.Secret{
			"default/s": {Data: map[string][]byte{"token": []byte("t0k")}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func testPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"}}
}

func cmKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(optional)}}
}

func secretKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(optional)}}
}

func TestResolveSources(t *testing.T) {
	cmFrom := func(name, prefix string, optional bool) corev1.EnvFromSource {
		return corev1.EnvFromSource{Prefix: prefix, ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: ptr(optional)}}
	}
	secretFrom := func(name, prefix string, optional bool) corev1.EnvFromSource {
		return corev1.EnvFromSource{Prefix: prefix, SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: ptr(optional)}}
	}
	for _, tc := range []struct {
		name    string
		from    []corev1.EnvFromSource
		env     []corev1.EnvVar
		want    []string
		wantErr string
		config  bool // error must wrap ErrConfig
	}{
		{name: "plain values", env: []corev1.EnvVar{{Name: "A", Value: "x"}, {Name: "EMPTY"}},
			want: []string{"A=x", "EMPTY="}},
		{name: "duplicate replaces in place",
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}, {Name: "A", Value: "3"}},
			want: []string{"A=3", "B=2"}},
		{name: "envFrom configmap sorted, invalid key skipped", from: []corev1.EnvFromSource{cmFrom("cfg", "", false)},
			want: []string{"a=1", "b=2"}},
		{name: "envFrom prefix then env overrides", from: []corev1.EnvFromSource{cmFrom("cfg", "CM_", false), secretFrom("s", "S_", false)},
			env:  []corev1.EnvVar{{Name: "CM_a", Value: "over"}, {Name: "X", Value: "$(S_token)"}},
			want: []string{"CM_a=over", "CM_b=2", "S_token=t0k", "X=t0k"}},
		{name: "later envFrom overrides earlier", from: []corev1.EnvFromSource{cmFrom("cfg", "", false), secretFrom("s", "", false), cmFrom("over", "", false)},
			want: []string{"a=override", "b=2", "token=t0k", "z=26"}},
		{name: "envFrom optional missing", from: []corev1.EnvFromSource{cmFrom("nope", "", true), secretFrom("nope", "", true)},
			want: []string{}},
		{name: "envFrom configmap missing", from: []corev1.EnvFromSource{cmFrom("nope", "", false)},
			wantErr: `configmap "nope" not found`, config: true},
		{name: "envFrom secret missing", from: []corev1.EnvFromSource{secretFrom("nope", "", false)},
			wantErr: `secret "nope" not found`, config: true},
		{name: "configmap key", env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg", "a", false)}},
			want: []string{"A=1"}},
		{name: "secret key", env: []corev1.EnvVar{{Name: "T", ValueFrom: secretKey("s", "token", false)}},
			want: []string{"T=t0k"}},
		{name: "configmap missing", env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg2", "a", false)}},
			wantErr: `configmap "cfg2" not found`, config: true},
		{name: "configmap key missing", env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg", "k", false)}},
			wantErr: "couldn't find key k in ConfigMap default/cfg", config: true},
		{name: "secret missing", env: []corev1.EnvVar{{Name: "A", ValueFrom: secretKey("s2", "k", false)}},
			wantErr: `secret "s2" not found`, config: true},
		{name: "secret key missing", env: []corev1.EnvVar{{Name: "A", ValueFrom: secretKey("s", "k", false)}},
			wantErr: "couldn't find key k in Secret default/s", config: true},
		{name: "optional refs missing are skipped and keep earlier value",
			from: []corev1.EnvFromSource{cmFrom("cfg", "", false)},
			env: []corev1.EnvVar{
				{Name: "a", ValueFrom: cmKey("cfg", "k", true)},
				{Name: "B", ValueFrom: cmKey("cfg2", "a", true)},
				{Name: "C", ValueFrom: secretKey("s", "k", true)},
				{Name: "D", ValueFrom: secretKey("s2", "k", true)},
			},
			want: []string{"a=1", "b=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "app", EnvFrom: tc.from, Env: tc.env}
			got, err := Resolve(context.Background(), newSource(), testPod(), c, Facts{})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if errors.Is(err, ErrConfig) != tc.config {
					t.Fatalf("errors.Is(err, ErrConfig) = %v, want %v", !tc.config, tc.config)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResolveErrorClassification(t *testing.T) {
	pod := testPod()
	c := &corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg", "a", true)}}}

	// A NotFound error is a config error that still reads as NotFound.
	_, err := Resolve(context.Background(), newSource(), pod, &corev1.Container{Name: "app",
		Env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("gone", "a", false)}}}, Facts{})
	if !errors.Is(err, ErrConfig) || !apierrors.IsNotFound(err) {
		t.Fatalf("missing configmap: err = %v, want ErrConfig and NotFound", err)
	}

	// Any other API error is returned wrapped, even for optional refs, but is
	// not a config error.
	src := newSource()
	src.err = apierrors.NewServiceUnavailable("down")
	_, err = Resolve(context.Background(), src, pod, c, Facts{})
	if err == nil || errors.Is(err, ErrConfig) || !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("API error: err = %v, want wrapped ServiceUnavailable without ErrConfig", err)
	}
	if !strings.Contains(err.Error(), "default/cfg") {
		t.Fatalf("API error %q does not name the ConfigMap", err)
	}

	// No source at all is an error, but not the pod's fault.
	if _, err := Resolve(context.Background(), nil, pod, c, Facts{}); err == nil || errors.Is(err, ErrConfig) {
		t.Fatalf("nil source: err = %v", err)
	}

	// Each object is fetched once per call.
	src = newSource()
	c = &corev1.Container{Name: "app", Env: []corev1.EnvVar{
		{Name: "A", ValueFrom: cmKey("cfg", "a", false)},
		{Name: "B", ValueFrom: cmKey("cfg", "b", false)},
		{Name: "T", ValueFrom: secretKey("s", "token", false)},
		{Name: "U", ValueFrom: secretKey("s", "token", false)},
	}}
	if _, err := Resolve(context.Background(), src, pod, c, Facts{}); err != nil {
		t.Fatal(err)
	}
	if src.calls != 2 {
		t.Fatalf("source called %d times, want 2", src.calls)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(EMPTY)|", "|"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$A", "$A"},
		{"cost: 5$", "cost: 5$"},
		{"$(A", "$(A"},
		{"$(A$(B)", "$(A$(B)"},
		{"$()", "$()"},
		{"ü$(A)ü", "üaü"},
	} {
		if got := Expand(tc.in, vars); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestResolveExpansion(t *testing.T) {
	c := &corev1.Container{Name: "app",
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "EARLY", Value: "$(LATE)"},
			{Name: "LATE", Value: "late"},
			{Name: "REF", Value: "$(a)-$(LATE)-$$(LATE)-$(EARLY)"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "SELF", Value: "$(POD):$(SELF)"},
			{Name: "NOEXP", ValueFrom: cmKey("lit", "v", false)},
		},
	}
	src := newSource()
	src.configMaps["default/lit"] = &corev1.ConfigMap{Data: map[string]string{"v": "$(POD)"}}
	got, err := Resolve(context.Background(), src, testPod(), c, Facts{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a=1", "b=2", "EARLY=$(LATE)", "LATE=late", "REF=1-late-$(LATE)-$(LATE)",
		"POD=web", "SELF=web:$(SELF)", "NOEXP=$(POD)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
