package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Grace is how long a rotated key's previous secret keeps working beside the new one, so that
// the services holding it can move to the new secret without an outage.
type Grace string

// The graces a rotation may give the previous secret.
const (
	// GraceNone ends the previous secret with the rotation.
	GraceNone Grace = "0"
	GraceHour Grace = "1h"
	GraceDay  Grace = "24h"
	GraceWeek Grace = "7d"
	// GraceUntilUnused keeps the previous secret working until it has gone unused for
	// UnusedFor, and MaxGrace at most.
	GraceUntilUnused Grace = "until-unused"
)

// Graces lists every grace in the order the rotate form offers them: the default first (the
// console's until-unused), None, which breaks whatever has not moved yet, last.
var Graces = []Grace{GraceUntilUnused, GraceHour, GraceDay, GraceWeek, GraceNone}

const (
	// UnusedFor is how long the previous secret of an until-unused grace may go unused before
	// the grace ends. It counts from the later of the rotation and the secret's last recorded
	// use.
	UnusedFor = time.Hour
	// MaxGrace caps every grace, until-unused included.
	MaxGrace = 7 * 24 * time.Hour
)

// ParseGrace validates a grace as the form and the command line name it.
func ParseGrace(s string) (Grace, bool) {
	for _, grace := range Graces {
		if string(grace) == s {
			return grace, true
		}
	}
	return "", false
}

// Label is the grace as the rotate form offers it.
func (g Grace) Label() string {
	switch g {
	case GraceNone:
		return "None: it stops working at once"
	case GraceHour:
		return "1 hour"
	case GraceDay:
		return "24 hours"
	case GraceWeek:
		return "7 days"
	case GraceUntilUnused:
		return "Until unused for 1 hour (7 days at most)"
	}
	return string(g)
}

// length is how long the grace lasts at most.
func (g Grace) length() time.Duration {
	switch g {
	case GraceHour:
		return time.Hour
	case GraceDay:
		return 24 * time.Hour
	case GraceWeek, GraceUntilUnused:
		return MaxGrace
	}
	return 0
}

// PreviousSecret is the secret a key had before its last rotation, kept while its grace runs:
// its SHA-256 and hint, never the secret. Every field is zero once the grace has ended.
type PreviousSecret struct {
	SecretHash *string
	Hint       string
	// EndsAt is when the secret stops working whatever its use: the end of a fixed grace or
	// the cap of an until-unused one, and never after the key's expiry before the rotation.
	EndsAt *time.Time
	// UntilUnused marks an until-unused grace, which also ends once the secret has gone unused
	// for UnusedFor.
	UntilUnused bool
	// LastUsedAt is the secret's last recorded use, before or after the rotation.
	LastUsedAt *time.Time
}

// PreviousEndsAt is when the previous secret stops working, as its recorded uses stand: its
// EndsAt, or, for an until-unused grace, UnusedFor after the later of the rotation and its last
// recorded use, if that comes first. It is the zero time when the key has no previous secret.
// The list, the key page and every instance's verification all end the grace by it.
func (k *APIKey) PreviousEndsAt() time.Time {
	p := k.Previous
	if p.SecretHash == nil || p.EndsAt == nil {
		return time.Time{}
	}
	end := *p.EndsAt
	if p.UntilUnused && k.RotatedAt != nil {
		idleFrom := *k.RotatedAt
		if p.LastUsedAt != nil && p.LastUsedAt.After(idleFrom) {
			idleFrom = *p.LastUsedAt
		}
		if idle := idleFrom.Add(UnusedFor); idle.Before(end) {
			end = idle
		}
	}
	return end
}

// Rotating tells whether the key's previous secret still works at now, beside the current one.
// The list's "rotating" status and filter are made of it.
func (k *APIKey) Rotating(now time.Time) bool {
	return k.Previous.SecretHash != nil && now.Before(k.PreviousEndsAt())
}

// SecretHashes are the hashes of every secret the key authenticates: the current one, and the
// previous one while the row holds it. A notice that ends or changes what the key authenticates
// names them all, or an instance would keep accepting the one left out from its cache.
func (k *APIKey) SecretHashes() []string {
	if k.Previous.SecretHash == nil {
		return []string{k.SecretHash}
	}
	return []string{k.SecretHash, *k.Previous.SecretHash}
}

