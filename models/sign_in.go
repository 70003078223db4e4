package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// The sign-in throttle's buckets, each refilled one token a minute. Every attempt that is
// checked takes a token from all three, whatever its outcome; a successful one gives them
// back. The pair bucket stops guessing one account from one address without keeping its
// owner out from another; the address bucket stops one address from spraying many accounts;
// the account bucket stops guessing spread over many addresses.
const (
	pairCapacity    = 5
	addressCapacity = 20
	accountCapacity = 100
)

// Lengths past which sign-in input is malformed: the longest address RFC 5321 allows, and a
// password far longer than anyone types, so that no attempt makes argon2id read megabytes.
const (
	MaxEmailLength    = 254
	MaxPasswordLength = 1024
)

// SignInAttempt is what someone typed on the sign-in page, and where it came from.
type SignInAttempt struct {
	Email    string
	Password string
	// Address is the client's IP address, as the server determined it.
	Address string
}

// SignIn checks an attempt to sign in and returns its enabled user. One store operation
// throttles, checks and counts it, in this order:
//   - while as many attempts are under way as may hash at once and queue behind them, a
//     well-formed attempt is refused at once with ErrPasswordHashBusy, before any database
//     work;
//   - the user is looked up (a database error here counts nothing);
//   - a token is taken from the attempt's three buckets (pair, address and account), or the
//     attempt is refused with a *ThrottledError that counts nothing more;
//   - malformed input (empty, invalid UTF-8, control characters, too long) is refused with a
//     *FieldError for the whole form, without a hash;
//   - the password is hashed once, against a dummy when no account has the email, once its
//     memory is free (ErrPasswordHashBusy after a bounded wait gives the tokens back);
//   - an unknown email, a wrong password or a disabled user is ErrUserNotFound;
//   - on success, a hash made with other parameters is replaced by one made with the current
//     ones, and the tokens are given back.
//
// Each refusal for malformed input, a failed check or the throttle is recorded in the audit
// log (session.sign_in_failed with its reason, session.sign_in_throttled), the first
// signInEventsPerMinute of each client address in a minute one by one and the rest summed up;
// the success is recorded by whoever starts the session. An audit event that cannot be
// written makes the attempt fail with its error.
func (s *Store) SignIn(ctx context.Context, attempt SignInAttempt) (*User, error) {
	user, refusal, err := s.signIn(ctx, attempt)
	if refusal.action != "" {
		if auditErr := s.auditSignInRefusal(ctx, attempt, refusal); auditErr != nil {
			return nil, fmt.Errorf("models: sign in: %w", auditErr)
		}
	}
	return user, err
}

// signIn is SignIn without the audit log: the user, or the error and, when it is a refusal to
// record, why.
func (s *Store) signIn(ctx context.Context, attempt SignInAttempt) (*User, signInRefusal, error) {
	email := strings.ToLower(strings.TrimSpace(attempt.Email))
	buckets := signInBuckets(email, attempt.Address)
	invalid := attempt.validate()
	hashes := s.hashes.Load()
	var user *User
	if invalid == nil {
		leave, err := hashes.admit()
		if err != nil {
			return nil, signInRefusal{}, err
		}
		defer leave()
		if user, err = s.userByEmail(ctx, email); err != nil {
			return nil, signInRefusal{}, err
		}
	}
	if err := s.takeSignInTokens(ctx, buckets); err != nil {
		var throttled *ThrottledError
		if errors.As(err, &throttled) {
			detail := fmt.Sprintf("throttled: retry after %s", throttled.RetryAfter.Round(time.Second))
			return nil, signInRefusal{action: AuditSignInThrottled, reason: "throttled", detail: detail, user: user}, err
		}
		return nil, signInRefusal{}, err
	}
	if invalid != nil {
		return nil, signInRefusal{action: AuditSignInFailed, reason: SignInMalformed, detail: SignInMalformed}, invalid
	}
	stored := dummyPasswordHash()
	damaged, unset := false, false
	if user != nil {
		if parsed, err := parsePasswordHash(user.PasswordHash); err == nil {
			stored = parsed
		} else {
			unset = user.PasswordHash == ""
			// A damaged or missing hash fails like a wrong password, after the same work.
			damaged = true
		}
	}
	current := currentPasswordParams()
	var matches bool
	var rehashed string
	err := hashes.run(ctx, max(stored.params.Memory, current.Memory), func() {
		matches = stored.matches(attempt.Password) && !damaged
		if matches && user != nil && !user.Disabled && stored.params != current {
			rehashed = current.Hash(attempt.Password)
		}
	})
	if err != nil {
		// Not checked: the attempt counts nothing, even if the client has gone.
		if returned := s.returnSignInTokens(context.WithoutCancel(ctx), buckets); returned != nil {
			return nil, signInRefusal{}, returned
		}
		return nil, signInRefusal{}, err
	}
	reason := ""
	switch {
	case user == nil:
		reason = SignInUnknownAccount
	case unset:
		reason = SignInNoPassword
	case damaged:
		reason = SignInDamagedHash
	case !matches:
		reason = SignInWrongPassword
	case user.Disabled:
		reason = SignInDisabled
	}
	if reason != "" {
		return nil, signInRefusal{action: AuditSignInFailed, reason: reason, detail: reason, user: user}, ErrUserNotFound
	}
	if rehashed != "" {
		if err := s.replacePasswordHash(ctx, user, rehashed); err != nil {
			return nil, signInRefusal{}, errors.Join(err, s.returnSignInTokens(context.WithoutCancel(ctx), buckets))
		}
	}
	if err := s.returnSignInTokens(ctx, buckets); err != nil {
		return nil, signInRefusal{}, err
	}
	return user, signInRefusal{}, nil
}

