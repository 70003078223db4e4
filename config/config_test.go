package config_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keysmith/config"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDefaults(t *testing.T) {
	cfg, rest, err := config.Load("test", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.DatabaseURL != "keysmith.db" || cfg.BaseURL.String() != "http://127.0.0.1:8080" ||
		cfg.SessionIdleTimeout != 30*time.Minute || cfg.SessionMaxAge != 8*time.Hour || cfg.MaxKeyLifetime != 0 || cfg.Secure() || len(rest) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	vars := map[string]string{
		"KEYSMITH_ADDR":             "0.0.0.0:9000",
		"KEYSMITH_BASE_URL":         "https://keys.example.com/",
		"KEYSMITH_MAX_KEY_LIFETIME": "365d",
		"KEYSMITH_SESSION_KEYS":     strings.Repeat("ab", 32) + "," + strings.Repeat("cd", 32),
		"KEYSMITH_TRUSTED_PROXIES":  "10.0.0.1, 192.168.0.0/16,::1",
	}
	cfg, _, err := config.Load("test", []string{"-addr", "127.0.0.1:9999", "-max-key-lifetime=2160h"}, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" {
		t.Errorf("flag did not override the environment: addr %q", cfg.Addr)
	}
	if cfg.MaxKeyLifetime != 90*24*time.Hour {
		t.Errorf("max key lifetime %v, want 90 days", cfg.MaxKeyLifetime)
	}
	if !cfg.Secure() || cfg.BaseURL.String() != "https://keys.example.com" {
		t.Errorf("base URL %v, secure %v", cfg.BaseURL, cfg.Secure())
	}
	if len(cfg.SessionKeys) != 2 || len(cfg.SessionKeys[0]) != 32 {
		t.Errorf("session keys %d", len(cfg.SessionKeys))
	}
	var proxies []string
	for _, network := range cfg.TrustedProxies {
		proxies = append(proxies, network.String())
	}
	if got := strings.Join(proxies, " "); got != "10.0.0.1/32 192.168.0.0/16 ::1/128" {
		t.Errorf("trusted proxies %q", got)
	}
}

