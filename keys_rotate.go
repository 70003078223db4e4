package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"keysmith/models"
)

// rotateKey is `keysmith keys rotate ak_… --grace=G [--expires=E] [flags]`: it gives the key a
// new secret under the same rules as the console (the grace of the secret it replaces, the new
// expiry within the lifetime policy) and prints the secret, once, alone on standard output, so
// that a script can capture it. What it says besides goes to standard error.
func rotateKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keysmith keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grace := fs.String("grace", "", "how long the current secret keeps working: 0, 1h, 24h, 7d or until-unused")
	expires := fs.String("expires", "", "the new secret's expiry: 7d, 30d, 90d, 180d, 365d, never or a date (YYYY-MM-DD); the lifetime policy's default when absent")
	// The key's public id comes first; then the rotate flags, and anything else is
	// configuration.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("keys rotate: name the key by its public id (ak_…) first")
	}
	publicID := args[0]
	var rotateArgs, configArgs []string
	for i := 1; i < len(args); i++ {
		switch strings.TrimLeft(strings.SplitN(args[i], "=", 2)[0], "-") {
		case "grace", "expires":
			rotateArgs = append(rotateArgs, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				i++
				rotateArgs = append(rotateArgs, args[i])
			}
		default:
			configArgs = append(configArgs, args[i])
		}
	}
	if err := fs.Parse(rotateArgs); err != nil {
		return err
	}
	g, ok := models.ParseGrace(*grace)
	if !ok {
		return fmt.Errorf("keys rotate: --grace must be one of 0, 1h, 24h, 7d or until-unused, not %q", *grace)
	}
	cfg, store, _, err := openStore(ctx, "keysmith keys rotate", configArgs, getenv, stderr)
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