// Rotation is what rotating a key needs: the grace of the secret it replaces, and the new
// secret's expiry (nil for never), chosen under the lifetime policy as at creation.
type Rotation struct {
	Grace     Grace
	ExpiresAt *time.Time
	// Replaces is the hint of the secret the rotation means to replace, as the form that asked
	// for it showed it (SecretHint); "" replaces whatever secret is current, as the command
	// line does.
	Replaces string
	// Minter is the console user rotating the key; nil for the operator.
	Minter *Minter
}

// ErrRotatedMeanwhile refuses a rotation whose key no longer has the secret it meant to replace
// (Rotation.Replaces): another rotation came first. Nothing is changed, so the secret that
// rotation showed keeps working.
var ErrRotatedMeanwhile = errors.New("models: the key was rotated meanwhile")

// RotatedMeanwhile is ErrRotatedMeanwhile with what an administrator is told: the key as it is
// now, and who rotated it last and when, from its latest key.rotated event. By is the zero
// actor when the audit log holds no such event (pruned, or the key never rotated: a form that
// named a secret the key never had).
type RotatedMeanwhile struct {
	Key APIKey
	By  AuditActor
	// At is when the key was rotated last; nil when it never was.
	At *time.Time
}

func (e *RotatedMeanwhile) Error() string { return ErrRotatedMeanwhile.Error() }

// Unwrap makes errors.Is(err, ErrRotatedMeanwhile) hold.
func (e *RotatedMeanwhile) Unwrap() error { return ErrRotatedMeanwhile }

// ValidHint tells whether s has the shape of a secret's hint (SecretHint): the prefix, four
// base62 characters, an ellipsis and four more.
func ValidHint(s string) bool {
	start, end, ok := strings.Cut(s, "…")
	body, prefixed := strings.CutPrefix(start, SecretPrefix)
	return ok && prefixed && len(body) == 4 && len(end) == 4 && allBase62(body) && allBase62(end)
}

// allBase62 tells whether s is made of base62 characters only.
func allBase62(s string) bool {
	for i := range len(s) {
		if !isBase62[s[i]] {
			return false
		}
	}
	return true
}

// rotatedMeanwhile reads, in tx, who rotated key last and when, for ErrRotatedMeanwhile.
func rotatedMeanwhile(tx *gorm.DB, key *APIKey) error {
	conflict := &RotatedMeanwhile{Key: *key, At: key.RotatedAt}
	var rows []auditRow
	err := tx.Select(auditColumns).Where("target_type = ? AND target_id = ? AND action = ?", TargetKey, key.PublicID, AuditKeyRotated).
		Order("id DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return fmt.Errorf("models: rotate api key: %w", err)
	}
	if len(rows) == 1 {
		event := rows[0].event()
		conflict.By, conflict.At = event.Actor, &event.At
	}
	return conflict
}

