package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"keysmith/app"
	"keysmith/logging"
	"keysmith/models"
)

// serve runs `keysmith serve` (and `keysmith` alone): it opens the store, says what is amiss
// with the database files and the audit log's protection, prints the one-time setup link while
// no user exists, and serves until ctx ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, store, _, err := openStore(ctx, "keysmith serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	log := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	defer logging.Flush(log)
	if loose := store.LooseFiles(); len(loose) > 0 {
		var files, paths []string
		for _, file := range loose {
			files = append(files, fmt.Sprintf("%s (%04o)", file.Path, file.Mode))
			// In single quotes, each quote of its own closed, escaped and reopened, a path is
			// one word to the shell.
			paths = append(paths, "'"+strings.ReplaceAll(file.Path, "'", `'\''`)+"'")
		}
		log.Warn("database files readable by other local users: they hold password hashes, key hashes and the session key",
			"files", strings.Join(files, ", "), "fix", "chmod 600 "+strings.Join(paths, " "))
	}
	if err := store.Warm(ctx); err != nil {
		// The database answered; it may allow fewer connections than the pool's size, and the
		// pool opens more when it needs them.
		log.Warn("database connections not all opened before serving", "error", err)
	}
	sessionKeys := cfg.SessionKeys
	if len(sessionKeys) == 0 {
		key, err := store.SessionKeys(ctx)
		if err != nil {
			return err
		}
		sessionKeys = [][]byte{key}
	}
	if err := store.CheckAuditKey(ctx); err != nil {
		return auditKeyAdvice(err)
	}
	logAuditProtection(ctx, cfg, store, log)
	keysmith := app.New(cfg, store, log, sessionKeys)
	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	token, err := store.CreateSetupToken(ctx)
	if err != nil {
		listener.Close()
		return err
	}
	if token != "" {
		fmt.Fprintf(stdout, "No users yet. Open this one-time link within %s to create the first Super admin:\n  %s\n",
			models.SetupTokenLifetime, cfg.SetupLink(token))
	}
	log.Info("keysmith listening", "addr", cfg.Addr, "database", string(store.Dialect()), "base_url", cfg.BaseURL.String(), "metrics_addr", cfg.MetricsAddr)
	if err := keysmith.Serve(ctx, listener); err != nil {
		return err
	}
	log.Info("keysmith stopped")
	return nil
}
