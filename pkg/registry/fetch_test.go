package registry

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type closeRecorder struct{ closed bool }

func (c *closeRecorder) Close() error { c.closed = true; return nil }

type failWriter struct {
	n   int
	err error
	buf bytes.Buffer
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.n {
		k := w.n - w.buf.Len()
		w.buf.Write(p[:k])
		return k, w.err
	}
	return w.buf.Write(p)
}

func TestPipeCopy(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (5*chunkSize)/16+7) // several chunks and a tail
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		w       *failWriter
		wantN   int
		wantErr error
	}{
		{name: "all", r: bytes.NewReader(data), w: &failWriter{n: len(data) + 1}, wantN: len(data)},
		{name: "small reads are gathered", r: iotest.OneByteReader(bytes.NewReader(data[:chunkSize+3])), w: &failWriter{n: len(data)}, wantN: chunkSize + 3},
		{name: "empty", r: strings.NewReader(""), w: &failWriter{n: 1}, wantN: 0},
		{name: "read error after data", r: io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(io.ErrUnexpectedEOF)), w: &failWriter{n: len(data)}, wantN: 100, wantErr: io.ErrUnexpectedEOF},
		{name: "write error stops the copy", r: bytes.NewReader(data), w: &failWriter{n: chunkSize + 10, err: boom}, wantN: chunkSize + 10, wantErr: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &closeRecorder{}
			n, err := pipeCopy(tc.w, tc.r, c)
			if int(n) != tc.wantN || !errors.Is(err, tc.wantErr) {
				t.Fatalf("pipeCopy = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
			if !bytes.Equal(tc.w.buf.Bytes(), data[:tc.wantN]) {
				t.Errorf("written bytes differ")
			}
			if !c.closed {
				t.Errorf("body not closed")
			}
		})
	}
}
