package podenv

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceEnv(t *testing.T) {
	env := ServiceEnv([]corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "my-db"}, Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.9",
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}, {Name: "metrics-udp", Port: 9000, Protocol: corev1.ProtocolUDP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}},
	})
	want := map[string]string{
		"MY_DB_SERVICE_HOST":             "10.0.0.9",
		"MY_DB_SERVICE_PORT":             "5432",
		"MY_DB_SERVICE_PORT_PG":          "5432",
		"MY_DB_SERVICE_PORT_METRICS_UDP": "9000",
		"MY_DB_PORT":                     "tcp://10.0.0.9:5432",
		"MY_DB_PORT_5432_TCP":            "tcp://10.0.0.9:5432",
		"MY_DB_PORT_5432_TCP_PROTO":      "tcp",
		"MY_DB_PORT_5432_TCP_PORT":       "5432",
		"MY_DB_PORT_5432_TCP_ADDR":       "10.0.0.9",
		"MY_DB_PORT_9000_UDP":            "udp://10.0.0.9:9000",
		"MY_DB_PORT_9000_UDP_PROTO":      "udp",
		"MY_DB_PORT_9000_UDP_PORT":       "9000",
		"MY_DB_PORT_9000_UDP_ADDR":       "10.0.0.9",
	}
	if len(env) != len(want) {
		t.Errorf("got %d variables, want %d: %v", len(env), len(want), env)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

func TestServicesComeLastAndLoseToOwnVariables(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	c := &corev1.Container{Name: "c", Env: []corev1.EnvVar{
		{Name: "URL", Value: "http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)"},
		{Name: "WEB_SERVICE_PORT", Value: "own"},
	}}
	env, err := Resolve(context.Background(), nil, pod, c, Facts{Services: map[string]string{"WEB_SERVICE_HOST": "10.0.0.1", "WEB_SERVICE_PORT": "80"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"URL=http://10.0.0.1:80", "WEB_SERVICE_PORT=own", "WEB_SERVICE_HOST=10.0.0.1"}
	if !slices.Equal(env, want) {
		t.Fatalf("env %v, want %v", env, want)
	}
}
