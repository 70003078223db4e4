// Command mkkey creates an API key for the benchmarks and prints its secret on standard output,
// and nowhere else, so bench/verify.sh can hand it to wrk without it reaching a log or a
// process list.
//
//	KEYSMITH_DATABASE_URL=... go run ./bench/mkkey [-name NAME] [-scope read-only]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"keysmith/models"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkkey:", err)
		os.Exit(1)
	}
}

func run() error {
	databaseURL := flag.String("database-url", os.Getenv("KEYSMITH_DATABASE_URL"), "postgres:// URL or SQLite file path (default $KEYSMITH_DATABASE_URL)")
	name := flag.String("name", "bench "+time.Now().UTC().Format(time.RFC3339Nano), "the key's name")
	scopeName := flag.String("scope", string(models.ScopeReadOnly), "the key's scope")
	flag.Parse()
	if *databaseURL == "" {
		return fmt.Errorf("set KEYSMITH_DATABASE_URL or -database-url")
	}
	scope, ok := models.ParseScope(*scopeName)
	if !ok {
		return fmt.Errorf("unknown scope %q", *scopeName)
	}
	ctx := context.Background()
	store, err := models.Open(ctx, *databaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	_, secret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: *name, Scope: scope})
	if err != nil {
		return err
	}
	fmt.Println(secret)
	return nil
}
