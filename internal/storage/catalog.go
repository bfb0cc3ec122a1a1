package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

// The catalog (wal/catalog) lists the collections that were live when the log was last
// trimmed, each with the LSN of the record that created it. Once the log is
// trimmed past a creation record, the collection's snapshots are all that say it
// exists: if they are lost (deleted, or missed by a copy of a running server's
// directory) while nothing later in the log writes to it, the log cannot tell. The
// engine writes the catalog before each trim that follows a change of the live set,
// and recovery checks that every collection it lists comes back from a snapshot or
// from the log (index.DB.checkCatalog). It lives beside the log, not among the
// snapshots it vouches for, so that losing snapshots/ as a whole is caught too (a
// missing catalog is not checked: directories from before it existed have none).
//
// Encoding: "HNCT", a version byte (1), the entry count (uvarint), then per entry
// in name order the name (string) and the creation LSN (uvarint), and the CRC-32C of
// everything before it (4 bytes, little-endian).
const (
	CatalogFile    = "catalog"
	catalogMagic   = "HNCT"
	catalogVersion = 1
)

// ErrCatalog is wrapped by every catalog decoding failure.
var ErrCatalog = errors.New("damaged snapshot catalog")

// ErrCatalogUnreadable: the catalog exists but this process may not read it (its owner
// or mode), which is not damage.
var ErrCatalogUnreadable = errors.New("snapshot catalog not readable by this process")

// CatalogPath is the catalog's path.
func (d *Dir) CatalogPath() string { return filepath.Join(d.path, walDirName, CatalogFile) }

// WriteCatalog replaces the catalog with live (collection name → creation LSN),
// atomically and durably.
func (d *Dir) WriteCatalog(live map[string]uint64) error {
	return wal.WriteFileAtomic(d.fs, d.CatalogPath(), 0o640, func(w io.Writer) error {
		_, err := w.Write(EncodeCatalog(live))
		return err
	})
}

// SetAsideCatalog renames a catalog that does not read (damaged, or a directory in its
// place) with a ".corrupt" suffix (wal.SetAside), so that a salvaged start can write a
// new one.
func (d *Dir) SetAsideCatalog() error { return wal.SetAside(d.fs, d.CatalogPath()) }

// ReadCatalog returns the catalog's entries; ok is false when there is none (a data
// directory written before catalogs existed, or one whose log was never trimmed).
func (d *Dir) ReadCatalog() (live map[string]uint64, ok bool, err error) {
	f, err := d.fs.OpenFile(d.CatalogPath(), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, false, fmt.Errorf("%w: %w", ErrCatalogUnreadable, err)
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	p, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, false, err
	}
	live, err = DecodeCatalog(p)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", d.CatalogPath(), err)
	}
	return live, true, nil
}

// EncodeCatalog encodes live as the catalog file holds it.
func EncodeCatalog(live map[string]uint64) []byte {
	names := make([]string, 0, len(live))
	for name := range live {
		names = append(names, name)
	}
	slices.Sort(names)
	b := append([]byte(catalogMagic), catalogVersion)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		b = binfmt.AppendString(b, name)
		b = binary.AppendUvarint(b, live[name])
	}
	return binary.LittleEndian.AppendUint32(b, binfmt.Checksum(b))
}

// DecodeCatalog parses a catalog file's content.
func DecodeCatalog(p []byte) (map[string]uint64, error) {
	if len(p) < len(catalogMagic)+1+4 || string(p[:len(catalogMagic)]) != catalogMagic {
		return nil, fmt.Errorf("%w: not a catalog", ErrCatalog)
	}
	body, sum := p[:len(p)-4], binary.LittleEndian.Uint32(p[len(p)-4:])
	if binfmt.Checksum(body) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCatalog)
	}
	if v := body[len(catalogMagic)]; v != catalogVersion {
		return nil, fmt.Errorf("%w: version %d, this server reads %d", ErrCatalog, v, catalogVersion)
	}
	d := binfmt.NewDecoder(body[len(catalogMagic)+1:], ErrCatalog)
	n := d.Count(math.MaxInt32, "entries")
	live := make(map[string]uint64, n)
	for range n {
		name := d.String(engine.MaxNameLen, "name")
		live[name] = d.Uvarint(math.MaxUint64, "creation lsn")
		if d.Err() != nil {
			break
		}
	}
	if d.Err() == nil && d.Len() > 0 {
		d.Fail("%d bytes after the last entry", d.Len())
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return live, nil
}