// RotateAPIKey gives the key with that public id a new secret and returns the key with it; the
// secret exists only in this return value. The key keeps its id, public id, name, scope,
// scanners and history; the new expiry replaces the old. The secret it replaces keeps working
// for the grace, and never past the key's old expiry; a previous secret still in its grace
// stops working at once (rotating again ends the older grace). ErrAPIKeyNotFound when no such
// key exists; an unknown grace, an expiry after LatestExpiry or a Replaces that is no hint is
// a FieldError; a key whose scope the minter may not give is ErrScopeAboveMinter; a key whose
// secret is no longer the one Replaces names is a RotatedMeanwhile. Each refusal changes
// nothing. One notice names the key and every hash concerned, so that each instance drops what
// it holds of them.
func (s *Store) RotateAPIKey(ctx context.Context, publicID string, r Rotation) (*APIKey, string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, ok := ParseGrace(string(r.Grace)); !ok {
		return nil, "", &FieldError{Field: "grace", Message: "Choose how long the previous secret keeps working."}
	}
	if r.Replaces != "" && !ValidHint(r.Replaces) {
		return nil, "", &FieldError{Field: "replaces", Message: "must be the hint of the secret to replace, such as " + SecretPrefix + "AbCd…wXyZ"}
	}
	if r.ExpiresAt != nil && r.ExpiresAt.After(LatestExpiry) {
		return nil, "", &FieldError{Field: "expires_at", Message: "must be no later than the end of " + LatestExpiry.AddDate(0, 0, -1).Format(time.DateOnly) + " (UTC)"}
	}
	secret := GenerateSecret()
	var rotated APIKey
	err := s.changeKey(ctx, func(tx *gorm.DB) (KeyNotice, []AuditEvent, error) {
		// Rotations of one key take turns (SQLite's writing transactions do anyway): each
		// replaces the secret the one before it made.
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("public_id = ?", publicID).First(&rotated).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return KeyNotice{}, nil, ErrAPIKeyNotFound
		}
		if err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: rotate api key: %w", err)
		}
		if err := r.Minter.MayGive(rotated.Scope); err != nil {
			return KeyNotice{}, nil, err
		}
		// Read under the lock: a rotation that waited for another's sees its secret here.
		if r.Replaces != "" && r.Replaces != rotated.Hint {
			return KeyNotice{}, nil, rotatedMeanwhile(tx, &rotated)
		}
		// Every hash is named as revoked: the replaced secrets end or take a grace end, which
		// no instance's cached entry of them knows. The new secret needs no forgetting as
		// unknown: made of 256 random bits just now, no instance can have seen it.
		notice := KeyNotice{KeyID: rotated.ID, Hashes: append([]string{HashSecret(secret)}, rotated.SecretHashes()...), Revoked: true}
		// Rotating during a grace ends the older one at once.
		endsOlderGrace := rotated.Previous.SecretHash != nil
		// The secret that stops working now, if any: the older previous one, or the current
		// one when it gets no grace.
		var ended []string
		if endsOlderGrace {
			ended = append(ended, *rotated.Previous.SecretHash)
		}
		replacedHash := rotated.SecretHash
		now := s.now()
		rotatedAt := now.Truncate(time.Second)
		previous := PreviousSecret{}
		end := now.Add(r.Grace.length())
		if rotated.ExpiresAt != nil && rotated.ExpiresAt.Before(end) {
			end = rotated.ExpiresAt.UTC()
		}
		if end.After(now) {
			hash := rotated.SecretHash
			previous = PreviousSecret{SecretHash: &hash, Hint: rotated.Hint, EndsAt: &end, UntilUnused: r.Grace == GraceUntilUnused, LastUsedAt: rotated.SecretLastUsedAt}
		}
		var expiresAt *time.Time
		if r.ExpiresAt != nil {
			at := r.ExpiresAt.UTC()
			expiresAt = &at
		}
		rotated.SecretHash, rotated.Hint, rotated.ExpiresAt = HashSecret(secret), SecretHint(secret), expiresAt
		rotated.RotatedAt, rotated.SecretLastUsedAt, rotated.Previous = &rotatedAt, nil, previous
		err = tx.Model(&APIKey{}).Where("id = ?", rotated.ID).Updates(map[string]any{
			"secret_hash":           rotated.SecretHash,
			"hint":                  rotated.Hint,
			"expires_at":            rotated.ExpiresAt,
			"rotated_at":            rotated.RotatedAt,
			"secret_last_used_at":   nil,
			"previous_secret_hash":  previous.SecretHash,
			"previous_hint":         previous.Hint,
			"previous_ends_at":      previous.EndsAt,
			"previous_until_unused": previous.UntilUnused,
			"previous_last_used_at": previous.LastUsedAt,
		}).Error
		if err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: rotate api key: %w", err)
		}
		notice.NothingEnded = previous.SecretHash != nil && !endsOlderGrace
		if previous.SecretHash == nil {
			ended = append(ended, replacedHash)
		}
		if err := s.buryKeySecrets(tx, &rotated, RefusedReplaced, ended...); err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: rotate api key: %w", err)
		}
		var events []AuditEvent
		if endsOlderGrace {
			if err := s.queueKeyEvent(tx, KeyEventGraceEnded, &rotated); err != nil {
				return KeyNotice{}, nil, err
			}
			events = append(events, keyAudit(AuditKeyGraceEnded, &rotated, "the secret before the previous one stopped working: the key was rotated again"))
		}
		if err := s.queueKeyEvent(tx, KeyEventRotated, &rotated); err != nil {
			return KeyNotice{}, nil, err
		}
		events = append(events, keyAudit(AuditKeyRotated, &rotated, rotationTerms(r.Grace, &rotated)))
		return notice, events, nil
	})
	if err != nil {
		return nil, "", err
	}
	return &rotated, secret, nil
}

