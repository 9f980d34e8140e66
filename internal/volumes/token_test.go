package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestTokenRefresh(t *testing.T) {
	m, src, clock, root := newTestManager(t)
	src.setConfigMap("ns1", "kube-root-ca.crt", map[string]string{"ca.crt": "PEM"})
	pod := testPod(kubeAPIAccess())
	start := clock.t
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	tokenPath := filepath.Join(paths["kube-api-access-x7k2p"], "token")
	wantNext := start.Add(3607 * time.Second * 8 / 10)

	next, err := m.Refresh(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Equal(wantNext) {
		t.Errorf("next refresh = %v, want %v", next, wantNext)
	}

	// Just before 80% of the lifetime nothing is requested.
	clock.t = wantNext.Add(-time.Second)
	if next, err = m.Refresh(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if src.calls() != 1 || readString(t, tokenPath) != "token-1" {
		t.Fatalf("token renewed early: %d calls, file %q", src.calls(), readString(t, tokenPath))
	}
	if !next.Equal(wantNext) {
		t.Errorf("next refresh = %v, want %v", next, wantNext)
	}

	// Past 80% the token is renewed and the file switches.
	clock.t = wantNext.Add(time.Second)
	if next, err = m.Refresh(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if src.calls() != 2 {
		t.Fatalf("CreateToken called %d times, want 2", src.calls())
	}
	if got := readString(t, tokenPath); got != "token-2" {
		t.Errorf("token file = %q, want token-2", got)
	}
	if want := clock.t.Add(3607 * time.Second * 8 / 10); !next.Equal(want) {
		t.Errorf("next refresh = %v, want %v", next, want)
	}

	// After Cleanup, Refresh neither recreates the volume nor asks for tokens.
	if err := m.Cleanup("uid-1"); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(24 * time.Hour)
	if next, err = m.Refresh(context.Background(), pod); err != nil || !next.IsZero() {
		t.Errorf("Refresh after Cleanup = %v, %v; want zero, nil", next, err)
	}
	if _, err := os.Stat(filepath.Join(root, "uid-1", "volumes")); err == nil {
		t.Error("Refresh recreated the volumes of a cleaned-up pod")
	}
	if src.calls() != 2 {
		t.Errorf("CreateToken called %d times after Cleanup, want 2", src.calls())
	}
}

func TestTokenRenewedAfterADayAtMost(t *testing.T) {
	m, src, clock, _ := newTestManager(t)
	pod := testPod(corev1.Volume{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Path: "token", ExpirationSeconds: ptr(int64(7 * 24 * 3600)),
		}}},
	}}})
	if _, err := m.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	next, err := m.Refresh(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.t.Add(24 * time.Hour); !next.Equal(want) {
		t.Errorf("next refresh = %v, want %v", next, want)
	}
	if src.calls() != 1 {
		t.Errorf("CreateToken called %d times, want 1", src.calls())
	}
}

func TestTokenError(t *testing.T) {
	m, src, _, _ := newTestManager(t)
	src.tokenErr = errors.New("forbidden")
	pod := testPod(corev1.Volume{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
	}}})
	_, err := m.Prepare(context.Background(), pod)
	if !errors.Is(err, src.tokenErr) {
		t.Fatalf("err = %v, want it to wrap the CreateToken error", err)
	}
}
