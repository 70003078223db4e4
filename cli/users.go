package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"keysmith/config"
	"keysmith/models"
)

// usersCommand runs `keysmith users create|list|disable|enable|set-permission|reset-link`: the
// console's user administration for scripts, through the same store operations, so the same
// guard rails hold. The command line has no signed-in user, so no "yourself" rule; the last
// enabled Super admin is kept all the same. Every change is audited with the actor cli and the
// operating system user.
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("users: name a command: create, list, disable, enable, set-permission or reset-link\n%s", usage)
	}
	ctx = models.WithAuditActor(ctx, cliActor(getenv))
	switch args[0] {
	case "create":
		return createUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "list":
		return listUsers(ctx, args[1:], getenv, stdout, stderr)
	case "disable", "enable":
		return setUserDisabled(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "set-permission":
		return setUserPermission(ctx, args[1:], getenv, stdout, stderr)
	case "reset-link":
		return resetUserLink(ctx, args[1:], getenv, stdout, stderr)
	}
	return fmt.Errorf("unknown users command %q\n%s", args[0], usage)
}

// createUser runs `users create`: a user with their password, read from the first line of
// standard input so that it never shows in the process list.
func createUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keysmith users create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email, used to sign in")
	name := fs.String("name", "", "the user's display name")
	permission := fs.String("permission", "", "connectivity-admin, super-admin or none")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	own, configArgs, rest := splitArgs(args, map[string]bool{"email": true, "name": true, "permission": true, "password-stdin": false})
	if err := fs.Parse(own); err != nil {
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
	// A stray word is left over by config.Load, and openStore refuses it.
	_, store, _, err := openStore(ctx, "keysmith users create", append(configArgs, rest...), getenv, stderr)
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

// userLine is one user as `users list --json` writes it.
type userLine struct {
	ID           int64      `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Permission   string     `json:"permission"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at"`
}

// listUsers writes every user by name: a table whose free-text column, the name, comes last,
// or with --json one JSON object per line.
func listUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	own, configArgs, rest := splitArgs(args, map[string]bool{"json": false})
	fs := flag.NewFlagSet("keysmith users list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "write one JSON object per user and line, for scripts")
	if err := fs.Parse(own); err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("users list: unexpected arguments %q", rest)
	}
	_, store, _, err := openStore(ctx, "keysmith users list", configArgs, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	users, err := store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("users list: %w", err)
	}
	if *asJSON {
		encoder := json.NewEncoder(stdout)
		for _, u := range users {
			line := userLine{ID: u.ID, Email: u.Email, Name: u.Name, Permission: string(u.Permission), Status: string(u.Status()),
				CreatedAt: u.CreatedAt.UTC(), LastSignInAt: utc(u.LastSignInAt)}
			if err := encoder.Encode(line); err != nil {
				return err
			}
		}
		return nil
	}
	table := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "ID\tSTATUS\tPERMISSION\tLAST SIGN-IN\tEMAIL\tNAME")
	for _, u := range users {
		fmt.Fprintf(table, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Status(), u.Permission, timeOr(u.LastSignInAt, "never"), u.Email, u.Name)
	}
	return table.Flush()
}

// userCommand is a users command on one user: the configuration, the open store and the
// user, named by email or id in the first argument left after the flags, and the arguments
// after it.
type userCommand struct {
	cfg    config.Config
	store  *models.Store
	target *models.User
	rest   []string
}

// openForUser opens the store for `keysmith users command` on one user, and expects want
// arguments besides the flags: the user, and then what the command needs (want names them).
func openForUser(ctx context.Context, command string, args []string, want []string, getenv func(string) string, stderr io.Writer) (*userCommand, error) {
	_, configArgs, rest := splitArgs(args, nil)
	if len(rest) != 1+len(want) {
		return nil, fmt.Errorf("users %s: name one user by email or id, as `keysmith users list` shows them%s", command, strings.Join(want, ""))
	}
	cfg, store, _, err := openStore(ctx, "keysmith users "+command, configArgs, getenv, stderr)
	if err != nil {
		return nil, err
	}
	target, err := findUser(ctx, store, rest[0])
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("users %s: %w", command, err)
	}
	return &userCommand{cfg: cfg, store: store, target: target, rest: rest[1:]}, nil
}

