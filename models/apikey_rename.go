package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// MaxAPIKeyDescriptionLength is the longest description a key may have, in characters.
const MaxAPIKeyDescriptionLength = 500

// CleanAPIKeyDescription returns the description as it is stored: line ends made "\n",
// trimmed and in Unicode normal form C. Several lines and tabs are allowed; text that is not
// valid UTF-8, holds any other control character, or is longer than
// MaxAPIKeyDescriptionLength is refused with a FieldError for "description", whose message
// reads after "The description ". An empty description is no description.
func CleanAPIKeyDescription(description string) (string, error) {
	if err := CheckText("description", description, true); err != nil {
		return "", err
	}
	description = strings.ReplaceAll(description, "\r\n", "\n")
	description = strings.ReplaceAll(description, "\r", "\n")
	description = norm.NFC.String(strings.TrimSpace(description))
	if n := utf8.RuneCountInString(description); n > MaxAPIKeyDescriptionLength {
		return "", &FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters (this one has %d)", MaxAPIKeyDescriptionLength, n)}
	}
	return description, nil
}

// RenameAPIKey gives the key with that public id the name name, checked by CleanAPIKeyName
// (a FieldError otherwise) and compared with the other keys' as at creation
// (ErrDuplicateName). It returns the key as renamed, its name before, and whether the name
// changed: a name that is already the key's changes nothing and records nothing.
// ErrAPIKeyNotFound when no such key exists. The rename is audited (key.renamed) and announced
// by webhook (key.renamed) in its transaction, and every instance hears of it (a KeyNotice
// that ends no secret's validity), so that none answers the key's verification with its old
// name from memory.
func (s *Store) RenameAPIKey(ctx context.Context, publicID, name string) (key *APIKey, previous string, changed bool, err error) {
	name, err = CleanAPIKeyName(name)
	if err != nil {
		return nil, "", false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	fold := apiKeyNameFold(name)
	key, err = s.editAPIKey(ctx, publicID, "rename", true, func(tx *gorm.DB, key *APIKey) (*AuditEvent, error) {
		previous = key.Name
		if previous == name {
			return nil, nil
		}
		// The fold is the one unique index on names: a key that held none (see
		// APIKey.NameFold) takes one now, and a fold another key holds is refused by the
		// database even when two administrators take the same name at once.
		var holders []int64
		if err := tx.Model(&APIKey{}).Where("name_fold = ? AND id <> ?", fold, key.ID).Limit(1).Pluck("id", &holders).Error; err != nil {
			return nil, err
		}
		if len(holders) > 0 {
			return nil, ErrDuplicateName
		}
		res := tx.Model(&APIKey{}).Where("id = ?", key.ID).
			Updates(map[string]any{"name": name, "name_lower": strings.ToLower(name), "name_fold": fold})
		if res.Error != nil {
			if isUniqueViolation(res.Error) {
				return nil, ErrDuplicateName
			}
			return nil, res.Error
		}
		if key.NameFold != nil && *key.NameFold != fold {
			if err := passOnNameFold(tx, *key.NameFold); err != nil {
				return nil, err
			}
		}
		key.Name, key.NameLower, key.NameFold = name, strings.ToLower(name), &fold
		if err := s.queueKeyEvent(tx, KeyEventRenamed, key); err != nil {
			return nil, err
		}
		event := keyAudit(AuditKeyRenamed, key, "from “"+previous+"” to “"+name+"”")
		return &event, nil
	})
	if err != nil {
		return nil, "", false, err
	}
	return key, previous, previous != key.Name, nil
}

// SetAPIKeyDescription gives the key with that public id the description description, checked
// by CleanAPIKeyDescription (a FieldError otherwise), and returns the key and whether the
// description changed. ErrAPIKeyNotFound when no such key exists. The change is audited
// (key.description_changed, with the new description) in its transaction; it changes nothing
// that any instance holds.
func (s *Store) SetAPIKeyDescription(ctx context.Context, publicID, description string) (*APIKey, bool, error) {
	description, err := CleanAPIKeyDescription(description)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	changed := false
	key, err := s.editAPIKey(ctx, publicID, "describe", false, func(tx *gorm.DB, key *APIKey) (*AuditEvent, error) {
		if key.Description == description {
			return nil, nil
		}
		if err := tx.Model(&APIKey{}).Where("id = ?", key.ID).Update("description", description).Error; err != nil {
			return nil, err
		}
		// The description before is the previous event's: both would not fit an event's detail.
		detail := "removed"
		if description != "" {
			detail = "set to “" + description + "”"
		}
		key.Description, changed = description, true
		event := keyAudit(AuditKeyDescriptionChanged, key, detail)
		return &event, nil
	})
	if err != nil {
		return nil, false, err
	}
	return key, changed, nil
}

// editAPIKey reads the key with that public id in a transaction, holding its row until the
// commit so that two edits at once take turns, and lets edit change it. edit returns the audit
// event of its change, recorded in the same transaction, or nil when it changed nothing. When
// announce is set (the change is to what a verified key's cache entry holds), the edit goes
// through changeKey, whose notice makes every instance drop and read again what it holds of
// the key's secrets, as after a rotation with a grace: a revoking notice that ends nothing.
func (s *Store) editAPIKey(ctx context.Context, publicID, operation string, announce bool, edit func(tx *gorm.DB, key *APIKey) (*AuditEvent, error)) (*APIKey, error) {
	if !wellFormedPublicID(publicID) {
		return nil, ErrAPIKeyNotFound
	}
	var key APIKey
	change := func(tx *gorm.DB) ([]AuditEvent, error) {
		// Touching the row first takes its lock on PostgreSQL until the commit.
		if err := tx.Model(&APIKey{}).Where("public_id = ?", publicID).Update("public_id", publicID).Error; err != nil {
			return nil, err
		}
		err := tx.Where("public_id = ?", publicID).First(&key).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrAPIKeyNotFound
		}
		if err != nil {
			return nil, err
		}
		event, err := edit(tx, &key)
		if err != nil || event == nil {
			return nil, err
		}
		return []AuditEvent{*event}, nil
	}
	var err error
	if announce {
		err = s.changeKey(ctx, func(tx *gorm.DB) (KeyNotice, []AuditEvent, error) {
			events, err := change(tx)
			return KeyNotice{KeyID: key.ID, Hashes: key.SecretHashes(), Revoked: true, NothingEnded: true}, events, err
		})
	} else {
		err = s.transaction(ctx, func(tx *gorm.DB) error {
			events, err := change(tx)
			for _, ev := range events {
				if err := s.recordAudit(ctx, tx, ev); err != nil {
					return err
				}
			}
			return err
		})
	}
	if errors.Is(err, ErrAPIKeyNotFound) || errors.Is(err, ErrDuplicateName) || IsFieldError(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("models: %s api key: %w", operation, err)
	}
	return &key, nil
}
