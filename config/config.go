// Package config reads Keysmith's settings from environment variables, with command-line flags
// taking precedence, and rejects bad values at start-up with a message naming the variable.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting Keysmith reads at start-up. It is built once by Load and handed
// down to the packages that need it; nothing reads the environment after that.
type Config struct {
	// Addr is the host:port the HTTP server listens on.
	Addr string
	// DatabaseURL is a postgres:// URL or a SQLite file path.
	DatabaseURL string
	// BaseURL is the public address of the console, without a trailing slash, used in the
	// one-time links (SetupLink, PasswordLink) and to decide whether cookies are Secure with the
	// __Host- prefix.
	BaseURL *url.URL
	// SessionKeys sign and encrypt session cookies (pairs of hash key and block key, newest
	// first). Empty means keys are generated once and kept in the database.
	SessionKeys [][]byte
	// MaxKeyLifetime caps how far in the future an API key may expire; zero means no cap,
	// and only then may a key never expire.
	MaxKeyLifetime time.Duration
	// SessionIdleTimeout ends a browser session after this long without a request.
	SessionIdleTimeout time.Duration
	// SessionMaxAge ends a browser session this long after login, however active.
	SessionMaxAge time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed; without them
	// the client address is the connection's, so a forged header cannot dodge the login
	// throttle.
	TrustedProxies []*net.IPNet
	// VerifyDBTimeout bounds the database lookup of a key being verified: a gateway in front
	// of Keysmith gives up soon (Envoy's ext_authz after 200 ms by default), so an answer of
	// 503 in time beats a right answer too late.
	VerifyDBTimeout time.Duration
	// DBTimeout bounds every other database call, and connecting.
	DBTimeout time.Duration
	// ShutdownTimeout bounds the whole stop: the drain delay, requests in flight and the last
	// write of gathered key uses together.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the server keeps serving after SIGTERM with /readyz failing, so
	// load balancers stop sending it requests before it stops accepting them.
	DrainDelay time.Duration
	// StaleKeysFor is how long after this instance last vouched for a key it keeps accepting
	// it while the database cannot be reached (stale-if-error); zero never accepts a key it
	// cannot check.
	StaleKeysFor time.Duration
	// KeyCacheSize bounds how many verified keys each instance keeps in memory.
	KeyCacheSize int
	// LogFormat is "text" or "json".
	LogFormat string
	// LogLevel is the least severe level logged.
	LogLevel slog.Level
	// MetricsAddr is the host:port of the Prometheus /metrics listener; empty for none.
	MetricsAddr string
	// WebhookURL receives the key events (expiring, expired, rotated, disabled, deleted…) as
	// Standard Webhooks; nil sends none. Set only together with WebhookSecret.
	WebhookURL *url.URL
	// WebhookSecret signs every event, so the receiver can tell it came from Keysmith: the
	// bytes that KEYSMITH_WEBHOOK_SECRET carries in base64 after "whsec_".
	WebhookSecret WebhookSecret
	// WebhookTimeout bounds each attempt to deliver an event, from connecting to reading the
	// answer, so a slow receiver holds no sender for long.
	WebhookTimeout time.Duration
	// HeartbeatInterval is how often each instance tells the database it is running, with its
	// revocation listener's state and cache size; it counts as live for three intervals.
	HeartbeatInterval time.Duration
	// AuditRetention is how long audit events are kept before the retention job deletes them.
	AuditRetention time.Duration
	// AdminKeysBy says who may give an API key the Admin scope in the console (create an Admin
	// key, rotate one): AdminKeysBySuperAdmins or AdminKeysByKeyAdmins.
	AdminKeysBy string
	// AuditKey keys the audit log's chain of HMACs, so that whoever can write to the database
	// but does not hold it cannot forge an event that verifies: KEYSMITH_AUDIT_KEY, or the
	// content of KEYSMITH_AUDIT_KEY_FILE. Nil when neither is set.
	AuditKey AuditKey
	// AuditKeyFile is the file AuditKey was read from; empty when it came from
	// KEYSMITH_AUDIT_KEY or is not set.
	AuditKeyFile string
}

// AuditKey is the secret that keys the audit log's chain. It prints as "[hidden]".
type AuditKey []byte

// String hides the key.
func (AuditKey) String() string { return "[hidden]" }

