package crilog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseRecord checks that whatever ParseRecord accepts formats back to
// an equal record, and that a record the Writer writes parses back to what
// was written.
func FuzzParseRecord(f *testing.F) {
	ts := time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC).UnixNano()
	f.Add([]byte("2016-10-06T00:17:09.669794202Z stdout F a full line"), ts, false, false, []byte("a full line"))
	f.Add([]byte("2016-10-06T00:17:09.669794202Z stderr P part"), ts, true, true, []byte("part"))
	f.Add([]byte("2016-10-06T00:17:09Z stdout F"), int64(0), false, false, []byte(""))
	f.Add([]byte("2016-10-06T02:17:09+02:00  X  two  spaces "), int64(-1), false, true, []byte("  spaces \r"))
	f.Add([]byte("not a record"), int64(1), true, false, []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, line []byte, unixNano int64, stderr, partial bool, content []byte) {
		if r, err := ParseRecord(line); err == nil {
			again, err := ParseRecord(formatRecord(r))
			if err != nil || !again.Time.Equal(r.Time) || again.Stream != r.Stream || again.Partial != r.Partial || !bytes.Equal(again.Line, r.Line) {
				t.Fatalf("record %q parses as %+v, which formats to %q and parses as %+v (%v)", line, r, formatRecord(r), again, err)
			}
			if !bytes.HasSuffix(line, r.Line) {
				t.Fatalf("content %q is not the end of record %q", r.Line, line)
			}
		}

		// The writer never gets a newline inside one record: Copy splits there.
		content = bytes.ReplaceAll(content, []byte("\n"), nil)
		stream, tag := "stdout", "F"
		if stderr {
			stream = "stderr"
		}
		if partial {
			tag = "P"
		}
		path := filepath.Join(t.TempDir(), "0.log")
		w, err := NewWriter(path, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(0, unixNano)
		w.now = func() time.Time { return at }
		if err := w.record(stream, tag, content); err != nil {
			t.Fatal(err)
		}
		w.Close()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(raw, '\n') != len(raw)-1 {
			t.Fatalf("one record is written as %q, not one line", raw)
		}
		r, err := ParseRecord(raw[:len(raw)-1])
		if err != nil {
			t.Fatalf("written record %q does not parse: %v", raw, err)
		}
		if !r.Time.Equal(at) || r.Stream != stream || r.Partial != partial || !bytes.Equal(r.Line, content) {
			t.Fatalf("wrote %v %s %s %q, read back %+v", at, stream, tag, content, r)
		}
	})
}

func formatRecord(r Record) []byte {
	tag := "F"
	if r.Partial {
		tag = "P"
	}
	return append([]byte(r.Time.Format(time.RFC3339Nano)+" "+r.Stream+" "+tag+" "), r.Line...)
}

// criText is what reading back the log of output written by the Writer
// gives: every line, with a "\r\n" ending read as "\n", and a last line
// without a newline as it is.
func criText(output []byte) string {
	lines := strings.Split(string(output), "\n")
	var b strings.Builder
	for _, l := range lines[:len(lines)-1] {
		b.WriteString(strings.TrimSuffix(l, "\r") + "\n")
	}
	b.WriteString(lines[len(lines)-1])
	return b.String()
}

