package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// UserLinkLifetime is how long a one-time link to choose a password stays valid.
const UserLinkLifetime = 24 * time.Hour

// Errors of user administration, each a rule a person is told about.
var (
	ErrUserLinkInvalid = errors.New("models: the link is invalid, used or expired")
	ErrLastSuperAdmin  = errors.New("models: the last enabled Super admin cannot be disabled or demoted")
	ErrOwnAccount      = errors.New("models: administrators cannot disable, demote or reset their own account")
	ErrUserDisabled    = errors.New("models: the user is disabled")
	ErrNotSuperAdmin   = errors.New("models: only an enabled Super admin may administer users")
)

// userLink is a user's pending one-time link to choose a password; only its hash is stored. A
// user has at most one: a new link replaces the one before.
type userLink struct {
	UserID    int64 `gorm:"primaryKey;autoIncrement:false"`
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (userLink) TableName() string { return "user_links" }

// UserEntry is a user as Administration › Users lists them: with the expiry of their pending
// one-time link, nil when they have none.
type UserEntry struct {
	User
	LinkExpiresAt *time.Time
}

// ListUsers lists every user by name, with their pending link's expiry.
func (s *Store) ListUsers(ctx context.Context) ([]UserEntry, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var users []User
	if err := s.db.WithContext(ctx).Order("name, id").Find(&users).Error; err != nil {
		return nil, fmt.Errorf("models: list users: %w", err)
	}
	var links []userLink
	if err := s.db.WithContext(ctx).Select("user_id, expires_at").Find(&links).Error; err != nil {
		return nil, fmt.Errorf("models: list users: %w", err)
	}
	expiries := make(map[int64]time.Time, len(links))
	for _, link := range links {
		expiries[link.UserID] = link.ExpiresAt
	}
	entries := make([]UserEntry, len(users))
	for i, u := range users {
		entries[i].User = u
		if at, ok := expiries[u.ID]; ok {
			entries[i].LinkExpiresAt = &at
		}
	}
	return entries, nil
}

// Invitation is what an administrator gives to add a user, who then chooses their own
// password with a one-time link.
type Invitation struct {
	Email      string
	Name       string
	Permission Permission
}

// InviteUser adds a user without a password, and returns them with the token of their
// one-time link (single use, valid UserLinkLifetime), which exists only in this return value.
// Emails are unique whatever their case: ErrDuplicateEmail. Records user.created.
func (s *Store) InviteUser(ctx context.Context, inv Invitation) (*User, string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := validateIdentity(inv.Email, inv.Name, inv.Permission); err != nil {
		return nil, "", err
	}
	now := s.now()
	user := &User{
		Email:      strings.ToLower(strings.TrimSpace(inv.Email)),
		Name:       strings.TrimSpace(inv.Name),
		Permission: inv.Permission,
		CreatedAt:  now,
	}
	var token string
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockSuperAdmins(ctx, tx); err != nil {
			return err
		}
		if err := tx.Create(user).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrDuplicateEmail
			}
			return fmt.Errorf("models: invite user: %w", err)
		}
		var err error
		if token, err = putUserLink(tx, user.ID, now); err != nil {
			return err
		}
		return s.recordAudit(ctx, tx, UserAudit(AuditUserCreated, user, "invited with permission "+string(user.Permission)))
	})
	if err != nil {
		return nil, "", err
	}
	return user, token, nil
}

