package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
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

// On a database whose audit log is chained with a key, as `keysmith` makes it beside an SQLite
// database, mkkey records its keys' events with that key, so the chain still holds.
func TestKeysMadeContinueTheAuditChain(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store := modelstest.Open(t, target)
			if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "made by serve", Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
			env := func(name string) string {
				if name == "KEYSMITH_DATABASE_URL" {
					return target.URL
				}
				return ""
			}
			var out bytes.Buffer
			if err := run(ctx, []string{"-n", "3", "-name", "made by mkkey"}, env, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if got := len(strings.Fields(out.String())); got != 3 {
				t.Errorf("got %d secrets, want 3", got)
			}
			report, err := store.VerifyAuditChain(ctx, models.AuditChainCheck{})
			if err != nil || !report.Holds() {
				t.Errorf("the audit chain after mkkey: %+v, %v; want it to hold", report.Breaks, err)
			}
		})
	}
}