// FuzzReadLogs writes output with the Writer (rotating when maxSize is
// set), appends raw bytes to the current file as a foreign writer or a
// corrupted file would, and checks ReadLogs: the output read back is the
// output written, tail gives an end of it, limitBytes a start of it never
// longer than the limit, since an end of it, and stderr goes apart.
func FuzzReadLogs(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte(nil), uint16(0), false, 1, int64(0), uint16(0))
	f.Add([]byte("a\r\nb\rc\n\npartial"), []byte(nil), uint16(600), true, 2, int64(5), uint16(2))
	f.Add([]byte(strings.Repeat("x", maxLine+3)+"\r\ny\n"), []byte(nil), uint16(0), false, -1, int64(maxLine), uint16(1))
	f.Add([]byte("one\ntwo\nthree\n"), []byte("garbage\n2016-10-06T00:17:09Z stdout F foreign\nhalf-written"), uint16(512), false, 0, int64(1), uint16(0))
	f.Add([]byte(nil), []byte("2016-10-06T00:17:09Z stdout P a\n2016-10-06T00:17:09Z stdout F b\n\n\n"), uint16(0), false, 100, int64(-3), uint16(0))
	f.Fuzz(func(t *testing.T, output, raw []byte, maxSize uint16, stderr bool, tail int, limit int64, sinceStep uint16) {
		size := int64(maxSize)
		if size > 0 {
			// Small files and long output would mean thousands of files.
			size = max(size, 512)
			output = output[:min(len(output), 4<<10)]
		}
		output = output[:min(len(output), 40<<10)]
		stream := "stdout"
		if stderr {
			stream = "stderr"
		}

		path := filepath.Join(t.TempDir(), "0.log")
		w, err := NewWriter(path, size, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		// A clock that moves on at every record keeps the rotated files'
		// names apart and gives since something to select.
		base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		ticks := 0
		w.now = func() time.Time { ticks++; return base.Add(time.Duration(ticks) * time.Millisecond) }
		rest, err := w.writeComplete(stream, output)
		if err == nil && len(rest) > 0 {
			err = w.record(stream, "P", rest)
		}
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if len(raw) > 0 {
			fl, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fl.Write(raw)
			fl.Close()
			if err != nil {
				t.Fatal(err)
			}
		}

		read := func(opts Options) (string, string) {
			t.Helper()
			var out, errOut bytes.Buffer
			if opts.Stderr != nil {
				opts.Stderr = &errOut
			}
			err := ReadLogs(context.Background(), path, opts, &out, func() bool { return true })
			if err != nil && !(IsLimit(err) && opts.LimitBytes > 0) {
				t.Fatalf("ReadLogs(%+v): %v", opts, err)
			}
			return out.String(), errOut.String()
		}
		all, _ := read(Options{Tail: -1})
		written := criText(output)
		if !strings.HasPrefix(all, written) || (len(raw) == 0 && all != written) {
			t.Fatalf("wrote %q, read back %q", written, all)
		}

		if got, _ := read(Options{Tail: tail}); !strings.HasSuffix(all, got) || (tail == 0 && got != "") {
			t.Fatalf("tail %d gives %q, not an end of %q", tail, got, all)
		}
		if limit > 0 {
			got, _ := read(Options{Tail: -1, LimitBytes: limit})
			if int64(len(got)) > limit || got != all[:min(int64(len(all)), limit)] {
				t.Fatalf("limit %d gives %q from %q", limit, got, all)
			}
			got, _ = read(Options{Tail: tail, LimitBytes: limit, Timestamps: true})
			if int64(len(got)) > limit {
				t.Fatalf("limit %d with tail and timestamps gives %d bytes", limit, len(got))
			}
		}
		stamped, _ := read(Options{Tail: -1, Timestamps: true})
		if strings.Count(stamped, "\n") != strings.Count(all, "\n") || len(stamped) < len(all) {
			t.Fatalf("timestamps change the lines: %q against %q", stamped, all)
		}
		if len(raw) > 0 {
			return // foreign records need not be in time order or on one stream
		}
		since := base.Add(time.Duration(sinceStep) * time.Millisecond)
		if got, _ := read(Options{Tail: -1, Since: since}); !strings.HasSuffix(all, got) || (sinceStep <= 1 && got != all) {
			t.Fatalf("since %v gives %q, not an end of %q", since, got, all)
		}
		out, errOut := read(Options{Tail: -1, Stderr: &bytes.Buffer{}})
		if stderr && (out != "" || errOut != all) || !stderr && (out != all || errOut != "") {
			t.Fatalf("with stderr apart, %s output is split as %q and %q", stream, out, errOut)
		}
	})
}
