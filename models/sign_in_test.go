package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

const ownerPassword = "correct horse battery"

// outcome names how a sign-in attempt ended, for failure messages.
func outcome(err error) string {
	var throttled *models.ThrottledError
	switch {
	case err == nil:
		return "signed in"
	case errors.As(err, &throttled):
		return "throttled"
	case errors.Is(err, models.ErrUserNotFound):
		return "failed"
	case errors.Is(err, models.ErrPasswordHashBusy):
		return "busy"
	case models.IsFieldError(err):
		return "malformed"
	}
	return "error: " + err.Error()
}

// signInTester signs in to one store at a clock the test moves.
type signInTester struct {
	t     *testing.T
	store *models.Store
	now   time.Time
}

func newSignInTester(t *testing.T, store *models.Store) *signInTester {
	s := &signInTester{t: t, store: store, now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	store.SetClock(func() time.Time { return s.now })
	return s
}

func (s *signInTester) createUser(email string) {
	s.t.Helper()
	if _, err := s.store.CreateUser(context.Background(), models.NewUser{Email: email, Name: "Owner", Password: ownerPassword, Permission: models.PermissionNone}); err != nil {
		s.t.Fatal(err)
	}
}

// try makes an attempt and fails the test unless it ends as want.
func (s *signInTester) try(email, password, address, want string) error {
	s.t.Helper()
	_, err := s.store.SignIn(context.Background(), models.SignInAttempt{Email: email, Password: password, Address: address})
	if got := outcome(err); got != want {
		s.t.Fatalf("sign in as %q from %s at %s: got %s, want %s", email, address, s.now.Format(time.TimeOnly), got, want)
	}
	return err
}

func TestSignIn(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		s := newSignInTester(t, store)
		s.createUser("Ada@Example.com")
		if _, err := store.CreateUser(ctx, models.NewUser{Email: "ada@example.com", Name: "Ada 2", Password: ownerPassword, Permission: models.PermissionNone}); !errors.Is(err, models.ErrDuplicateEmail) {
			t.Errorf("duplicate email: got %v, want ErrDuplicateEmail", err)
		}
		user, err := store.SignIn(ctx, models.SignInAttempt{Email: " ADA@example.com", Password: ownerPassword, Address: "192.0.2.1"})
		if err != nil || user.Email != "ada@example.com" {
			t.Fatalf("SignIn: got %v, %v; want Ada", user, err)
		}
		// A wrong password and an unknown account cost one hash each: the unknown account's
		// is against a dummy, so that timing tells nothing.
		for _, email := range []string{"ada@example.com", "nobody@example.com"} {
			before := store.PasswordHashStats().Done
			s.try(email, "a wrong password", "192.0.2.1", "failed")
			if got := store.PasswordHashStats().Done - before; got != 1 {
				t.Errorf("%s with a wrong password: got %d hashes, want 1", email, got)
			}
		}
		if err := store.Exec(ctx, "UPDATE users SET disabled = ?", true); err != nil {
			t.Fatal(err)
		}
		s.try("ada@example.com", ownerPassword, "192.0.2.1", "failed")
	})
}

