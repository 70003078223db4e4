package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

const newPassword = "a new and long password"

// activeUser adds a user who has a password, as `keysmith users create` does.
func activeUser(t *testing.T, store *models.Store, email string, permission models.Permission) *models.User {
	t.Helper()
	user, err := store.CreateUser(context.Background(), models.NewUser{Email: email, Name: strings.Split(email, "@")[0], Password: "a very long password", Permission: permission})
	if err != nil {
		t.Fatal(err)
	}
	return user
}

// as is ctx acting as user, as a signed-in request is.
func as(user *models.User) context.Context {
	return models.WithAuditActor(context.Background(), models.UserActor(user))
}

// cli is ctx acting from the command line.
func cli() context.Context {
	return models.WithAuditActor(context.Background(), models.AuditActor{Type: models.ActorCLI, Label: "ops"})
}

func signIn(store *models.Store, email, password string) error {
	_, err := store.SignIn(context.Background(), models.SignInAttempt{Email: email, Password: password, Address: "192.0.2.1"})
	return err
}

// An invited user has no password and cannot sign in until they use their link; the link is
// stored hashed, works once and for 24 hours, and the user chooses their password with it.
func TestInviteUserAndSetPasswordWithLink(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		admin := activeUser(t, store, "root@example.com", models.PermissionSuperAdmin)
		user, token, err := store.InviteUser(as(admin), models.Invitation{Email: " Ada@Example.com ", Name: " Ada ", Permission: models.PermissionConnectivityAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if user.Email != "ada@example.com" || user.Name != "Ada" || user.Status() != models.UserInvited || len(token) < 43 {
			t.Fatalf("InviteUser = %+v, token of %d characters; want an invited ada@example.com and a 256-bit token", user, len(token))
		}
		var inClear int64
		if err := store.Pool().QueryRow("SELECT COUNT(*) FROM user_links WHERE token_hash = '" + token + "'").Scan(&inClear); err != nil || inClear != 0 {
			t.Errorf("links stored with the token in clear: %d, %v; want none", inClear, err)
		}
		entries, err := store.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(entries, func(e models.UserEntry) bool { return e.ID == user.ID })
		if i < 0 || entries[i].LinkExpiresAt == nil || !entries[i].LinkExpiresAt.Equal(now.Add(24*time.Hour)) {
			t.Errorf("the list's entry of the invited user: %+v; want a link expiring in 24 hours", entries)
		}
		if err := signIn(store, "ada@example.com", ""); err == nil {
			t.Errorf("an invited user signed in without a password")
		}
		if got, err := store.UserByLink(ctx, token); err != nil || got.ID != user.ID {
			t.Fatalf("UserByLink = %+v, %v; want the invited user", got, err)
		}
		if _, err := store.SetPasswordWithLink(ctx, token, "too short"); !models.IsFieldError(err) {
			t.Errorf("a short password: got %v, want a validation error", err)
		}
		if _, err := store.SetPasswordWithLink(ctx, "not-the-token", newPassword); !errors.Is(err, models.ErrUserLinkInvalid) {
			t.Errorf("a wrong token: got %v, want ErrUserLinkInvalid", err)
		}
		activated, err := store.SetPasswordWithLink(ctx, token, newPassword)
		if err != nil || activated.Status() != models.UserActive || activated.ActivatedAt == nil {
			t.Fatalf("SetPasswordWithLink = %+v, %v; want an active user", activated, err)
		}
		if err := signIn(store, "ADA@example.com", newPassword); err != nil {
			t.Errorf("sign in with the chosen password: %v", err)
		}
		if _, err := store.SetPasswordWithLink(ctx, token, "another long password"); !errors.Is(err, models.ErrUserLinkInvalid) {
			t.Errorf("the link used again: got %v, want ErrUserLinkInvalid", err)
		}
		if _, err := store.UserByLink(ctx, token); !errors.Is(err, models.ErrUserLinkInvalid) {
			t.Errorf("UserByLink of a used link: got %v, want ErrUserLinkInvalid", err)
		}

		records := userAdminAudit(t, store)
		want := []modelstest.AuditRecord{
			{Action: "user.created", ActorType: models.ActorSystem, TargetLabel: "root@example.com", Detail: "permission super-admin"},
			{Action: "user.created", ActorType: models.ActorUser, ActorLabel: "root@example.com", TargetLabel: "ada@example.com", Detail: "invited with permission connectivity-admin"},
			{Action: "user.activated", ActorType: models.ActorUser, ActorLabel: "ada@example.com", TargetLabel: "ada@example.com", Detail: "invitation accepted"},
		}
		if len(records) != len(want) {
			t.Fatalf("audit events: got %+v, want %d", records, len(want))
		}
		for i, w := range want {
			r := records[i]
			if r.Action != w.Action || r.ActorType != w.ActorType || r.ActorLabel != w.ActorLabel || r.TargetLabel != w.TargetLabel || r.Detail != w.Detail {
				t.Errorf("audit event %d: got %+v, want %+v", i, r, w)
			}
		}
		for _, r := range records {
			if strings.Contains(fmt.Sprint(r), token) || strings.Contains(fmt.Sprint(r), newPassword) {
				t.Errorf("audit event %+v holds the token or the password", r)
			}
		}
	})
}

