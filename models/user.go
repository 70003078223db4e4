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

// User is a person who logs in to the console.
type User struct {
	ID           int64
	Email        string
	Name         string
	PasswordHash string
	Permission   Permission
	Disabled     bool
	CreatedAt    time.Time
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

// ValidationError is input a person must correct; its message says how.
type ValidationError struct{ Message string }

func (e *ValidationError) Error() string { return e.Message }

// IsValidation tells whether err is a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// Validate returns a ValidationError a person can act on, or nil. It refuses what sign-in
// would refuse (SignInAttempt), so that no user is made who could never sign in: text that
// is not valid UTF-8 or holds control characters, an email longer than MaxEmailLength, a
// password longer than MaxPasswordLength.
func (u NewUser) Validate() error {
	email := strings.TrimSpace(u.Email)
	if at := strings.IndexByte(email, '@'); at < 1 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n") ||
		!printable(email) || len(email) > MaxEmailLength {
		return &ValidationError{fmt.Sprintf("Enter a valid email address of at most %d characters.", MaxEmailLength)}
	}
	if name := strings.TrimSpace(u.Name); name == "" || len([]rune(name)) > 100 || !printable(name) {
		return &ValidationError{"Enter a name of 1 to 100 characters, without control characters."}
	}
	if len([]rune(u.Password)) < MinPasswordLength {
		return &ValidationError{fmt.Sprintf("Use a password of at least %d characters.", MinPasswordLength)}
	}
	if len(u.Password) > MaxPasswordLength || !printable(u.Password) {
		return &ValidationError{fmt.Sprintf("Use a password of at most %d bytes, without control characters.", MaxPasswordLength)}
	}
	if _, err := ParsePermission(string(u.Permission)); err != nil {
		return &ValidationError{err.Error()}
	}
	return nil
}

// CreateUser stores a new user with an argon2id hash of the password. The hash does not wait
// for the sign-in limit on hashes: only a script or the holder of the one-time setup link
// creates users.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := nu.Validate(); err != nil {
		return nil, err
	}
	return createUser(ctx, s.db, nu, s.now())
}

func createUser(ctx context.Context, db *gorm.DB, nu NewUser, now time.Time) (*User, error) {
	u := &User{
		Email:        strings.ToLower(strings.TrimSpace(nu.Email)),
		Name:         strings.TrimSpace(nu.Name),
		PasswordHash: currentPasswordParams().Hash(nu.Password),
		Permission:   nu.Permission,
		CreatedAt:    now,
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
