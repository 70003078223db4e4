// Command keysmith serves the Administration › API Keys console and the catalog API that the
// keys open. `keysmith` or `keysmith serve` serves; `keysmith migrate` applies migrations;
// `keysmith users create|list|disable|enable|set-permission|reset-link` administers console users
// from a script; `keysmith keys list|disable|enable|rotate` lists, pauses and rotates API keys;
// `keysmith audit verify` checks the audit log's chain.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"keysmith/app"
	"keysmith/config"
	"keysmith/logging"
	"keysmith/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keysmith:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  keysmith [serve] [flags]          serve the console and the API
  keysmith migrate [flags]          apply database migrations and exit
  keysmith users create --email E --name N --permission connectivity-admin|super-admin|none --password-stdin [flags]
  keysmith users list [--json] [flags]
  keysmith users disable|enable EMAIL|ID [flags]
  keysmith users set-permission EMAIL|ID connectivity-admin|super-admin|none [flags]
  keysmith users reset-link EMAIL|ID [flags]
  keysmith keys list [--status S] [--scope S] [--json] [flags]
  keysmith keys disable|enable ak_… [flags]
  keysmith keys rotate ak_… --grace=0|1h|24h|7d|until-unused [--expires=30d|never|YYYY-MM-DD] [flags]
  keysmith audit verify [--anchor POSITION:LINK]… [flags]   check the audit log's chain; exits 1 where it breaks
  keysmith version                  print the module version and the commit it was built from (also --version)
flags (each also read from its environment variable): run "keysmith serve -h"`

// run is the whole program with its dependencies passed in, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	command := "serve"
	switch {
	case len(args) > 0 && (args[0] == "--version" || args[0] == "-version"):
		command, args = "version", args[1:]
	case len(args) > 0 && !strings.HasPrefix(args[0], "-"):
		command, args = args[0], args[1:]
	}
	switch command {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, getenv, stdout, stderr)
	case "users":
		return usersCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "keys":
		return keysCommand(ctx, args, getenv, stdout, stderr)
	case "audit":
		return auditCommand(ctx, args, getenv, stdout, stderr)
	case "version":
		return printVersion(args, stdout)
	case "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", command, usage)
}

// openStore loads the configuration from args (configuration flags only) and the environment,
// opens the database (queueing webhook events when a webhook is configured), applies pending
// migrations, returning the versions it applied, and gives the store its audit key
// (useAuditKey).
func openStore(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer) (config.Config, *models.Store, []int64, error) {
	cfg, rest, err := config.Load(name, args, getenv, stderr)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments %q", rest)
	}
	if err != nil {
		return cfg, nil, nil, err
	}
	store, err := models.OpenWithTimeout(ctx, cfg.DatabaseURL, cfg.DBTimeout)
	if err != nil {
		return cfg, nil, nil, err
	}
	if cfg.WebhookURL != nil {
		// Changes made from the command line queue their events too; a serving instance
		// sends them.
		store.EnableWebhookEvents()
	}
	applied, err := store.Migrate(ctx)
	if err == nil {
		err = useAuditKey(ctx, &cfg, store, stderr)
	}
	if err != nil {
		store.Close()
		return cfg, nil, nil, err
	}
	return cfg, store, applied, nil
}

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

func createUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keysmith users create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email, used to sign in")
	name := fs.String("name", "", "the user's display name")
	permission := fs.String("permission", "", "connectivity-admin, super-admin or none")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	// The user flags come first; anything after them is configuration.
	var userArgs, configArgs []string
	for i := 0; i < len(args); i++ {
		flagName := strings.TrimLeft(strings.SplitN(args[i], "=", 2)[0], "-")
		switch flagName {
		case "email", "name", "permission":
			userArgs = append(userArgs, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				i++
				userArgs = append(userArgs, args[i])
			}
		case "password-stdin":
			userArgs = append(userArgs, args[i])
		default:
			configArgs = append(configArgs, args[i])
		}
	}
	if err := fs.Parse(userArgs); err != nil {
		return err
	}
	if !*passwordStdin {
		return errors.New("users create: pass --password-stdin and write the password to standard input, so it never shows in the process list")
	}
	perm, err := models.ParsePermission(*permission)
	if err != nil {
		return fmt.Errorf("users create: --permission: %w", err)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("users create: read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	_, store, _, err := openStore(ctx, "keysmith users create", configArgs, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	user, err := store.CreateUser(ctx, models.NewUser{Email: *email, Name: *name, Password: password, Permission: perm})
	if err != nil {
		return fmt.Errorf("users create: %w", err)
	}
	fmt.Fprintf(stdout, "created user %s (%s) with permission %s\n", user.Email, user.Name, user.Permission)
	return nil
}