// A link stops working 24 hours after it was made, and a new link replaces the one before.
func TestUserLinkExpiresAndIsReplaced(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := cli()
		now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		user, first, err := store.InviteUser(ctx, models.Invitation{Email: "b@example.com", Name: "B", Permission: models.PermissionNone})
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(models.UserLinkLifetime - time.Second)
		if _, err := store.UserByLink(ctx, first); err != nil {
			t.Errorf("the link a second before it expires: %v", err)
		}
		now = now.Add(time.Second)
		if _, err := store.SetPasswordWithLink(ctx, first, newPassword); !errors.Is(err, models.ErrUserLinkInvalid) {
			t.Errorf("the link after 24 hours: got %v, want ErrUserLinkInvalid", err)
		}
		_, second, _, err := store.ResetUserLink(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, third, _, err := store.ResetUserLink(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.UserByLink(ctx, second); !errors.Is(err, models.ErrUserLinkInvalid) {
			t.Errorf("a link replaced by a newer one: got %v, want ErrUserLinkInvalid", err)
		}
		if got, err := store.SetPasswordWithLink(ctx, third, newPassword); err != nil || got.Status() != models.UserActive {
			t.Errorf("the newest link: %+v, %v; want an active user", got, err)
		}
	})
}

// Emails are unique whatever their case, between invitations and users made with a password;
// what is typed is checked as everywhere, and a refused invitation leaves nothing behind.
func TestInviteUserRefusesDuplicatesAndBadInput(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := cli()
		activeUser(t, store, "ops@example.com", models.PermissionNone)
		for _, email := range []string{"OPS@example.com", " Ops@Example.COM"} {
			if _, _, err := store.InviteUser(ctx, models.Invitation{Email: email, Name: "Ops", Permission: models.PermissionNone}); !errors.Is(err, models.ErrDuplicateEmail) {
				t.Errorf("invite %q: got %v, want ErrDuplicateEmail", email, err)
			}
		}
		if _, _, err := store.InviteUser(ctx, models.Invitation{Email: "Grace@example.com", Name: "Grace", Permission: models.PermissionNone}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateUser(ctx, models.NewUser{Email: "grace@EXAMPLE.com", Name: "G", Password: "a very long password", Permission: models.PermissionNone}); !errors.Is(err, models.ErrDuplicateEmail) {
			t.Errorf("create a user with an invited email in another case: got %v, want ErrDuplicateEmail", err)
		}
		for name, inv := range map[string]models.Invitation{
			"NUL in name":        {Email: "n@example.com", Name: "N\x00", Permission: models.PermissionNone},
			"invalid UTF-8":      {Email: "n\xff@example.com", Name: "N", Permission: models.PermissionNone},
			"escape in name":     {Email: "n@example.com", Name: "\x1b[2J", Permission: models.PermissionNone},
			"no at":              {Email: "n.example.com", Name: "N", Permission: models.PermissionNone},
			"huge email":         {Email: strings.Repeat("n", 300) + "@example.com", Name: "N", Permission: models.PermissionNone},
			"long name":          {Email: "n@example.com", Name: strings.Repeat("N", 101), Permission: models.PermissionNone},
			"unknown permission": {Email: "n@example.com", Name: "N", Permission: "root"},
		} {
			if _, _, err := store.InviteUser(ctx, inv); !models.IsFieldError(err) {
				t.Errorf("%s: got %v, want a validation error", name, err)
			}
		}
		if n, err := store.CountUsers(ctx); err != nil || n != 2 {
			t.Errorf("users after the refusals: %d, %v; want 2", n, err)
		}
	})
}

