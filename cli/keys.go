package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"keysmith/models"
)

// keysCommand runs `keysmith keys list|disable|enable|rotate`: the console's key actions for scripts,
// through the same store operations, so the same rules hold and every instance hears of a
// change as it does from the console.
// Every change it makes is recorded in the audit log by the actor cli, labelled with the
// operating system user who ran it.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("keys: name a command: list, disable, enable or rotate\n%s", usage)
	}
	ctx = models.WithAuditActor(ctx, cliActor(getenv))
	switch args[0] {
	case "list":
		return listKeys(ctx, args[1:], getenv, stdout, stderr)
	case "disable", "enable":
		return setKeyDisabled(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "rotate":
		return rotateKey(ctx, args[1:], getenv, stdout, stderr)
	}
	return fmt.Errorf("unknown keys command %q\n%s", args[0], usage)
}

// keyListBatch is how many keys `keys list` reads at a time.
const keyListBatch = 500

// keyLine is one key as `keys list --json` writes it.
type keyLine struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	DisabledAt *time.Time `json:"disabled_at"`
}

// listKeys writes every key, the soonest to expire first and those that never expire last: a
// table whose free-text column, the name, comes last, or with --json one JSON object per line.
// --status and --scope keep only the keys with that status or scope, as the console's filters.
func listKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	own, configArgs, rest := splitArgs(args, map[string]bool{"status": true, "scope": true, "json": false})
	fs := flag.NewFlagSet("keysmith keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.String("status", "", "keep only keys with this status: "+joinValues(models.KeyStatuses))
	scope := fs.String("scope", "", "keep only keys with this scope: "+joinValues(models.Scopes))
	asJSON := fs.Bool("json", false, "write one JSON object per key and line, for scripts")
	if err := fs.Parse(own); err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("keys list: unexpected arguments %q", rest)
	}
	query := models.APIKeyQuery{Sort: models.SortExpiresAsc, PerPage: keyListBatch}
	if *status != "" {
		parsed, ok := models.ParseKeyStatus(*status)
		if !ok {
			return fmt.Errorf("keys list: --status %q is not a key status; use one of %s", *status, joinValues(models.KeyStatuses))
		}
		query.Status = parsed
	}
	if *scope != "" {
		parsed, ok := models.ParseScope(*scope)
		if !ok {
			return fmt.Errorf("keys list: --scope %q is not a key scope; use one of %s", *scope, joinValues(models.Scopes))
		}
		query.Scope = parsed
	}
	_, store, _, err := openStore(ctx, "keysmith keys list", configArgs, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	now := store.Now()
	table := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	encoder := json.NewEncoder(stdout)
	if !*asJSON {
		fmt.Fprintln(table, "ID\tSTATUS\tSCOPE\tEXPIRES\tLAST USED\tNAME")
	}
	for query.Page = 1; ; query.Page++ {
		page, err := store.ListAPIKeys(ctx, query)
		if err != nil {
			return fmt.Errorf("keys list: %w", err)
		}
		for _, key := range page.Keys {
			if *asJSON {
				line := keyLine{ID: key.PublicID, Name: key.Name, Scope: string(key.Scope), Status: string(key.Status(now)),
					CreatedAt: key.CreatedAt.UTC(), ExpiresAt: utc(key.ExpiresAt), LastUsedAt: utc(key.LastUsedAt), DisabledAt: utc(key.DisabledAt)}
				if err := encoder.Encode(line); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\t%s\n", key.PublicID, key.Status(now), key.Scope,
				timeOr(key.ExpiresAt, "never"), timeOr(key.LastUsedAt, "never"), key.Name)
		}
		if len(page.Keys) < query.PerPage {
			break
		}
	}
	return table.Flush()
}