// GoString hides the key from %#v too.
func (AuditKey) GoString() string { return "[hidden]" }

// WebhookSecret is the key that signs webhook events. It prints as "[hidden]", so that no
// log line or test failure that prints the configuration shows it.
type WebhookSecret []byte

// String hides the secret.
func (WebhookSecret) String() string { return "[hidden]" }

// GoString hides the secret from %#v too.
func (WebhookSecret) GoString() string { return "[hidden]" }

// Secure reports whether the console is served over https, which makes cookies Secure and
// gives the session cookie the __Host- prefix.
func (c Config) Secure() bool { return c.BaseURL.Scheme == "https" }

// SetupLink is the one-time link with which the first Super admin is created: `keysmith serve`
// prints it while no user exists. The token is URL-safe as it comes, so it goes in unescaped.
func (c Config) SetupLink(token string) string {
	return c.BaseURL.String() + "/setup?token=" + token
}

// PasswordLink is the one-time link with which a user chooses their password: the console
// shows it to the administrator who invited or reset them, and `keysmith users reset-link`
// prints it.
func (c Config) PasswordLink(token string) string {
	return c.BaseURL.JoinPath("/set-password").String() + "?token=" + url.QueryEscape(token)
}

// Default values, exported so the README and tests can name them.
const (
	DefaultAddr               = "127.0.0.1:8080"
	DefaultDatabaseURL        = "keysmith.db"
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultSessionMaxAge      = 8 * time.Hour
	DefaultVerifyDBTimeout    = 500 * time.Millisecond
	DefaultDBTimeout          = 5 * time.Second
	DefaultShutdownTimeout    = 10 * time.Second
	DefaultStaleKeysFor       = time.Minute
	DefaultKeyCacheSize       = 100_000
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultHeartbeatInterval  = 5 * time.Second
	DefaultAuditRetention     = 400 * 24 * time.Hour
)

// The values of KEYSMITH_ADMIN_KEYS_BY. An Admin key reads every console user and the whole
// audit log, which only Super admins see in the console; so by default only they may mint one.
const (
	// AdminKeysBySuperAdmins: only Super admins may create or rotate an Admin key (default).
	AdminKeysBySuperAdmins = "super-admins"
	// AdminKeysByKeyAdmins: any key administrator may, Connectivity admins too (the behaviour
	// before the setting existed).
	AdminKeysByKeyAdmins = "key-admins"
)

// Webhook secrets are "whsec_" and the base64 of 24 to 64 random bytes, as the Standard
// Webhooks specification writes them.
const (
	webhookSecretPrefix   = "whsec_"
	minWebhookSecretBytes = 24
	maxWebhookSecretBytes = 64
)

// The audit key is written in hex: at least 32 bytes (64 hex characters), at most 64 (HMAC-SHA256
// hashes a longer key down to 32 bytes anyway).
const (
	MinAuditKeyBytes = 32
	maxAuditKeyBytes = 64
)

// hiddenValues are the settings whose values an error message must not repeat: secrets, and
// the webhook URL, which often carries a token of its own.
var hiddenValues = map[string]bool{
	"KEYSMITH_SESSION_KEYS":   true,
	"KEYSMITH_WEBHOOK_URL":    true,
	"KEYSMITH_WEBHOOK_SECRET": true,
	"KEYSMITH_AUDIT_KEY":      true,
}

// setting describes one configuration value: its flag, its environment variable and how it
// is parsed into the Config.
type setting struct {
	flag, env, usage string
	parse            func(c *Config, value string) error
}