// Nobody disables or demotes the last enabled Super admin, from the console or the command
// line; a Super admin only invited does not count. Nobody disables, demotes or resets
// themselves; and someone who is not (or no longer) an enabled Super admin changes nobody.
func TestUserGuardRails(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		root := activeUser(t, store, "root@example.com", models.PermissionSuperAdmin)
		ops := activeUser(t, store, "ops@example.com", models.PermissionConnectivityAdmin)
		if _, _, _, err := store.DisableUser(cli(), root.ID); !errors.Is(err, models.ErrLastSuperAdmin) {
			t.Errorf("disable the only Super admin: got %v, want ErrLastSuperAdmin", err)
		}
		for _, p := range []models.Permission{models.PermissionConnectivityAdmin, models.PermissionNone} {
			if _, _, err := store.SetUserPermission(cli(), root.ID, p); !errors.Is(err, models.ErrLastSuperAdmin) {
				t.Errorf("demote the only Super admin to %s: got %v, want ErrLastSuperAdmin", p, err)
			}
		}
		invited, token, err := store.InviteUser(as(root), models.Invitation{Email: "new@example.com", Name: "New", Permission: models.PermissionSuperAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := store.DisableUser(cli(), root.ID); !errors.Is(err, models.ErrLastSuperAdmin) {
			t.Errorf("disable the only active Super admin beside an invited one: got %v, want ErrLastSuperAdmin", err)
		}
		if _, _, err := store.SetUserPermission(as(ops), ops.ID, models.PermissionSuperAdmin); !errors.Is(err, models.ErrNotSuperAdmin) {
			t.Errorf("a Connectivity admin promotes themselves: got %v, want ErrNotSuperAdmin", err)
		}
		if _, _, _, err := store.DisableUser(as(ops), root.ID); !errors.Is(err, models.ErrNotSuperAdmin) {
			t.Errorf("a Connectivity admin disables a Super admin: got %v, want ErrNotSuperAdmin", err)
		}
		if _, err := store.SetPasswordWithLink(context.Background(), token, newPassword); err != nil {
			t.Fatal(err)
		}

		for name, change := range map[string]func() error{
			"disable": func() error { _, _, _, err := store.DisableUser(as(root), root.ID); return err },
			"demote": func() error {
				_, _, err := store.SetUserPermission(as(root), root.ID, models.PermissionNone)
				return err
			},
			"reset link": func() error { _, _, _, err := store.ResetUserLink(as(root), root.ID); return err },
		} {
			if err := change(); !errors.Is(err, models.ErrOwnAccount) {
				t.Errorf("%s oneself: got %v, want ErrOwnAccount", name, err)
			}
		}
		if _, changed, err := store.SetUserPermission(as(root), root.ID, models.PermissionSuperAdmin); err != nil || changed {
			t.Errorf("keep one's own permission: changed %v, %v; want nothing changed", changed, err)
		}

		// With a second enabled Super admin, the first may go; then the second is the last.
		if _, changed, err := store.SetUserPermission(as(invited), root.ID, models.PermissionConnectivityAdmin); err != nil || !changed {
			t.Fatalf("demote a Super admin beside another: changed %v, %v", changed, err)
		}
		if _, _, _, err := store.DisableUser(as(root), ops.ID); !errors.Is(err, models.ErrNotSuperAdmin) {
			t.Errorf("a demoted Super admin acts: got %v, want ErrNotSuperAdmin", err)
		}
		if _, _, _, err := store.DisableUser(cli(), invited.ID); !errors.Is(err, models.ErrLastSuperAdmin) {
			t.Errorf("disable the last Super admin from the command line: got %v, want ErrLastSuperAdmin", err)
		}
		if _, _, err := store.SetUserPermission(cli(), root.ID, models.PermissionSuperAdmin); err != nil {
			t.Fatal(err)
		}
		if _, changed, _, err := store.DisableUser(cli(), invited.ID); err != nil || !changed {
			t.Errorf("disable one of two Super admins: changed %v, %v", changed, err)
		}
		if _, _, _, err := store.DisableUser(cli(), root.ID); !errors.Is(err, models.ErrLastSuperAdmin) {
			t.Errorf("disable the last enabled Super admin beside a disabled one: got %v, want ErrLastSuperAdmin", err)
		}
		if _, _, _, err := store.ResetUserLink(cli(), invited.ID); !errors.Is(err, models.ErrUserDisabled) {
			t.Errorf("a reset link for a disabled user: got %v, want ErrUserDisabled", err)
		}
		if _, _, _, err := store.DisableUser(cli(), 999999); !errors.Is(err, models.ErrUserNotFound) {
			t.Errorf("disable a user who does not exist: got %v, want ErrUserNotFound", err)
		}
		if _, _, err := store.SetUserPermission(cli(), ops.ID, "root"); !models.IsFieldError(err) {
			t.Errorf("an unknown permission: got %v, want a validation error", err)
		}
	})
}