// findUser finds a user by email (whatever its case) or by id.
func findUser(ctx context.Context, store *models.Store, name string) (*models.User, error) {
	var (
		found *models.User
		err   error
	)
	if id, parseErr := strconv.ParseInt(name, 10, 64); parseErr == nil {
		found, err = store.UserByID(ctx, id)
	} else {
		found, err = store.UserByEmail(ctx, name)
	}
	if errors.Is(err, models.ErrUserNotFound) {
		return nil, fmt.Errorf("no user has the email or id %q", name)
	}
	return found, err
}

// refusal turns a guard rail of user administration into a sentence for the command line.
func refusal(command string, target *models.User, err error) error {
	switch {
	case errors.Is(err, models.ErrLastSuperAdmin):
		return fmt.Errorf("users %s: %s is the last enabled Super admin, and cannot be disabled or demoted; make another user super-admin first", command, target.Email)
	case errors.Is(err, models.ErrUserDisabled):
		return fmt.Errorf("users %s: %s is disabled; enable them first", command, target.Email)
	}
	return fmt.Errorf("users %s: %w", command, err)
}

// setUserDisabled runs `users disable USER` or `users enable USER`. Doing it again is
// harmless: it says so and succeeds.
func setUserDisabled(ctx context.Context, command string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	uc, err := openForUser(ctx, command, args, nil, getenv, stderr)
	if err != nil {
		return err
	}
	defer uc.store.Close()
	store, target := uc.store, uc.target
	if command == "disable" {
		u, changed, ended, err := store.DisableUser(ctx, target.ID)
		if err != nil {
			return refusal(command, target, err)
		}
		if !changed {
			fmt.Fprintf(stdout, "%s was already disabled: nothing changed\n", u.Email)
			return nil
		}
		fmt.Fprintf(stdout, "disabled %s (%s): they can no longer sign in; sessions ended: %d\n", u.Email, u.Name, ended)
		return nil
	}
	u, changed, err := store.EnableUser(ctx, target.ID)
	if err != nil {
		return refusal(command, target, err)
	}
	switch {
	case !changed:
		fmt.Fprintf(stdout, "%s was already enabled: nothing changed\n", u.Email)
	case u.Status() == models.UserActive:
		fmt.Fprintf(stdout, "enabled %s (%s): they can sign in again with their password\n", u.Email, u.Name)
	default:
		fmt.Fprintf(stdout, "enabled %s (%s): they have no password yet; make them a link with `keysmith users reset-link`\n", u.Email, u.Name)
	}
	return nil
}

// setUserPermission runs `users set-permission USER PERMISSION`.
func setUserPermission(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if _, _, rest := splitArgs(args, nil); len(rest) == 2 {
		if _, err := models.ParsePermission(rest[1]); err != nil {
			return fmt.Errorf("users set-permission: %w", err)
		}
	}
	uc, err := openForUser(ctx, "set-permission", args, []string{", then the permission"}, getenv, stderr)
	if err != nil {
		return err
	}
	defer uc.store.Close()
	permission := models.Permission(uc.rest[0])
	u, changed, err := uc.store.SetUserPermission(ctx, uc.target.ID, permission)
	if err != nil {
		return refusal("set-permission", uc.target, err)
	}
	if !changed {
		fmt.Fprintf(stdout, "%s already has permission %s: nothing changed\n", u.Email, permission)
		return nil
	}
	fmt.Fprintf(stdout, "%s (%s) now has permission %s, from their next request on\n", u.Email, u.Name, permission)
	return nil
}

// resetUserLink runs `users reset-link USER`: the user's password stops working, their
// sessions end, and the one-time link with which they choose a new one is printed, once, alone
// on standard output (what it did goes to standard error).
func resetUserLink(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	uc, err := openForUser(ctx, "reset-link", args, nil, getenv, stderr)
	if err != nil {
		return err
	}
	defer uc.store.Close()
	u, token, ended, err := uc.store.ResetUserLink(ctx, uc.target.ID)
	if err != nil {
		return refusal("reset-link", uc.target, err)
	}
	fmt.Fprintf(stderr, "one-time link for %s (%s), usable once within %s; their password no longer works; sessions ended: %d\n",
		u.Email, u.Name, strings.TrimSuffix(models.UserLinkLifetime.String(), "0m0s"), ended)
	fmt.Fprintln(stdout, uc.cfg.PasswordLink(token))
	return nil
}
