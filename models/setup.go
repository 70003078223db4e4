package models

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SetupTokenLifetime is how long a first-run setup link stays valid.
const SetupTokenLifetime = time.Hour

// SetupToken is a one-time link that creates the first Super admin. Only its hash is stored.
type SetupToken struct {
	ID        int64
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateSetupToken issues a new setup link token (256 random bits) when no user exists yet.
// It returns "" when users already exist, so a restarted server prints no link.
func (s *Store) CreateSetupToken(ctx context.Context) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	token := randomToken(32)
	now := s.now()
	row := SetupToken{TokenHash: hashToken(token), CreatedAt: now, ExpiresAt: now.Add(SetupTokenLifetime)}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return "", fmt.Errorf("models: create setup token: %w", err)
	}
	return token, nil
}

// CheckSetupToken tells whether token is an unused, unexpired setup token while no user
// exists: ErrSetupDone once one does, whatever the token, and ErrSetupTokenInvalid before.
func (s *Store) CheckSetupToken(ctx context.Context, token string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return checkSetupToken(ctx, s.db, token, s.now())
}

func checkSetupToken(ctx context.Context, db *gorm.DB, token string, now time.Time) error {
	var users int64
	if err := db.WithContext(ctx).Model(&User{}).Count(&users).Error; err != nil {
		return fmt.Errorf("models: check setup token: %w", err)
	}
	if users > 0 {
		return ErrSetupDone
	}
	var row SetupToken
	err := db.WithContext(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", hashToken(token), now).First(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrSetupTokenInvalid
	}
	if err != nil {
		return fmt.Errorf("models: check setup token: %w", err)
	}
	return nil
}

// CompleteSetup uses the setup token to create the first Super admin, all or nothing: the
// token is marked used, and setup.completed recorded in the audit log, in the same
// transaction, so it works once. It creates a user only while none exists, however many
// instances and links race: on PostgreSQL the transaction first locks the users table against
// every other writer (SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock that any
// INSERT takes, and with itself), so that its count of users cannot miss one being added; on
// SQLite every writing transaction takes the database's write lock as it begins
// (_txlock=immediate). The loser gets ErrSetupDone.
func (s *Store) CompleteSetup(ctx context.Context, token string, nu NewUser) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	nu.Permission = PermissionSuperAdmin
	if err := nu.Validate(); err != nil {
		return nil, err
	}
	var created *User
	now := s.now()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			if err := tx.Exec("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").Error; err != nil {
				return fmt.Errorf("models: complete setup: %w", err)
			}
		}
		if err := checkSetupToken(ctx, tx, token, now); err != nil {
			return err
		}
		res := tx.Model(&SetupToken{}).Where("token_hash = ? AND used_at IS NULL", hashToken(token)).Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("models: complete setup: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrSetupTokenInvalid
		}
		u, err := createUser(ctx, tx, nu, now)
		if err != nil {
			return err
		}
		created = u
		return s.recordAudit(ctx, tx, UserAudit(AuditSetupCompleted, u, "first Super admin created with the setup link"))
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// Setting names kept in the settings table.
const settingSessionKeys = "session_keys"

// SessionKeys returns the session signing keys kept in the database, generating and storing
// 64 random bytes the first time, so that restarts keep everyone logged in. When two
// instances race, the first key written wins and both read it back.
func (s *Store) SessionKeys(ctx context.Context) ([]byte, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	fresh := make([]byte, 64)
	rand.Read(fresh)
	row := setting{Key: settingSessionKeys, Value: fmt.Sprintf("%x", fresh)}
	db := s.db.WithContext(ctx)
	if err := db.Exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", row.Key, row.Value).Error; err != nil {
		return nil, fmt.Errorf("models: session keys: %w", err)
	}
	var stored setting
	if err := db.Where("key = ?", settingSessionKeys).First(&stored).Error; err != nil {
		return nil, fmt.Errorf("models: session keys: %w", err)
	}
	var key []byte
	if _, err := fmt.Sscanf(stored.Value, "%x", &key); err != nil || len(key) < 32 {
		return nil, fmt.Errorf("models: session keys: stored value is not a hex key")
	}
	return key, nil
}

type setting struct {
	Key   string `gorm:"primaryKey"`
	Value string
}
