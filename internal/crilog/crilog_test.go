package crilog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func write(t *testing.T, w *Writer, stream, data string) {
	t.Helper()
	if err := w.Copy(stream, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string, opts Options) string {
	t.Helper()
	var out bytes.Buffer
	if err := ReadLogs(context.Background(), path, opts, &out, func() bool { return true }); err != nil && !IsLimit(err) {
		t.Fatal(err)
	}
	return out.String()
}

func TestHugeLineIsSplitAndJoined(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("0123456789", 100_000) // 1 MB, one line
	write(t, w, "stdout", huge+"\nafter\n")
	w.Close()

	raw, _ := os.ReadFile(path)
	records := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if want := len(huge)/maxLine + 2; len(records) != want {
		t.Fatalf("%d records, want %d (split at %d bytes)", len(records), want, maxLine)
	}
	for _, r := range records[:len(records)-2] {
		if rec, err := ParseRecord([]byte(r)); err != nil || !rec.Partial || len(rec.Line) != maxLine {
			t.Fatalf("want full-size partial records, got %q (err %v)", r[:60], err)
		}
	}
	if got := read(t, path, Options{Tail: -1}); got != huge+"\nafter\n" {
		t.Fatalf("read back %d bytes, want %d", len(got), len(huge)+7)
	}
}

func TestBinaryContentRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte but the newline, which ends a record.
	var bin []byte
	for b := 0; b < 256; b++ {
		if b != '\n' {
			bin = append(bin, byte(b))
		}
	}
	write(t, w, "stdout", string(bin)+"\n")
	w.Close()
	if got := read(t, path, Options{Tail: -1}); got != string(bin)+"\n" {
		t.Fatalf("binary line changed:\n got %q\nwant %q", got, string(bin)+"\n")
	}
}

func TestStderrApart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 0, 1)
	write(t, w, "stdout", "out\n")
	write(t, w, "stderr", "err\n")
	w.Close()
	var out, errOut bytes.Buffer
	if err := ReadLogs(context.Background(), path, Options{Tail: -1, Stderr: &errOut}, &out, func() bool { return true }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if got := read(t, path, Options{Tail: -1}); got != "out\nerr\n" {
		t.Fatalf("both streams: %q", got)
	}
}

func TestTailAndLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 0, 1)
	write(t, w, "stdout", "a\nb\nc\n")
	w.Close()
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Tail: -1}, "a\nb\nc\n"},
		{Options{Tail: 2}, "b\nc\n"},
		{Options{Tail: 0}, ""},
		{Options{Tail: -1, LimitBytes: 3}, "a\nb"},
	} {
		if got := read(t, path, c.opts); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.opts, got, c.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.String()
}

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	// Rotation after about three records, 15 kept.
	w, err := NewWriter(path, 200, 5)
	if err != nil {
		t.Fatal(err)
	}
	var finished atomic.Bool
	out := newSyncBuffer()
	errc := make(chan error, 1)
	go func() {
		errc <- ReadLogs(context.Background(), path, Options{Tail: 0, Follow: true}, out, finished.Load)
	}()
	time.Sleep(300 * time.Millisecond) // the reader is at the end of the empty file
	var want strings.Builder
	for i := range 10 {
		line := strings.Repeat(string(rune('a'+i)), 20)
		write(t, w, "stdout", line+"\n")
		want.WriteString(line + "\n")
		time.Sleep(50 * time.Millisecond)
	}
	w.Close()
	if rotated, _ := Rotated(path); len(rotated) == 0 {
		t.Fatal("the writer never rotated; the test proves nothing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != want.String() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	finished.Store(true)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("followed:\n%s\nwant:\n%s", out.String(), want.String())
	}
}

func TestFollowStopsWhenDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 0, 1)
	write(t, w, "stdout", "first\n")
	var finished atomic.Bool
	errc := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		errc <- ReadLogs(context.Background(), path, Options{Tail: -1, Follow: true}, &out, finished.Load)
	}()
	write(t, w, "stdout", "last\n")
	w.Close()
	finished.Store(true)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after done")
	}
	if out.String() != "first\nlast\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestLastLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 0, 1)
	write(t, w, "stdout", "first\r\nDONE")
	w.Close()
	if got := read(t, path, Options{Tail: -1}); got != "first\nDONE" {
		t.Fatalf("got %q, want %q", got, "first\nDONE")
	}
	if got := read(t, path, Options{Tail: 1}); got != "DONE" {
		t.Fatalf("--tail=1: got %q", got)
	}
}

func TestPartialLineReachesTheLogWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 0, 1)
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() { copied <- w.Copy("stdout", pr) }()
	if _, err := pw.Write([]byte("prompt> ")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for read(t, path, Options{Tail: -1}) != "prompt> " && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := read(t, path, Options{Tail: -1}); got != "prompt> " {
		t.Fatalf("while the stream is open: %q", got)
	}
	pw.Write([]byte("answer\n"))
	pw.Close()
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := read(t, path, Options{Tail: -1}); got != "prompt> answer\n" {
		t.Fatalf("after the rest of the line: %q", got)
	}
}

// Records written between the last read and the container's exit come out
// one by one, not as one record with the others' raw lines in it.
func TestFollowSplitsWhatWasWrittenBeforeTheExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	written := false
	exited := func() bool {
		if written {
			return true
		}
		written = true
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprint(f, "2026-01-01T00:00:00Z stdout F one\n2026-01-01T00:00:01Z stdout F two\n")
		return true
	}
	if err := ReadLogs(context.Background(), path, Options{Tail: 0, Follow: true}, &out, exited); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("output %q, want \"one\\ntwo\\n\"", out.String())
	}
}
