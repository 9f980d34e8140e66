package ctrd

import (
	"reflect"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
)

func TestUnderRoot(t *testing.T) {
	views := []mount.Mount{
		{Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=/var/lib/c/2/fs:/var/lib/c/1/fs"}},
		{Type: "bind", Source: "/var/lib/c/1/fs", Options: []string{"ro", "rbind"}},
	}
	want := []mount.Mount{
		{Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=/host/var/lib/c/2/fs:/host/var/lib/c/1/fs"}},
		{Type: "bind", Source: "/host/var/lib/c/1/fs", Options: []string{"ro", "rbind"}},
	}
	if got := underRoot(views, "/host"); !reflect.DeepEqual(got, want) {
		t.Errorf("underRoot = %+v\nwant %+v", got, want)
	}
	if views[0].Options[1] != "lowerdir=/var/lib/c/2/fs:/var/lib/c/1/fs" {
		t.Error("underRoot changed its input")
	}
	if got := underRoot(views, ""); !reflect.DeepEqual(got, views) {
		t.Errorf("on the host: %+v", got)
	}
}