// Two Super admins demoting or disabling each other at once, on separate connections as on
// two instances, cannot both succeed: one of them stays. The race runs several rounds, each
// starting both changes together.
func TestParallelDemotionsKeepOneSuperAdmin(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		other := modelstest.Open(t, target)
		for round := range 6 {
			a := activeUser(t, store, fmt.Sprintf("a%d@example.com", round), models.PermissionSuperAdmin)
			b := activeUser(t, store, fmt.Sprintf("b%d@example.com", round), models.PermissionSuperAdmin)
			ctxA, ctxB := as(a), as(b)
			if round%2 == 1 {
				// From the command line, where nobody is "self" and only the count holds.
				ctxA, ctxB = cli(), cli()
			}
			start := make(chan struct{})
			errs := make([]error, 2)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				if round%3 == 2 {
					_, _, _, errs[0] = store.DisableUser(ctxA, b.ID)
				} else {
					_, _, errs[0] = store.SetUserPermission(ctxA, b.ID, models.PermissionNone)
				}
			}()
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[1] = other.SetUserPermission(ctxB, a.ID, models.PermissionNone)
			}()
			close(start)
			wg.Wait()
			failed := 0
			for _, err := range errs {
				switch {
				case err == nil:
				case errors.Is(err, models.ErrLastSuperAdmin) || errors.Is(err, models.ErrNotSuperAdmin):
					failed++
				default:
					t.Fatalf("round %d: unexpected error %v", round, err)
				}
			}
			if failed != 1 {
				t.Errorf("round %d: %d of the two changes refused (%v), want exactly 1", round, failed, errs)
			}
			users, err := store.ListUsers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			enabled := 0
			for _, u := range users {
				if u.Permission == models.PermissionSuperAdmin && !u.Disabled {
					enabled++
				}
			}
			if enabled != 1 {
				t.Fatalf("round %d: %d enabled Super admins after the race, want 1", round, enabled)
			}
			// Reset for the next round: the survivor steps down beside a fresh pair.
			for _, u := range []*models.User{a, b} {
				store.Exec(context.Background(), "UPDATE users SET permission = 'none', disabled = ? WHERE id = ?", true, u.ID)
			}
		}
	})
}

