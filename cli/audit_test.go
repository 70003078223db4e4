package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// runAudit runs `keysmith audit args…` with vars in-process and returns its output.
func runAudit(vars map[string]string, args ...string) (stdout, stderr string, err error) {
	var out, errs bytes.Buffer
	err = Run(context.Background(), append([]string{"audit"}, args...), getenv(vars), nil, &out, &errs)
	return out.String(), errs.String(), err
}

// `keysmith audit verify` checks the chain: it says what it checked and exits 0 while the chain
// holds; it prints where it breaks and fails once an event is changed, deleted or inserted. On
// PostgreSQL without a key it says that forged events go undetected, and still exits 0.
func TestAuditVerifyCommand(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL}
			store := modelstest.Open(t, target)
			for _, name := range []string{"nightly export", "scanner"} {
				if _, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
					t.Fatal(err)
				}
			}
			out, _, err := runAudit(vars, "verify")
			if err != nil {
				t.Fatalf("audit verify: %v; %s", err, out)
			}
			if !strings.Contains(out, "checked positions 1 to 2 (2 events)") || !strings.HasSuffix(out, "audit verify: the chain holds\n") {
				t.Errorf("audit verify: got %q, want positions 1 to 2 checked, and the chain holding", out)
			}
			unkeyed := strings.Contains(out, "forge events that verify")
			if wantUnkeyed := target.Name == "postgres"; unkeyed != wantUnkeyed || strings.Contains(out, "HMAC") == wantUnkeyed {
				t.Errorf("audit verify: got %q, want it to say that forged events go undetected: %t", out, wantUnkeyed)
			}

			modelstest.TamperAuditLog(t, store, target, "UPDATE audit_events SET detail = 'scope admin, never expires' WHERE chain_seq = 1")
			out, _, err = runAudit(vars, "verify")
			if err == nil || !strings.Contains(err.Error(), "broken in 1 places") {
				t.Errorf("audit verify of a changed event: got %v, want it to fail", err)
			}
			if !strings.Contains(out, "BROKEN at position 1, event ") || !strings.Contains(out, "key.created") || !strings.Contains(out, "does not match its content") {
				t.Errorf("audit verify of a changed event: got %q, want where it breaks", out)
			}
		})
	}
}

// The scheduled check logs the anchor of the newest event it verified; given back to `audit
// verify`, it shows the newest events deleted even when the chain's head was rewritten to hide
// it, which the chain alone cannot show.
func TestAuditVerifyWithAnAnchor(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL}
			store := modelstest.Open(t, target)
			for range 3 {
				if err := store.RecordAudit(context.Background(), models.AuditEvent{Action: "test.event"}); err != nil {
					t.Fatal(err)
				}
			}
			report, err := store.VerifyAuditChain(context.Background(), models.AuditChainCheck{})
			if err != nil {
				t.Fatal(err)
			}
			anchor := report.Last.String()
			if out, _, err := runAudit(vars, "verify", "--anchor", anchor); err != nil || !strings.Contains(out, "1 of 1 anchors found") {
				t.Fatalf("audit verify --anchor %s: got %v, %q; want the anchor found and the chain holding", anchor, err, out)
			}
			modelstest.TamperAuditLog(t, store, target, "DELETE FROM audit_events WHERE chain_seq = 3",
				"UPDATE audit_chain SET seq = 2, link = (SELECT chain_link FROM audit_events WHERE chain_seq = 2)")
			if out, _, err := runAudit(vars, "verify"); err != nil {
				t.Errorf("without the anchor: got %v, %q; want the shortened chain to hold, as it does without one", err, out)
			}
			out, _, err := runAudit(vars, "verify", "--anchor="+anchor)
			if err == nil || !strings.Contains(out, "BROKEN at position 3: the chain ends at position 2, before this anchor") {
				t.Errorf("with the anchor: got %v, %q; want the deletion found", err, out)
			}
			for _, bad := range []string{"3", "3:xyz", "-1:" + strings.Repeat("a", 64), "three:" + strings.Repeat("a", 64)} {
				if _, _, err := runAudit(vars, "verify", "--anchor", bad); err == nil || !strings.Contains(err.Error(), "position:link") {
					t.Errorf("--anchor %q: got %v, want it refused", bad, err)
				}
			}
		})
	}
}

