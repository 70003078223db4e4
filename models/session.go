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
	// Address and UserAgent are the client's when the session started.
	Address   string
	UserAgent string
}

// SessionClient is the client a session is started for: its address as the server sees it
// (through trusted proxies) and its User-Agent.
type SessionClient struct {
	Address   string
	UserAgent string
}

// ErrSessionNotFound means the session was never created, has ended, or has timed out.
var ErrSessionNotFound = fmt.Errorf("session %w", ErrNotFound)

// NewSessionToken returns a fresh random session token (256 bits).
func NewSessionToken() string { return randomToken(32) }

// SessionID is the id under which the session of token is stored, and listed by UserSessions.
func SessionID(token string) string { return hashToken(token) }

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

// CreateSession stores a new session for token, ending at the latest maxAge from now, started
// by client. A session for a user is a sign-in: the user's last sign-in is set in the same
// transaction.
func (s *Store) CreateSession(ctx context.Context, token string, userID *int64, data []byte, maxAge time.Duration, client SessionClient) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if data == nil {
		data = []byte{}
	}
	now := s.now()
	row := Session{ID: hashToken(token), UserID: userID, Data: data, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(maxAge),
		Address: CleanClientName(client.Address), UserAgent: CleanClientName(client.UserAgent)}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if userID == nil {
			return nil
		}
		return tx.Model(&User{}).Where("id = ?", *userID).Update("last_sign_in_at", now).Error
	})
	if err != nil {
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

// UserSession is one of a user's live sessions, as their account page lists it.
type UserSession struct {
	ID         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	Address    string
	UserAgent  string
	// Current tells that this is the session of the request that asks.
	Current bool `gorm:"-"`
}

// UserSessions lists the live sessions of the user (not ended, not idle longer than idle, not
// past their absolute expiry), the most recently seen first. current is the token of the
// asking request's session, which is marked.
func (s *Store) UserSessions(ctx context.Context, userID int64, current string, idle time.Duration) ([]UserSession, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	var rows []UserSession
	err := s.db.WithContext(ctx).Model(&Session{}).Select("id, created_at, last_seen_at, address, user_agent").
		Where("user_id = ? AND expires_at > ? AND last_seen_at > ?", userID, now, now.Add(-idle)).
		Order("last_seen_at DESC, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("models: list user sessions: %w", err)
	}
	currentID := SessionID(current)
	for i := range rows {
		rows[i].Current = rows[i].ID == currentID
	}
	return rows, nil
}

// EndUserSession ends one session of the user, by its id as UserSessions gives it, and
// records session.ended. ErrSessionNotFound when the user has no such session (another user's
// session is not theirs to end).
func (s *Store) EndUserSession(ctx context.Context, user *User, sessionID string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if CheckText("session", sessionID, false) != nil {
		return ErrSessionNotFound
	}
	return s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ? AND user_id = ?", sessionID, user.ID).Delete(&Session{})
		if res.Error != nil {
			return fmt.Errorf("models: end session: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrSessionNotFound
		}
		return s.recordAudit(ctx, tx, UserAudit(AuditSessionEnded, user, "1 session ended by its owner"))
	})
}

// EndOtherSessions ends every live session of the user but the one whose token is current,
// in one transaction with one session.ended event, and says how many ended. Only live sessions
// (as UserSessions lists them, idle being the idle timeout) are counted and deleted, so that the
// count is the number of rows the user saw on Your account; timed-out ones are refused anyway
// and the sweep job deletes them.
func (s *Store) EndOtherSessions(ctx context.Context, user *User, current string, idle time.Duration) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	var ended int64
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Where("user_id = ? AND id <> ? AND expires_at > ? AND last_seen_at > ?", user.ID, SessionID(current), now, now.Add(-idle)).
			Delete(&Session{})
		if res.Error != nil {
			return fmt.Errorf("models: end other sessions: %w", res.Error)
		}
		ended = res.RowsAffected
		if ended == 0 {
			return nil
		}
		detail := fmt.Sprintf("%d sessions ended by their owner: all but this one", ended)
		if ended == 1 {
			detail = "1 session ended by its owner: all but this one"
		}
		return s.recordAudit(ctx, tx, UserAudit(AuditSessionEnded, user, detail))
	})
	if err != nil {
		return 0, err
	}
	return ended, nil
}

// endSessions deletes the user's sessions in tx, but the one whose id is keep (none when ""),
// and records one session.ended event with their count, saying why, when there were any.
func (s *Store) endSessions(ctx context.Context, tx *gorm.DB, user *User, keep, why string) (int64, error) {
	res := tx.Where("user_id = ? AND id <> ?", user.ID, keep).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("models: end sessions: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, nil
	}
	detail := fmt.Sprintf("%d sessions ended: %s", res.RowsAffected, why)
	if res.RowsAffected == 1 {
		detail = "1 session ended: " + why
	}
	return res.RowsAffected, s.recordAudit(ctx, tx, UserAudit(AuditSessionEnded, user, detail))
}
