package models

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// KeyNoticeChannel is the PostgreSQL channel on which every change to what a key authenticates
// is announced to every instance, as a JSON KeyNotice.
const KeyNoticeChannel = "keysmith_key_changed"

// KeyNotice says that what a key authenticates has changed: it was created or deleted (and,
// as operations are added, disabled, enabled or rotated). It names the key and the SHA-256
// hashes (never the secrets) of the secrets concerned. When the notice revokes them, every
// instance drops their verified and stale entries; when it begins their validity, every
// instance forgets that they were unknown. Either way the next use asks the database, which
// knows the truth. A key is cached only while it authenticates. Expiry needs no notice: every
// instance checks it on each use.
type KeyNotice struct {
	KeyID  int64    `json:"key"`
	Hashes []string `json:"hashes"`
	// Revoked tells whether the change ended the validity of the hashes (a key deleted), as
	// opposed to beginning it (a key created).
	Revoked bool `json:"revoked,omitempty"`
	// NothingEnded marks a revoking notice whose change ended no secret's validity (a rotation
	// with a grace, which every instance must read again to learn the grace's end): it is no
	// revocation to prove, and none is recorded.
	NothingEnded bool `json:"nothing_ended,omitempty"`
	// RevocationID names a revocation, recorded with the change, so that every instance
	// acknowledges applying it and the console can show how far it reached; 0 when the notice
	// revokes nothing.
	RevocationID int64 `json:"revocation,omitempty"`
}

// keyNotices holds what this instance wants to hear of the changes it makes itself.
type keyNotices struct {
	mu          sync.RWMutex
	subscribers []func(KeyNotice)
}

// OnKeyNotice calls fn with every change to a key that this store makes, once the change is
// committed and before the call that made it returns, so that this instance applies its own
// changes at once. Other instances hear of them through ListenKeyNotices.
func (s *Store) OnKeyNotice(fn func(KeyNotice)) {
	s.notices.mu.Lock()
	defer s.notices.mu.Unlock()
	s.notices.subscribers = append(s.notices.subscribers, fn)
}

// changeKey is the one operation that changes what a key authenticates: change runs in a
// transaction and returns the notice to give and the audit events of what it changed (none when
// it changed nothing, as for disabling a disabled key). The events are recorded, by the actor
// ctx carries, in the same transaction, so that each is written if and only if its change is.
// On PostgreSQL the notice is announced in the same transaction, so that PostgreSQL delivers it
// to every instance when, and only when, the change is committed. Every notice is recorded in
// the same transaction, for a process that hears no announcement (pollKeyRevocations); a notice
// that revokes names its record (RevocationID), for the proof of revocation. Once committed, this instance's subscribers hear of it. No caller has a second
// step to remember.
func (s *Store) changeKey(ctx context.Context, change func(tx *gorm.DB) (KeyNotice, []AuditEvent, error)) error {
	var notice KeyNotice
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var (
			events []AuditEvent
			err    error
		)
		if notice, events, err = change(tx); err != nil {
			return err
		}
		for _, ev := range events {
			if err := s.recordAudit(ctx, tx, ev); err != nil {
				return err
			}
		}
		recorded, err := s.recordKeyNotice(tx, notice)
		if err != nil {
			return err
		}
		if noticeKind(notice) == noticeRevoked {
			notice.RevocationID = recorded
		}
		if s.pollingRevocations.Load() {
			// Delivered to this store's subscribers below: the poll of changes made by other
			// processes skips it, even if it reads it before that.
			s.ownRevocations.Store(recorded, struct{}{})
		}
		if s.dialect != DialectPostgres {
			return nil
		}
		payload, err := json.Marshal(notice)
		if err == nil {
			err = tx.Exec("SELECT pg_notify(?, ?)", KeyNoticeChannel, string(payload)).Error
		}
		if err != nil {
			return fmt.Errorf("models: announce key change: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notices.mu.RLock()
	defer s.notices.mu.RUnlock()
	for _, fn := range s.notices.subscribers {
		fn(notice)
	}
	return nil
}
