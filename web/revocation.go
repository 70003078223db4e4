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
	// cacheLease is how long an answered ping vouches for the key cache. Each ping proves that
	// every revocation announced before it was sent has arrived; if the connection hangs or
	// drops silently, the lease runs out and the cache is bypassed, so a deleted key is refused
	// within cacheLease of its deletion whatever happens to the connection.
	cacheLease = time.Second
	// listenerPingInterval is how often the listener pings to renew the lease, well within it.
	listenerPingInterval = 250 * time.Millisecond
	// listenerPingTimeout is how long a ping may go unanswered before the connection is given
	// up and replaced (the lease has run out by then).
	listenerPingTimeout = 2 * time.Second
	// listenerDialTimeout bounds connecting and subscribing; with the reconnection delays it
	// keeps recovery, once the database is back, within a few seconds.
	listenerDialTimeout = 2 * time.Second
	reconnectMinDelay   = 100 * time.Millisecond
	reconnectMaxDelay   = 500 * time.Millisecond
)

// StartRevocationListener makes a deleted key stop working on every instance at once on
// PostgreSQL: Store.DeleteAPIKey announces each deleted key with NOTIFY in its transaction, and
// a goroutine LISTENs on a connection of its own and evicts the keys that any instance
// announces. It hears the keys that Store.CreateAPIKey announces the same way, and forgets
// that their secrets were unknown, so that a new key works at once on every instance. The key
// cache, and the memory of unknown keys with it, is trusted only on a lease that the listener renews with a ping
// every 250 ms: if the connection hangs, the lease runs out within a second and the cache is
// bypassed; if it fails, the cache is emptied and bypassed until the listener has reconnected,
// which it does by itself. It returns once listening; the goroutine runs until ctx ends. On
// SQLite, which serves a single instance, it does nothing.
func (s *Server) StartRevocationListener(ctx context.Context) error {
	if s.store.Dialect() != models.DialectPostgres {
		return nil
	}
	config, err := pgx.ParseConfig(s.store.URL())
	if err != nil {
		return fmt.Errorf("web: revocation listener: %w", err)
	}
	config.RuntimeParams["application_name"] = revocationListenerName
	listening := time.Now()
	conn, err := listenForRevocations(ctx, config)
	if err != nil {
		return err
	}
	s.Keys.restoreTrust(listening.Add(cacheLease))
	go s.runRevocationListener(ctx, config, conn)
	return nil
}

// listenForRevocations opens a connection and subscribes it to the revocation and activation
// channels.
func listenForRevocations(ctx context.Context, config *pgx.ConnConfig) (*pgx.Conn, error) {
	dialCtx, cancel := context.WithTimeout(ctx, listenerDialTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(dialCtx, config)
	if err != nil {
		return nil, fmt.Errorf("web: revocation listener: connect: %w", err)
	}
	for _, channel := range []string{models.RevocationChannel, models.ActivationChannel} {
		if _, err := conn.Exec(dialCtx, "LISTEN "+channel); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("web: revocation listener: listen: %w", err)
		}
	}
	return conn, nil
}

// runRevocationListener evicts announced keys until ctx ends, replacing the connection
// whenever it fails. The cache is trusted only while a connection is listening.
func (s *Server) runRevocationListener(ctx context.Context, config *pgx.ConnConfig, conn *pgx.Conn) {
	// Once nobody listens, nothing cached can be vouched for, even during shutdown.
	defer s.Keys.distrust()
	for {
		err := s.evictAnnouncedKeys(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), listenerPingTimeout)
		conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.Keys.distrust()
		s.log.Warn("revocation listener lost its connection; every key is checked against the database until it is back", "error", err)
		var listening time.Time
		conn, listening = s.reconnectRevocationListener(ctx, config)
		if conn == nil {
			return
		}
		s.Keys.restoreTrust(listening.Add(cacheLease))
		s.log.Info("revocation listener reconnected; key cache in use again")
	}
}

// evictAnnouncedKeys applies each key announced on conn (evicts a revoked one, forgets that an
// activated one was unknown) and renews the cache's lease: it pings every
// listenerPingInterval, and once the announcements that arrived before the answer are
// applied, the cache is vouched for until cacheLease after the ping was sent. It returns when
// the connection fails or ctx ends.
func (s *Server) evictAnnouncedKeys(ctx context.Context, conn *pgx.Conn) error {
	for {
		sent := time.Now()
		pingCtx, cancel := context.WithTimeout(ctx, listenerPingTimeout)
		err := conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return err
		}
		// Announcements that arrived during the ping wait in the connection's buffer, and
		// WaitForNotification hands those out first: the loop ends, at the next ping's time,
		// only once they are all applied.
		for {
			waitCtx, cancel := context.WithDeadline(ctx, sent.Add(listenerPingInterval))
			notification, err := conn.WaitForNotification(waitCtx)
			cancel()
			if err == nil {
				if notification.Channel == models.ActivationChannel {
					s.Keys.ForgetUnknown(notification.Payload)
				} else {
					s.Keys.Evict(notification.Payload)
					s.Metrics.revocations.Inc()
				}
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			break
		}
		s.Keys.vouchUntil(sent.Add(cacheLease))
	}
}

// reconnectRevocationListener tries at once, then with growing delays, until it listens
// again, and returns the connection and when it began listening; nil when ctx ends first.
func (s *Server) reconnectRevocationListener(ctx context.Context, config *pgx.ConnConfig) (*pgx.Conn, time.Time) {
	delay := reconnectMinDelay
	for {
		listening := time.Now()
		conn, err := listenForRevocations(ctx, config)
		if err == nil {
			return conn, listening
		}
		if ctx.Err() != nil {
			return nil, time.Time{}
		}
		s.log.Warn("revocation listener could not reconnect", "error", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return nil, time.Time{}
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectMaxDelay)
	}
}
