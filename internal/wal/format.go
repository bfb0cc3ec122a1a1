package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hardneg/hardneg/internal/binfmt"
)

const (
	segmentMagic   = "HNWL"
	segmentVersion = 1
	// headerSize is the size of the segment header.
	headerSize = 24
	// recordHeaderSize is the size of length, CRC and LSN before a payload.
	recordHeaderSize = 16

	segmentPrefix = "wal-"
	segmentSuffix = ".log"
	lsnDigits     = 20
)

// segmentName returns the file name of the segment whose first LSN is lsn.
func segmentName(lsn uint64) string {
	return fmt.Sprintf("%s%0*d%s", segmentPrefix, lsnDigits, lsn, segmentSuffix)
}

// parseSegmentName returns the first LSN encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	digits := name[len(segmentPrefix) : len(name)-len(segmentSuffix)]
	if len(digits) != lsnDigits {
		return 0, false
	}
	lsn, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || lsn == 0 {
		return 0, false
	}
	return lsn, true
}

// IsSegment reports whether name is the file name of a log segment (other files in
// the log's directory: NewestFile, temporary files, the salvage folder).
func IsSegment(name string) bool {
	_, ok := parseSegmentName(name)
	return ok
}

// appendHeader appends the header of a segment starting at firstLSN.
func appendHeader(dst []byte, firstLSN uint64) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, segmentVersion)
	dst = binary.LittleEndian.AppendUint64(dst, firstLSN)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	return binary.LittleEndian.AppendUint32(dst, binfmt.Checksum(dst[start:]))
}

// payloadCRC is the part of a record checksum that does not depend on the LSN;
// it can be computed before the LSN is known.
func payloadCRC(payload []byte) uint32 {
	return binfmt.Checksum(payload)
}

// recordCRC finishes a record checksum: the payload's CRC continued over the
// little-endian LSN.
func recordCRC(pcrc uint32, lsn uint64) uint32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], lsn)
	return binfmt.Update(pcrc, b[:])
}

// appendRecord appends one framed record; pcrc is payloadCRC(payload).
func appendRecord(dst []byte, lsn uint64, payload []byte, pcrc uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, recordCRC(pcrc, lsn))
	dst = binary.LittleEndian.AppendUint64(dst, lsn)
	return append(dst, payload...)
}

// damage describes why a segment stops being readable at an offset.
type damage struct {
	offset int64
	reason string
}

func (d *damage) Error() string { return fmt.Sprintf("offset %d: %s", d.offset, d.reason) }

func (d *damage) corrupt(dir, name string) *CorruptError {
	return &CorruptError{File: filepath.Join(dir, name), Offset: d.offset, Reason: d.reason}
}

// segmentReader decodes one segment from a stream. Errors other than io.EOF
// at a record boundary are *damage (or the underlying read error).
type segmentReader struct {
	r       *bufio.Reader
	off     int64  // offset of the next unread byte
	next    uint64 // LSN the next record must carry
	maxSize uint32
	buf     []byte // payload buffer, reused between records
}

func newSegmentReader(r io.Reader, maxRecordSize int) *segmentReader {
	return &segmentReader{r: bufio.NewReaderSize(r, 64<<10), maxSize: uint32(maxRecordSize)}
}

// readHeader reads and checks the segment header and returns its first LSN.
func (s *segmentReader) readHeader() (uint64, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, &damage{0, "segment header incomplete"}
		}
		return 0, err
	}
	switch {
	case string(h[:4]) != segmentMagic:
		return 0, &damage{0, "bad segment magic"}
	case binary.LittleEndian.Uint32(h[20:]) != binfmt.Checksum(h[:20]):
		return 0, &damage{0, "segment header checksum mismatch"}
	case binary.LittleEndian.Uint32(h[4:]) != segmentVersion:
		return 0, &damage{0, fmt.Sprintf("unsupported segment version %d", binary.LittleEndian.Uint32(h[4:]))}
	}
	first := binary.LittleEndian.Uint64(h[8:])
	if first == 0 {
		return 0, &damage{0, "segment header first lsn 0"}
	}
	s.off = headerSize
	s.next = first
	return first, nil
}

// record reads the next record. The payload is valid until the next call.
// It returns io.EOF at a clean end of the segment.
func (s *segmentReader) record() (uint64, []byte, error) {
	var h [recordHeaderSize]byte
	n, err := io.ReadFull(s.r, h[:])
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, &damage{s.off, fmt.Sprintf("record header incomplete (%d of %d bytes)", n, recordHeaderSize)}
		}
		return 0, nil, err
	}
	length := binary.LittleEndian.Uint32(h[0:])
	sum := binary.LittleEndian.Uint32(h[4:])
	lsn := binary.LittleEndian.Uint64(h[8:])
	if length > s.maxSize {
		return 0, nil, &damage{s.off, fmt.Sprintf("record length %d exceeds limit %d", length, s.maxSize)}
	}
	p, err := s.readPayload(int(length))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, &damage{s.off, fmt.Sprintf("record payload incomplete (%d of %d bytes)", len(p), length)}
		}
		return 0, nil, err
	}
	if recordCRC(payloadCRC(p), lsn) != sum {
		return 0, nil, &damage{s.off, "record checksum mismatch"}
	}
	if lsn != s.next {
		return 0, nil, &damage{s.off, fmt.Sprintf("record lsn %d, want %d", lsn, s.next)}
	}
	s.off += recordHeaderSize + int64(length)
	s.next++
	return lsn, p, nil
}

// readChunk bounds how much readPayload allocates ahead of the bytes actually
// present, so a damaged length field near the cap does not allocate the cap.
const readChunk = 1 << 20

// readPayload reads n bytes into the reused buffer, growing it at most
// readChunk beyond what has been read. On error it returns what was read.
func (s *segmentReader) readPayload(n int) ([]byte, error) {
	p := s.buf[:0]
	for len(p) < n {
		want := min(n-len(p), readChunk)
		if cap(p)-len(p) < want {
			grown := make([]byte, len(p), len(p)+max(want, min(n-len(p), cap(p))))
			copy(grown, p)
			p = grown
		}
		k, err := io.ReadFull(s.r, p[len(p):len(p)+want])
		p = p[:len(p)+k]
		if err != nil {
			s.buf = p[:0]
			return p, err
		}
	}
	s.buf = p[:0]
	return p, nil
}