// On SQLite without KEYSMITH_AUDIT_KEY, the first start makes a key file beside the database,
// readable by its owner only, and every later start reads it; a file that others may read, or
// that holds no key, stops start-up with a message naming it; a lost file is not made again
// while the chain is keyed, since a new key would not verify it.
func TestSQLiteAuditKeyFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "keysmith.db")
	keyFile := db + ".audit-key"
	vars := map[string]string{"KEYSMITH_DATABASE_URL": db}
	var out, errs bytes.Buffer
	if err := Run(context.Background(), []string{"migrate"}, getenv(vars), nil, &out, &errs); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(keyFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the key file after the first start: got %v, %v; want it made with mode 0600", info, err)
	}
	if !strings.Contains(errs.String(), "made the audit log's key file") || !strings.Contains(errs.String(), keyFile) {
		t.Errorf("the first start's log: got %q, want it to name the key file made", errs.String())
	}
	first, _ := os.ReadFile(keyFile)
	if _, _, err := runKeys(t, modelstest.Target{Name: "sqlite", URL: db}, "list"); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(first, again) {
		t.Error("the key file changed at the second start")
	}
	store := modelstest.Open(t, modelstest.Target{Name: "sqlite", URL: db})
	if _, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "export", Scope: models.ScopeReadOnly}); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runAudit(vars, "verify"); err != nil || !strings.Contains(out, "HMAC-SHA256 under the audit key (id "+store.AuditKeyID()+")") {
		t.Fatalf("audit verify: got %v, %q; want the chain keyed with the file's key, id %s", err, out, store.AuditKeyID())
	}

	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"others may read it", string(first), 0o644, "chmod 600"},
		{"it holds no key", "not a key\n", 0o600, "must be hex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(keyFile, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(keyFile, tc.mode)
			_, _, err := runKeys(t, modelstest.Target{Name: "sqlite", URL: db}, "list")
			if err == nil || !strings.Contains(err.Error(), keyFile) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), strings.TrimSpace(string(first))) {
				t.Errorf("got %v, want a message naming %s and saying %q, without the key", err, keyFile, tc.want)
			}
		})
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	_, _, err = runKeys(t, modelstest.Target{Name: "sqlite", URL: db}, "list")
	if err == nil || !strings.Contains(err.Error(), "is missing: restore it") {
		t.Errorf("the key file lost: got %v, want start-up refused, asking to restore it", err)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("the key file lost: a new one was made")
	}

	// With KEYSMITH_AUDIT_KEY no file is made.
	other := filepath.Join(dir, "other.db")
	vars = map[string]string{"KEYSMITH_DATABASE_URL": other, "KEYSMITH_AUDIT_KEY": strings.Repeat("5a", 32)}
	if err := Run(context.Background(), []string{"migrate"}, getenv(vars), nil, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other + ".audit-key"); err == nil {
		t.Error("with KEYSMITH_AUDIT_KEY: a key file was made")
	}
}

// An instance refuses to start with another audit key than the one the chain is linked with,
// or with none, rather than break the chain at its first event.
func TestServeRefusesAnotherAuditKey(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			key := strings.Repeat("5a", 32)
			vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL, "KEYSMITH_AUDIT_KEY": key, "KEYSMITH_ADDR": apptest.FreeAddr(t)}
			if _, stderr, err := runKeys(t, target, "list"); err != nil {
				t.Fatal(err, stderr)
			}
			store := modelstest.OpenUnkeyed(t, target)
			store.UseAuditKey(bytes.Repeat([]byte{0x5a}, 32))
			if err := store.RecordAudit(context.Background(), models.AuditEvent{Action: "test.event"}); err != nil {
				t.Fatal(err)
			}
			others := []string{strings.Repeat("a5", 32)}
			if target.Name == "postgres" {
				others = append(others, "")
			}
			for _, other := range others {
				vars["KEYSMITH_AUDIT_KEY"] = other
				var out, errs bytes.Buffer
				// Bounded, so that an instance that starts anyway stops and fails the test.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := Run(ctx, nil, getenv(vars), nil, &out, &errs)
				cancel()
				if err == nil || !strings.Contains(err.Error(), "the audit log is chained with") || !strings.Contains(err.Error(), "KEYSMITH_AUDIT_KEY") {
					t.Errorf("serve with the key %q: got %v, want start-up refused", other, err)
				}
				if err != nil && (strings.Contains(err.Error(), key) || (other != "" && strings.Contains(err.Error(), other))) {
					t.Errorf("serve with the key %q: the message %q shows a key", other, err)
				}
			}
		})
	}
}

// Without a key on PostgreSQL, the instance says at start that forged events go undetected.
func TestServeSaysWhatAnUnkeyedChainMisses(t *testing.T) {
	target := modelstest.Postgres(t, "the start without an audit key")
	stop, _, errs := serveInProcess(t, map[string]string{"KEYSMITH_ADDR": apptest.FreeAddr(t), "KEYSMITH_DATABASE_URL": target.URL})
	stop()
	if !strings.Contains(errs.String(), "no audit key is set") || !strings.Contains(errs.String(), "can forge events that verify") {
		t.Errorf("the log: got %q, want a warning that forged events go undetected", errs.String())
	}
	if !strings.Contains(errs.String(), "Keysmith runs as the owner of audit_events") {
		t.Errorf("the log: got %q, want a warning that Keysmith runs as the audit log's owner", errs.String())
	}
}
