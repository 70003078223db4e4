// Package models holds Keysmith's data: the GORM models, the Store that reads and writes them
// on PostgreSQL or SQLite, and the versioned migrations of both.
package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
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
	// ErrSetupDone refuses every setup link once a user exists: setup creates the first.
	ErrSetupDone = errors.New("models: setup is already done")
)

// Store reads and writes Keysmith's data. It is safe for concurrent use. Every call it makes to
// the database has a deadline: its caller's, or the store's timeout, whichever comes first.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	// url is the database URL the store was opened with, kept for LISTEN/NOTIFY connections.
	url     string
	timeout time.Duration
	// clock is the store's time; tests replace it (SetClock) while the server's goroutines
	// read it.
	clock atomic.Pointer[func() time.Time]
	// hashes bounds the memory of the password checks made at sign-in.
	hashes atomic.Pointer[passwordHashes]
	// signInAudit bounds the audit events of refused sign-ins per client address and minute.
	signInAudit signInAudit
	// denialAudit bounds the audit events of refused console requests per actor and hour.
	denialAudit denialAudit
	// notices are told of this store's changes to keys (OnKeyNotice).
	notices keyNotices
	// pollingRevocations is set on SQLite once the store polls for revocations made by other
	// processes; ownRevocations holds the ids of those it made itself until the poll skips them.
	pollingRevocations atomic.Bool
	ownRevocations     sync.Map
	// auditKey links the audit events this store records (UseAuditKey); nil links them with
	// SHA-256.
	auditKey atomic.Pointer[auditKey]
	// webhooks tells whether changes to keys queue webhook events (EnableWebhookEvents).
	webhooks atomic.Bool
	// statements counts the SQL statements the store has sent (Statements).
	statements atomic.Int64
	// looseFiles are the SQLite files that other local users could read when it was opened.
	looseFiles []LooseFile
	// expiryScan is how far QueueExpiryEvents has looked; one scan runs at a time.
	expiryScan struct {
		sync.Mutex
		until time.Time
	}
}

// DefaultTimeout bounds each database call of a store opened with Open.
const DefaultTimeout = 5 * time.Second

// sqliteConnections is the SQLite pool's size: a few readers beside the one writer.
const sqliteConnections = 4

// postgresConnections is the PostgreSQL pool's size. Warm opens them all before an instance
// serves.
const postgresConnections = 20

// migrationTimeout bounds applying every pending migration, which may wait for another
// instance's migrations and build indexes over large tables.
const migrationTimeout = 5 * time.Minute

// Open connects to the database named by databaseURL with DefaultTimeout; see OpenWithTimeout.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	return OpenWithTimeout(ctx, databaseURL, DefaultTimeout)
}

// OpenWithTimeout connects to the database named by databaseURL: a postgres:// or
// postgresql:// URL, or else the path of a SQLite file (created if missing, with mode 0600;
// LooseFiles lists those that others could read). Connecting, and
// every later call that its caller gives no earlier deadline, waits at most timeout, so a
// database that hangs cannot hold a request or a stop for longer. It does not run migrations.
func OpenWithTimeout(ctx context.Context, databaseURL string, timeout time.Duration) (*Store, error) {
	var (
		dialector gorm.Dialector
		dialect   Dialect
		file      string
	)
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		dialect = DialectPostgres
		config, err := pgx.ParseConfig(databaseURL)
		if err != nil {
			return nil, fmt.Errorf("models: open %s database: %w", dialect, err)
		}
		if config.ConnectTimeout == 0 || config.ConnectTimeout > timeout {
			config.ConnectTimeout = timeout
		}
		dialector = postgres.New(postgres.Config{Conn: stdlib.OpenDB(*config)})
	} else {
		path := strings.TrimPrefix(databaseURL, "sqlite://")
		if file = sqliteFile(path); file != "" {
			if err := createPrivate(file); err != nil {
				return nil, fmt.Errorf("models: create sqlite database: %w", err)
			}
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		dsn := path + sep + "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=temp_store(memory)&_txlock=immediate"
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
		// In WAL mode readers do not wait for the writer, so a key lookup is not held up by a
		// batch of uses being written. Writers take turns: every transaction begins IMMEDIATE
		// and waits out the busy timeout.
		sqlDB.SetMaxOpenConns(sqliteConnections)
		sqlDB.SetMaxIdleConns(sqliteConnections)
	} else {
		sqlDB.SetMaxOpenConns(postgresConnections)
		sqlDB.SetMaxIdleConns(postgresConnections)
	}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("models: connect to %s database: %w", dialect, err)
	}
	s := &Store{db: db, dialect: dialect, url: databaseURL, timeout: timeout}
	if err := s.countStatements(); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("models: open %s database: %w", dialect, err)
	}
	if file != "" {
		s.looseFiles = looseFiles(file)
	}
	s.SetClock(time.Now)
	s.hashes.Store(defaultPasswordHashes())
	return s, nil
}

