package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrWrongPassword means the current password given to change one's password is not the
// user's.
var ErrWrongPassword = errors.New("models: the current password is wrong")

// PasswordChange is a signed-in user's change of their own password.
type PasswordChange struct {
	UserID  int64
	Current string
	New     string
	// Address is the client's, for the sign-in throttle.
	Address string
	// KeepSession is the token of the session that asks: it stays signed in, and every other
	// session of the user ends.
	KeepSession string
}

// ChangePassword replaces the user's password when Current is theirs, and ends their other
// sessions; it returns how many it ended. Checking the current password is a sign-in attempt
// for the throttle, so this cannot be used to guess: it takes a token from the same three
// buckets first (a *ThrottledError when one is empty), keeps them on a wrong password
// (ErrWrongPassword), and gives them back on success. The hashes run within the bound on
// password hashes, as at sign-in (ErrPasswordHashBusy). A new password that would not be
// accepted is a *FieldError, before anything is counted. Records user.password_changed,
// and session.ended when sessions ended. A wrong current password is recorded as
// user.password_change_failed, and a throttled attempt as session.sign_in_throttled, within
// the same bound per client address as refused sign-ins.
func (s *Store) ChangePassword(ctx context.Context, change PasswordChange) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ended, refusal, err := s.changePassword(ctx, change)
	if refusal.action != "" {
		attempt := SignInAttempt{Email: refusal.user.Email, Address: change.Address}
		if auditErr := s.auditSignInRefusal(ctx, attempt, refusal); auditErr != nil {
			return 0, fmt.Errorf("models: change password: %w", auditErr)
		}
	}
	return ended, err
}

// changePassword is ChangePassword without recording its refusals: how many sessions it
// ended, or the error and, when it is a refusal to record, why.
func (s *Store) changePassword(ctx context.Context, change PasswordChange) (int64, signInRefusal, error) {
	none := signInRefusal{}
	if change.Current == "" {
		return 0, none, &FieldError{Message: "Enter your current password."}
	}
	if err := ValidatePassword(change.New); err != nil {
		return 0, none, err
	}
	hashes := s.hashes.Load()
	leave, err := hashes.admit()
	if err != nil {
		return 0, none, err
	}
	defer leave()
	user, err := s.UserByID(ctx, change.UserID)
	if err != nil {
		return 0, none, err
	}
	wrong := signInRefusal{action: AuditUserPasswordChangeFailed, reason: SignInWrongPassword, detail: "wrong current password", user: user}
	buckets := signInBuckets(user.Email, change.Address)
	if err := s.takeSignInTokens(ctx, buckets); err != nil {
		var throttled *ThrottledError
		if errors.As(err, &throttled) {
			detail := fmt.Sprintf("password change throttled: retry after %s", throttled.RetryAfter.Round(time.Second))
			return 0, signInRefusal{action: AuditSignInThrottled, reason: "throttled", detail: detail, user: user}, err
		}
		return 0, none, err
	}
	stored, err := parsePasswordHash(user.PasswordHash)
	if err != nil || len(change.Current) > MaxPasswordLength || !printable(change.Current) {
		// No password to compare with, or one that no password can be: a wrong guess, counted.
		return 0, wrong, ErrWrongPassword
	}
	params := currentPasswordParams()
	var (
		matches bool
		hash    string
	)
	err = hashes.run(ctx, max(stored.params.Memory, params.Memory), func() {
		if matches = stored.matches(change.Current); matches {
			hash = params.Hash(change.New)
		}
	})
	if err != nil {
		// Not checked: the attempt counts nothing.
		if returned := s.returnSignInTokens(context.WithoutCancel(ctx), buckets); returned != nil {
			return 0, none, returned
		}
		return 0, none, err
	}
	if !matches {
		return 0, wrong, ErrWrongPassword
	}
	var ended int64
	err = s.transaction(ctx, func(tx *gorm.DB) error {
		// Only over the hash just checked: a change made meanwhile elsewhere wins.
		res := tx.Model(&User{}).Where("id = ? AND password_hash = ? AND NOT disabled", user.ID, user.PasswordHash).
			Update("password_hash", hash)
		if res.Error != nil {
			return fmt.Errorf("models: change password: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrWrongPassword
		}
		if err := s.recordAudit(ctx, tx, UserAudit(AuditUserPasswordChanged, user, "")); err != nil {
			return err
		}
		ended, err = s.endSessions(ctx, tx, user, hashToken(change.KeepSession), "password changed by the user")
		return err
	})
	if err != nil {
		return 0, none, err
	}
	return ended, none, s.returnSignInTokens(ctx, buckets)
}
