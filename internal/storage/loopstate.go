package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/wal"
)

// Loop state files hold what the service remembers about a collection's training loop
// (rotation, exposure counts, closed-loop hardness, score calibration) across
// restarts. They are not part of the log: the service saves them now and then and at
// shutdown, so a crash loses what changed since the last save, and a lost or damaged
// file costs that memory, never an item.
//
//	state/<collection>.loop   magic "HNLS", format u32, the collection's creation LSN
//	                          u64, payload length uvarint, payload (the service's
//	                          encoding), CRC-32C u32 of everything before it
//
// The creation LSN ties a file to one incarnation of its collection: a collection
// deleted and created again, or restored, under the same name has a new one, and the
// old file no longer applies.
const (
	StateDirName     = "state"
	StateSuffix      = ".loop"
	loopStateMagic   = "HNLS"
	loopStateVersion = 1
)

// ErrLoopState is wrapped by every loop state decoding failure.
var ErrLoopState = errors.New("malformed loop state file")

// EncodeLoopState frames payload for the collection created at createLSN.
func EncodeLoopState(createLSN uint64, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+32)
	b = append(b, loopStateMagic...)
	b = binary.LittleEndian.AppendUint32(b, loopStateVersion)
	b = binary.LittleEndian.AppendUint64(b, createLSN)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, binfmt.Checksum(b))
}

// DecodeLoopState checks a loop state file's framing and checksum and returns its
// creation LSN and payload (a sub-slice of b).
func DecodeLoopState(b []byte) (createLSN uint64, payload []byte, err error) {
	const head = len(loopStateMagic) + 4 + 8
	if len(b) < head+1+4 {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrLoopState, len(b))
	}
	if string(b[:4]) != loopStateMagic {
		return 0, nil, fmt.Errorf("%w: bad magic", ErrLoopState)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != loopStateVersion {
		return 0, nil, fmt.Errorf("%w: format %d, this build reads %d", ErrLoopState, v, loopStateVersion)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if binfmt.Checksum(body) != sum {
		return 0, nil, fmt.Errorf("%w: checksum mismatch", ErrLoopState)
	}
	createLSN = binary.LittleEndian.Uint64(b[8:])
	n, k := binary.Uvarint(body[head:])
	if k <= 0 || uint64(len(body)-head-k) != n {
		return 0, nil, fmt.Errorf("%w: bad payload length", ErrLoopState)
	}
	return createLSN, body[head+k:], nil
}

func (d *Dir) statePath(collection string) string {
	return filepath.Join(d.path, StateDirName, collection+StateSuffix)
}

// WriteLoopState writes collection's loop state file atomically (temporary file,
// fsync, rename, directory fsync), creating the state directory if needed.
//
// A file (or anything but a directory) in the state directory's place is set aside
// under CorruptSuffix first (.<n> added where an earlier one holds that name), so that
// it cannot stop every save; so is anything but a regular file in the state file's
// place when the write fails.
func (d *Dir) WriteLoopState(collection string, b []byte) error {
	dir := filepath.Join(d.path, StateDirName)
	err := d.fs.MkdirAll(dir, 0o750)
	if errors.Is(err, syscall.ENOTDIR) {
		if err = wal.SetAside(d.fs, dir); err == nil {
			err = d.fs.MkdirAll(dir, 0o750)
		}
	}
	if err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	write := func() error {
		return wal.WriteFileAtomic(d.fs, d.statePath(collection), 0o640, func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		})
	}
	err = write()
	if err != nil && d.notRegular(d.statePath(collection)) {
		// Something put there while the server runs (a directory, say): set it aside
		// as a start would, and write again.
		if aside := wal.SetAside(d.fs, d.statePath(collection)); aside == nil {
			err = write()
		}
	}
	return err
}

// ReadLoopState returns collection's loop state file, or nil when there is none.
//
// Something other than a regular file under the file's name (a directory, a named
// pipe, a device) fails with an error wrapping ErrLoopState and is set aside under
// CorruptSuffix (.<n> added where an earlier one holds that name), so that the next
// WriteLoopState can put a file there. The file is
// opened without blocking: a named pipe never holds up a start.
func (d *Dir) ReadLoopState(collection string) ([]byte, error) {
	path := d.statePath(collection)
	f, mode, err := d.openNonBlocking(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	if !mode.IsRegular() {
		bad := fmt.Errorf("%w: %s is not a regular file (mode %v)", ErrLoopState, path, mode.Type())
		if err := wal.SetAside(d.fs, path); err != nil {
			return nil, fmt.Errorf("%w; setting it aside failed: %v", bad, err)
		}
		return nil, fmt.Errorf("%w; set aside as %s (or %s.<n> where that name was taken)", bad, filepath.Base(path+CorruptSuffix), filepath.Base(path+CorruptSuffix))
	}
	return io.ReadAll(f)
}

// openNonBlocking opens path for reading without blocking (a named pipe never holds up
// a start) and returns it with its mode; a file system that cannot say gives the mode of
// a regular file.
func (d *Dir) openNonBlocking(path string) (wal.File, os.FileMode, error) {
	f, err := d.fs.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, ok := f.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return f, 0, nil
	}
	fi, err := st.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Mode(), nil
}

// RemoveLoopState removes collection's loop state file; a missing one is no error.
func (d *Dir) RemoveLoopState(collection string) error {
	if err := d.fs.Remove(d.statePath(collection)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove loop state: %w", err)
	}
	return nil
}

// PrepareLoopState removes what interrupted loop state writes left behind and returns
// the collections that have a loop state file.
func (d *Dir) PrepareLoopState() ([]string, error) {
	dir := filepath.Join(d.path, StateDirName)
	entries, err := d.fs.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	if _, err := wal.RemoveTempFiles(d.fs, dir); err != nil {
		return nil, fmt.Errorf("remove temporary loop state files: %w", err)
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), StateSuffix); ok && !e.IsDir() {
			out = append(out, name)
		}
	}
	return out, nil
}

// notRegular reports whether path exists and is not a regular file (a directory, a
// named pipe).
func (d *Dir) notRegular(path string) bool {
	f, mode, err := d.openNonBlocking(path)
	if err != nil {
		return false
	}
	f.Close()
	return !mode.IsRegular()
}
