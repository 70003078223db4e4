package models

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id's costs: Memory in KiB, Time passes over it and Threads lanes.
// Every hash carries the parameters it was made with, so hashes made with other parameters
// keep verifying after these change.
type PasswordParams struct {
	Memory  uint32
	Time    uint32
	Threads uint8
}

// DefaultPasswordParams are the costs of OWASP's Password Storage Cheat Sheet for argon2id
// (19 MiB, 2 iterations, 1 lane): as strong as its other options, and small enough in memory
// that the few hashes allowed to run at once fit in a small server.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// passwordParams are the costs of new hashes; nil means DefaultPasswordParams.
var passwordParams atomic.Pointer[PasswordParams]

// SetPasswordParams changes the costs of new hashes, for every store in the process. Tests
// lower them (from TestMain, before any store is opened) so that the suite stays fast;
// Keysmith itself never calls it. Hashes with other parameters are re-hashed at sign-in.
func SetPasswordParams(p PasswordParams) { passwordParams.Store(&p) }

// currentPasswordParams returns the costs of new hashes.
func currentPasswordParams() PasswordParams {
	if p := passwordParams.Load(); p != nil {
		return *p
	}
	return DefaultPasswordParams
}

// Limits of a stored hash that verification accepts: a damaged row must fail to verify, not
// make argon2id panic or allocate without bound.
const (
	passwordKeyLength   = 32
	passwordSaltLength  = 16
	maxPasswordMemory   = 1 << 20 // KiB: 1 GiB
	maxPasswordTime     = 1 << 20
	minPasswordKeyBytes = 16
	maxPasswordKeyBytes = 64
)

// Hash returns an argon2id hash of password with these parameters and a random salt, in the
// PHC string format.
func (p PasswordParams) Hash(password string) string {
	salt := make([]byte, passwordSaltLength)
	rand.Read(salt)
	return passwordHash{params: p, salt: salt, key: p.key(password, salt, passwordKeyLength)}.String()
}

func (p PasswordParams) key(password string, salt []byte, length uint32) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, length)
}

// passwordHash is a parsed argon2id PHC string.
type passwordHash struct {
	params    PasswordParams
	salt, key []byte
}

func (h passwordHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.params.Memory, h.params.Time, h.params.Threads,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

// parsePasswordHash reads an argon2id PHC string, refusing parameters argon2id cannot run
// with or that would take more than maxPasswordMemory.
func parsePasswordHash(encoded string) (passwordHash, error) {
	var h passwordHash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return h, fmt.Errorf("models: not an argon2id hash")
	}
	p := &h.params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return h, fmt.Errorf("models: argon2id parameters: %w", err)
	}
	if p.Threads < 1 || p.Time < 1 || p.Time > maxPasswordTime || p.Memory < 8*uint32(p.Threads) || p.Memory > maxPasswordMemory {
		return h, fmt.Errorf("models: argon2id parameters out of range: %s", parts[3])
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return h, fmt.Errorf("models: argon2id salt: %w", err)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil {
		return h, fmt.Errorf("models: argon2id key: %w", err)
	}
	if len(h.key) < minPasswordKeyBytes || len(h.key) > maxPasswordKeyBytes {
		return h, fmt.Errorf("models: argon2id key of %d bytes", len(h.key))
	}
	return h, nil
}

// matches tells, in constant time, whether password is the one hashed.
func (h passwordHash) matches(password string) bool {
	return subtle.ConstantTimeCompare(h.params.key(password, h.salt, uint32(len(h.key))), h.key) == 1
}

// dummyPasswordHash is what a password is checked against when no account has the email, so
// that the answer costs one hash with the current parameters, as for an account. Making it
// needs no hash: its key is zeros, which no password is expected to produce.
func dummyPasswordHash() passwordHash {
	return passwordHash{params: currentPasswordParams(), salt: make([]byte, passwordSaltLength), key: make([]byte, passwordKeyLength)}
}
