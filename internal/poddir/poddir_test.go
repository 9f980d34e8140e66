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
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00"} {
		if CheckUID(bad) == nil {
			t.Errorf("CheckUID(%q) accepted it", bad)
		}
	}
	if err := CheckUID("0f3b6d0e-1a2b-4c3d-8e9f-0123456789ab"); err != nil {
		t.Errorf("a real UID was refused: %v", err)
	}
}