var settings = []setting{
	{"addr", "KEYSMITH_ADDR", "listen address host:port", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return errors.New("must be host:port, for example 127.0.0.1:8080")
		}
		c.Addr = v
		return nil
	}},
	{"database-url", "KEYSMITH_DATABASE_URL", "postgres:// URL or SQLite file path", func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		c.DatabaseURL = v
		return nil
	}},
	{"base-url", "KEYSMITH_BASE_URL", "public URL of the console (https makes cookies Secure)", func(c *Config, v string) error {
		u, err := url.Parse(strings.TrimRight(v, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("must be an absolute http:// or https:// URL")
		}
		if wildcardHost(u.Hostname()) {
			return errors.New("names every interface, not an address a browser can be sent to: give the address people use, for example https://keys.example.com")
		}
		c.BaseURL = u
		return nil
	}},
	{"session-keys", "KEYSMITH_SESSION_KEYS", "comma-separated session keys, hex or base64, at least 32 bytes each", func(c *Config, v string) error {
		keys, err := parseSessionKeys(v)
		if err != nil {
			return err
		}
		c.SessionKeys = keys
		return nil
	}},
	{"max-key-lifetime", "KEYSMITH_MAX_KEY_LIFETIME", "longest lifetime of an API key, e.g. 365d or 8760h; empty for no limit", func(c *Config, v string) error {
		d, err := ParseDays(v)
		if err != nil {
			return err
		}
		if d != 0 && d < 24*time.Hour {
			return errors.New("must be at least one day (1d or 24h): keys expire at a date")
		}
		c.MaxKeyLifetime = d
		return nil
	}},
	{"trusted-proxies", "KEYSMITH_TRUSTED_PROXIES", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is trusted", func(c *Config, v string) error {
		proxies, err := parseNetworks(v)
		c.TrustedProxies = proxies
		return err
	}},
	{"session-idle-timeout", "KEYSMITH_SESSION_IDLE_TIMEOUT", "idle timeout of browser sessions", func(c *Config, v string) error {
		d, err := parsePositive(v)
		c.SessionIdleTimeout = d
		return err
	}},
	{"session-max-age", "KEYSMITH_SESSION_MAX_AGE", "absolute lifetime of browser sessions", func(c *Config, v string) error {
		d, err := parsePositive(v)
		c.SessionMaxAge = d
		return err
	}},
	{"verify-db-timeout", "KEYSMITH_VERIFY_DB_TIMEOUT", "deadline of the database lookup when verifying a key", func(c *Config, v string) error {
		d, err := parsePositive(v)
		c.VerifyDBTimeout = d
		return err
	}},
	{"db-timeout", "KEYSMITH_DB_TIMEOUT", "deadline of every other database call, and of connecting", func(c *Config, v string) error {
		d, err := parsePositive(v)
		c.DBTimeout = d
		return err
	}},
	{"shutdown-timeout", "KEYSMITH_SHUTDOWN_TIMEOUT", "longest a stop may take: drain, requests in flight and the last write of key uses", func(c *Config, v string) error {
		d, err := parsePositive(v)
		c.ShutdownTimeout = d
		return err
	}},
	{"drain-delay", "KEYSMITH_DRAIN_DELAY", "how long to keep serving after SIGTERM with /readyz failing; 0 for none", func(c *Config, v string) error {
		d, err := parseNonNegative(v)
		c.DrainDelay = d
		return err
	}},
	{"stale-keys-for", "KEYSMITH_STALE_KEYS_FOR", "how long a key this instance vouched for keeps verifying while the database is unreachable; 0 for never", func(c *Config, v string) error {
		d, err := parseNonNegative(v)
		c.StaleKeysFor = d
		return err
	}},
	{"key-cache-size", "KEYSMITH_KEY_CACHE_SIZE", "how many verified keys each instance keeps in memory", func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 10_000_000 {
			return errors.New("must be a whole number from 1 to 10000000")
		}
		c.KeyCacheSize = n
		return nil
	}},
	{"heartbeat-interval", "KEYSMITH_HEARTBEAT_INTERVAL", "how often each instance writes its heartbeat; it counts as live for three", func(c *Config, v string) error {
		d, err := parsePositive(v)
		if err == nil && d < 10*time.Millisecond {
			return errors.New("must be at least 10ms")
		}
		c.HeartbeatInterval = d
		return err
	}},
	{"audit-retention", "KEYSMITH_AUDIT_RETENTION", "how long audit events are kept, e.g. 400d; at least 1d", func(c *Config, v string) error {
		d, err := parsePositive(v)
		if err == nil && d < 24*time.Hour {
			return errors.New("must be at least one day (1d or 24h)")
		}
		c.AuditRetention = d
		return err
	}},
	{"admin-keys-by", "KEYSMITH_ADMIN_KEYS_BY", "who may create or rotate Admin-scope API keys: super-admins (default) or key-admins", func(c *Config, v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != AdminKeysBySuperAdmins && v != AdminKeysByKeyAdmins {
			return errors.New("must be super-admins or key-admins")
		}
		c.AdminKeysBy = v
		return nil
	}},
	{"audit-key", "KEYSMITH_AUDIT_KEY", "64 to 128 hex characters (32 to 64 random bytes) keying the audit log's chain of HMACs (prefer the variable, or KEYSMITH_AUDIT_KEY_FILE: a flag shows in the process list)", func(c *Config, v string) error {
		key, err := ParseAuditKey(v)
		c.AuditKey = key
		return err
	}},
	{"audit-key-file", "KEYSMITH_AUDIT_KEY_FILE", "file holding the audit key in hex, readable by its owner only (mode 0600 or 0400)", func(c *Config, v string) error {
		key, err := ReadAuditKeyFile(v)
		c.AuditKey, c.AuditKeyFile = key, v
		return err
	}},
	{"log-format", "KEYSMITH_LOG_FORMAT", "text or json", func(c *Config, v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "text" && v != "json" {
			return errors.New("must be text or json")
		}
		c.LogFormat = v
		return nil
	}},
	{"log-level", "KEYSMITH_LOG_LEVEL", "debug, info, warn or error", func(c *Config, v string) error {
		if err := c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
			return errors.New("must be debug, info, warn or error")
		}
		return nil
	}},
	{"metrics-addr", "KEYSMITH_METRICS_ADDR", "host:port of the Prometheus /metrics listener; empty for none", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return errors.New("must be host:port, for example 127.0.0.1:9464")
		}
		c.MetricsAddr = v
		return nil
	}},
	{"webhook-url", "KEYSMITH_WEBHOOK_URL", "http:// or https:// URL that receives key events as Standard Webhooks; needs KEYSMITH_WEBHOOK_SECRET", func(c *Config, v string) error {
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return errors.New("must be an absolute http:// or https:// URL without a #fragment")
		}
		c.WebhookURL = u
		return nil
	}},
	{"webhook-secret", "KEYSMITH_WEBHOOK_SECRET", "whsec_ followed by the base64 of 24 to 64 random bytes, signing the key events (prefer the variable: a flag shows in the process list)", func(c *Config, v string) error {
		secret, err := parseWebhookSecret(v)
		c.WebhookSecret = secret
		return err
	}},
	{"webhook-timeout", "KEYSMITH_WEBHOOK_TIMEOUT", "deadline of each attempt to deliver a key event", func(c *Config, v string) error {
		d, err := parsePositive(v)
		c.WebhookTimeout = d
		return err
	}},
}

