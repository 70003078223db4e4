package cli

import (
	"context"
	"fmt"
	"io"
)

// migrate runs `keysmith migrate`: it applies the pending migrations, says which, and stores
// KEYSMITH_AUDIT_RETENTION as the retention the database enforces.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, store, applied, err := openStore(ctx, "keysmith migrate", args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "migrate: database is up to date")
	}
	for _, version := range applied {
		fmt.Fprintf(stdout, "migrate: applied %05d\n", version)
	}
	return storeAuditRetention(ctx, cfg, store, stdout)
}