// setKeyDisabled runs `keys disable ID` or `keys enable ID`. Doing it again is harmless: it
// says so and succeeds.
func setKeyDisabled(ctx context.Context, command string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, configArgs, rest := splitArgs(args, nil)
	if len(rest) != 1 {
		return fmt.Errorf("keys %s: name one key by its id (ak_…), as `keysmith keys list` shows it", command)
	}
	publicID := rest[0]
	if !strings.HasPrefix(publicID, "ak_") {
		return fmt.Errorf("keys %s: %q is not a key id: key ids begin with ak_", command, publicID)
	}
	_, store, _, err := openStore(ctx, "keysmith keys "+command, configArgs, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	change := store.EnableAPIKey
	if command == "disable" {
		change = store.DisableAPIKey
	}
	key, changed, err := change(ctx, publicID)
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return fmt.Errorf("keys %s: no API key has the id %q", command, publicID)
	}
	if err != nil {
		return fmt.Errorf("keys %s: %w", command, err)
	}
	switch {
	case !changed:
		fmt.Fprintf(stdout, "%s (%s) was already %sd: nothing changed\n", key.PublicID, key.Name, command)
	case command == "disable":
		fmt.Fprintf(stdout, "disabled %s (%s): services that use it can no longer connect; every instance refuses it within a second\n", key.PublicID, key.Name)
	case key.Expired(store.Now()):
		fmt.Fprintf(stdout, "enabled %s (%s), but it has expired: services that use it still cannot connect\n", key.PublicID, key.Name)
	default:
		fmt.Fprintf(stdout, "enabled %s (%s): services that use it can connect again\n", key.PublicID, key.Name)
	}
	if changed && command == "enable" && store.Dialect() == models.DialectSQLite {
		// SQLite has no announcements between processes. A server on the same file polls the
		// revocations the database records, so a disable reaches it within a second; an
		// enable revokes nothing, and reaches it once its memory of refused secrets (web's
		// unknownKeyWindow) runs out.
		fmt.Fprintln(stderr, "note: a Keysmith server running on this SQLite database accepts the key again within 10 seconds; the console applies it at once.")
	}
	return nil
}

// rotateKey is `keysmith keys rotate ak_… --grace=G [--expires=E] [flags]`: it gives the key a
// new secret under the same rules as the console (the grace of the secret it replaces, the new
// expiry within the lifetime policy) and prints the secret, once, alone on standard output, so
// that a script can capture it. What it says besides goes to standard error.
func rotateKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keysmith keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grace := fs.String("grace", "", "how long the current secret keeps working: 0, 1h, 24h, 7d or until-unused")
	expires := fs.String("expires", "", "the new secret's expiry: 7d, 30d, 90d, 180d, 365d, never or a date (YYYY-MM-DD); the lifetime policy's default when absent")
	// The key's public id comes first; then the rotate flags and configuration flags.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("keys rotate: name the key by its public id (ak_…) first")
	}
	publicID := args[0]
	own, configArgs, rest := splitArgs(args[1:], map[string]bool{"grace": true, "expires": true})
	if err := fs.Parse(own); err != nil {
		return err
	}
	g, ok := models.ParseGrace(*grace)
	if !ok {
		return fmt.Errorf("keys rotate: --grace must be one of 0, 1h, 24h, 7d or until-unused, not %q", *grace)
	}
	// A stray word is left over by config.Load, and openStore refuses it.
	cfg, store, _, err := openStore(ctx, "keysmith keys rotate", append(configArgs, rest...), getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	policy := models.ExpiryPolicy{MaxLifetime: cfg.MaxKeyLifetime}
	expiresIn, expiresAt := *expires, ""
	switch {
	case expiresIn == "":
		expiresIn = policy.DefaultChoice()
	case strings.Count(expiresIn, "-") == 2:
		expiresIn, expiresAt = models.ExpiryCustom, *expires
	case expiresIn == models.ExpiryCustom:
		return errors.New("keys rotate: --expires takes the date itself (YYYY-MM-DD)")
	}
	expiresAtTime, err := policy.Resolve(expiresIn, expiresAt, store.Now())
	var fieldErr *models.FieldError
	if errors.As(err, &fieldErr) {
		return fmt.Errorf("keys rotate: --expires=%s: %s", *expires, fieldErr.Message)
	}
	if err != nil {
		return err
	}
	key, secret, err := store.RotateAPIKey(ctx, publicID, models.Rotation{Grace: g, ExpiresAt: expiresAtTime})
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return fmt.Errorf("keys rotate: no API key has the public id %q", publicID)
	}
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	fmt.Fprintln(stdout, secret)
	previous := "the previous secret no longer works"
	if key.Rotating(store.Now()) {
		previous = "the previous secret works until " + key.PreviousEndsAt().Format(time.RFC3339)
		if key.Previous.UntilUnused {
			previous = "the previous secret works until unused for 1 hour, until " + key.Previous.EndsAt.Format(time.RFC3339) + " at the latest"
		}
	}
	expiry := "never expires"
	if key.ExpiresAt != nil {
		expiry = "expires " + key.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(stderr, "rotated API key %s (%s): the new secret %s; %s\n", key.PublicID, key.Name, expiry, previous)
	return nil
}

// joinValues lists the values a flag takes.
func joinValues[T ~string](values []T) string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}
