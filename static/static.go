// Package static embeds the vendored front-end files (Pico CSS, htmx) and Keysmith's own
// stylesheet and script, and names each by a checksum so browsers may cache them for ever.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// Files holds every static file, served under /static/.
//
//go:embed *.css *.js
var Files embed.FS

// Path returns the URL of a static file with a checksum of its content as the query string,
// so that a changed file gets a new URL. It panics on a name that is not embedded, which a
// test of every page catches.
func Path(name string) string {
	data, err := fs.ReadFile(Files, name)
	if err != nil {
		panic("static: no file " + name)
	}
	sum := sha256.Sum256(data)
	return "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
}
