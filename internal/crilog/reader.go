package crilog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Options select what ReadLogs returns, as `kubectl logs` asks.
type Options struct {
	Tail       int // last N lines; < 0: all
	LimitBytes int64
	Timestamps bool
	Since      time.Time // zero: from the start
	Follow     bool
	// Stderr, when set, receives the stderr records (attach keeps the two
	// streams apart); otherwise both streams go to the same writer.
	Stderr io.Writer
	// Following, when set, is called once the records already written have
	// been read and following begins (attach sends input only then, so no
	// output of it is missed).
	Following func()
}

// Record is one parsed log line.
type Record struct {
	Time    time.Time
	Stream  string
	Partial bool
	Line    []byte
}

// ParseRecord parses one line of a CRI log file (without its newline).
func ParseRecord(line []byte) (Record, error) {
	fields := bytes.SplitN(line, []byte(" "), 4)
	if len(fields) < 3 {
		return Record{}, errors.New("malformed CRI log record")
	}
	t, err := time.Parse(time.RFC3339Nano, string(fields[0]))
	if err != nil {
		return Record{}, err
	}
	r := Record{Time: t, Stream: string(fields[1]), Partial: string(fields[2]) == "P"}
	if len(fields) == 4 {
		r.Line = fields[3]
	}
	return r, nil
}

// ReadLogs writes the logs in path (and its rotated files) to out. With
// Follow it keeps reading new records until done reports true and the file
// has no more, or ctx ends.
func ReadLogs(ctx context.Context, path string, opts Options, out io.Writer, done func() bool) error {
	lines, last, lastReader, err := readRecords(path)
	if err != nil {
		return err
	}
	if last != nil {
		defer func() { last.Close() }()
	}
	if opts.Tail >= 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	lw := &limitWriter{w: out, limited: opts.LimitBytes > 0, left: opts.LimitBytes}
	for _, l := range lines {
		if err := emit(lw, l, opts); err != nil {
			return err
		}
	}
	if !opts.Follow || last == nil {
		return nil
	}
	if opts.Following != nil {
		opts.Following()
	}
	return follow(ctx, path, &last, lastReader, lw, opts, done)
}

// readRecords reads the complete records of path's rotated files and of
// path, and returns path open where its last complete record ends (nil
// when there is none), for follow.
func readRecords(path string) (lines [][]byte, last *os.File, lastReader *bufio.Reader, err error) {
	files, _ := Rotated(path)
	files = append(files, path)
	for i, p := range files {
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			if last != nil {
				last.Close()
			}
			return nil, nil, nil, err
		}
		br := bufio.NewReader(f)
		for {
			l, err := br.ReadBytes('\n')
			if len(l) > 0 && l[len(l)-1] == '\n' {
				lines = append(lines, l[:len(l)-1])
			} else if len(l) > 0 {
				// A half-written record: leave it for follow to read again.
				if _, serr := f.Seek(-int64(len(l)), io.SeekCurrent); serr == nil {
					br.Reset(f)
				}
				break
			}
			if err != nil {
				break
			}
		}
		if i == len(files)-1 {
			last, lastReader = f, br
		} else {
			f.Close()
		}
	}
	return lines, last, lastReader, nil
}

// follow writes the records appended to *last, going on to the file the
// writer starts when it rotates (*last then changes), until done reports
// true and nothing is left, or ctx ends.
func follow(ctx context.Context, path string, last **os.File, r *bufio.Reader, lw *limitWriter, opts Options, done func() bool) error {
	var pending []byte
	for {
		l, err := r.ReadBytes('\n')
		pending = append(pending, l...)
		if len(pending) > 0 && pending[len(pending)-1] == '\n' {
			if err := emit(lw, pending[:len(pending)-1], opts); err != nil {
				return err
			}
			pending = nil
			continue
		}
		if err != nil && err != io.EOF {
			return err
		}
		if len(pending) == 0 {
			// The writer rotated the file: what is left of the old one has
			// been read, so go on with the one written after it.
			if f := nextFile(*last, path); f != nil {
				(*last).Close()
				*last = f
				r.Reset(f)
				continue
			}
		}
		if done() {
			// One more pass catches what was written just before the exit.
			if rest, _ := io.ReadAll(r); len(rest) > 0 {
				// It may hold several records: read them one by one.
				r = bufio.NewReader(bytes.NewReader(rest))
				continue
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// emit writes one record's content (with its timestamp if asked); partial
// records are joined to the next one without a newline.
func emit(w io.Writer, line []byte, opts Options) error {
	r, err := ParseRecord(line)
	if err != nil {
		return nil // skip what is not a record
	}
	if r.Stream == "stderr" && opts.Stderr != nil {
		w = opts.Stderr
	}
	if !opts.Since.IsZero() && r.Time.Before(opts.Since) {
		return nil
	}
	var buf bytes.Buffer
	if opts.Timestamps {
		buf.WriteString(r.Time.Format(time.RFC3339Nano))
		buf.WriteByte(' ')
	}
	buf.Write(r.Line)
	if !r.Partial {
		buf.WriteByte('\n')
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// errLimit ends reading once --limit-bytes is reached.
var errLimit = errors.New("log byte limit reached")

type limitWriter struct {
	w       io.Writer
	limited bool
	left    int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if !l.limited {
		return l.w.Write(p)
	}
	if l.left <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && l.left <= 0 {
		return n, errLimit
	}
	return n, err
}

// nextFile opens the file written after f, when the writer has rotated f
// away from path; nil while f is still the current file.
func nextFile(f *os.File, path string) *os.File {
	open, err := f.Stat()
	if err != nil {
		return nil
	}
	if now, err := os.Stat(path); err != nil || os.SameFile(open, now) {
		return nil
	}
	files, _ := Rotated(path)
	files = append(files, path)
	next := files[0] // f itself was removed: every file left is newer
	for i, p := range files[:len(files)-1] {
		if st, err := os.Stat(p); err == nil && os.SameFile(open, st) {
			next = files[i+1]
			break
		}
	}
	n, err := os.Open(next)
	if err != nil {
		return nil
	}
	return n
}

// IsLimit reports whether err only says that --limit-bytes was reached.
func IsLimit(err error) bool { return errors.Is(err, errLimit) }