// Disabling a user ends all their sessions and their pending link at once; enabling them
// brings no session back, not even one started while the disable was being committed.
func TestDisableEndsSessionsAndEnableBringsNoneBack(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		root := activeUser(t, store, "root@example.com", models.PermissionSuperAdmin)
		user := activeUser(t, store, "u@example.com", models.PermissionConnectivityAdmin)
		tokens := []string{models.NewSessionToken(), models.NewSessionToken()}
		for _, token := range tokens {
			if err := store.CreateSession(ctx, token, &user.ID, nil, time.Hour, models.SessionClient{}); err != nil {
				t.Fatal(err)
			}
		}
		kept := models.NewSessionToken()
		if err := store.CreateSession(ctx, kept, &root.ID, nil, time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		disabled, changed, ended, err := store.DisableUser(as(root), user.ID)
		if err != nil || !changed || ended != 2 || disabled.Status() != models.UserDisabled {
			t.Fatalf("DisableUser = %+v, %v, %d, %v; want disabled with 2 sessions ended", disabled, changed, ended, err)
		}
		for _, token := range tokens {
			if _, err := store.SessionByToken(ctx, token, time.Hour); !errors.Is(err, models.ErrSessionNotFound) {
				t.Errorf("a session of the disabled user: got %v, want ErrSessionNotFound", err)
			}
		}
		if _, err := store.SessionByToken(ctx, kept, time.Hour); err != nil {
			t.Errorf("another user's session after the disable: %v", err)
		}
		if err := signIn(store, "u@example.com", "a very long password"); !errors.Is(err, models.ErrUserNotFound) {
			t.Errorf("sign in while disabled: got %v, want ErrUserNotFound", err)
		}
		if _, changed, _, err := store.DisableUser(as(root), user.ID); err != nil || changed {
			t.Errorf("disable again: changed %v, %v; want nothing changed", changed, err)
		}
		// A sign-in that passed its check just before the disable commits, and starts its
		// session after.
		late := models.NewSessionToken()
		if err := store.CreateSession(ctx, late, &user.ID, nil, time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		enabled, changed, err := store.EnableUser(as(root), user.ID)
		if err != nil || !changed || enabled.Status() != models.UserActive {
			t.Fatalf("EnableUser = %+v, %v, %v; want active", enabled, changed, err)
		}
		for _, token := range append(tokens, late) {
			if _, err := store.SessionByToken(ctx, token, time.Hour); !errors.Is(err, models.ErrSessionNotFound) {
				t.Errorf("a session from before the enable: got %v, want ErrSessionNotFound", err)
			}
		}
		if err := signIn(store, "u@example.com", "a very long password"); err != nil {
			t.Errorf("sign in after the enable: %v", err)
		}
		if _, changed, err := store.EnableUser(as(root), user.ID); err != nil || changed {
			t.Errorf("enable again: changed %v, %v; want nothing changed", changed, err)
		}
		actions := userAdminActions(t, store)
		if want := []string{"user.created", "user.created", "user.disabled", "session.ended", "user.enabled", "session.ended"}; !slices.Equal(actions, want) {
			t.Errorf("audit actions: got %q, want %q", actions, want)
		}
		if detail := userAdminAudit(t, store)[3].Detail; detail != "2 sessions ended: user disabled" {
			t.Errorf("session.ended detail: got %q, want %q", detail, "2 sessions ended: user disabled")
		}
	})
}

// A reset makes the password stop working at once, ends the sessions and voids earlier
// links; the new link sets a new password.
func TestResetUserLink(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		root := activeUser(t, store, "root@example.com", models.PermissionSuperAdmin)
		user := activeUser(t, store, "u@example.com", models.PermissionNone)
		session := models.NewSessionToken()
		if err := store.CreateSession(ctx, session, &user.ID, nil, time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		reset, token, ended, err := store.ResetUserLink(as(root), user.ID)
		if err != nil || ended != 1 || reset.Status() != models.UserResetPending {
			t.Fatalf("ResetUserLink = %+v, %d, %v; want a pending reset that ended 1 session", reset, ended, err)
		}
		if _, err := store.SessionByToken(ctx, session, time.Hour); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("the session after a reset: got %v, want ErrSessionNotFound", err)
		}
		if err := signIn(store, "u@example.com", "a very long password"); !errors.Is(err, models.ErrUserNotFound) {
			t.Errorf("the old password after a reset: got %v, want ErrUserNotFound", err)
		}
		if _, err := store.SetPasswordWithLink(ctx, token, newPassword); err != nil {
			t.Fatal(err)
		}
		if err := signIn(store, "u@example.com", newPassword); err != nil {
			t.Errorf("the new password: %v", err)
		}
		records := userAdminAudit(t, store)
		last := records[len(records)-3:]
		if last[0].Action != "user.reset_link_created" || last[1].Action != "session.ended" || last[2].Action != "user.activated" || last[2].Detail != "password set after a reset" {
			t.Errorf("audit events of the reset: got %+v", last)
		}
	})
}

