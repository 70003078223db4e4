package models

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// DisableAPIKey pauses the key with that public id: from the moment it returns, no instance
// accepts any of the key's secrets, as if it were deleted, but the key keeps its secret, name,
// scope and history for EnableAPIKey. It returns the key, and whether this call disabled it (a
// key disabled already stays as it was, disabled since the first time). ErrAPIKeyNotFound when
// no such key exists. Every instance hears of it (a KeyNotice revoking the key's secrets) and
// drops what it holds for the key.
func (s *Store) DisableAPIKey(ctx context.Context, publicID string) (*APIKey, bool, error) {
	return s.setAPIKeyDisabled(ctx, publicID, true)
}

// EnableAPIKey makes a disabled key work again, as it did before it was disabled (an expired
// key stays expired). It returns the key, and whether this call enabled it; enabling an enabled
// key changes nothing. ErrAPIKeyNotFound when no such key exists. Every instance hears of it
// (a KeyNotice beginning the validity of the key's secrets) and forgets that they were refused,
// so that none answers them from memory.
func (s *Store) EnableAPIKey(ctx context.Context, publicID string) (*APIKey, bool, error) {
	return s.setAPIKeyDisabled(ctx, publicID, false)
}

// setAPIKeyDisabled disables or enables a key through changeKey. Even when the key already was
// as asked, the notice goes out: it tells every instance what is true, which is harmless to
// repeat.
func (s *Store) setAPIKeyDisabled(ctx context.Context, publicID string, disable bool) (*APIKey, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if CheckText("id", publicID, false) != nil {
		// No key has such an id, and PostgreSQL refuses to compare with bytes that are not text.
		return nil, false, ErrAPIKeyNotFound
	}
	operation := "enable"
	if disable {
		operation = "disable"
	}
	var (
		key     APIKey
		changed bool
	)
	err := s.changeKey(ctx, func(tx *gorm.DB) (KeyNotice, []AuditEvent, error) {
		// The update comes first, so that PostgreSQL holds the row until the commit and two
		// instances disabling at once take turns: one changes the key, the other finds it done.
		condition, disabledAt := "disabled_at IS NOT NULL", any(nil)
		if disable {
			condition, disabledAt = "disabled_at IS NULL", s.stamp()
		}
		res := tx.Model(&APIKey{}).Where("public_id = ? AND "+condition, publicID).Update("disabled_at", disabledAt)
		if res.Error != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: %s api key: %w", operation, res.Error)
		}
		changed = res.RowsAffected == 1
		err := tx.Where("public_id = ?", publicID).First(&key).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return KeyNotice{}, nil, ErrAPIKeyNotFound
		}
		if err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: %s api key: %w", operation, err)
		}
		notice := KeyNotice{KeyID: key.ID, Hashes: key.SecretHashes(), Revoked: disable}
		if !changed {
			return notice, nil, nil
		}
		event, action := KeyEventEnabled, AuditKeyEnabled
		if disable {
			event, action = KeyEventDisabled, AuditKeyDisabled
		}
		if err := s.queueKeyEvent(tx, event, &key); err != nil {
			return KeyNotice{}, nil, err
		}
		return notice, []AuditEvent{keyAudit(action, &key, "")}, nil
	})
	if err != nil {
		return nil, false, err
	}
	return &key, changed, nil
}
