package config_test

import (
	"io"
	"log/slog"
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
		cfg.LogLevel != slog.LevelInfo || cfg.MetricsAddr != "" || cfg.HeartbeatInterval != 5*time.Second {
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
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VerifyDBTimeout != 200*time.Millisecond || cfg.DBTimeout != 2*time.Second || cfg.ShutdownTimeout != 30*time.Second ||
		cfg.DrainDelay != 5*time.Second || cfg.StaleKeysFor != 0 || cfg.KeyCacheSize != 250_000 || cfg.LogFormat != "json" ||
		cfg.LogLevel != slog.LevelWarn || cfg.MetricsAddr != "127.0.0.1:9464" || cfg.HeartbeatInterval != 250*time.Millisecond {
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