// Changing a permission is recorded from what to what; a disabled or invited user may be
// given one.
func TestSetUserPermissionRecordsTheChange(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		root := activeUser(t, store, "root@example.com", models.PermissionSuperAdmin)
		user := activeUser(t, store, "u@example.com", models.PermissionNone)
		got, changed, err := store.SetUserPermission(as(root), user.ID, models.PermissionSuperAdmin)
		if err != nil || !changed || got.Permission != models.PermissionSuperAdmin {
			t.Fatalf("SetUserPermission = %+v, %v, %v", got, changed, err)
		}
		if stored, _ := store.UserByID(ctx, user.ID); stored.Permission != models.PermissionSuperAdmin {
			t.Errorf("stored permission: got %q, want super-admin", stored.Permission)
		}
		records := userAdminAudit(t, store)
		if r := records[len(records)-1]; r.Action != "user.permission_changed" || r.Detail != "from none to super-admin" || r.ActorLabel != "root@example.com" {
			t.Errorf("audit event: got %+v, want user.permission_changed from none to super-admin by root", r)
		}
	})
}

// Changing one's password checks the current one as a sign-in would, counted by the same
// throttle, ends the other sessions and keeps the one that asked.
func TestChangePassword(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		user := activeUser(t, store, "u@example.com", models.PermissionNone)
		this, other := models.NewSessionToken(), models.NewSessionToken()
		for _, token := range []string{this, other} {
			if err := store.CreateSession(ctx, token, &user.ID, nil, time.Hour, models.SessionClient{}); err != nil {
				t.Fatal(err)
			}
		}
		change := models.PasswordChange{UserID: user.ID, Current: "a very long password", New: newPassword, Address: "192.0.2.7", KeepSession: this}
		for name, c := range map[string]models.PasswordChange{
			"short new password": {UserID: user.ID, Current: change.Current, New: "short", Address: change.Address},
			"no current":         {UserID: user.ID, New: newPassword, Address: change.Address},
		} {
			if _, err := store.ChangePassword(as(user), c); !models.IsFieldError(err) {
				t.Errorf("%s: got %v, want a validation error", name, err)
			}
		}
		ended, err := store.ChangePassword(as(user), change)
		if err != nil || ended != 1 {
			t.Fatalf("ChangePassword = %d, %v; want 1 other session ended", ended, err)
		}
		if _, err := store.SessionByToken(ctx, this, time.Hour); err != nil {
			t.Errorf("the session that asked: %v; want it kept", err)
		}
		if _, err := store.SessionByToken(ctx, other, time.Hour); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("the other session: got %v, want ErrSessionNotFound", err)
		}
		if err := signIn(store, "u@example.com", newPassword); err != nil {
			t.Errorf("sign in with the new password: %v", err)
		}
		if err := signIn(store, "u@example.com", change.Current); !errors.Is(err, models.ErrUserNotFound) {
			t.Errorf("sign in with the old password: got %v, want ErrUserNotFound", err)
		}

		// Wrong current passwords count against the sign-in buckets of the account and the
		// address: after five, even the right one is refused from there, and signing in too.
		wrong := models.PasswordChange{UserID: user.ID, Current: "not the password", New: "yet another password", Address: "192.0.2.8", KeepSession: this}
		for i := range 5 {
			if _, err := store.ChangePassword(as(user), wrong); !errors.Is(err, models.ErrWrongPassword) {
				t.Fatalf("wrong current password %d: got %v, want ErrWrongPassword", i+1, err)
			}
		}
		right := wrong
		right.Current = newPassword
		var throttled *models.ThrottledError
		if _, err := store.ChangePassword(as(user), right); !errors.As(err, &throttled) {
			t.Errorf("the right password after five wrong ones: got %v, want a ThrottledError", err)
		}
		if _, err := store.SignIn(ctx, models.SignInAttempt{Email: "u@example.com", Password: newPassword, Address: "192.0.2.8"}); !errors.As(err, &throttled) {
			t.Errorf("sign in from that address after five wrong current passwords: got %v, want a ThrottledError", err)
		}
		actions := userAdminActions(t, store)
		// Wrong current passwords change nothing, and each is recorded (the throttled attempt
		// after them is the sixth from its address in the minute: counted for a summary).
		want := []string{"user.created", "user.password_changed", "session.ended"}
		for range 5 {
			want = append(want, models.AuditUserPasswordChangeFailed)
		}
		if !slices.Equal(actions, want) {
			t.Errorf("audit actions: got %q, want %q", actions, want)
		}
	})
}