// countStatements counts every statement the store sends through GORM, which every method
// but the revocation listener's own connection uses.
func (s *Store) countStatements() error {
	count := func(*gorm.DB) { s.statements.Add(1) }
	callbacks := s.db.Callback()
	for _, register := range []func(string, func(*gorm.DB)) error{
		callbacks.Create().Register, callbacks.Query().Register, callbacks.Update().Register,
		callbacks.Delete().Register, callbacks.Row().Register, callbacks.Raw().Register,
	} {
		if err := register("keysmith:count_statements", count); err != nil {
			return err
		}
	}
	return nil
}

// Statements is how many SQL statements the store has sent since it was opened: the metrics
// show it, and the benchmarks and tests read it to show what a request cost the database.
func (s *Store) Statements() int64 { return s.statements.Load() }

// bound gives ctx the store's deadline unless it has an earlier one. Every method that calls
// the database starts with it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Pool returns the connection pool, for its statistics.
func (s *Store) Pool() *sql.DB {
	sqlDB, _ := s.db.DB()
	return sqlDB
}

// Warm opens the pool's connections, one after another, and leaves them idle in the pool,
// which keeps them. A serving instance calls it before it listens: otherwise its first burst
// of keys not yet cached opens every connection at once, and on a busy PostgreSQL, where each
// one is a new server process, the last of them can take longer than a verification's
// deadline (measured on two cores under wrk: 20 opened together took 470 ms, against 20 ms for
// one). On error the connections opened so far stay in the pool.
func (s *Store) Warm(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pool := s.Pool()
	conns := make([]*sql.Conn, 0, pool.Stats().MaxOpenConnections)
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for range cap(conns) {
		// Each call takes an idle connection while there is one, and opens one after that.
		conn, err := pool.Conn(ctx)
		if err != nil {
			return fmt.Errorf("models: warm the database pool: %d of %d connections open: %w", len(conns), cap(conns), err)
		}
		conns = append(conns, conn)
	}
	return nil
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// A ping on a pooled connection proves little: ask the database a question.
	return s.db.WithContext(ctx).Exec("SELECT 1").Error
}

// Migrate applies every pending migration of the store's dialect and returns the versions it
// applied. On PostgreSQL an advisory lock keeps two instances starting together apart, and a
// role that owns the audit log takes from every other role what no role but the owner may do
// to it (restrictAuditPrivileges).
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, migrationTimeout)
	defer cancel()
	provider, err := s.migrations()
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
	if err := s.backfillNameFolds(ctx); err != nil {
		return applied, fmt.Errorf("models: migrate: fold api key names: %w", err)
	}
	if err := s.restrictAuditPrivileges(ctx); err != nil {
		return applied, fmt.Errorf("models: migrate: restrict the audit log's privileges: %w", err)
	}
	return applied, nil
}

// migrations is the goose provider of the store's dialect.
func (s *Store) migrations() (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	gooseDialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == DialectPostgres {
		gooseDialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(gooseDialect, sqlDB, dir, opts...)
}

// SetClock replaces the store's clock; tests use it to move time forward.
func (s *Store) SetClock(now func() time.Time) {
	utc := func() time.Time { return now().UTC() }
	s.clock.Store(&utc)
}

// now is the store's time, in UTC.
func (s *Store) now() time.Time { return (*s.clock.Load())() }

// Now is the store's current time in UTC.
func (s *Store) Now() time.Time { return s.now() }

// Exec runs one SQL statement outside the models: test set-up and benchmark seeding.
func (s *Store) Exec(ctx context.Context, statement string, args ...any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
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

// ErrUnavailable marks an error as the database's absence rather than an answer: it cannot be
// reached, hangs past the deadline, or refuses work for now. Callers answer 503 and retry.
var ErrUnavailable = errors.New("models: database unavailable")

// Unavailable tells whether err means the database could not be asked, rather than that it
// answered: a connection refused, reset or closed, a deadline passed (a transaction it ended
// then reports itself done), a server shutting down or out of connections, or SQLite busy past
// its timeout. A query that failed for what it
// asked (a constraint, bad input) is not unavailability.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 53: insufficient resources; 57P01-57P05: the server
		// is shutting down, starting or gone; 57014: a statement cancelled at its deadline.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") ||
			strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "57014"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) {
		return true
	}
	// SQLite answers "database is locked" (SQLITE_BUSY) when a writer held it past the busy
	// timeout.
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}

// isInsufficientPrivilege tells whether err is PostgreSQL refusing the role a privilege.
func isInsufficientPrivilege(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

// SQLiteAuditKeyFile returns where the audit key of an SQLite database is kept when no key
// is given: beside the database, keysmith.db.audit-key for keysmith.db. It returns "" for an
// in-memory database or a PostgreSQL URL.
func SQLiteAuditKeyFile(databaseURL string) string {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		return ""
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(databaseURL, "sqlite://"), "?")
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return ""
	}
	return strings.TrimPrefix(path, "file:") + ".audit-key"
}
