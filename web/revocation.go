package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keysmith/models"
)

const (
	// revocationListenerName is the listening connection's application_name, so operators
	// (and tests) can find it in pg_stat_activity.
	revocationListenerName = "keysmith revocation listener"
	// listenerPingInterval is how long the listener waits for a notification before it checks
	// that its connection is still alive; a silently dropped connection is found this fast.
	listenerPingInterval = 5 * time.Second
	listenerPingTimeout  = 5 * time.Second
	listenerDialTimeout  = 10 * time.Second
	reconnectMinDelay    = 100 * time.Millisecond
	reconnectMaxDelay    = 5 * time.Second
)

// StartRevocationListener makes a deleted key stop working on every instance at once on
// PostgreSQL: Store.DeleteAPIKey announces each deleted key with NOTIFY in its transaction, and
// a goroutine LISTENs on a connection of its own and evicts the keys that any instance
// announces. While that connection
// is down revocations could be missed, so the key cache is emptied and bypassed until the
// listener has reconnected, which it does by itself. It returns once listening; the goroutine
// runs until ctx ends. On SQLite, which serves a single instance, it does nothing.
func (s *Server) StartRevocationListener(ctx context.Context) error {
	if s.store.Dialect() != models.DialectPostgres {
		return nil
	}
	config, err := pgx.ParseConfig(s.store.URL())
	if err != nil {
		return fmt.Errorf("web: revocation listener: %w", err)
	}
	config.RuntimeParams["application_name"] = revocationListenerName
	conn, err := listenForRevocations(ctx, config)
	if err != nil {
		return err
	}
	go s.runRevocationListener(ctx, config, conn)
	return nil
}

// listenForRevocations opens a connection and subscribes it to the revocation channel.
func listenForRevocations(ctx context.Context, config *pgx.ConnConfig) (*pgx.Conn, error) {
	dialCtx, cancel := context.WithTimeout(ctx, listenerDialTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(dialCtx, config)
	if err != nil {
		return nil, fmt.Errorf("web: revocation listener: connect: %w", err)
	}
	if _, err := conn.Exec(dialCtx, "LISTEN "+models.RevocationChannel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("web: revocation listener: listen: %w", err)
	}
	return conn, nil
}

// runRevocationListener evicts announced keys until ctx ends, replacing the connection
// whenever it fails. The cache is trusted only while a connection is listening.
func (s *Server) runRevocationListener(ctx context.Context, config *pgx.ConnConfig, conn *pgx.Conn) {
	// Once nobody listens, nothing cached can be vouched for, even during shutdown.
	defer s.Keys.setTrusted(false)
	for {
		err := s.evictAnnouncedKeys(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), listenerPingTimeout)
		conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.Keys.setTrusted(false)
		s.log.Warn("revocation listener lost its connection; every key is checked against the database until it is back", "error", err)
		conn = s.reconnectRevocationListener(ctx, config)
		if conn == nil {
			return
		}
		s.Keys.setTrusted(true)
		s.log.Info("revocation listener reconnected; key cache in use again")
	}
}

// evictAnnouncedKeys evicts each key announced on conn, and returns when the connection fails
// or ctx ends.
func (s *Server) evictAnnouncedKeys(ctx context.Context, conn *pgx.Conn) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenerPingInterval)
		notification, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			s.Keys.Evict(notification.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, listenerPingTimeout)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// reconnectRevocationListener tries at once, then with growing delays, until it listens
// again; it returns nil when ctx ends first.
func (s *Server) reconnectRevocationListener(ctx context.Context, config *pgx.ConnConfig) *pgx.Conn {
	delay := reconnectMinDelay
	for {
		conn, err := listenForRevocations(ctx, config)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("revocation listener could not reconnect", "error", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectMaxDelay)
	}
}
