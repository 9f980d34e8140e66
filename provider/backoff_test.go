package provider

import (
	"testing"
	"time"
)

func TestNextBackoff(t *testing.T) {
	for _, tc := range []struct {
		previous, ran, want time.Duration
	}{
		{0, time.Second, 10 * time.Second},
		{10 * time.Second, time.Second, 20 * time.Second},
		{160 * time.Second, time.Second, 300 * time.Second},
		{300 * time.Second, time.Second, 300 * time.Second},
		{300 * time.Second, 10 * time.Minute, 0},
	} {
		if got := nextBackoff(tc.previous, tc.ran); got != tc.want {
			t.Errorf("nextBackoff(%v, %v) = %v, want %v", tc.previous, tc.ran, got, tc.want)
		}
	}
}
