package pressure

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDiskPressureTurnsOnAtOnceAndOffAfterTheTransitionPeriod(t *testing.T) {
	fs := FS{Bytes: 1000, AvailableBytes: 500, Inodes: 100, FreeInodes: 50}
	var readErr error
	d := NewDisk(func() (FS, error) { return fs, readErr }, time.Minute)
	t0 := time.Unix(1000, 0)
	check := func(at time.Duration, want bool) string {
		t.Helper()
		under, why, err := d.Check(t0.Add(at))
		if err != nil && readErr == nil {
			t.Fatalf("Check: %v", err)
		}
		if under != want || d.Under() != want {
			t.Fatalf("at %s: under = %v (%q), want %v", at, under, why, want)
		}
		return why
	}
	check(0, false)
	fs.AvailableBytes = 99
	if why := check(time.Second, true); !strings.Contains(why, "nodefs.available") {
		t.Errorf("why = %q, want it to name nodefs.available", why)
	}
	fs.AvailableBytes = 500
	check(30*time.Second, true) // below the threshold for 29 s only
	readErr = errors.New("statfs failed")
	check(2*time.Minute, true) // an unreadable filesystem changes nothing
	readErr = nil
	check(61*time.Second+time.Second, false)
	fs.FreeInodes = 4
	if why := check(3*time.Minute, true); !strings.Contains(why, "inodesFree") {
		t.Errorf("why = %q, want it to name nodefs.inodesFree", why)
	}
}

func TestStatfsReadsARealFilesystem(t *testing.T) {
	fs, err := Statfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fs.Bytes <= 0 || fs.AvailableBytes < 0 || fs.AvailableBytes > fs.Bytes {
		t.Errorf("implausible figures %+v", fs)
	}
	if _, err := Statfs("/nonexistent/vk-containerd"); err == nil {
		t.Error("Statfs of a missing path: no error")
	}
}