func TestOperationsSettings(t *testing.T) {
	cfg, _, err := config.Load("test", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VerifyDBTimeout != 500*time.Millisecond || cfg.DBTimeout != 5*time.Second || cfg.ShutdownTimeout != 10*time.Second ||
		cfg.DrainDelay != 0 || cfg.StaleKeysFor != time.Minute || cfg.KeyCacheSize != 100_000 || cfg.LogFormat != "text" ||
		cfg.LogLevel != slog.LevelInfo || cfg.MetricsAddr != "" || cfg.HeartbeatInterval != 5*time.Second ||
		cfg.AuditRetention != 400*24*time.Hour || cfg.AdminKeysBy != config.AdminKeysBySuperAdmins {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, _, err = config.Load("test", nil, env(map[string]string{
		"KEYSMITH_VERIFY_DB_TIMEOUT":  "200ms",
		"KEYSMITH_DB_TIMEOUT":         "2s",
		"KEYSMITH_SHUTDOWN_TIMEOUT":   "30s",
		"KEYSMITH_DRAIN_DELAY":        "5s",
		"KEYSMITH_STALE_KEYS_FOR":     "0",
		"KEYSMITH_KEY_CACHE_SIZE":     "250000",
		"KEYSMITH_LOG_FORMAT":         "JSON",
		"KEYSMITH_LOG_LEVEL":          "warn",
		"KEYSMITH_METRICS_ADDR":       "127.0.0.1:9464",
		"KEYSMITH_HEARTBEAT_INTERVAL": "250ms",
		"KEYSMITH_AUDIT_RETENTION":    "90d",
		"KEYSMITH_ADMIN_KEYS_BY":      " Key-Admins ",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VerifyDBTimeout != 200*time.Millisecond || cfg.DBTimeout != 2*time.Second || cfg.ShutdownTimeout != 30*time.Second ||
		cfg.DrainDelay != 5*time.Second || cfg.StaleKeysFor != 0 || cfg.KeyCacheSize != 250_000 || cfg.LogFormat != "json" ||
		cfg.LogLevel != slog.LevelWarn || cfg.MetricsAddr != "127.0.0.1:9464" || cfg.HeartbeatInterval != 250*time.Millisecond ||
		cfg.AuditRetention != 90*24*time.Hour || cfg.AdminKeysBy != config.AdminKeysByKeyAdmins {
		t.Errorf("settings = %+v", cfg)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for variable, value := range map[string]string{
		"KEYSMITH_ADDR":                 "8080",
		"KEYSMITH_BASE_URL":             "keys.example.com",
		"KEYSMITH_SESSION_KEYS":         "tooshort",
		"KEYSMITH_MAX_KEY_LIFETIME":     "a year",
		"KEYSMITH_SESSION_IDLE_TIMEOUT": "-5m",
		"KEYSMITH_SESSION_MAX_AGE":      "0",
		"KEYSMITH_TRUSTED_PROXIES":      "10.0.0.1,proxy.internal",
		"KEYSMITH_VERIFY_DB_TIMEOUT":    "0",
		"KEYSMITH_DB_TIMEOUT":           "soon",
		"KEYSMITH_SHUTDOWN_TIMEOUT":     "-1s",
		"KEYSMITH_DRAIN_DELAY":          "a while",
		"KEYSMITH_STALE_KEYS_FOR":       "-1m",
		"KEYSMITH_KEY_CACHE_SIZE":       "0",
		"KEYSMITH_LOG_FORMAT":           "xml",
		"KEYSMITH_LOG_LEVEL":            "loud",
		"KEYSMITH_METRICS_ADDR":         "9464",
		"KEYSMITH_HEARTBEAT_INTERVAL":   "1ms",
		"KEYSMITH_AUDIT_RETENTION":      "12h",
		"KEYSMITH_ADMIN_KEYS_BY":        "everyone",
	} {
		_, _, err := config.Load("test", nil, env(map[string]string{variable: value}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), variable) {
			t.Errorf("%s=%q: error %v, want one naming the variable", variable, value, err)
		}
	}
	_, _, err := config.Load("test", []string{"-addr", "nope"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "KEYSMITH_ADDR") {
		t.Errorf("bad flag: error %v, want one naming the variable", err)
	}
	_, _, err = config.Load("test", nil, env(map[string]string{"KEYSMITH_MAX_KEY_LIFETIME": "12h"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "at least one day") {
		t.Errorf("a lifetime under a day: error %v, want one saying at least one day", err)
	}
	_, _, err = config.Load("test", nil, env(map[string]string{"KEYSMITH_DRAIN_DELAY": "6s"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "KEYSMITH_DRAIN_DELAY") {
		t.Errorf("a drain delay over half the shutdown timeout: error %v, want one naming KEYSMITH_DRAIN_DELAY", err)
	}
	_, _, err = config.Load("test", nil, env(map[string]string{"KEYSMITH_SESSION_IDLE_TIMEOUT": "9h"}), io.Discard)
	if err == nil {
		t.Error("an idle timeout longer than the session is accepted")
	}
}

// testWebhookSecret is a valid secret of 32 bytes, 0x00 to 0x1f.
const testWebhookSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func TestWebhookSettings(t *testing.T) {
	cfg, _, err := config.Load("test", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebhookURL != nil || cfg.WebhookSecret != nil || cfg.WebhookTimeout != 10*time.Second {
		t.Errorf("webhook defaults: got URL %v, secret set %t, timeout %v; want none, none, 10s", cfg.WebhookURL, cfg.WebhookSecret != nil, cfg.WebhookTimeout)
	}
	cfg, _, err = config.Load("test", []string{"-webhook-timeout", "3s"}, env(map[string]string{
		"KEYSMITH_WEBHOOK_URL":    "https://hooks.example.com/keysmith?token=abc",
		"KEYSMITH_WEBHOOK_SECRET": testWebhookSecret,
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.WebhookURL.String(), "https://hooks.example.com/keysmith?token=abc"; got != want {
		t.Errorf("webhook URL: got %q, want %q", got, want)
	}
	if len(cfg.WebhookSecret) != 32 || cfg.WebhookSecret[0] != 0 || cfg.WebhookSecret[31] != 31 {
		t.Errorf("webhook secret: got %d bytes, want the 32 bytes 0x00 to 0x1f", len(cfg.WebhookSecret))
	}
	if cfg.WebhookTimeout != 3*time.Second {
		t.Errorf("webhook timeout: got %v, want 3s", cfg.WebhookTimeout)
	}
	// Printed whole, as a failing test or a debug line might print it, the configuration hides
	// the secret.
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		printed := fmt.Sprintf(format, cfg)
		for _, form := range []string{string(cfg.WebhookSecret), "AAECAwQF", "[0 1 2 3", "0x0, 0x1"} {
			if strings.Contains(printed, form) {
				t.Errorf("Sprintf(%q, cfg): got the secret (as %q) in %q", format, form, printed)
			}
		}
		if !strings.Contains(printed, "[hidden]") {
			t.Errorf("Sprintf(%q, cfg): got %q, want the secret shown as [hidden]", format, printed)
		}
	}
}

func TestWebhookSettingsRefused(t *testing.T) {
	const url = "https://hooks.example.com/keysmith"
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23))
	long := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantIn   string
		mustHide string
	}{
		{"a URL without a secret", map[string]string{"KEYSMITH_WEBHOOK_URL": url}, nil, "KEYSMITH_WEBHOOK_SECRET", ""},
		{"a secret without a URL", map[string]string{"KEYSMITH_WEBHOOK_SECRET": testWebhookSecret}, nil, "KEYSMITH_WEBHOOK_URL", testWebhookSecret},
		{"no whsec_ prefix", map[string]string{"KEYSMITH_WEBHOOK_URL": url, "KEYSMITH_WEBHOOK_SECRET": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, nil, "KEYSMITH_WEBHOOK_SECRET", "AAECAwQF"},
		{"not base64", map[string]string{"KEYSMITH_WEBHOOK_URL": url, "KEYSMITH_WEBHOOK_SECRET": "whsec_not*base64!secret-value"}, nil, "KEYSMITH_WEBHOOK_SECRET", "secret-value"},
		{"too short", map[string]string{"KEYSMITH_WEBHOOK_URL": url, "KEYSMITH_WEBHOOK_SECRET": short}, nil, "KEYSMITH_WEBHOOK_SECRET", short},
		{"too long", map[string]string{"KEYSMITH_WEBHOOK_URL": url, "KEYSMITH_WEBHOOK_SECRET": long}, nil, "KEYSMITH_WEBHOOK_SECRET", long},
		{"bad secret flag", map[string]string{"KEYSMITH_WEBHOOK_URL": url}, []string{"-webhook-secret", "whsec_flag*secret"}, "KEYSMITH_WEBHOOK_SECRET", "flag*secret"},
		{"not a URL", map[string]string{"KEYSMITH_WEBHOOK_URL": "hooks.example.com/x?token=s3cr3t", "KEYSMITH_WEBHOOK_SECRET": testWebhookSecret}, nil, "KEYSMITH_WEBHOOK_URL", "s3cr3t"},
		{"not http", map[string]string{"KEYSMITH_WEBHOOK_URL": "ftp://hooks.example.com/", "KEYSMITH_WEBHOOK_SECRET": testWebhookSecret}, nil, "KEYSMITH_WEBHOOK_URL", ""},
		{"a control character", map[string]string{"KEYSMITH_WEBHOOK_URL": "https://hooks.example.com/\x00", "KEYSMITH_WEBHOOK_SECRET": testWebhookSecret}, nil, "KEYSMITH_WEBHOOK_URL", ""},
		{"a fragment", map[string]string{"KEYSMITH_WEBHOOK_URL": url + "#top", "KEYSMITH_WEBHOOK_SECRET": testWebhookSecret}, nil, "KEYSMITH_WEBHOOK_URL", ""},
		{"a zero timeout", map[string]string{"KEYSMITH_WEBHOOK_TIMEOUT": "0"}, nil, "KEYSMITH_WEBHOOK_TIMEOUT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := config.Load("test", tt.args, env(tt.vars), io.Discard)
			if err == nil {
				t.Fatalf("got no error, want one naming %s", tt.wantIn)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("got error %q, want one naming %s", err, tt.wantIn)
			}
			if tt.mustHide != "" && strings.Contains(err.Error(), tt.mustHide) {
				t.Errorf("got error %q, which repeats the value %q", err, tt.mustHide)
			}
		})
	}
}

// A base URL must name an address a browser can be sent to. Keysmith refuses to start when it
// would be a wildcard, 0.0.0.0 or ::, in any spelling: set, or made of an address that listens
// on every interface (a container's), which would put setup links on http://0.0.0.0:8080 and
// take Secure and __Host- from the cookies.
func TestWildcardBaseURLIsRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", "[::]:8080", ":8080", "0:8080", "0.0:8080", "0x0:8080", "[::ffff:0.0.0.0]:8080", "[::%25eth0]:8080"} {
		_, _, err := config.Load("test", nil, env(map[string]string{"KEYSMITH_ADDR": addr}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "KEYSMITH_ADDR") || !strings.Contains(err.Error(), "set KEYSMITH_BASE_URL") {
			t.Errorf("KEYSMITH_ADDR=%s without KEYSMITH_BASE_URL: error %v, want one saying to set KEYSMITH_BASE_URL", addr, err)
		}
	}
	_, _, err := config.Load("test", nil, env(map[string]string{"KEYSMITH_ADDR": "a b:8080"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "makes no URL") || !strings.Contains(err.Error(), "set KEYSMITH_BASE_URL") {
		t.Errorf("KEYSMITH_ADDR=a b:8080 without KEYSMITH_BASE_URL: error %v, want one saying to set KEYSMITH_BASE_URL", err)
	}
	for _, base := range []string{"http://0.0.0.0:8080", "https://[::]", "http://:8080", "http://0", "http://0x0.0:8080", "https://[0:0:0:0:0:0:0:0]/", "http://[::%25eth0]:8080"} {
		for _, args := range [][]string{nil, {"-base-url", base}} {
			vars := map[string]string{"KEYSMITH_ADDR": "0.0.0.0:8080", "KEYSMITH_BASE_URL": base}
			if args != nil {
				vars["KEYSMITH_BASE_URL"] = "https://keys.example.com"
			}
			_, _, err := config.Load("test", args, env(vars), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "KEYSMITH_BASE_URL") || !strings.Contains(err.Error(), "every interface") {
				t.Errorf("base URL %s (flag %t): error %v, want one naming KEYSMITH_BASE_URL", base, args != nil, err)
			}
		}
	}
	for addr, base := range map[string]string{
		"0.0.0.0:8080":  "https://keys.example.com",
		"[::]:8080":     "http://localhost:8080",
		"10.0.1.11:80":  "https://0.example.com",
		"127.0.0.1:80":  "http://10.0.0.0:8080",
		"[::1]:8080":    "",
		"localhost:808": "",
	} {
		vars := map[string]string{"KEYSMITH_ADDR": addr, "KEYSMITH_BASE_URL": base}
		cfg, _, err := config.Load("test", nil, env(vars), io.Discard)
		want := base
		if base == "" {
			want = "http://" + addr
		}
		if err != nil || cfg.BaseURL.String() != want {
			t.Errorf("KEYSMITH_ADDR=%s KEYSMITH_BASE_URL=%q: got %v, %v; want the base URL %s", addr, base, cfg.BaseURL, err, want)
		}
	}
}

// testAuditKey is a valid audit key of 32 bytes in hex.
var testAuditKey = strings.Repeat("5a", 32)

// The audit key comes from KEYSMITH_AUDIT_KEY or from a file only its owner reads; a bad value
// is refused with a message that names the variable and never repeats the key.
func TestAuditKeySettings(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := file("good", testAuditKey+"\n", 0o600)

	cfg, _, err := config.Load("test", nil, env(nil), io.Discard)
	if err != nil || cfg.AuditKey != nil || cfg.AuditKeyFile != "" {
		t.Fatalf("default: got key set %t, file %q, %v; want none", cfg.AuditKey != nil, cfg.AuditKeyFile, err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		file string
	}{
		{"the variable", map[string]string{"KEYSMITH_AUDIT_KEY": testAuditKey}, nil, ""},
		{"upper case, 64 bytes", map[string]string{"KEYSMITH_AUDIT_KEY": strings.ToUpper(strings.Repeat(testAuditKey[:64], 2))}, nil, ""},
		{"a file", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": good}, nil, good},
		{"a file read-only", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": file("read-only", testAuditKey, 0o400)}, nil, filepath.Join(dir, "read-only")},
		{"the flag", nil, []string{"-audit-key-file", good}, good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := config.Load("test", tc.args, env(tc.vars), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.AuditKey) < 32 || cfg.AuditKey[0] != 0x5a || cfg.AuditKeyFile != tc.file {
				t.Errorf("got a key of %d bytes from %q, want 0x5a… from %q", len(cfg.AuditKey), cfg.AuditKeyFile, tc.file)
			}
			for _, format := range []string{"%v", "%+v", "%#v"} {
				if printed := fmt.Sprintf(format, cfg); strings.Contains(printed, "5a5a") || strings.Contains(printed, "90 90") || strings.Contains(printed, "0x5a") {
					t.Errorf("Sprintf(%q, cfg) shows the key: %q", format, printed)
				}
			}
		})
	}

	const secretLooking = "c0ffee"
	for _, tc := range []struct {
		name, want string
		vars       map[string]string
	}{
		{"too short", "64 to 128 hex characters", map[string]string{"KEYSMITH_AUDIT_KEY": strings.Repeat(secretLooking, 10)}},
		{"too long", "64 to 128 hex characters", map[string]string{"KEYSMITH_AUDIT_KEY": strings.Repeat(secretLooking, 22)}},
		{"not hex", "must be hex", map[string]string{"KEYSMITH_AUDIT_KEY": strings.Repeat(secretLooking, 10) + "zz" + strings.Repeat(secretLooking, 2)}},
		{"odd length", "must be hex", map[string]string{"KEYSMITH_AUDIT_KEY": strings.Repeat(secretLooking, 11) + "c"}},
		{"a NUL byte", "must be hex", map[string]string{"KEYSMITH_AUDIT_KEY": strings.Repeat(secretLooking, 10) + "\x00" + strings.Repeat(secretLooking, 2)}},
		{"both set", "both set", map[string]string{"KEYSMITH_AUDIT_KEY": testAuditKey, "KEYSMITH_AUDIT_KEY_FILE": good}},
		{"a file others may read", "chmod 600", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": file("open", strings.Repeat(secretLooking, 11)+"\n", 0o644)}},
		{"a file the group may read", "mode 0640", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": file("group", strings.Repeat(secretLooking, 11)+"\n", 0o640)}},
		{"a file of the wrong content", "must be hex", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": file("wrong", "key = "+strings.Repeat(secretLooking, 11)+"\n", 0o600)}},
		{"a file too short", "64 to 128 hex characters", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": file("short", strings.Repeat(secretLooking, 5), 0o600)}},
		{"a missing file", "cannot read the audit key file", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": filepath.Join(dir, "missing")}},
		{"a directory", "not a regular file", map[string]string{"KEYSMITH_AUDIT_KEY_FILE": dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load("test", nil, env(tc.vars), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "KEYSMITH_AUDIT_KEY") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one naming KEYSMITH_AUDIT_KEY… and saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secretLooking) || strings.Contains(err.Error(), "5a5a") {
				t.Errorf("got error %q, which repeats the key", err)
			}
		})
	}
	if _, _, err := config.Load("test", []string{"-audit-key", "c0ffee"}, env(nil), io.Discard); err == nil || strings.Contains(err.Error(), "c0ffee") {
		t.Errorf("a bad -audit-key flag: got error %v, want one that does not repeat the value", err)
	}
}

// A key file made by CreateAuditKeyFile is readable by its owner only, holds a new random key,
// reads back, and is never overwritten.
func TestCreateAuditKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keysmith.db.audit-key")
	key, err := config.CreateAuditKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the file: got %v, %v; want mode 0600", info.Mode(), err)
	}
	read, err := config.ReadAuditKeyFile(path)
	if err != nil || string(read) != string(key) || len(key) != 32 {
		t.Fatalf("read back: got %d bytes equal %t, %v; want the 32 bytes made", len(read), string(read) == string(key), err)
	}
	if _, err := config.CreateAuditKeyFile(path); err == nil {
		t.Error("made again over the existing file: got no error")
	}
	if again, _ := config.ReadAuditKeyFile(path); string(again) != string(key) {
		t.Error("the existing file was overwritten")
	}
	other, err := config.CreateAuditKeyFile(filepath.Join(t.TempDir(), "other"))
	if err != nil || string(other) == string(key) {
		t.Errorf("a second file: got the same key %t, %v; want a new random key", string(other) == string(key), err)
	}
}

// The one-time links are the base URL, with any path prefix, then the page and the token: the
// setup token as it is, the set-password token escaped for a query.
func TestOneTimeLinks(t *testing.T) {
	for _, tc := range []struct {
		name, baseURL, setup, password string
	}{
		{"default", "", "http://127.0.0.1:8080/setup?token=abc_-1", "http://127.0.0.1:8080/set-password?token=a%2Bb%2F%3D"},
		{"trailing slash", "https://keys.example.com/", "https://keys.example.com/setup?token=abc_-1", "https://keys.example.com/set-password?token=a%2Bb%2F%3D"},
		{"path prefix", "https://example.com/admin/keys/", "https://example.com/admin/keys/setup?token=abc_-1", "https://example.com/admin/keys/set-password?token=a%2Bb%2F%3D"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := config.Load("test", nil, env(map[string]string{"KEYSMITH_BASE_URL": tc.baseURL}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.SetupLink("abc_-1"); got != tc.setup {
				t.Errorf("SetupLink: got %q, want %q", got, tc.setup)
			}
			if got := cfg.PasswordLink("a+b/="); got != tc.password {
				t.Errorf("PasswordLink: got %q, want %q", got, tc.password)
			}
		})
	}
}
