package kubeletapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// /containerLogs cannot hand the provider a namespace, pod or container name
// with a path in it: "..", "/" and their escapes in the URL never reach
// GetContainerLogs as a parameter (the provider then serves only containers
// of the pod's spec, and builds log paths that stay in the pod's directory).
func TestContainerLogsParametersCarryNoPaths(t *testing.T) {
	var (
		mu    sync.Mutex
		calls [][3]string
	)
	logs := func(_ context.Context, namespace, pod, container string, _ api.ContainerLogOpts) (io.ReadCloser, error) {
		mu.Lock()
		calls = append(calls, [3]string{namespace, pod, container})
		mu.Unlock()
		return io.NopCloser(strings.NewReader("log\n")), nil
	}
	srv := httptest.NewServer(routes(api.PodHandlerConfig{GetContainerLogs: logs}, nil))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(rawPath string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = rawPath // sent as is, not cleaned by the client
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/containerLogs/ns/web/app"); code != http.StatusOK {
		t.Fatalf("plain request: %d", code)
	}
	for _, p := range []string{
		"/containerLogs/ns/web/..",
		"/containerLogs/ns/web/../../../../etc/passwd",
		"/containerLogs/ns/web/..%2F..%2Fetc%2Fpasswd",
		"/containerLogs/ns/web/%2E%2E",
		"/containerLogs/ns/web/%2e%2e%2f%2e%2e",
		"/containerLogs/ns/../web/app",
		"/containerLogs/..%2Fns/web/app",
		"/containerLogs/ns/web%2F..%2F..%2Fx/app",
		"/containerLogs/ns/web/app%2F..%2F..",
		"/containerLogs/ns/web/app/..",
	} {
		get(p)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range calls {
		for _, part := range c {
			if part == "" || part == "." || part == ".." || strings.Contains(part, "/") {
				t.Errorf("GetContainerLogs called with %q", c)
			}
		}
	}
}
