package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

func TestNewUserValidate(t *testing.T) {
	ok := models.NewUser{Email: "a@b.c", Name: "A", Password: "twelve chars", Permission: models.PermissionNone}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid user: %v", err)
	}
	for name, change := range map[string]func(*models.NewUser){
		"email without at": func(u *models.NewUser) { u.Email = "ab.c" },
		"empty name":       func(u *models.NewUser) { u.Name = " " },
		"short password":   func(u *models.NewUser) { u.Password = "eleven char" },
		"bad permission":   func(u *models.NewUser) { u.Permission = "root" },
		"NUL in email":     func(u *models.NewUser) { u.Email = "a\x00@b.c" },
		"long email":       func(u *models.NewUser) { u.Email = strings.Repeat("a", models.MaxEmailLength) + "@b.c" },
		"bad UTF-8 name":   func(u *models.NewUser) { u.Name = "A\xff" },
		"control in name":  func(u *models.NewUser) { u.Name = "A\x1b[31m" },
		"NUL in password":  func(u *models.NewUser) { u.Password = "twelve chars\x00" },
		"long password":    func(u *models.NewUser) { u.Password = strings.Repeat("p", models.MaxPasswordLength+1) },
	} {
		u := ok
		change(&u)
		if err := u.Validate(); !models.IsFieldError(err) {
			t.Errorf("%s: got %v, want a validation error", name, err)
		}
	}
}

func TestSetupTokenSingleUseAndExpiring(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		admin := models.NewUser{Email: "root@example.com", Name: "Root", Password: "a very long password"}
		token, err := store.CreateSetupToken(ctx)
		if err != nil || len(token) < 22 {
			t.Fatalf("CreateSetupToken = %q, %v; want at least 128 bits", token, err)
		}
		if _, err := store.CompleteSetup(ctx, "not-the-token", admin); !errors.Is(err, models.ErrSetupTokenInvalid) {
			t.Errorf("wrong token: got %v, want ErrSetupTokenInvalid", err)
		}
		user, err := store.CompleteSetup(ctx, token, admin)
		if err != nil || user.Permission != models.PermissionSuperAdmin {
			t.Fatalf("CompleteSetup = %+v, %v; want a Super admin", user, err)
		}
		if _, err := store.CompleteSetup(ctx, token, models.NewUser{Email: "second@example.com", Name: "Second", Password: "a very long password"}); !errors.Is(err, models.ErrSetupDone) {
			t.Errorf("reused token: got %v, want ErrSetupDone", err)
		}
		if err := store.CheckSetupToken(ctx, "any-token-at-all"); !errors.Is(err, models.ErrSetupDone) {
			t.Errorf("a link once a user exists: got %v, want ErrSetupDone", err)
		}
		if again, err := store.CreateSetupToken(ctx); err != nil || again != "" {
			t.Errorf("CreateSetupToken with users = %q, %v; want no token", again, err)
		}
	})
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		token, _ := store.CreateSetupToken(ctx)
		store.SetClock(func() time.Time { return time.Now().Add(models.SetupTokenLifetime + time.Second) })
		if err := store.CheckSetupToken(ctx, token); !errors.Is(err, models.ErrSetupTokenInvalid) {
			t.Errorf("expired token: got %v, want ErrSetupTokenInvalid", err)
		}
	})
}

func TestSessionsIdleAndAbsoluteTimeout(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		now := start
		store.SetClock(func() time.Time { return now })
		user, err := store.CreateUser(ctx, models.NewUser{Email: "s@example.com", Name: "S", Password: "a very long password", Permission: models.PermissionNone})
		if err != nil {
			t.Fatal(err)
		}
		token := models.NewSessionToken()
		if err := store.CreateSession(ctx, token, &user.ID, []byte("data"), 8*time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		idle := 30 * time.Minute
		// Active every 20 minutes for 7 hours: the idle timeout never ends it.
		for now = start; now.Before(start.Add(7 * time.Hour)); now = now.Add(20 * time.Minute) {
			if _, err := store.SessionByToken(ctx, token, idle); err != nil {
				t.Fatalf("at %s: %v", now.Sub(start), err)
			}
			if err := store.TouchSession(ctx, token); err != nil {
				t.Fatal(err)
			}
		}
		now = start.Add(8*time.Hour + time.Second)
		if err := store.TouchSession(ctx, token); err != nil {
			t.Fatal(err)
		}
		if _, err := store.SessionByToken(ctx, token, idle); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("after 8 hours: got %v, want ErrSessionNotFound", err)
		}

		now = start
		idleToken := models.NewSessionToken()
		if err := store.CreateSession(ctx, idleToken, &user.ID, nil, 8*time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		now = start.Add(idle + time.Second)
		if _, err := store.SessionByToken(ctx, idleToken, idle); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("after 30 idle minutes: got %v, want ErrSessionNotFound", err)
		}
		if _, err := store.SessionByToken(ctx, "never-issued", idle); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("unknown token: got %v, want ErrSessionNotFound", err)
		}
		loggedOut := models.NewSessionToken()
		if err := store.CreateSession(ctx, loggedOut, &user.ID, nil, 8*time.Hour, models.SessionClient{}); err != nil {
			t.Fatal(err)
		}
		if err := store.DeleteSession(ctx, loggedOut); err != nil {
			t.Fatal(err)
		}
		if err := store.UpdateSession(ctx, loggedOut, &user.ID, []byte("late")); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("saving a session that was logged out: got %v, want ErrSessionNotFound", err)
		}
		if _, err := store.SessionByToken(ctx, loggedOut, idle); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("a late save brought a logged-out session back: %v", err)
		}
		now = start.Add(9 * time.Hour)
		removed, err := store.DeleteExpiredSessions(ctx, idle)
		if err != nil || removed != 2 {
			t.Errorf("DeleteExpiredSessions = %d, %v; want 2", removed, err)
		}
	})
}

func TestSessionKeysPersist(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		first, err := store.SessionKeys(context.Background())
		if err != nil || len(first) != 64 {
			t.Fatalf("SessionKeys = %d bytes, %v; want 64", len(first), err)
		}
		second, err := store.SessionKeys(context.Background())
		if err != nil || string(first) != string(second) {
			t.Errorf("second call returned another key (%v): a restart would log everyone out", err)
		}
	})
}