// A session records where it started; its owner sees their live sessions, this one marked,
// and ends any of them, but never another user's. Starting a session sets the last sign-in.
func TestUserSessions(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		user := activeUser(t, store, "u@example.com", models.PermissionNone)
		someone := activeUser(t, store, "s@example.com", models.PermissionNone)
		if user.LastSignInAt != nil {
			t.Errorf("a new user's last sign-in: %v, want none", user.LastSignInAt)
		}
		first, second, theirs := models.NewSessionToken(), models.NewSessionToken(), models.NewSessionToken()
		if err := store.CreateSession(ctx, first, &user.ID, nil, time.Hour, models.SessionClient{Address: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0\x00"}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		if err := store.CreateSession(ctx, second, &user.ID, nil, time.Hour, models.SessionClient{Address: "2001:db8::1", UserAgent: "curl/8.0"}); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateSession(ctx, theirs, &someone.ID, nil, time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := store.UserByID(ctx, user.ID); got.LastSignInAt == nil || !got.LastSignInAt.Equal(now) {
			t.Errorf("last sign-in: got %v, want %v", got.LastSignInAt, now)
		}
		sessions, err := store.UserSessions(ctx, user.ID, first, 30*time.Minute)
		if err != nil || len(sessions) != 2 {
			t.Fatalf("UserSessions = %+v, %v; want 2", sessions, err)
		}
		if s := sessions[1]; !s.Current || s.Address != "192.0.2.1" || s.UserAgent != "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0" || !s.CreatedAt.Equal(now.Add(-time.Minute)) {
			t.Errorf("the first session: got %+v, want this one, from 192.0.2.1, its user agent cleaned", s)
		}
		if s := sessions[0]; s.Current || s.Address != "2001:db8::1" || s.UserAgent != "curl/8.0" {
			t.Errorf("the second session: got %+v", s)
		}
		theirID := models.SessionID(theirs)
		if err := store.EndUserSession(as(user), user, theirID); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("end another user's session: got %v, want ErrSessionNotFound", err)
		}
		if err := store.EndUserSession(as(user), user, "\xff"); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("end a session whose id is not text: got %v, want ErrSessionNotFound", err)
		}
		if err := store.EndUserSession(as(user), user, sessions[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.SessionByToken(ctx, second, time.Hour); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("the ended session: got %v, want ErrSessionNotFound", err)
		}
		if _, err := store.SessionByToken(ctx, theirs, time.Hour); err != nil {
			t.Errorf("the other user's session: %v", err)
		}
		now = now.Add(31 * time.Minute)
		if sessions, _ := store.UserSessions(ctx, user.ID, first, 30*time.Minute); len(sessions) != 0 {
			t.Errorf("sessions idle past the timeout: got %+v, want none listed", sessions)
		}
	})
}

// userAdminAudit returns the audit events of user administration, oldest first: those of the
// sign-ins the tests make to try passwords are left out.
func userAdminAudit(t *testing.T, store *models.Store) []modelstest.AuditRecord {
	t.Helper()
	return slices.DeleteFunc(modelstest.AuditRecords(t, store), func(r modelstest.AuditRecord) bool {
		return strings.HasPrefix(r.Action, "session.sign_in")
	})
}

// userAdminActions returns the actions of userAdminAudit.
func userAdminActions(t *testing.T, store *models.Store) []string {
	t.Helper()
	var actions []string
	for _, r := range userAdminAudit(t, store) {
		actions = append(actions, r.Action)
	}
	return actions
}
