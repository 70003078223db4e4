package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os/user"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// runUsers runs `keysmith users args…` on target's database in-process and returns its output.
func runUsers(t *testing.T, target modelstest.Target, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL, "KEYSMITH_BASE_URL": "https://keys.example.com", "USER": "fallback"}
	err = Run(context.Background(), append([]string{"users"}, args...), getenv(vars), nil, &out, &errs)
	return out.String(), errs.String(), err
}

// `users list` shows every user; `disable`, `enable`, `set-permission` and `reset-link` go
// through the console's store operations, with the same guard rails, and are audited as the
// command line's, naming the operating system user.
func TestUsersCommands(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store := modelstest.Open(t, target)
			if _, err := store.CreateUser(ctx, models.NewUser{Email: "root@example.com", Name: "Root", Password: "a very long password", Permission: models.PermissionSuperAdmin}); err != nil {
				t.Fatal(err)
			}
			ops, err := store.CreateUser(ctx, models.NewUser{Email: "ops@example.com", Name: "Ops Team", Password: "a very long password", Permission: models.PermissionConnectivityAdmin})
			if err != nil {
				t.Fatal(err)
			}
			session := models.NewSessionToken()
			if err := store.CreateSession(ctx, session, &ops.ID, nil, time.Hour, models.SessionClient{}); err != nil {
				t.Fatal(err)
			}

			out, _, err := runUsers(t, target, "list")
			if err != nil {
				t.Fatalf("users list: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID STATUS PERMISSION LAST SIGN-IN EMAIL NAME" {
				t.Fatalf("users list: got %q, want a header and 2 users", out)
			}
			lastSignIn, _ := store.UserByID(ctx, ops.ID)
			if got, want := strings.Join(strings.Fields(lines[1]), " "), "2 active connectivity-admin "+lastSignIn.LastSignInAt.UTC().Format(time.RFC3339)+" ops@example.com Ops Team"; got != want {
				t.Errorf("users list line 1: got %q, want %q", got, want)
			}
			out, _, err = runUsers(t, target, "list", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var line struct {
				ID                        int64
				Email, Status, Permission string
			}
			if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line); err != nil || line.ID != ops.ID || line.Status != "active" || line.Permission != "connectivity-admin" {
				t.Errorf("users list --json: got %q (%v)", out, err)
			}

			out, _, err = runUsers(t, target, "disable", "OPS@example.com")
			if err != nil || !strings.HasPrefix(out, "disabled ops@example.com (Ops Team)") || !strings.Contains(out, "sessions ended: 1") {
				t.Fatalf("users disable: got %q, %v", out, err)
			}
			if _, err := store.SessionByToken(ctx, session, time.Hour); !errors.Is(err, models.ErrSessionNotFound) {
				t.Errorf("the disabled user's session: got %v, want ErrSessionNotFound", err)
			}
			if out, _, err := runUsers(t, target, "disable", "ops@example.com"); err != nil || !strings.Contains(out, "already disabled") {
				t.Errorf("users disable again: got %q, %v", out, err)
			}
			if out, _, err := runUsers(t, target, "enable", "2"); err != nil || !strings.HasPrefix(out, "enabled ops@example.com") {
				t.Errorf("users enable by id: got %q, %v", out, err)
			}
			if out, _, err := runUsers(t, target, "set-permission", "ops@example.com", "super-admin"); err != nil || !strings.Contains(out, "now has permission super-admin") {
				t.Errorf("users set-permission: got %q, %v", out, err)
			}
			if _, _, err := runUsers(t, target, "set-permission", "root@example.com", "none"); err != nil {
				t.Errorf("demote one of two Super admins: %v", err)
			}
			for _, args := range [][]string{{"set-permission", "ops@example.com", "none"}, {"disable", "ops@example.com"}} {
				if _, _, err := runUsers(t, target, args...); err == nil || !strings.Contains(err.Error(), "last enabled Super admin") {
					t.Errorf("users %q on the last Super admin: got %v, want a refusal naming the rule", args, err)
				}
			}
			if got, _ := store.UserByID(ctx, ops.ID); got.Permission != models.PermissionSuperAdmin || got.Disabled {
				t.Errorf("the last Super admin after the refusals: %+v", got)
			}

			out, stderr, err := runUsers(t, target, "reset-link", "root@example.com")
			if err != nil {
				t.Fatalf("users reset-link: %v", err)
			}
			link, err := url.Parse(strings.TrimSpace(out))
			if err != nil || strings.Count(out, "\n") != 1 || link.Scheme != "https" || link.Host != "keys.example.com" || link.Path != "/set-password" {
				t.Fatalf("users reset-link printed %q, want one link on the console's address", out)
			}
			token := link.Query().Get("token")
			if strings.Contains(stderr, token) || !strings.Contains(stderr, "root@example.com") {
				t.Errorf("users reset-link standard error: %q; want it to name the user, without the link", stderr)
			}
			if _, err := store.SignIn(ctx, models.SignInAttempt{Email: "root@example.com", Password: "a very long password", Address: "192.0.2.1"}); !errors.Is(err, models.ErrUserNotFound) {
				t.Errorf("the old password after reset-link: got %v, want ErrUserNotFound", err)
			}
			if _, err := store.SetPasswordWithLink(ctx, token, "the password after the reset"); err != nil {
				t.Errorf("the printed link: %v", err)
			}

			want := "fallback"
			if current, err := user.Current(); err == nil && current.Username != "" {
				want = current.Username
			}
			var byCLI int
			for _, r := range modelstest.AuditRecords(t, store) {
				if r.ActorType == models.ActorCLI {
					byCLI++
					if r.ActorLabel != want {
						t.Errorf("audit event %s: actor label %q, want the operating system user %q", r.Action, r.ActorLabel, want)
					}
				}
			}
			// disable, session.ended, enable, 2 permission changes, reset link.
			if byCLI != 6 {
				t.Errorf("audit events by the command line: %d, want 6", byCLI)
			}
		})
	}
}

