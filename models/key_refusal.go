package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Why the API refused a key, as a key.refused event's detail begins.
const (
	RefusedExpired    = "expired"
	RefusedDisabled   = "disabled"
	RefusedWrongScope = "wrong_scope"
	// RefusedDeleted: the secret belonged to a key since deleted (a tombstone names it).
	RefusedDeleted = "deleted"
	// RefusedReplaced: the secret was the key's before a rotation replaced it.
	RefusedReplaced = "replaced"
)

// KeyTombstonesKept is how long a secret that stopped working is remembered with its key, so
// that a refusal of it names the key.
const KeyTombstonesKept = 30 * 24 * time.Hour

// keyTombstone remembers a secret that no longer works, by its SHA-256, with the key it
// belonged to: a key deleted, or a secret replaced by a rotation. Times are Unix microseconds.
type keyTombstone struct {
	SecretHash string `gorm:"primaryKey"`
	APIKeyID   int64
	PublicID   string
	Name       string
	Reason     string
	RetiredAt  int64
}

func (keyTombstone) TableName() string { return "key_tombstones" }

// buryKeySecrets keeps tombstones of key's secrets hashes, which stop working in transaction
// tx for reason (RefusedDeleted or RefusedReplaced).
func (s *Store) buryKeySecrets(tx *gorm.DB, key *APIKey, reason string, hashes ...string) error {
	if len(hashes) == 0 {
		return nil
	}
	now := s.now().UnixMicro()
	rows := make([]keyTombstone, len(hashes))
	for i, hash := range hashes {
		rows[i] = keyTombstone{SecretHash: hash, APIKeyID: key.ID, PublicID: key.PublicID, Name: key.Name, Reason: reason, RetiredAt: now}
	}
	return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "secret_hash"}}, UpdateAll: true}).Create(&rows).Error
}

// KeyRefusal is a request the API refused for its key, as the audit log records it. The key is
// named by PublicID and Name; or, for a secret the store did not know, only SecretHash is set,
// and RecordKeyRefusal looks for the key among the tombstones.
type KeyRefusal struct {
	PublicID   string
	Name       string
	SecretHash string
	// Reason is one of the Refused constants; Route the request's method and route pattern.
	Reason string
	Route  string
	At     time.Time
	// Address, UserAgent and RequestID are the request's.
	Address, UserAgent, RequestID string
}

// errRefusalRecorded rolls back a refusal whose key and hour have their event already.
var errRefusalRecorded = errors.New("models: refusal recorded already")

// RecordKeyRefusal records the refusal as a key.refused event by the key, if it is the first
// of that key in its hour (of Unix time) on any instance, and tells whether it did. A secret
// the store did not know is recorded only when a tombstone names its key (deleted, or replaced
// by a rotation, within KeyTombstonesKept). The verification never waits for it: each instance
// gathers refusals in memory and calls it in the background.
func (s *Store) RecordKeyRefusal(ctx context.Context, r KeyRefusal) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	db := s.db.WithContext(ctx)
	if r.PublicID == "" {
		var tombstone keyTombstone
		err := db.Where("secret_hash = ?", r.SecretHash).Take(&tombstone).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("models: record key refusal: %w", err)
		}
		r.PublicID, r.Name, r.Reason = tombstone.PublicID, tombstone.Name, tombstone.Reason
	}
	actor := AuditActor{Type: ActorKey, ID: r.PublicID, Label: r.Name, Address: r.Address, UserAgent: r.UserAgent, RequestID: r.RequestID}
	detail := r.Reason
	if r.Route != "" {
		detail += " (" + r.Route + ")"
	}
	event := AuditEvent{At: r.At, Action: AuditKeyRefused, TargetType: TargetKey, TargetID: r.PublicID, TargetLabel: r.Name, Detail: detail}
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("INSERT INTO key_refusal_marks (public_id, hour) VALUES (?, ?) ON CONFLICT DO NOTHING", r.PublicID, refusalHour(r.At))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errRefusalRecorded
		}
		return s.recordAudit(WithAuditActor(ctx, actor), tx, event)
	})
	if errors.Is(err, errRefusalRecorded) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("models: record key refusal: %w", err)
	}
	return true, nil
}

// refusalHour numbers the hour of at, as key_refusal_marks counts them.
func refusalHour(at time.Time) int64 { return at.Unix() / 3600 }

// PruneKeyRefusals deletes the tombstones of secrets retired before tombstonesBefore, and the
// marks of refusals recorded in hours that ended before marksBefore, which no refusal can
// share any more; it returns how many rows it deleted.
func (s *Store) PruneKeyRefusals(ctx context.Context, tombstonesBefore, marksBefore time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	db := s.db.WithContext(ctx)
	tombstones := db.Where("retired_at < ?", tombstonesBefore.UnixMicro()).Delete(&keyTombstone{})
	if tombstones.Error != nil {
		return 0, fmt.Errorf("models: prune key tombstones: %w", tombstones.Error)
	}
	marks := db.Exec("DELETE FROM key_refusal_marks WHERE hour < ?", refusalHour(marksBefore))
	if marks.Error != nil {
		return tombstones.RowsAffected, fmt.Errorf("models: prune key refusal marks: %w", marks.Error)
	}
	return tombstones.RowsAffected + marks.RowsAffected, nil
}
