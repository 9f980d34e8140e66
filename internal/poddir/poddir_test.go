package poddir

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

func TestLayout(t *testing.T) {
	d := Root("/var/lib/vkc/pods").Pod("uid-1")
	for _, tc := range []struct{ got, want string }{
		{d.Path(), "/var/lib/vkc/pods/uid-1"},
		{d.Namespaces(), "/var/lib/vkc/pods/uid-1/ns"},
		{d.Etc(), "/var/lib/vkc/pods/uid-1/etc"},
		{d.Volumes(), "/var/lib/vkc/pods/uid-1/volumes"},
		{d.Log("app", 3), "/var/lib/vkc/pods/uid-1/logs/app/3.log"},
		{d.Termination("cid"), "/var/lib/vkc/pods/uid-1/termination/cid"},
		{d.IO("cid"), "/var/lib/vkc/pods/uid-1/io/cid"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestUIDs(t *testing.T) {
	root := Root(t.TempDir())
	for _, uid := range []string{"a", "b"} {
		if err := os.MkdirAll(root.Pod(uid).Etc(), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(string(root), "stray-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	uids, err := root.UIDs()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(uids)
	if !reflect.DeepEqual(uids, []string{"a", "b"}) {
		t.Errorf("UIDs = %v, want [a b] (directories only)", uids)
	}
	if uids, err := Root(filepath.Join(string(root), "missing")).UIDs(); err != nil || uids != nil {
		t.Errorf("missing root: %v, %v; want nothing and no error", uids, err)
	}
}

func TestCheckUID(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00", "a%b"} {
		if CheckUID(bad) == nil {
			t.Errorf("CheckUID(%q) accepted it", bad)
		}
	}
	if err := CheckUID("0f3b6d0e-1a2b-4c3d-8e9f-0123456789ab"); err != nil {
		t.Errorf("a real UID was refused: %v", err)
	}
}

// No pod UID, container name or container ID, however made, builds a path
// outside its directory, and distinct names get distinct paths. The log path
// takes nothing from the pod's namespace or name.
func TestNamesStayInTheirDirectories(t *testing.T) {
	root := Root("/var/lib/vkc/pods")
	evil := []string{"", ".", "..", "../..", "../../etc", "/etc/passwd", "a/../../b", "a/b", "a\x00b", "%2e%2e", "%", "app"}
	seen := map[string]string{}
	for _, name := range evil {
		d := root.Pod(name)
		if filepath.Dir(d.Path()) != string(root) {
			t.Errorf("Pod(%q) = %s, not a directory of the root", name, d.Path())
		}
		if prev, dup := seen[d.Path()]; dup {
			t.Errorf("Pod(%q) and Pod(%q) share %s", name, prev, d.Path())
		}
		seen[d.Path()] = name
		pod := root.Pod("uid-1")
		logs := filepath.Join(pod.Path(), "logs")
		if got := pod.Log(name, 0); filepath.Dir(filepath.Dir(got)) != logs || filepath.Base(got) != "0.log" {
			t.Errorf("Log(%q, 0) = %s, not <logs>/<one element>/0.log", name, got)
		}
		if got := pod.Log(name, -1); filepath.Base(got) != "-1.log" || filepath.Dir(filepath.Dir(got)) != logs {
			t.Errorf("Log(%q, -1) = %s", name, got)
		}
		if got := pod.Termination(name); filepath.Dir(got) != filepath.Join(pod.Path(), "termination") {
			t.Errorf("Termination(%q) = %s", name, got)
		}
		if got := pod.IO(name); filepath.Dir(got) != filepath.Join(pod.Path(), "io") {
			t.Errorf("IO(%q) = %s", name, got)
		}
	}
	// A UID CheckUID accepts is its own directory, so Leftovers finds it again.
	if got := root.Pod("0f3b6d0e-1a2b-4c3d-8e9f-0123456789ab").Path(); got != "/var/lib/vkc/pods/0f3b6d0e-1a2b-4c3d-8e9f-0123456789ab" {
		t.Errorf("a real UID maps to %s", got)
	}
	if CheckUID("%2e%2e") == nil {
		t.Error("CheckUID accepted a name that Pod escapes")
	}
}
