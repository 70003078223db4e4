package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Session is a browser session kept on the server, so that logout, timeouts and a disabled
// user end it on every instance. ID is the SHA-256 of the token the cookie carries.
type Session struct {
	ID         string
	UserID     *int64
	Data       []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// ErrSessionNotFound means the session was never created, has ended, or has timed out.
var ErrSessionNotFound = fmt.Errorf("session %w", ErrNotFound)

// NewSessionToken returns a fresh random session token (256 bits).
func NewSessionToken() string { return randomToken(32) }

// SessionByToken returns the live session for token: not logged out, not idle longer than
// idle, and not past its absolute expiry.
func (s *Store) SessionByToken(ctx context.Context, token string, idle time.Duration) (*Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var row Session
	now := s.now()
	err := s.db.WithContext(ctx).Where("id = ? AND expires_at > ? AND last_seen_at > ?", hashToken(token), now, now.Add(-idle)).First(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("models: load session: %w", err)
	}
	return &row, nil
}

// CreateSession stores a new session for token, ending at the latest maxAge from now.
func (s *Store) CreateSession(ctx context.Context, token string, userID *int64, data []byte, maxAge time.Duration) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if data == nil {
		data = []byte{}
	}
	now := s.now()
	row := Session{ID: hashToken(token), UserID: userID, Data: data, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(maxAge)}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("models: create session: %w", err)
	}
	return nil
}

// UpdateSession replaces the data of a live session, keeping its creation time and absolute
// expiry. A session that has ended meanwhile (logout in another tab, the sweeper) stays ended:
// the answer is ErrSessionNotFound, never a new row for the old token.
func (s *Store) UpdateSession(ctx context.Context, token string, userID *int64, data []byte) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if data == nil {
		data = []byte{}
	}
	res := s.db.WithContext(ctx).Model(&Session{}).Where("id = ? AND expires_at > ?", hashToken(token), s.now()).
		Updates(map[string]any{"user_id": userID, "data": data, "last_seen_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("models: update session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrSessionNotFound
	}
	return nil
}

// TouchSession records activity on a session, which pushes back its idle timeout.
func (s *Store) TouchSession(ctx context.Context, token string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", hashToken(token)).Update("last_seen_at", s.now()).Error
	if err != nil {
		return fmt.Errorf("models: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session on the server, so a copy of its cookie is refused afterwards.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.db.WithContext(ctx).Where("id = ?", hashToken(token)).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("models: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions past their absolute expiry or idle longer than idle.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idle time.Duration) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	res := s.db.WithContext(ctx).Where("expires_at <= ? OR last_seen_at <= ?", now, now.Add(-idle)).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("models: delete expired sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
