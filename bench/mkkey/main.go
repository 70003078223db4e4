// Command mkkey creates API keys for the benchmarks and prints their secrets on standard output,
// one a line, and nowhere else, so bench/verify.sh can hand them to wrk without them reaching a
// log or a process list. Progress goes to standard error.
//
//	KEYSMITH_DATABASE_URL=... go run ./bench/mkkey [-n N] [-name NAME] [-scope read-only]
//	go run ./bench/mkkey -unknown -n N
//
// With -n N above 1 the keys are named "NAME 1" to "NAME N"; the default NAME holds the time,
// so every run's keys have a prefix of their own. With -unknown it creates nothing and needs no
// database: it prints N well-formed secrets (a valid checksum each) that no key has, as anyone
// can make them, for bench/unknown-keys.sh's flood.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"keysmith/config"
	"keysmith/models"
)

// progressEvery is how many keys mkkey creates between two progress lines.
const progressEvery = 10_000

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkkey:", err)
		os.Exit(1)
	}
}

// run is the whole command with its dependencies passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("mkkey", flag.ContinueOnError)
	flags.SetOutput(stderr)
	databaseURL := flags.String("database-url", getenv("KEYSMITH_DATABASE_URL"), "postgres:// URL or SQLite file path (default $KEYSMITH_DATABASE_URL)")
	name := flags.String("name", "bench "+time.Now().UTC().Format(time.RFC3339Nano), "the key's name; with -n above 1, the prefix of the names NAME 1 to NAME N")
	scopeName := flags.String("scope", string(models.ScopeReadOnly), "the keys' scope")
	count := flags.Int("n", 1, "how many keys to create")
	unknown := flags.Bool("unknown", false, "print N well-formed secrets of keys that do not exist, and create nothing")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	if *count < 1 {
		return fmt.Errorf("-n must be at least 1, got %d", *count)
	}
	if *unknown {
		secrets := bufio.NewWriter(stdout)
		for range *count {
			if _, err := fmt.Fprintln(secrets, models.GenerateSecret()); err != nil {
				return err
			}
		}
		return secrets.Flush()
	}
	if *databaseURL == "" {
		return fmt.Errorf("set KEYSMITH_DATABASE_URL or -database-url")
	}
	scope, ok := models.ParseScope(*scopeName)
	if !ok {
		return fmt.Errorf("unknown scope %q", *scopeName)
	}
	store, err := models.Open(ctx, withoutWaitingForDisk(*databaseURL))
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	if err := useAuditKey(store, *databaseURL, getenv); err != nil {
		return err
	}

	secrets := bufio.NewWriter(stdout)
	start := time.Now()
	for i := 1; i <= *count; i++ {
		keyName := *name
		if *count > 1 {
			keyName = fmt.Sprintf("%s %d", *name, i)
		}
		_, secret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: keyName, Scope: scope})
		if err != nil {
			return fmt.Errorf("key %d of %d: %w", i, *count, err)
		}
		if _, err := fmt.Fprintln(secrets, secret); err != nil {
			return err
		}
		if i%progressEvery == 0 {
			fmt.Fprintf(stderr, "mkkey: %d of %d keys created in %s\n", i, *count, time.Since(start).Round(100*time.Millisecond))
		}
	}
	return secrets.Flush()
}

// useAuditKey gives the store the key the serving instance links the audit log with, so that
// the keys.created events mkkey records continue its chain: KEYSMITH_AUDIT_KEY, the file
// KEYSMITH_AUDIT_KEY_FILE names, or on SQLite the key file beside the database once `keysmith`
// has made it. With none of them the events are linked without a key, as serve links them.
func useAuditKey(store *models.Store, databaseURL string, getenv func(string) string) error {
	var (
		key []byte
		err error
	)
	switch {
	case getenv("KEYSMITH_AUDIT_KEY") != "":
		key, err = config.ParseAuditKey(getenv("KEYSMITH_AUDIT_KEY"))
	case getenv("KEYSMITH_AUDIT_KEY_FILE") != "":
		key, err = config.ReadAuditKeyFile(getenv("KEYSMITH_AUDIT_KEY_FILE"))
	case models.SQLiteAuditKeyFile(databaseURL) != "":
		key, err = config.ReadAuditKeyFile(models.SQLiteAuditKeyFile(databaseURL))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if err != nil || key == nil {
		return err
	}
	return store.UseAuditKey(key)
}

// withoutWaitingForDisk turns off PostgreSQL's synchronous_commit for mkkey's connections,
// unless the URL sets it: each key is a transaction of its own, and waiting for each commit to
// reach the disk made 100,000 keys take minutes. A crash may lose the last keys made, which
// a benchmark's keys can afford. SQLite URLs are returned as they are.
func withoutWaitingForDisk(databaseURL string) string {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return databaseURL
	}
	if strings.Contains(databaseURL, "synchronous_commit=") {
		return databaseURL
	}
	if strings.Contains(databaseURL, "?") {
		return databaseURL + "&synchronous_commit=off"
	}
	return databaseURL + "?synchronous_commit=off"
}
