package models

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math/big"
)

// The API key secret format: "ksk_", a base62 body carrying 256 random bits, then a 6-character
// base62 CRC32 of the body. The checksum lets a typo or a truncated paste be refused before any
// database work, and the prefix lets secret scanners recognise a leaked key.
const (
	SecretPrefix      = "ksk_"
	secretBodyLength  = 43 // ceil(256 / log2(62))
	secretCheckLength = 6  // ceil(32 / log2(62))
	// SecretLength is the length of every well-formed secret.
	SecretLength = len(SecretPrefix) + secretBodyLength + secretCheckLength
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformedSecret means the value cannot be a Keysmith secret: wrong length, prefix,
// alphabet or checksum.
var ErrMalformedSecret = errors.New("models: malformed API key secret")

// GenerateSecret returns a new random secret in the Keysmith format.
func GenerateSecret() string {
	random := make([]byte, 32)
	rand.Read(random)
	body := base62(new(big.Int).SetBytes(random), secretBodyLength)
	sum := checksum(body)
	return SecretPrefix + body + string(sum[:])
}

// ParseSecret checks a presented secret's shape and checksum without touching the database.
func ParseSecret(secret string) error {
	if len(secret) != SecretLength || secret[:len(SecretPrefix)] != SecretPrefix {
		return ErrMalformedSecret
	}
	rest := secret[len(SecretPrefix):]
	for i := 0; i < len(rest); i++ {
		if !isBase62[rest[i]] {
			return ErrMalformedSecret
		}
	}
	sum := checksum(rest[:secretBodyLength])
	if string(sum[:]) != rest[secretBodyLength:] {
		return ErrMalformedSecret
	}
	return nil
}

// HashSecret is the SHA-256 of the whole secret in hex: what the database stores and indexes.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretHint is the part of a secret that may be shown again: the prefix with the first four
// characters of the body, and the last four characters.
func SecretHint(secret string) string {
	return secret[:len(SecretPrefix)+4] + "…" + secret[len(secret)-4:]
}

// checksum is the base62 CRC32 (IEEE) of a secret's body. It allocates nothing, since every
// presented key is checked this way: the CRC is computed a byte at a time from the string with
// crc32's table, as crc32.ChecksumIEEE computes it, because a slice handed to ChecksumIEEE
// escapes to the heap (48 bytes per verification); 43 bytes take about as long either way.
func checksum(body string) [secretCheckLength]byte {
	n := ^uint32(0)
	for i := 0; i < len(body); i++ {
		n = crc32.IEEETable[byte(n)^body[i]] ^ n>>8
	}
	n = ^n
	var sum [secretCheckLength]byte
	for i := secretCheckLength - 1; i >= 0; i-- {
		sum[i] = base62Alphabet[n%62]
		n /= 62
	}
	return sum
}

func base62(n *big.Int, width int) string {
	out := make([]byte, width)
	sixtyTwo := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, sixtyTwo, mod)
		out[i] = base62Alphabet[mod.Int64()]
	}
	return string(out)
}

// isBase62 tells, for each byte, whether it is in base62Alphabet. ParseSecret checks every
// presented key's characters against it: a table lookup has no branch for the processor to
// mispredict on random characters. With 10,000 keys in rotation the checks by range were about
// half of a cache-hit verification's own CPU time (perf, bench/README.md).
var isBase62 = func() (table [256]bool) {
	for i := 0; i < len(base62Alphabet); i++ {
		table[base62Alphabet[i]] = true
	}
	return table
}()

// randomBase62 returns n random base62 characters, for public ids.
func randomBase62(n int) string {
	out := make([]byte, n)
	random := make([]byte, n)
	for i := 0; i < n; {
		rand.Read(random)
		for _, b := range random {
			// Reject bytes ≥ 248 so every character is equally likely.
			if b < 248 && i < n {
				out[i] = base62Alphabet[b%62]
				i++
			}
		}
	}
	return string(out)
}