// rotationTerms says, for the audit log, how long the replaced secret keeps working and what
// the key may do with its new one.
func rotationTerms(grace Grace, key *APIKey) string {
	return "grace " + string(grace) + "; " + key.terms()
}

// errGraceGoesOn aborts EndGrace's transaction, with no notice, when there is nothing to end.
var errGraceGoesOn = errors.New("models: grace goes on")

// graceOver is the SQL condition that a key's previous secret no longer works at now, as
// PreviousEndsAt reckons it, with its arguments.
func graceOver(now time.Time) (string, []any) {
	idleSince := now.Add(-UnusedFor)
	return `(previous_ends_at <= ? OR (previous_until_unused AND rotated_at <= ?
		AND (previous_last_used_at IS NULL OR previous_last_used_at <= ?)))`, []any{now, idleSince, idleSince}
}

// rotatingCondition is the SQL condition, with its arguments, that holds for the keys whose
// Rotating is true at now: a previous secret whose grace is not over.
func rotatingCondition(now time.Time) (string, []any) {
	over, args := graceOver(now)
	return "previous_secret_hash IS NOT NULL AND NOT " + over, args
}

// EndGrace ends the grace of the key's previous secret, named by its hash, if it is over at
// the store's time, and tells whether this call ended it. Whichever instance notices first
// ends it, for every instance: one notice revokes the hash. It is false, with no notice, when
// the grace goes on (an until-unused secret used within the hour, as recorded by any instance)
// or was ended already, so ending it twice is harmless.
func (s *Store) EndGrace(ctx context.Context, keyID int64, previousHash string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	over, args := graceOver(s.now())
	err := s.changeKey(ctx, func(tx *gorm.DB) (KeyNotice, []AuditEvent, error) {
		res := tx.Model(&APIKey{}).Where("id = ? AND previous_secret_hash = ?", keyID, previousHash).
			Where(over, args...).Updates(map[string]any{
			"previous_secret_hash":  nil,
			"previous_hint":         "",
			"previous_ends_at":      nil,
			"previous_until_unused": false,
			"previous_last_used_at": nil,
		})
		if res.Error != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: end grace: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return KeyNotice{}, nil, errGraceGoesOn
		}
		var key APIKey
		if err := tx.First(&key, keyID).Error; err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: end grace: %w", err)
		}
		if err := s.buryKeySecrets(tx, &key, RefusedReplaced, previousHash); err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: end grace: %w", err)
		}
		if err := s.queueKeyEvent(tx, KeyEventGraceEnded, &key); err != nil {
			return KeyNotice{}, nil, err
		}
		audit := keyAudit(AuditKeyGraceEnded, &key, "the previous secret stopped working: its grace is over")
		return KeyNotice{KeyID: keyID, Hashes: []string{previousHash}, Revoked: true}, []AuditEvent{audit}, nil
	})
	if errors.Is(err, errGraceGoesOn) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// graceSweepBatch bounds how many graces one EndOverGraces call ends.
const graceSweepBatch = 100

// EndOverGraces ends, through EndGrace, the graces that are over: those of previous secrets
// nobody presents any more, which verification never notices. It returns how many it ended;
// another instance may have ended the others first. Every instance calls it every few seconds.
func (s *Store) EndOverGraces(ctx context.Context) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	over, args := graceOver(s.now())
	var rows []struct {
		ID                 int64
		PreviousSecretHash string
	}
	err := s.db.WithContext(ctx).Model(&APIKey{}).Select("id", "previous_secret_hash").
		Where("previous_secret_hash IS NOT NULL").Where(over, args...).
		Order("previous_ends_at").Limit(graceSweepBatch).Find(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("models: end over graces: %w", err)
	}
	ended := 0
	for _, row := range rows {
		ok, err := s.EndGrace(ctx, row.ID, row.PreviousSecretHash)
		if err != nil {
			return ended, err
		}
		if ok {
			ended++
		}
	}
	return ended, nil
}
