package models

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// privateFileMode is the mode of the SQLite database: it holds password hashes, key hashes and
// the session key, which no other local user may read.
const privateFileMode fs.FileMode = 0o600

// sqliteSideFiles are the suffixes of the files SQLite keeps beside the database in WAL mode.
var sqliteSideFiles = []string{"-wal", "-shm"}

// LooseFile is a SQLite file that local users other than its owner may read or write.
type LooseFile struct {
	Path string
	Mode fs.FileMode
}

// LooseFiles lists the SQLite database's files that other local users could read or write when
// the store was opened, for `keysmith serve` to report; none on PostgreSQL.
func (s *Store) LooseFiles() []LooseFile { return s.looseFiles }

// sqliteFile returns the path of the file that the SQLite data source name dsn opens, or ""
// when it opens none: an in-memory database, a temporary one (the empty name), or a file: URI
// on another host, which SQLite refuses. The driver reads a plain name up to its first "?";
// a file: URI as SQLite does, its path percent-decoded.
func sqliteFile(dsn string) string {
	name, query, _ := strings.Cut(dsn, "?")
	if uri, ok := strings.CutPrefix(name, "file:"); ok {
		if options, err := url.ParseQuery(query); err != nil || options.Get("mode") == "memory" {
			return ""
		}
		if authority, ok := strings.CutPrefix(uri, "//"); ok {
			host, path, _ := strings.Cut(authority, "/")
			if host != "" && host != "localhost" {
				return ""
			}
			uri = "/" + path
		}
		uri, _, _ = strings.Cut(uri, "#")
		decoded, err := url.PathUnescape(uri)
		if err != nil {
			return ""
		}
		name = decoded
	}
	if name == ":memory:" {
		return ""
	}
	return name
}

// createPrivate creates the SQLite database file with mode 0600, whatever the umask, unless
// it exists. SQLite would create it 0644, readable by every local user; it gives the -wal and
// -shm files it creates later the database file's mode, so they are private too. An existing
// file keeps its mode: looseFiles reports it.
func createPrivate(path string) error {
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, privateFileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// The umask may have taken bits away; the owner must still write.
	err = file.Chmod(privateFileMode)
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	return err
}

// looseFiles lists the database file and its side files that exist with any permission for
// the group or others.
func looseFiles(path string) []LooseFile {
	var loose []LooseFile
	for _, suffix := range append([]string{""}, sqliteSideFiles...) {
		info, err := os.Stat(path + suffix)
		if err == nil && info.Mode().Perm()&0o077 != 0 {
			loose = append(loose, LooseFile{Path: path + suffix, Mode: info.Mode().Perm()})
		}
	}
	return loose
}