// Load builds the Config from the environment (read through getenv) and the flags in args,
// flags winning. It returns the arguments left after the flags.
func Load(name string, args []string, getenv func(string) string, output io.Writer) (Config, []string, error) {
	base, _ := url.Parse("http://" + DefaultAddr)
	cfg := Config{
		Addr:               DefaultAddr,
		DatabaseURL:        DefaultDatabaseURL,
		BaseURL:            base,
		SessionIdleTimeout: DefaultSessionIdleTimeout,
		SessionMaxAge:      DefaultSessionMaxAge,
		VerifyDBTimeout:    DefaultVerifyDBTimeout,
		DBTimeout:          DefaultDBTimeout,
		ShutdownTimeout:    DefaultShutdownTimeout,
		StaleKeysFor:       DefaultStaleKeysFor,
		KeyCacheSize:       DefaultKeyCacheSize,
		WebhookTimeout:     DefaultWebhookTimeout,
		HeartbeatInterval:  DefaultHeartbeatInterval,
		AuditRetention:     DefaultAuditRetention,
		AdminKeysBy:        AdminKeysBySuperAdmins,
		LogFormat:          "text",
		LogLevel:           slog.LevelInfo,
	}
	baseURLSet := false
	// A key from the environment and another from a flag are one source each; a flag replaces
	// the variable of its own name.
	auditKeyFrom := map[string]bool{}
	for _, s := range settings {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if s.flag == "audit-key" || s.flag == "audit-key-file" {
			auditKeyFrom[s.flag] = true
		}
		if err := s.parse(&cfg, v); err != nil {
			if hiddenValues[s.env] {
				return Config{}, nil, fmt.Errorf("config: %s: %w", s.env, err)
			}
			return Config{}, nil, fmt.Errorf("config: %s=%q: %w", s.env, v, err)
		}
		baseURLSet = baseURLSet || s.env == "KEYSMITH_BASE_URL"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	flagValues := make(map[string]*string, len(settings))
	for _, s := range settings {
		flagValues[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag != f.Name || flagErr != nil {
				continue
			}
			if err := s.parse(&cfg, *flagValues[s.flag]); err != nil {
				flagErr = fmt.Errorf("config: -%s=%q (env %s): %w", s.flag, f.Value, s.env, err)
				if hiddenValues[s.env] {
					flagErr = fmt.Errorf("config: -%s (env %s): %w", s.flag, s.env, err)
				}
			}
			baseURLSet = baseURLSet || s.flag == "base-url"
			if s.flag == "audit-key" || s.flag == "audit-key-file" {
				auditKeyFrom[s.flag] = true
			}
		}
	})
	if flagErr != nil {
		return Config{}, nil, flagErr
	}
	if !baseURLSet {
		// Setup and invite links, and whether cookies are Secure, come from the base URL. One
		// made of an address that listens on every interface would send people to 0.0.0.0.
		const setIt = "set KEYSMITH_BASE_URL to the address people use, for example KEYSMITH_BASE_URL=https://keys.example.com"
		base, err := url.Parse("http://" + cfg.Addr)
		if err != nil {
			return Config{}, nil, fmt.Errorf("config: KEYSMITH_ADDR=%q makes no URL for links and cookies: %s", cfg.Addr, setIt)
		}
		if wildcardHost(base.Hostname()) {
			return Config{}, nil, fmt.Errorf("config: KEYSMITH_ADDR=%q listens on every interface, so it cannot make the console's address for links and cookies: %s", cfg.Addr, setIt)
		}
		cfg.BaseURL = base
	}
	if cfg.DrainDelay > cfg.ShutdownTimeout/2 {
		// The rest of the stop (requests in flight, the last write of key uses) needs time too.
		return Config{}, nil, fmt.Errorf("config: KEYSMITH_DRAIN_DELAY (%s) must be at most half of KEYSMITH_SHUTDOWN_TIMEOUT (%s)", cfg.DrainDelay, cfg.ShutdownTimeout)
	}
	if cfg.SessionIdleTimeout > cfg.SessionMaxAge {
		return Config{}, nil, fmt.Errorf("config: KEYSMITH_SESSION_IDLE_TIMEOUT (%s) must not exceed KEYSMITH_SESSION_MAX_AGE (%s)", cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	}
	// Events sent unsigned could be forged; a secret without a URL is a setting gone astray.
	if cfg.WebhookURL != nil && cfg.WebhookSecret == nil {
		return Config{}, nil, errors.New("config: KEYSMITH_WEBHOOK_URL is set without KEYSMITH_WEBHOOK_SECRET: events are sent signed, or not at all")
	}
	if cfg.WebhookURL == nil && cfg.WebhookSecret != nil {
		return Config{}, nil, errors.New("config: KEYSMITH_WEBHOOK_SECRET is set without KEYSMITH_WEBHOOK_URL: there is nowhere to send events")
	}
	if len(auditKeyFrom) > 1 {
		return Config{}, nil, errors.New("config: KEYSMITH_AUDIT_KEY and KEYSMITH_AUDIT_KEY_FILE are both set: set one")
	}
	return cfg, fs.Args(), nil
}

// wildcardHost tells whether host, a URL's host name, stands for every interface rather than
// one address: 0.0.0.0, ::, none at all, or a short form of 0.0.0.0 that browsers read as it
// ("0", "0.0", "0x0"). A browser sent there reaches whatever machine it runs on.
func wildcardHost(host string) bool {
	if host == "" {
		return true
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr.WithZone("").Unmap().IsUnspecified()
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return false
	}
	for _, part := range parts {
		digits := strings.TrimPrefix(strings.ToLower(part), "0x")
		if part == "" || strings.Trim(digits, "0") != "" {
			return false
		}
	}
	return true
}

// ParseAuditKey reads an audit key written in hex. The messages never repeat the value.
func ParseAuditKey(v string) (AuditKey, error) {
	v = strings.TrimSpace(v)
	key, err := hex.DecodeString(v)
	if err != nil {
		return nil, errors.New("must be hex (0-9, a-f), an even number of characters (make one with: openssl rand -hex 32)")
	}
	if len(key) < MinAuditKeyBytes || len(key) > maxAuditKeyBytes {
		return nil, fmt.Errorf("must be %d to %d hex characters (%d to %d bytes), not %d (make one with: openssl rand -hex 32)",
			2*MinAuditKeyBytes, 2*maxAuditKeyBytes, MinAuditKeyBytes, maxAuditKeyBytes, len(v))
	}
	return key, nil
}

// maxAuditKeyFile bounds what ReadAuditKeyFile reads: a key and a line end, with room to spare.
const maxAuditKeyFile = 1024

// ReadAuditKeyFile reads the audit key from the file at path: the key in hex, optionally
// followed by a line end. The file must be a regular file that only its owner may read or
// write (mode 0600 or 0400): a key others can read keys nothing. The messages name the file,
// never its content.
func ReadAuditKeyFile(path string) (AuditKey, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit key file: %w", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("the audit key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("the audit key file %s may be read or written by others (mode %04o): make it readable by its owner only (chmod 600 %s)", path, perm, path)
	}
	content, err := io.ReadAll(io.LimitReader(file, maxAuditKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit key file: %w", err)
	}
	if len(content) > maxAuditKeyFile {
		return nil, fmt.Errorf("the audit key file %s is too large to hold a key", path)
	}
	key, err := ParseAuditKey(string(content))
	if err != nil {
		return nil, fmt.Errorf("the audit key file %s: %w", path, err)
	}
	return key, nil
}

// CreateAuditKeyFile makes a new random audit key and writes it in hex to a new file at path,
// readable by its owner only (0600); it fails if the file exists.
func CreateAuditKeyFile(path string) (AuditKey, error) {
	key := make(AuditKey, MinAuditKeyBytes)
	rand.Read(key)
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create the audit key file: %w", err)
	}
	_, err = file.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("cannot write the audit key file: %w", err)
	}
	return key, nil
}