func TestSignInThrottleBuckets(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		s := newSignInTester(t, store)
		s.createUser("owner@example.com")
		const attacker, home = "198.51.100.1", "203.0.113.7"

		// Per account and address: 5 failures, then 429 for that pair only.
		for range 5 {
			s.try("owner@example.com", "guess", attacker, "failed")
		}
		var throttled *models.ThrottledError
		if err := s.try("owner@example.com", ownerPassword, attacker, "throttled"); errors.As(err, &throttled) && throttled.RetryAfter != time.Minute {
			t.Errorf("Retry-After after five failures: got %v, want %v", throttled.RetryAfter, time.Minute)
		}
		// The attacker's failures do not keep the owner out from another address, and the
		// owner's successes give their tokens back.
		for range 10 {
			s.try("owner@example.com", ownerPassword, home, "signed in")
		}
		// A refusal does not count again, in any bucket: a minute later the pair has one token
		// back, and the address (5 of 20 taken) still has some.
		for range 20 {
			s.try("owner@example.com", "guess", attacker, "throttled")
		}
		s.now = s.now.Add(time.Minute)
		s.try("owner@example.com", "guess", attacker, "failed")
		s.try("owner@example.com", "guess", attacker, "throttled")
		s.try("someone-else@example.com", "guess", attacker, "failed")

		// Per address: 20 failures across accounts, then 429 for every account.
		const sprayer = "198.51.100.2"
		for i := range 20 {
			s.try(fmt.Sprintf("spray%d@example.com", i), "guess", sprayer, "failed")
		}
		s.try("owner@example.com", ownerPassword, sprayer, "throttled")
		s.now = s.now.Add(time.Minute)
		s.try("spray-more@example.com", "guess", sprayer, "failed")
		s.try("spray-more@example.com", "guess", sprayer, "throttled")

		// Per account across addresses: 100 failures, then 429 from anywhere, which stops
		// guessing spread over many addresses.
		s.createUser("target@example.com")
		for i := range 100 {
			s.try("target@example.com", "guess", fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), "failed")
		}
		s.try("target@example.com", ownerPassword, "10.9.9.9", "throttled")
		s.now = s.now.Add(time.Minute)
		s.try("target@example.com", ownerPassword, "10.9.9.9", "signed in")
	})
}

func TestSignInAddressesOfOneClient(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		s := newSignInTester(t, store)
		// Every address of an IPv6 /64 is one client.
		for i := range 20 {
			s.try(fmt.Sprintf("v6-%d@example.com", i), "guess", fmt.Sprintf("2001:db8::%x", i+1), "failed")
		}
		s.try("v6-more@example.com", "guess", "2001:db8::beef:1", "throttled")
		s.try("v6-more@example.com", "guess", "2001:db8:0:1::1", "failed")
		// An IPv4 address mapped into IPv6 is the IPv4 address.
		for i := range 20 {
			s.try(fmt.Sprintf("v4-%d@example.com", i), "guess", "::ffff:192.0.2.9", "failed")
		}
		s.try("v4-more@example.com", "guess", "192.0.2.9", "throttled")
	})
}

func TestMalformedSignInIsRefusedAndCounted(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		s := newSignInTester(t, store)
		s.createUser("owner@example.com")
		cases := []struct {
			name, email, password, field string
		}{
			{"NUL in the email", "owner\x00@example.com", ownerPassword, "email"},
			{"invalid UTF-8 in the email", "owner\xff@example.com", ownerPassword, "email"},
			{"escape in the email", "owner\x1b[2J@example.com", ownerPassword, "email"},
			{"C1 control in the email", "owner\u0085@example.com", ownerPassword, "email"},
			{"email too long", strings.Repeat("a", 250) + "@example.com", ownerPassword, "email"},
			{"no email", "  ", ownerPassword, "email"},
			{"NUL in the password", "owner@example.com", "correct\x00horse", "password"},
			{"invalid UTF-8 in the password", "owner@example.com", "correct\xc3\x28horse", "password"},
			{"password too long", "owner@example.com", strings.Repeat("p", models.MaxPasswordLength+1), "password"},
			{"no password", "owner@example.com", "", "password"},
		}
		for i, tc := range cases {
			before := store.PasswordHashStats().Done
			err := s.try(tc.email, tc.password, fmt.Sprintf("192.0.2.%d", i+1), "malformed")
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("%s: got message %q, want one naming the %s", tc.name, err.Error(), tc.field)
			}
			if got := store.PasswordHashStats().Done - before; got != 0 {
				t.Errorf("%s: got %d hashes, want none", tc.name, got)
			}
		}

		// Malformed attempts count like failures: for the pair, and for the address.
		for range 5 {
			s.try("owner@example.com", "\x00", "198.51.100.1", "malformed")
		}
		s.try("owner@example.com", ownerPassword, "198.51.100.1", "throttled")
		for i := range 20 {
			s.try(fmt.Sprintf("%d\x00@example.com", i), "guess", "198.51.100.2", "malformed")
		}
		s.try("owner@example.com", ownerPassword, "198.51.100.2", "throttled")
		s.try("owner@example.com", ownerPassword, "203.0.113.7", "signed in")
	})
}

