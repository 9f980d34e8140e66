package ctrd

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/filters"
)

// labelAdaptor exposes a container's labels to a filter the way
// containerd's metadata store does: "labels.<key>", the key's dotted
// parts joined again.
func labelAdaptor(labels map[string]string) filters.Adaptor {
	return filters.AdapterFunc(func(path []string) (string, bool) {
		if len(path) < 2 || path[0] != "labels" {
			return "", false
		}
		v, ok := labels[strings.Join(path[1:], ".")]
		return v, ok
	})
}

// FuzzPodFilter checks that the filter PodFilter encodes for a pod UID
// parses in containerd and selects exactly the containers labelled with
// that UID.
func FuzzPodFilter(f *testing.F) {
	f.Add("0c5d3a2e-6f0e-4a43-9b39-1f7c2a9e5b11", "0c5d3a2e-6f0e-4a43-9b39-1f7c2a9e5b12")
	f.Add("", "x")
	f.Add(`a"b\c`, `a"b`)
	f.Add("uid with spaces,and==ops", "uid")
	f.Add("\x00\xff", "é")
	f.Fuzz(func(t *testing.T, uid, other string) {
		expr := PodFilter(uid)
		filter, err := filters.Parse(expr)
		if err != nil {
			t.Fatalf("filter %s for pod UID %q does not parse: %v", expr, uid, err)
		}
		if !filter.Match(labelAdaptor(map[string]string{LabelPodUID: uid, LabelPodName: other})) {
			t.Fatalf("filter %s does not select its own pod %q", expr, uid)
		}
		if other != uid && filter.Match(labelAdaptor(map[string]string{LabelPodUID: other})) {
			t.Fatalf("filter %s for %q also selects pod %q", expr, uid, other)
		}
		if filter.Match(labelAdaptor(map[string]string{LabelPodName: uid})) {
			t.Fatalf("filter %s selects a container without a pod UID label", expr)
		}
	})
}

// FuzzLabels checks the label values the agent decodes: the attempt count
// and the start time round-trip through the text the agent writes, and any
// other text decodes to the zero value (attempt 0, no start time), never a
// negative count.
func FuzzLabels(f *testing.F) {
	f.Add(0, int64(0), "", "")
	f.Add(3, time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC).UnixNano(), "3", "2024-02-29T23:59:59.123456789Z")
	f.Add(1<<31, int64(-1), "-1", "2024-02-29T23:59:59+02:00")
	f.Add(7, int64(1), "+7", "yesterday")
	f.Add(0, int64(0), "99999999999999999999", "0000-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, attempt int, unixNano int64, rawAttempt, rawStarted string) {
		if attempt >= 0 {
			if got := Attempt(map[string]string{LabelAttempt: strconv.Itoa(attempt)}); got != attempt {
				t.Fatalf("attempt %d decodes as %d", attempt, got)
			}
		}
		started := time.Unix(0, unixNano)
		if got := StartedAt(map[string]string{LabelStartedAt: started.UTC().Format(time.RFC3339Nano)}); !got.Equal(started) {
			t.Fatalf("start time %v decodes as %v", started, got)
		}

		labels := map[string]string{LabelAttempt: rawAttempt, LabelStartedAt: rawStarted}
		if n := Attempt(labels); n < 0 {
			t.Fatalf("attempt label %q decodes as negative %d", rawAttempt, n)
		} else if n != 0 {
			if want, err := strconv.Atoi(rawAttempt); err != nil || want != n {
				t.Fatalf("attempt label %q decodes as %d", rawAttempt, n)
			}
		}
		if at := StartedAt(labels); !at.IsZero() {
			again := StartedAt(map[string]string{LabelStartedAt: at.Format(time.RFC3339Nano)})
			if !again.Equal(at) {
				t.Fatalf("start label %q decodes as %v, which does not round-trip (%v)", rawStarted, at, again)
			}
		}
		if n, at := Attempt(nil), StartedAt(nil); n != 0 || !at.IsZero() {
			t.Fatalf("no labels decode as attempt %d, start %v", n, at)
		}
	})
}
