package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Permission is what a console user may administer.
type Permission string

// The permissions of the catalog platform that Keysmith knows about. Only the first two may
// open Administration › API Keys.
const (
	PermissionSuperAdmin        Permission = "super-admin"
	PermissionConnectivityAdmin Permission = "connectivity-admin"
	PermissionNone              Permission = "none"
)

// Permissions lists every permission in the order forms and help texts show them.
var Permissions = []Permission{PermissionSuperAdmin, PermissionConnectivityAdmin, PermissionNone}

// ParsePermission validates a permission name.
func ParsePermission(s string) (Permission, error) {
	for _, p := range Permissions {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown permission %q: use connectivity-admin, super-admin or none", s)
}

// Label is the permission's name as the product shows it.
func (p Permission) Label() string {
	switch p {
	case PermissionSuperAdmin:
		return "Super admin"
	case PermissionConnectivityAdmin:
		return "Connectivity administration"
	default:
		return "No administration permission"
	}
}

// CanManageAPIKeys tells whether the permission opens Administration › API Keys.
func (p Permission) CanManageAPIKeys() bool {
	return p == PermissionSuperAdmin || p == PermissionConnectivityAdmin
}

// CanManageUsers tells whether the permission opens Administration › Users.
func (p Permission) CanManageUsers() bool { return p == PermissionSuperAdmin }

// User is a person who logs in to the console.
type User struct {
	ID    int64
	Email string
	Name  string
	// PasswordHash is empty while the user has no password: invited, or reset by an
	// administrator, until they choose one with their one-time link.
	PasswordHash string
	Permission   Permission
	Disabled     bool
	CreatedAt    time.Time
	// ActivatedAt is when the user first chose a password; nil while only invited.
	ActivatedAt *time.Time
	// LastSignInAt is when a session last started for the user; nil if none ever did.
	LastSignInAt *time.Time
}

// UserStatus says whether a user can sign in, and if not, why.
type UserStatus string

// The statuses of a user, the first that holds: disabled by an administrator; invited and
// not yet activated; waiting to choose a new password after a reset; or active.
const (
	UserDisabled     UserStatus = "disabled"
	UserInvited      UserStatus = "invited"
	UserResetPending UserStatus = "reset-pending"
	UserActive       UserStatus = "active"
)

// Status returns the user's status.
func (u User) Status() UserStatus {
	switch {
	case u.Disabled:
		return UserDisabled
	case u.ActivatedAt == nil:
		return UserInvited
	case u.PasswordHash == "":
		return UserResetPending
	}
	return UserActive
}

// Label is the status as the Users page shows it.
func (s UserStatus) Label() string {
	switch s {
	case UserDisabled:
		return "Disabled"
	case UserInvited:
		return "Invited"
	case UserResetPending:
		return "Password reset"
	}
	return "Active"
}

// NewUser holds what creating a user needs; the password is hashed before it is stored.
type NewUser struct {
	Email      string
	Name       string
	Password   string
	Permission Permission
}

// MinPasswordLength is the shortest password accepted for a console user.
const MinPasswordLength = 12

// Validate returns a FieldError (for the whole form) a person can act on, or nil. It refuses what sign-in
// would refuse (SignInAttempt), so that no user is made who could never sign in: text that
// is not valid UTF-8 or holds control characters, an email longer than MaxEmailLength, a
// password longer than MaxPasswordLength.
func (u NewUser) Validate() error {
	if err := validateIdentity(u.Email, u.Name, u.Permission); err != nil {
		return err
	}
	return ValidatePassword(u.Password)
}

// validateIdentity checks what an administrator types about a user: an email, a name and a
// permission.
func validateIdentity(email, name string, permission Permission) error {
	email = strings.TrimSpace(email)
	if at := strings.IndexByte(email, '@'); at < 1 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n") ||
		!printable(email) || len(email) > MaxEmailLength {
		return &FieldError{Message: fmt.Sprintf("Enter a valid email address of at most %d characters.", MaxEmailLength)}
	}
	if name := strings.TrimSpace(name); name == "" || len([]rune(name)) > 100 || !printable(name) {
		return &FieldError{Message: "Enter a name of 1 to 100 characters, without control characters."}
	}
	if _, err := ParsePermission(string(permission)); err != nil {
		return &FieldError{Message: err.Error()}
	}
	return nil
}

// ValidatePassword refuses a password a user may not choose: shorter than MinPasswordLength
// characters, longer than MaxPasswordLength bytes (sign-in would refuse it), or holding
// control characters or bytes that are not UTF-8.
func ValidatePassword(password string) error {
	if len([]rune(password)) < MinPasswordLength {
		return &FieldError{Message: fmt.Sprintf("Use a password of at least %d characters.", MinPasswordLength)}
	}
	if len(password) > MaxPasswordLength || !printable(password) {
		return &FieldError{Message: fmt.Sprintf("Use a password of at most %d bytes, without control characters.", MaxPasswordLength)}
	}
	return nil
}

// CreateUser stores a new, active user with an argon2id hash of the password, and records
// user.created. The hash does not wait for the sign-in limit on hashes: only a script or the
// holder of the one-time setup link creates users with a password.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := nu.Validate(); err != nil {
		return nil, err
	}
	var created *User
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var err error
		if created, err = createUser(ctx, tx, nu, s.now()); err != nil {
			return err
		}
		return s.recordAudit(ctx, tx, UserAudit(AuditUserCreated, created, "permission "+string(created.Permission)))
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

func createUser(ctx context.Context, db *gorm.DB, nu NewUser, now time.Time) (*User, error) {
	u := &User{
		Email:        strings.ToLower(strings.TrimSpace(nu.Email)),
		Name:         strings.TrimSpace(nu.Name),
		PasswordHash: currentPasswordParams().Hash(nu.Password),
		Permission:   nu.Permission,
		CreatedAt:    now,
		ActivatedAt:  &now,
	}
	if err := db.WithContext(ctx).Create(u).Error; err != nil {
		if isUniqueViolation(err) {
			return nil, ErrDuplicateEmail
		}
		return nil, fmt.Errorf("models: create user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with that id, or ErrUserNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var u User
	err := s.db.WithContext(ctx).First(&u, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("models: user by id: %w", err)
	}
	return &u, nil
}

// UserByEmail returns the user with that email, whatever its case, or ErrUserNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	if CheckText("email", email, false) != nil {
		// No user has such an email, and PostgreSQL refuses to compare with bytes that are
		// not text.
		return nil, ErrUserNotFound
	}
	user, err := s.userByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if err == nil && user == nil {
		return nil, ErrUserNotFound
	}
	return user, err
}

// CountUsers returns how many users exist; zero means the first-run setup is still open.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	if err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("models: count users: %w", err)
	}
	return n, nil
}

// Users lists every user by name, for the catalog API's users endpoint.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var users []User
	if err := s.db.WithContext(ctx).Order("name, id").Find(&users).Error; err != nil {
		return nil, fmt.Errorf("models: list users: %w", err)
	}
	return users, nil
}

// hashToken is the SHA-256 of a random token in hex: how setup links and session ids are
// stored, so a copy of the database cannot be replayed.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomToken returns n random bytes from crypto/rand, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// UserNames returns the names of those of the users with these ids that exist, by id, in one
// query: for the console to say who created each key it shows.
func (s *Store) UserNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	names := map[int64]string{}
	if len(ids) == 0 {
		return names, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var users []User
	if err := s.db.WithContext(ctx).Select("id", "name").Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("models: user names: %w", err)
	}
	for _, u := range users {
		names[u.ID] = u.Name
	}
	return names, nil
}