// validate refuses input no account can have, naming the field.
func (a SignInAttempt) validate() error {
	email := strings.TrimSpace(a.Email)
	switch {
	case email == "":
		return &FieldError{Message: "Enter your email address."}
	case !printable(email):
		return &FieldError{Message: "The email contains characters that are not allowed: invalid UTF-8 or control characters."}
	case len(email) > MaxEmailLength:
		return &FieldError{Message: fmt.Sprintf("The email is longer than an email address can be (%d characters).", MaxEmailLength)}
	case a.Password == "":
		return &FieldError{Message: "Enter your password."}
	case !printable(a.Password):
		return &FieldError{Message: "The password contains characters that are not allowed: invalid UTF-8 or control characters."}
	case len(a.Password) > MaxPasswordLength:
		return &FieldError{Message: fmt.Sprintf("The password is longer than Keysmith accepts (%d bytes).", MaxPasswordLength)}
	}
	return nil
}

// printable tells whether s is valid UTF-8 without control characters (NUL, C0, DEL, C1).
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// signInBuckets returns the buckets of an attempt, always in the same order. Keys are of fixed
// length whatever the input, and the email is hashed, so that a made-up or malformed email is
// stored as safely as a real one.
func signInBuckets(email, address string) []signInBucket {
	account := sha256.Sum256([]byte(email))
	client := clientKey(address)
	pair := sha256.Sum256([]byte(email + "\x00" + client))
	return []signInBucket{
		{key: "pair:" + hex.EncodeToString(pair[:]), capacity: pairCapacity},
		{key: "address:" + client, capacity: addressCapacity},
		{key: "account:" + hex.EncodeToString(account[:]), capacity: accountCapacity},
	}
}

// clientKey names the client an address belongs to: an IPv4 address, or the /64 network of an
// IPv6 one, since one subscriber usually holds a whole /64.
func clientKey(address string) string {
	ip, err := netip.ParseAddr(address)
	if err != nil {
		sum := sha256.Sum256([]byte(address))
		return "unparsed-" + hex.EncodeToString(sum[:8])
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	network, _ := ip.Prefix(64)
	return network.String()
}

// userByEmail returns the user with that normalised email, or nil when there is none.
func (s *Store) userByEmail(ctx context.Context, email string) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var u User
	err := s.db.WithContext(ctx).Where("email = ?", email).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: sign in: %w", err)
	}
	return &u, nil
}

// replacePasswordHash stores a new hash of the user's password, unless the hash changed
// meanwhile (the password was changed while this sign-in checked the old one).
func (s *Store) replacePasswordHash(ctx context.Context, user *User, hash string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND password_hash = ?", user.ID, user.PasswordHash).
		Update("password_hash", hash).Error
	if err != nil {
		return fmt.Errorf("models: re-hash password: %w", err)
	}
	user.PasswordHash = hash
	return nil
}
