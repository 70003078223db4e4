// Package models holds Keysmith's data: the GORM models, the Store that reads and writes them
// on PostgreSQL or SQLite, and the versioned migrations of both.
package models

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the database behind a Store.
type Dialect string

// The databases Keysmith runs on.
const (
	DialectPostgres Dialect = "postgres"
	DialectSQLite   Dialect = "sqlite"
)

// Sentinel errors that handlers turn into messages and status codes.
var (
	ErrNotFound          = errors.New("models: not found")
	ErrAPIKeyNotFound    = fmt.Errorf("api key %w", ErrNotFound)
	ErrUserNotFound      = fmt.Errorf("user %w", ErrNotFound)
	ErrDuplicateName     = errors.New("models: an API key with this name already exists")
	ErrDuplicateEmail    = errors.New("models: a user with this email already exists")
	ErrSetupTokenInvalid = errors.New("models: setup link is invalid, used or expired")
)

// Store reads and writes Keysmith's data. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	// url is the database URL the store was opened with, kept for LISTEN/NOTIFY connections.
	url string
	now func() time.Time
}

// Open connects to the database named by databaseURL: a postgres:// or postgresql:// URL, or
// else the path of a SQLite file (created if missing). It does not run migrations.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	var (
		dialector gorm.Dialector
		dialect   Dialect
	)
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		dialector, dialect = postgres.Open(databaseURL), DialectPostgres
	} else {
		path := strings.TrimPrefix(databaseURL, "sqlite://")
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		dsn := path + sep + "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		dialector, dialect = sqlite.Open(dsn), DialectSQLite
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
		TranslateError:         true,
	})
	if err != nil {
		return nil, fmt.Errorf("models: open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("models: open %s database: %w", dialect, err)
	}
	if dialect == DialectSQLite {
		// One writer at a time avoids "database is locked" under concurrent writes; readers
		// share the same small pool.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("models: connect to %s database: %w", dialect, err)
	}
	return &Store{db: db, dialect: dialect, url: databaseURL, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Dialect tells which database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// URL returns the database URL the store was opened with.
func (s *Store) URL() string { return s.url }

// Close releases the database connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Migrate applies every pending migration of the store's dialect and returns the versions it
// applied. On PostgreSQL an advisory lock keeps two instances starting together apart.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	gooseDialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == DialectPostgres {
		gooseDialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("models: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	provider, err := goose.NewProvider(gooseDialect, sqlDB, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// SetClock replaces the store's clock; tests use it to move time forward.
func (s *Store) SetClock(now func() time.Time) { s.now = func() time.Time { return now().UTC() } }

// Now is the store's current time in UTC.
func (s *Store) Now() time.Time { return s.now() }

// Exec runs one SQL statement outside the models: test set-up and benchmark seeding.
func (s *Store) Exec(ctx context.Context, statement string, args ...any) error {
	return s.db.WithContext(ctx).Exec(statement, args...).Error
}

// isUniqueViolation tells whether err is a unique-constraint failure on either database.
func isUniqueViolation(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}