// parseWebhookSecret reads a secret in the specification's form: "whsec_" and the standard
// base64 of the key. The messages never repeat the value.
func parseWebhookSecret(v string) (WebhookSecret, error) {
	encoded, ok := strings.CutPrefix(strings.TrimSpace(v), webhookSecretPrefix)
	if !ok {
		return nil, errors.New("must start with whsec_, as Standard Webhooks secrets do")
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("must be whsec_ followed by standard base64 (A-Z, a-z, 0-9, + and /, padded with =)")
	}
	if len(key) < minWebhookSecretBytes || len(key) > maxWebhookSecretBytes {
		return nil, fmt.Errorf("must carry %d to %d bytes after whsec_, not %d (make one with: echo whsec_$(head -c 32 /dev/urandom | base64))",
			minWebhookSecretBytes, maxWebhookSecretBytes, len(key))
	}
	return key, nil
}

// ParseDays reads a duration written either as whole days ("365d") or as a Go duration
// ("8760h"). An empty string or "0" means no limit.
func ParseDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, errors.New("must be a positive number of days such as 365d, or a duration such as 8760h")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("must be a positive number of days such as 365d, or a duration such as 8760h")
	}
	return d, nil
}

func parsePositive(v string) (time.Duration, error) {
	d, err := ParseDays(v)
	if err != nil || d == 0 {
		return 0, errors.New("must be a positive duration such as 30m or 8h")
	}
	return d, nil
}

// parseNonNegative reads a duration that may be zero ("0" or "0s"), meaning none.
func parseNonNegative(v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "0s" {
		return 0, nil
	}
	d, err := ParseDays(v)
	if err != nil {
		return 0, errors.New("must be a duration such as 30s or 2m, or 0 for none")
	}
	return d, nil
}

func parseSessionKeys(v string) ([][]byte, error) {
	var keys [][]byte
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, err := hex.DecodeString(part)
		if err != nil {
			key, err = base64.StdEncoding.DecodeString(part)
		}
		if err != nil {
			return nil, errors.New("each key must be hex or base64")
		}
		if len(key) < 32 {
			return nil, errors.New("each key must be at least 32 bytes")
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("must list at least one key")
	}
	return keys, nil
}

func parseNetworks(v string) ([]*net.IPNet, error) {
	var networks []*net.IPNet
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR range", part)
			}
			bits := 8 * net.IPv6len
			if ip.To4() != nil {
				bits = 8 * net.IPv4len
			}
			part = fmt.Sprintf("%s/%d", part, bits)
		}
		_, network, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range", part)
		}
		networks = append(networks, network)
	}
	return networks, nil
}