// SetUserPermission gives the user with that id another permission, from their next request
// on, on every instance (each request reads its user). It returns the user and whether this
// call changed them. Nobody demotes themselves (ErrOwnAccount) or the last enabled Super
// admin (ErrLastSuperAdmin). Records user.permission_changed.
func (s *Store) SetUserPermission(ctx context.Context, id int64, permission Permission) (*User, bool, error) {
	if _, err := ParsePermission(string(permission)); err != nil {
		return nil, false, &FieldError{Message: err.Error()}
	}
	changed := false
	user, err := s.changeUser(ctx, id, func(tx *gorm.DB, user *User, admins superAdmins) error {
		if user.Permission == permission {
			return nil
		}
		if user.Permission == PermissionSuperAdmin {
			if err := admins.mayTakeAway(ctx, user); err != nil {
				return err
			}
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("permission", permission).Error; err != nil {
			return fmt.Errorf("models: set user permission: %w", err)
		}
		detail := "from " + string(user.Permission) + " to " + string(permission)
		user.Permission, changed = permission, true
		return s.recordAudit(ctx, tx, UserAudit(AuditUserPermissionChanged, user, detail))
	})
	return user, changed, err
}

// DisableUser stops the user with that id from signing in, and ends at once, on every
// instance, all their sessions (they live in the database) and their pending link. It
// returns the user, whether this call disabled them, and how many sessions it ended. Nobody
// disables themselves (ErrOwnAccount) or the last enabled Super admin (ErrLastSuperAdmin).
// Records user.disabled, and session.ended when sessions ended.
func (s *Store) DisableUser(ctx context.Context, id int64) (*User, bool, int64, error) {
	changed, ended := false, int64(0)
	user, err := s.changeUser(ctx, id, func(tx *gorm.DB, user *User, admins superAdmins) error {
		if user.Disabled {
			return nil
		}
		if err := admins.mayTakeAway(ctx, user); err != nil {
			return err
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("disabled", true).Error; err != nil {
			return fmt.Errorf("models: disable user: %w", err)
		}
		if err := tx.Where("user_id = ?", user.ID).Delete(&userLink{}).Error; err != nil {
			return fmt.Errorf("models: disable user: %w", err)
		}
		user.Disabled, changed = true, true
		if err := s.recordAudit(ctx, tx, UserAudit(AuditUserDisabled, user, "")); err != nil {
			return err
		}
		var err error
		ended, err = s.endSessions(ctx, tx, user, "", "user disabled")
		return err
	})
	return user, changed, ended, err
}

// EnableUser lets the user with that id sign in again. No session comes back: any left over
// (a session started while the disable was being committed, or a user disabled by editing the
// database) is ended, so the user signs in anew. It returns the user and whether this call
// enabled them. Records user.enabled.
func (s *Store) EnableUser(ctx context.Context, id int64) (*User, bool, error) {
	changed := false
	user, err := s.changeUser(ctx, id, func(tx *gorm.DB, user *User, _ superAdmins) error {
		if !user.Disabled {
			return nil
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("disabled", false).Error; err != nil {
			return fmt.Errorf("models: enable user: %w", err)
		}
		user.Disabled, changed = false, true
		if err := s.recordAudit(ctx, tx, UserAudit(AuditUserEnabled, user, "")); err != nil {
			return err
		}
		_, err := s.endSessions(ctx, tx, user, "", "sessions from before the user was enabled")
		return err
	})
	return user, changed, err
}

// ResetUserLink makes a new one-time link for the user with that id to choose a new password,
// and returns it with the user and how many sessions it ended. The link replaces any link
// before it; the user's password stops working and all their sessions end, so a reset also
// shuts out whoever may know the old password. For a user still invited it is a new
// invitation. Nobody resets themselves (ErrOwnAccount: the account page changes one's own
// password) and a disabled user gets no link (ErrUserDisabled). Records
// user.reset_link_created, and session.ended when sessions ended.
func (s *Store) ResetUserLink(ctx context.Context, id int64) (*User, string, int64, error) {
	var (
		token string
		ended int64
	)
	user, err := s.changeUser(ctx, id, func(tx *gorm.DB, user *User, _ superAdmins) error {
		if acting, ok := actingUserID(ctx); ok && acting == user.ID {
			return ErrOwnAccount
		}
		if user.Disabled {
			return ErrUserDisabled
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("password_hash", "").Error; err != nil {
			return fmt.Errorf("models: reset user: %w", err)
		}
		user.PasswordHash = ""
		var err error
		if token, err = putUserLink(tx, user.ID, s.now()); err != nil {
			return err
		}
		if err := s.recordAudit(ctx, tx, UserAudit(AuditUserResetLink, user, "")); err != nil {
			return err
		}
		ended, err = s.endSessions(ctx, tx, user, "", "password reset")
		return err
	})
	return user, token, ended, err
}

// UserByLink returns the user whose pending one-time link token is: unused, unexpired, and
// the user not disabled. ErrUserLinkInvalid otherwise.
func (s *Store) UserByLink(ctx context.Context, token string) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return userByLink(ctx, s.db.WithContext(ctx), token, s.now(), false)
}

func userByLink(ctx context.Context, db *gorm.DB, token string, now time.Time, lock bool) (*User, error) {
	var link userLink
	err := db.Where("token_hash = ? AND expires_at > ?", hashToken(token), now).First(&link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrUserLinkInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("models: check user link: %w", err)
	}
	if lock {
		db = db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var user User
	err = db.First(&user, link.UserID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || err == nil && user.Disabled {
		return nil, ErrUserLinkInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("models: check user link: %w", err)
	}
	return &user, nil
}

// SetPasswordWithLink gives the holder of a one-time link the password they chose, once: the
// link is deleted in the same transaction. An invited user becomes active; any session the
// user still had ends. The password is hashed within the bound on password hashes
// (ErrPasswordHashBusy when it is full). ErrUserLinkInvalid for a link that is unknown, used,
// expired or of a disabled user. Records user.activated, by the user.
func (s *Store) SetPasswordWithLink(ctx context.Context, token, password string) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	hashes := s.hashes.Load()
	leave, err := hashes.admit()
	if err != nil {
		return nil, err
	}
	defer leave()
	if _, err := s.UserByLink(ctx, token); err != nil {
		return nil, err
	}
	params := currentPasswordParams()
	var hash string
	if err := hashes.run(ctx, params.Memory, func() { hash = params.Hash(password) }); err != nil {
		return nil, err
	}
	now := s.now()
	var user *User
	err = s.transaction(ctx, func(tx *gorm.DB) error {
		var err error
		if user, err = userByLink(ctx, tx, token, now, true); err != nil {
			return err
		}
		// Whoever holds the link acts as the user it was made for.
		ctx := WithAuditActor(ctx, actingAs(AuditActorFrom(ctx), user))
		res := tx.Where("token_hash = ?", hashToken(token)).Delete(&userLink{})
		if res.Error != nil {
			return fmt.Errorf("models: use user link: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrUserLinkInvalid
		}
		detail := "password set after a reset"
		updates := map[string]any{"password_hash": hash}
		if user.ActivatedAt == nil {
			detail = "invitation accepted"
			updates["activated_at"] = now
			user.ActivatedAt = &now
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Updates(updates).Error; err != nil {
			return fmt.Errorf("models: use user link: %w", err)
		}
		user.PasswordHash = hash
		if err := s.recordAudit(ctx, tx, UserAudit(AuditUserActivated, user, detail)); err != nil {
			return err
		}
		_, err = s.endSessions(ctx, tx, user, "", "password set with a one-time link")
		return err
	})
	if err != nil {
		return nil, err
	}
	return user, nil
}

// putUserLink makes a new one-time link for the user in tx, replacing any before it, and
// returns its token (256 random bits).
func putUserLink(tx *gorm.DB, userID int64, now time.Time) (string, error) {
	token := randomToken(32)
	if err := tx.Where("user_id = ?", userID).Delete(&userLink{}).Error; err != nil {
		return "", fmt.Errorf("models: make user link: %w", err)
	}
	link := userLink{UserID: userID, TokenHash: hashToken(token), CreatedAt: now, ExpiresAt: now.Add(UserLinkLifetime)}
	if err := tx.Create(&link).Error; err != nil {
		return "", fmt.Errorf("models: make user link: %w", err)
	}
	return token, nil
}

// superAdmins are the rows of every Super admin, as a user change holds them.
type superAdmins []User

// enabled counts the Super admins who can administer users: enabled, and activated (an
// invitation may have gone to the wrong address, and proves nobody holds the account).
func (a superAdmins) enabled() int {
	n := 0
	for _, u := range a {
		if !u.Disabled && u.ActivatedAt != nil {
			n++
		}
	}
	return n
}

// mayTakeAway refuses to disable or demote user, read in the same transaction, when they are
// the actor themselves (ErrOwnAccount), or the last enabled Super admin (ErrLastSuperAdmin).
func (a superAdmins) mayTakeAway(ctx context.Context, user *User) error {
	if acting, ok := actingUserID(ctx); ok && acting == user.ID {
		return ErrOwnAccount
	}
	if user.Permission == PermissionSuperAdmin && !user.Disabled && user.ActivatedAt != nil && a.enabled() <= 1 {
		return ErrLastSuperAdmin
	}
	return nil
}

// lockSuperAdmins reads every Super admin's row in tx and, on PostgreSQL, locks them until tx
// ends, in id order (SQLite's writing transactions run one at a time anyway). So two changes
// made at once, on any instances, take turns: the second waits for the first to commit, then
// reads its outcome, and two demotions of the last two Super admins cannot both pass. When the
// actor of ctx is a user, they must be one of the enabled Super admins: one demoted or disabled
// a moment ago acts no more (ErrNotSuperAdmin).
func (s *Store) lockSuperAdmins(ctx context.Context, tx *gorm.DB) (superAdmins, error) {
	var admins superAdmins
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("permission = ?", PermissionSuperAdmin).Order("id").Find(&admins).Error
	if err != nil {
		return nil, fmt.Errorf("models: read super admins: %w", err)
	}
	acting, ok := actingUserID(ctx)
	if !ok {
		return admins, nil
	}
	for _, u := range admins {
		if u.ID == acting && !u.Disabled && u.ActivatedAt != nil {
			return admins, nil
		}
	}
	return nil, ErrNotSuperAdmin
}

// changeUser runs change on the user with that id in one transaction that holds every Super
// admin's row (lockSuperAdmins) and then the user's. ErrUserNotFound when no user has the id.
func (s *Store) changeUser(ctx context.Context, id int64, change func(tx *gorm.DB, user *User, admins superAdmins) error) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var user User
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		admins, err := s.lockSuperAdmins(ctx, tx)
		if err != nil {
			return err
		}
		err = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).First(&user, id).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrUserNotFound
		}
		if err != nil {
			return fmt.Errorf("models: read user: %w", err)
		}
		return change(tx, &user, admins)
	})
	if err != nil {
		return nil, err
	}
	return &user, nil
}

// actingUserID returns the id of the user the actor of ctx is, if it is a user.
func actingUserID(ctx context.Context) (int64, bool) {
	actor := AuditActorFrom(ctx)
	if actor.Type != ActorUser {
		return 0, false
	}
	id, err := strconv.ParseInt(actor.ID, 10, 64)
	return id, err == nil
}

// actingAs is actor, from the same address, client and request, as user.
func actingAs(actor AuditActor, user *User) AuditActor {
	as := UserActor(user)
	as.Address, as.UserAgent, as.RequestID = actor.Address, actor.UserAgent, actor.RequestID
	return as
}
