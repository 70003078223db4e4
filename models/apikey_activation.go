package models

import (
	"context"

	"gorm.io/gorm"
)

// ActivationChannel is the PostgreSQL channel on which the secret hash (never the secret) of a
// key that begins to authenticate is announced to every instance, so that none of them keeps
// answering it unknown from memory.
const ActivationChannel = "keysmith_key_activated"

// insertAPIKey stores a new key and, on PostgreSQL, announces its secret hash on
// ActivationChannel in the same transaction: PostgreSQL delivers the announcement when, and
// only when, the key is committed.
func (s *Store) insertAPIKey(ctx context.Context, key *APIKey) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(key).Error; err != nil {
			return err
		}
		if s.dialect == DialectPostgres {
			return tx.Exec("SELECT pg_notify(?, ?)", ActivationChannel, key.SecretHash).Error
		}
		return nil
	})
}