// TestSignInFloodStaysBounded: a flood of made-up emails from many addresses leaves rows that
// the prune deletes once they are full again, and never keeps a real user out. Nothing has a
// capacity to fill, so a thousand attempts show what a million would.
func TestSignInFloodStaysBounded(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		s := newSignInTester(t, store)
		s.createUser("owner@example.com")
		const addresses, perAddress = 100, 10
		address := func(a int) string { return fmt.Sprintf("10.1.%d.%d", a/200, a%200+1) }
		for a := range addresses {
			for i := range perAddress {
				s.try(fmt.Sprintf("made-up-%d-%d@example.com", a, i), "guess", address(a), "failed")
			}
		}
		s.try("owner@example.com", ownerPassword, "203.0.113.7", "signed in")
		s.try("owner@example.com", ownerPassword, address(0), "signed in")

		// Rows full again go; the others stay, and still count: the owner's four rows (they
		// gave their tokens back) are full again; the flood's are not.
		deleted, err := store.PruneSignInBuckets(ctx)
		if err != nil || deleted != 4 {
			t.Errorf("prune right after the flood: got %d, %v; want the owner's 4 rows", deleted, err)
		}
		for i := range addressCapacityLeft(perAddress) {
			s.try(fmt.Sprintf("more-%d@example.com", i), "guess", address(1), "failed")
		}
		s.try("more@example.com", "guess", address(1), "throttled")

		// Once every bucket is full again, nothing is left.
		s.now = s.now.Add(2 * time.Hour)
		want := int64(addresses*perAddress*2 + addresses + addressCapacityLeft(perAddress)*2)
		if deleted, err := store.PruneSignInBuckets(ctx); err != nil || deleted != want {
			t.Errorf("prune two hours later: got %d, %v; want every row of the flood, %d", deleted, err, want)
		}
		if deleted, err := store.PruneSignInBuckets(ctx); err != nil || deleted != 0 {
			t.Errorf("prune again: got %d, %v; want 0", deleted, err)
		}
	})
}

// addressCapacityLeft is what an address that made used attempts has left of its 20.
func addressCapacityLeft(used int) int { return 20 - used }

// TestSignInCountsNothingWhenTheDatabaseFails: attempts that the database could not answer
// take no token, so people retrying through an outage are not locked out after it. The users
// table is locked (PostgreSQL locks one table; SQLite would lock the buckets too), so the
// attempts fail on their lookup while the buckets could still be written.
func TestSignInCountsNothingWhenTheDatabaseFails(t *testing.T) {
	target := modelstest.Postgres(t, "a sign-in whose user lookup fails")
	ctx := context.Background()
	store := modelstest.Open(t, target)
	impatient, err := models.OpenWithTimeout(ctx, target.URL, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { impatient.Close() })
	s := newSignInTester(t, impatient)
	s.createUser("owner@example.com")

	lock, err := store.Pool().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		_, err := impatient.SignIn(ctx, models.SignInAttempt{Email: "owner@example.com", Password: "guess", Address: "192.0.2.1"})
		if !models.Unavailable(err) {
			t.Fatalf("sign-in with the users table locked: got %v, want the database unavailable", err)
		}
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		s.try("owner@example.com", "guess", "192.0.2.1", "failed")
	}
	s.try("owner@example.com", "guess", "192.0.2.1", "throttled")
}
