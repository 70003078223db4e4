package models_test

import (
	"hash/crc32"
	"strings"
	"testing"

	"keysmith/models"
)

// The secret format, written out again from DESIGN.md rather than borrowed from the code under
// test: "ksk_", a 43-character base62 body, and the body's CRC32 as 6 base62 digits.
const (
	specAlphabet   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	specBodyLength = 43
	specCheckDigit = 6
)

func specChecksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	digits := make([]byte, specCheckDigit)
	for i := specCheckDigit - 1; i >= 0; i-- {
		digits[i] = specAlphabet[n%62]
		n /= 62
	}
	return string(digits)
}

// wellFormed is the format's definition: the oracle ParseSecret must agree with.
func wellFormed(secret string) bool {
	body, ok := strings.CutPrefix(secret, "ksk_")
	if !ok || len(body) != specBodyLength+specCheckDigit {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(specAlphabet, body[i]) < 0 {
			return false
		}
	}
	return specChecksum(body[:specBodyLength]) == body[specBodyLength:]
}

// validFrom builds a well-formed secret whose body is drawn from seed, so the fuzzer explores
// valid secrets as well as garbage.
func validFrom(seed string) string {
	body := make([]byte, specBodyLength)
	for i := range body {
		var b byte
		if seed != "" {
			b = seed[i%len(seed)] + byte(i)
		}
		body[i] = specAlphabet[int(b)%62]
	}
	return "ksk_" + string(body) + specChecksum(string(body))
}

// mutate replaces one character of secret; ok is false when the replacement changes nothing.
func mutate(secret string, position uint, replacement byte) (string, bool) {
	i := int(position % uint(len(secret)))
	if secret[i] == replacement {
		return "", false
	}
	return secret[:i] + string([]byte{replacement}) + secret[i+1:], true
}

// FuzzParseSecret checks that ParseSecret never panics, accepts exactly the well-formed secrets
// (which GenerateSecret produces), and refuses every single-character change of a valid one.
// The seed corpus is in testdata/fuzz/FuzzParseSecret.
func FuzzParseSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, input string, position uint, replacement byte) {
		if accepted, want := models.ParseSecret(input) == nil, wellFormed(input); accepted != want {
			t.Fatalf("ParseSecret(%q) accepted %v, want %v", input, accepted, want)
		}
		for _, valid := range []string{validFrom(input), models.GenerateSecret()} {
			if err := models.ParseSecret(valid); err != nil {
				t.Fatalf("ParseSecret(%q) = %v, want nil", valid, err)
			}
			if mutated, ok := mutate(valid, position, replacement); ok {
				if err := models.ParseSecret(mutated); err == nil {
					t.Fatalf("ParseSecret(%q), one character off %q, = nil, want an error", mutated, valid)
				}
			}
		}
	})
}
