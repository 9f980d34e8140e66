package volumes

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	// defaultTokenSeconds is the token lifetime when expirationSeconds is unset.
	defaultTokenSeconds int64 = 3600
	// maxTokenAge is when a token is renewed at the latest, whatever its lifetime.
	maxTokenAge = 24 * time.Hour
)

// tokenState is a service-account token written into a projected volume.
type tokenState struct {
	audience   string
	expSeconds int64
	token      []byte
	renewAt    time.Time
}

// token returns the service-account token for projection p of volume volName,
// reusing the cached one until it passed 80% of its lifetime (or 24 hours),
// together with the time it must be renewed.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, ps *podState, volName string, p *corev1.ServiceAccountTokenProjection) ([]byte, time.Time, error) {
	exp := defaultTokenSeconds
	if p.ExpirationSeconds != nil {
		exp = *p.ExpirationSeconds
	}
	if exp <= 0 {
		return nil, time.Time{}, fmt.Errorf("invalid token expirationSeconds %d", exp)
	}
	key := volName + "\x00" + p.Path
	now := m.now()
	if st := ps.tokens[key]; st != nil && st.audience == p.Audience && st.expSeconds == exp && now.Before(st.renewAt) {
		return st.token, st.renewAt, nil
	}

	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	var audiences []string
	if p.Audience != "" {
		audiences = []string{p.Audience}
	}
	req := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: &exp,
			BoundObjectRef: &authenticationv1.BoundObjectReference{
				Kind:       "Pod",
				APIVersion: "v1",
				Name:       pod.Name,
				UID:        pod.UID,
			},
		},
	}
	resp, err := m.src.CreateToken(ctx, pod.Namespace, sa, req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("requesting token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	if resp == nil || resp.Status.Token == "" {
		return nil, time.Time{}, errors.New("token request for service account " + pod.Namespace + "/" + sa + " returned no token")
	}
	expires := resp.Status.ExpirationTimestamp.Time
	if expires.IsZero() {
		expires = now.Add(time.Duration(exp) * time.Second)
	}
	ttl := expires.Sub(now)
	if ttl <= 0 {
		return nil, time.Time{}, fmt.Errorf("token for service account %s/%s already expired at %s", pod.Namespace, sa, expires.Format(time.RFC3339))
	}
	renewAt := now.Add(ttl * 8 / 10)
	if limit := now.Add(maxTokenAge); renewAt.After(limit) {
		renewAt = limit
	}
	if ps.tokens == nil {
		ps.tokens = make(map[string]*tokenState)
	}
	st := &tokenState{audience: p.Audience, expSeconds: exp, token: []byte(resp.Status.Token), renewAt: renewAt}
	ps.tokens[key] = st
	return st.token, st.renewAt, nil
}
