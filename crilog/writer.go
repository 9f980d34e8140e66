// Package crilog writes and reads container logs in the CRI log format that
// the kubelet and the usual log tools use: one line per record,
//
//	2016-10-06T00:17:09.669794202Z stdout F a full line
//	2016-10-06T00:17:09.669794202Z stdout P the first part of a long line
//
// and rotates files by size (path, path.<timestamp>, ...).
package crilog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// maxLine is where a long line is split into partial (P) records, as the kubelet does.
const maxLine = 16 * 1024

// Writer appends CRI records to a file and rotates it by size. It is safe
// for the concurrent use of the stdout and stderr copiers.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int
	now      func() time.Time

	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

// NewWriter opens path for appending. maxSize <= 0 disables rotation;
// maxFiles counts the current file too.
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 1), now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, info.Size()
	return nil
}

// Copy reads r to its end and writes each line as records of stream
// ("stdout" or "stderr").
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			tag := "F"
			if isPrefix {
				tag = "P"
			}
			if werr := w.record(stream, tag, line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (w *Writer) record(stream, tag string, line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := fmt.Sprintf("%s %s %s %s\n", w.now().UTC().Format(time.RFC3339Nano), stream, tag, line)
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(rec)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.WriteString(rec)
	w.size += int64(n)
	return err
}

// rotate renames the current file with a timestamp and drops the oldest
// rotated files beyond maxFiles.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	rotated := w.path + "." + w.now().UTC().Format("20060102-150405.000000000")
	if err := os.Rename(w.path, rotated); err != nil {
		return err
	}
	old, _ := Rotated(w.path)
	for len(old) > w.maxFiles-1 {
		_ = os.Remove(old[0])
		old = old[1:]
	}
	return w.open()
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Rotated lists the rotated files of path, oldest first.
func Rotated(path string) ([]string, error) {
	files, err := filepath.Glob(path + ".*")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}
