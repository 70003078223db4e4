package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// keyNoticeListenerName is the listening connection's application_name, so operators (and
	// tests) can find it in pg_stat_activity.
	keyNoticeListenerName = "keysmith revocation listener"
	// KeyNoticePingInterval is how often the listener pings, proving each time that every
	// notice announced before the ping has been delivered (KeyNoticeListener.CaughtUp).
	KeyNoticePingInterval = 250 * time.Millisecond
	// keyNoticePingTimeout is how long a ping may go unanswered before the connection is given
	// up and replaced.
	keyNoticePingTimeout = 2 * time.Second
	// keyNoticeDialTimeout bounds connecting and subscribing; with the reconnection delays it
	// keeps recovery, once the database is back, within a few seconds.
	keyNoticeDialTimeout = 2 * time.Second
	reconnectMinDelay    = 100 * time.Millisecond
	reconnectMaxDelay    = 500 * time.Millisecond
)

// KeyNoticeListener is told what ListenKeyNotices hears, and how far it can be relied on.
type KeyNoticeListener interface {
	// KeyChanged applies a notice from any instance, this one included.
	KeyChanged(KeyNotice)
	// Listening says that every notice announced from since on will be delivered: a
	// connection is subscribed.
	Listening(since time.Time)
	// CaughtUp says that every notice announced before asOf has been delivered.
	CaughtUp(asOf time.Time)
	// Lost says that notices may be missed from now until the next Listening: the connection
	// failed, or could not be made again (err says why). The store keeps reconnecting.
	Lost(err error)
}

// ListenKeyNotices delivers to l every KeyNotice that any instance announces, on a PostgreSQL
// connection of its own that it pings every KeyNoticePingInterval and replaces whenever it
// fails or hangs. It returns once listening (after calling l.Listening), or with the error that
// kept it from listening; a goroutine delivers until ctx ends, and then calls l.Lost. On SQLite,
// which serves a single instance, OnKeyNotice hears that instance's changes, and a goroutine
// delivers the revocations another process (the command line) makes: see pollKeyRevocations.
func (s *Store) ListenKeyNotices(ctx context.Context, l KeyNoticeListener) error {
	if s.dialect != DialectPostgres {
		return s.pollKeyRevocations(ctx, l)
	}
	config, err := pgx.ParseConfig(s.url)
	if err != nil {
		return fmt.Errorf("models: key notices: %w", err)
	}
	config.RuntimeParams["application_name"] = keyNoticeListenerName
	listening := time.Now()
	conn, err := listenKeyNotices(ctx, config)
	if err != nil {
		return err
	}
	l.Listening(listening)
	go runKeyNoticeListener(ctx, config, conn, l)
	return nil
}

// listenKeyNotices opens a connection and subscribes it to KeyNoticeChannel.
func listenKeyNotices(ctx context.Context, config *pgx.ConnConfig) (*pgx.Conn, error) {
	dialCtx, cancel := context.WithTimeout(ctx, keyNoticeDialTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(dialCtx, config)
	if err != nil {
		return nil, fmt.Errorf("models: key notices: connect: %w", err)
	}
	if _, err := conn.Exec(dialCtx, "LISTEN "+KeyNoticeChannel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("models: key notices: listen: %w", err)
	}
	return conn, nil
}

// runKeyNoticeListener delivers notices until ctx ends, replacing the connection whenever it
// fails.
func runKeyNoticeListener(ctx context.Context, config *pgx.ConnConfig, conn *pgx.Conn, l KeyNoticeListener) {
	for {
		err := deliverKeyNotices(ctx, conn, l)
		closeCtx, cancel := context.WithTimeout(context.Background(), keyNoticePingTimeout)
		conn.Close(closeCtx)
		cancel()
		// Once nobody listens, nothing can be relied on, even during shutdown.
		l.Lost(err)
		if ctx.Err() != nil {
			return
		}
		var listening time.Time
		if conn, listening = reconnectKeyNotices(ctx, config, l); conn == nil {
			return
		}
		l.Listening(listening)
	}
}

// deliverKeyNotices delivers each notice announced on conn and pings every
// KeyNoticePingInterval; once the notices that arrived before a ping's answer are delivered,
// it tells l it has caught up to when the ping was sent. It returns when the connection fails
// or ctx ends.
func deliverKeyNotices(ctx context.Context, conn *pgx.Conn, l KeyNoticeListener) error {
	for {
		sent := time.Now()
		pingCtx, cancel := context.WithTimeout(ctx, keyNoticePingTimeout)
		err := conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return err
		}
		// Notices that arrived during the ping wait in the connection's buffer, and
		// WaitForNotification hands those out first: the loop ends, at the next ping's time,
		// only once they are all delivered.
		for {
			waitCtx, cancel := context.WithDeadline(ctx, sent.Add(KeyNoticePingInterval))
			notification, err := conn.WaitForNotification(waitCtx)
			cancel()
			if err == nil {
				var notice KeyNotice
				if json.Unmarshal([]byte(notification.Payload), &notice) == nil {
					l.KeyChanged(notice)
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
		l.CaughtUp(sent)
	}
}

// reconnectKeyNotices tries at once, then with growing delays, until it listens again, and
// returns the connection and when it began listening; nil when ctx ends first. Each failed
// try is told to l.
func reconnectKeyNotices(ctx context.Context, config *pgx.ConnConfig, l KeyNoticeListener) (*pgx.Conn, time.Time) {
	delay := reconnectMinDelay
	for {
		listening := time.Now()
		conn, err := listenKeyNotices(ctx, config)
		if err == nil {
			return conn, listening
		}
		if ctx.Err() != nil {
			return nil, time.Time{}
		}
		l.Lost(fmt.Errorf("%w (trying again in %s)", err, delay))
		select {
		case <-ctx.Done():
			return nil, time.Time{}
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectMaxDelay)
	}
}

// pollKeyRevocations delivers to l, every KeyNoticePingInterval, the changes to keys recorded
// since it started (by changeKey, with their hashes) that this store did not make itself: on
// SQLite no announcement reaches the serving process from another one. Without it the serving
// process would go on accepting a key disabled from the command line (`keysmith keys disable`)
// from its cache, and refusing the new secret of a key rotated there (`keysmith keys rotate`)
// from its index of secret hashes. A failed poll is tried again at the next interval; the
// cache's trust does not depend on it, since this instance's own changes reach it directly.
func (s *Store) pollKeyRevocations(ctx context.Context, l KeyNoticeListener) error {
	var after int64
	if err := s.db.WithContext(ctx).Model(&keyRevocation{}).Select("COALESCE(MAX(id), 0)").Scan(&after).Error; err != nil {
		return fmt.Errorf("models: key notices: %w", err)
	}
	s.pollingRevocations.Store(true)
	go func() {
		ticker := time.NewTicker(KeyNoticePingInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			after = s.deliverRecordedRevocations(ctx, l, after)
		}
	}()
	return nil
}

// revocationPollBatch bounds the revocations one poll reads.
const revocationPollBatch = 1000

// deliverRecordedRevocations delivers the key changes recorded after the one numbered after,
// and returns the number of the last one read.
func (s *Store) deliverRecordedRevocations(ctx context.Context, l KeyNoticeListener, after int64) int64 {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rows []keyRevocation
	err := s.db.WithContext(ctx).Where("id > ?", after).Order("id").Limit(revocationPollBatch).Find(&rows).Error
	if err != nil {
		return after
	}
	for _, row := range rows {
		after = row.ID
		if _, own := s.ownRevocations.LoadAndDelete(row.ID); own {
			continue
		}
		l.KeyChanged(row.notice())
	}
	return after
}
