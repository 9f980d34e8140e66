package provider

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/podenv"
)

func TestFailureOf(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("%w: bad", ctrd.ErrInvalidImageName), ReasonInvalidImageName},
		{fmt.Errorf("%w: missing", errNeverPull), ReasonErrImageNeverPull},
		{fmt.Errorf("failed to pull image \"x\": %w", fmt.Errorf("%w: 404", ctrd.ErrPull)), ReasonErrImagePull},
		{fmt.Errorf("%w: timeout", errImageLookup), ReasonErrImagePull},
		{fmt.Errorf("%w: configmap \"c\" not found", podenv.ErrConfig), ReasonCreateConfigError},
		{fmt.Errorf("%w: connection refused", podenv.ErrSource), ReasonCreateConfigError},
		{fmt.Errorf("%w: exec format error", ctrd.ErrStart), ReasonRunContainerError},
		{fmt.Errorf("%w: mkdir", errRunContainer), ReasonRunContainerError},
		{fmt.Errorf("%w: no config", ctrd.ErrImageConfig), ReasonCreateContainerError},
		{fmt.Errorf("%w: snapshot", ctrd.ErrCreate), ReasonCreateContainerError},
		{errors.New("anything else"), ReasonCreateContainerError},
	} {
		if got := failureOf(tc.err); got.reason != tc.reason || got.message != tc.err.Error() {
			t.Errorf("failureOf(%v) = %+v, want %s with the error's text", tc.err, got, tc.reason)
		}
	}
	// Runtime noise before the OCI runtime's own words is cut.
	got := failureOf(fmt.Errorf("%w: failed to create shim task: OCI runtime create failed: exec: \"nope\"", ctrd.ErrStart))
	if got.message != `OCI runtime create failed: exec: "nope"` {
		t.Errorf("message = %q", got.message)
	}
}
