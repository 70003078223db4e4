// Package cli is the keysmith command line: `keysmith` or `keysmith serve` serves the console
// and the API; `keysmith migrate` applies migrations; `keysmith users …` and `keysmith keys …`
// administer console users and API keys from a script, through the console's store operations;
// `keysmith audit verify` checks the audit log's chain; `keysmith version` names the build.
// Each command is a file; this one dispatches, splits a command's own flags from the
// configuration flags, and opens the store.
package cli

import (
	"context"
	"fmt"
	"io"
	"os/user"
	"strings"
	"time"

	"keysmith/config"
	"keysmith/models"
)

// usage is what `keysmith help` prints, and what a mistaken command shows after its error;
// docs/cli.md shows it too, and a test keeps the two the same.
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

// Run is the whole program with its dependencies passed in, so that main and tests drive it
// alike: args are the arguments after the program's name, getenv reads the environment. After
// a flag set has printed its help on stderr, it returns flag.ErrHelp, which needs no more words.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
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

// splitArgs sorts a command's arguments into its own flags (named in own, true for those that
// take a value), configuration flags (which all take a value, as config.Load's do) and the
// rest, so that flags of both kinds may come before or after the arguments they go with. A
// flag is written -name or --name, its value after "=" or as the next argument.
func splitArgs(args []string, own map[string]bool) (ownArgs, configArgs, rest []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			rest = append(rest, arg)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		takesValue, isOwn := own[name]
		if !isOwn {
			takesValue = true
		}
		group := &configArgs
		if isOwn {
			group = &ownArgs
		}
		*group = append(*group, arg)
		if takesValue && !hasValue && i+1 < len(args) {
			i++
			*group = append(*group, args[i])
		}
	}
	return ownArgs, configArgs, rest
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

// cliActor is the audit log's actor for a command run from the command line: cli, labelled with
// the operating system user (the account the process runs as, or else $USER).
func cliActor(getenv func(string) string) models.AuditActor {
	label := getenv("USER")
	if current, err := user.Current(); err == nil && current.Username != "" {
		label = current.Username
	}
	return models.AuditActor{Type: models.ActorCLI, Label: label}
}

// utc is t in UTC, or nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// timeOr writes t in UTC to the second, or none when t is nil.
func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}
