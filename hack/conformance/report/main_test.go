package main

import (
	"strings"
	"testing"
)

// Two runs over the same specs, as run.sh makes them: each file lists
// every spec, the ones its run did not select as plain "skipped".
const parallelJUnit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="6" disabled="0" errors="0" failures="1" time="100">
  <testsuite name="Kubernetes e2e suite" package="/e2e" tests="6" failures="1" skipped="3" time="100">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1.5"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="4.25"></testcase>
    <testcase name="[It] [sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart exec hook properly [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="failed" time="30">
      <failure message="" type="failed">[FAILED] failed to execute the hook: command terminated with exit code 127
In [It] at: k8s.io/kubernetes/test/e2e/common/node/lifecycle_hook.go:123 @ 01/02/26 10:00:00.000
</failure>
    </testcase>
    <testcase name="[It] [sig-storage] EmptyDir volumes should support (root,0644,tmpfs) [LinuxOnly] [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0.1">
      <skipped message="skipped - Only supported for providers [gce] (not skeleton)"></skipped>
    </testcase>
    <testcase name="[It] [sig-node] NoExecuteTaintManager Single Pod [Serial] removing taint cancels eviction [Disruptive] [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [sig-node] Probing container should be restarted with a /healthz http liveness probe [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
  </testsuite>
</testsuites>`

const serialJUnit = `<testsuites>
  <testsuite name="Kubernetes e2e suite">
    <testcase name="[SynchronizedBeforeSuite]" status="failed" time="2">
      <failure type="failed">[FAILED] Expected
    &lt;int&gt;: 1
to equal
    &lt;int&gt;: 0
In [SynchronizedBeforeSuite] at: e2e.go:10</failure>
    </testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
    <testcase name="[It] [sig-node] Probing container should be restarted with a /healthz http liveness probe [NodeConformance] [Conformance]" status="passed" time="60"></testcase>
  </testsuite>
</testsuites>`

func parse(t *testing.T) []result {
	t.Helper()
	var results []result
	for file, text := range map[string]string{"junit_parallel_01.xml": parallelJUnit, "junit_serial_01.xml": serialJUnit} {
		cases, err := readJUnit(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range cases {
			if r, ok := toResult(c, file); ok {
				results = append(results, r)
			}
		}
	}
	return merge(results)
}

func TestResults(t *testing.T) {
	got := map[string]result{}
	for _, r := range parse(t) {
		got[r.name] = r
	}
	if len(got) != 6 {
		t.Errorf("got %d results, want 6 (the passed suite node left out): %v", len(got), got)
	}
	for name, want := range map[string]result{
		"[sig-node] Pods should get a host IP [NodeConformance] [Conformance]": {area: "sig-node/Pods", outcome: passed},
		"[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart exec hook properly [NodeConformance] [Conformance]": {
			area: "sig-node/Container Lifecycle Hook", outcome: failed, reason: "failed to execute the hook: command terminated with exit code 127"},
		"[sig-storage] EmptyDir volumes should support (root,0644,tmpfs) [LinuxOnly] [NodeConformance] [Conformance]": {
			area: "sig-storage/EmptyDir volumes", outcome: skipped, reason: "Only supported for providers [gce] (not skeleton)"},
		"[sig-node] NoExecuteTaintManager Single Pod [Serial] removing taint cancels eviction [Disruptive] [Conformance]": {
			area: "sig-node/NoExecuteTaintManager", outcome: notSelected},
		"[sig-node] Probing container should be restarted with a /healthz http liveness probe [NodeConformance] [Conformance]": {
			area: "sig-node/Probing container", outcome: passed},
		"[SynchronizedBeforeSuite] (junit_serial_01.xml)": {area: "suite", outcome: failed, reason: "Expected <int>: 1 to equal <int>: 0"},
	} {
		r, ok := got[name]
		if !ok {
			t.Errorf("no result for %q", name)
			continue
		}
		if r.area != want.area || r.outcome != want.outcome || r.reason != want.reason {
			t.Errorf("%s:\n got area %q outcome %d reason %q\nwant area %q outcome %d reason %q",
				name, r.area, r.outcome, r.reason, want.area, want.outcome, want.reason)
		}
	}
}

func TestArea(t *testing.T) {
	for name, want := range map[string]string{
		"[sig-node] Pods Extended Pods Set QOS Class should be set on Pods with matching resource requests and limits for memory and cpu [Conformance]": "sig-node/Pods Extended",
		"[sig-storage] Downward API volume should provide podname only [NodeConformance] [Conformance]":                                                 "sig-storage/Downward API volume",
		"[sig-node] Downward API should provide pod UID as env vars [NodeConformance] [Conformance]":                                                    "sig-node/Downward API",
		"[sig-storage] Projected secret should be consumable from pods in volume [NodeConformance] [Conformance]":                                       "sig-storage/Projected secret",
		"[sig-node] Something New should work [Conformance]":                                                                                            "sig-node/Something",
		"[SynchronizedBeforeSuite]": "[SynchronizedBeforeSuite]",
	} {
		if got := area(name); got != want {
			t.Errorf("area(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSummary(t *testing.T) {
	expected, err := readExpected(strings.NewReader(`# comment

[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart exec hook properly [NodeConformance] [Conformance] # the image has no curl
[sig-node] Pods should get a host IP [NodeConformance] [Conformance] # was broken
[sig-node] Not in this run [Conformance] # not run: no notice
`))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	unexpected := summary(&out, parse(t), expected)
	text := out.String()
	if unexpected != 1 {
		t.Errorf("unexpected = %d, want 1 (the suite node)\n%s", unexpected, text)
	}
	for _, want := range []string{
		"2 passed, 2 failed, 1 skipped\n",
		"sig-node/Container Lifecycle Hook      0      1       0       30\n",
		"expected (the image has no curl)",
		"reason: failed to execute the hook: command terminated with exit code 127",
		"UNEXPECTED",
		"remove them from the list):\n  [sig-node] Pods should get a host IP [NodeConformance] [Conformance]\n",
		"1 unexpected failure(s)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Not in this run") || strings.Contains(text, "NoExecuteTaintManager") {
		t.Errorf("report names specs that were not run:\n%s", text)
	}
}

func TestReadExpectedNeedsReason(t *testing.T) {
	if _, err := readExpected(strings.NewReader("[sig-node] Pods should get a host IP\n")); err == nil {
		t.Error("a line without \" # reason\" was accepted")
	}
}

func TestFailureReason(t *testing.T) {
	for _, c := range []struct{ message, text, want string }{
		{"from the attribute\nsecond line", "[FAILED] ignored", "from the attribute"},
		{"", "\n[TIMEDOUT] A suite timeout occurred\nIn [It] at: x.go:1", "A suite timeout occurred"},
		{"", "[FAILED] wait for pod:\n  pod is Pending\nmore", "wait for pod: pod is Pending"},
		{"", "  [FAILED] Timed out after 20.000s.\n  expected pod generation to be 1, got 0 instead:\n  In [It] at: x.go:1", "Timed out after 20.000s. expected pod generation to be 1, got 0 instead:"},
	} {
		if got := failureReason(c.message, c.text); got != c.want {
			t.Errorf("failureReason(%q, %q) = %q, want %q", c.message, c.text, got, c.want)
		}
	}
}