// Every mistake is an error naming what is wrong, and changes nothing.
func TestUsersCommandMistakes(t *testing.T) {
	target := modelstest.Targets(t)[0]
	store := modelstest.Open(t, target)
	if _, err := store.CreateUser(context.Background(), models.NewUser{Email: "root@example.com", Name: "Root", Password: "a very long password", Permission: models.PermissionSuperAdmin}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name a command"},
		{[]string{"delete"}, `unknown users command "delete"`},
		{[]string{"disable"}, "name one user by email or id"},
		{[]string{"disable", "root@example.com", "other@example.com"}, "name one user by email or id"},
		{[]string{"disable", "nobody@example.com"}, `no user has the email or id "nobody@example.com"`},
		{[]string{"enable", "\x00\xff"}, "no user has the email or id"},
		{[]string{"reset-link", "424242"}, `no user has the email or id "424242"`},
		{[]string{"set-permission", "root@example.com"}, "then the permission"},
		{[]string{"set-permission", "root@example.com", "root"}, `unknown permission "root"`},
		{[]string{"list", "extra"}, "unexpected arguments"},
		{[]string{"disable", "root@example.com"}, "last enabled Super admin"},
	} {
		_, _, err := runUsers(t, target, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("users %q: got error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	if got, _ := store.UserByEmail(context.Background(), "root@example.com"); got.Disabled || got.Status() != models.UserActive {
		t.Errorf("a mistaken command changed the user: %+v", got)
	}
}

func TestMigrateAndUsersCreate(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL}
			var out, errs bytes.Buffer
			if err := Run(ctx, []string{"migrate"}, getenv(vars), nil, &out, &errs); err != nil {
				t.Fatalf("migrate: %v; %s", err, errs.String())
			}
			if !strings.Contains(out.String(), "applied 00001") {
				t.Errorf("migrate printed %q", out.String())
			}
			out.Reset()
			args := []string{"users", "create", "--email", "ops@example.com", "--name", "Ops", "--permission", "connectivity-admin", "--password-stdin"}
			if err := Run(ctx, args, getenv(vars), strings.NewReader("a long enough password\n"), &out, &errs); err != nil {
				t.Fatalf("users create: %v", err)
			}
			store := modelstest.Open(t, target)
			user, err := store.SignIn(ctx, models.SignInAttempt{Email: "ops@example.com", Password: "a long enough password", Address: "127.0.0.1"})
			if err != nil || user.Permission != models.PermissionConnectivityAdmin {
				t.Errorf("created user = %+v, %v", user, err)
			}
			for name, bad := range map[string][]string{
				"no password-stdin": {"users", "create", "--email", "x@example.com", "--name", "X", "--permission", "none"},
				"bad permission":    {"users", "create", "--email", "x@example.com", "--name", "X", "--permission", "root", "--password-stdin"},
				"duplicate email":   args,
			} {
				if err := Run(ctx, bad, getenv(vars), strings.NewReader("a long enough password\n"), &out, &errs); err == nil {
					t.Errorf("%s: no error", name)
				}
			}
		})
	}
}
