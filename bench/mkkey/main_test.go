package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"keysmith/models"
)

// -unknown prints well-formed secrets, each different, and needs no database.
func TestUnknownPrintsWellFormedSecrets(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-unknown", "-n", "100"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	secrets := strings.Fields(out.String())
	if len(secrets) != 100 {
		t.Fatalf("got %d secrets, want 100", len(secrets))
	}
	seen := map[string]bool{}
	for _, secret := range secrets {
		if err := models.ParseSecret(secret); err != nil {
			t.Errorf("%q: %v, want a well-formed secret", secret, err)
		}
		if seen[secret] {
			t.Errorf("%q printed twice", secret)
		}
		seen[secret] = true
	}
}
