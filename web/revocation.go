package web

import (
	"context"
	"errors"
	"time"

	"keysmith/models"
)

// cacheLease is how long the listener's proof that it has caught up (a ping answered after
// every notice announced before it was delivered) vouches for the key cache. If the connection
// hangs or drops silently, the lease runs out and the cache is bypassed, so a deleted key is
// refused within cacheLease of its deletion whatever happens to the connection.
const cacheLease = time.Second

// StartRevocationListener makes a change to a key (deleted, created) take effect on every
// instance at once on PostgreSQL: each store operation that changes a key announces it, and
// this instance applies what any instance announces (models.Store.ListenKeyNotices). The key
// cache, and the memory of unknown keys with it, is trusted only on a lease that the listener
// renews every models.KeyNoticePingInterval: if the connection hangs, the lease runs out
// within a second and the cache is bypassed; if it fails, the cache is emptied and bypassed
// until the listener has reconnected, which it does by itself. It returns once listening. On
// SQLite, which serves a single instance, it does nothing: the store tells this instance of
// its own changes (New subscribes the verifier with models.Store.OnKeyNotice).
//
// Every instance acknowledges each revocation it applies, for the console's proof of
// revocation: on PostgreSQL as its listener hears it, so that the acknowledgement proves the
// listener works; on SQLite as the store tells it of its own changes.
func (s *Server) StartRevocationListener(ctx context.Context) error {
	if s.store.Dialect() != models.DialectPostgres {
		s.setListenerState(models.ListenerLocal)
		s.store.OnKeyNotice(s.acknowledge)
	}
	return s.store.ListenKeyNotices(ctx, &revocationListener{s: s})
}

// revocationListener applies what the store's listener hears to the key verifier, and logs
// what an operator should know.
type revocationListener struct {
	s *Server
	// lost is set while notices may be missed, so that the log says when they no longer are.
	lost bool
}

func (l *revocationListener) KeyChanged(notice models.KeyNotice) {
	l.s.Keys.Apply(notice)
	if notice.Revoked && !notice.NothingEnded {
		l.s.Metrics.revocations.Inc()
		l.s.acknowledge(notice)
	}
}

func (l *revocationListener) Listening(since time.Time) {
	l.s.Keys.RestoreTrust(since.Add(cacheLease))
	l.s.setListenerState(models.ListenerListening)
	if l.lost {
		l.lost = false
		l.s.log.Info("revocation listener reconnected; key cache in use again")
	}
}

func (l *revocationListener) CaughtUp(asOf time.Time) {
	l.s.Keys.VouchUntil(asOf.Add(cacheLease))
}

func (l *revocationListener) Lost(err error) {
	l.s.Keys.Distrust()
	if errors.Is(err, context.Canceled) {
		l.s.setListenerState(models.ListenerStopped)
		return
	}
	l.s.setListenerState(models.ListenerReconnecting)
	if !l.lost {
		l.lost = true
		l.s.log.Warn("revocation listener lost its connection; every key is checked against the database until it is back", "error", err)
		return
	}
	l.s.log.Warn("revocation listener could not reconnect", "error", err)
}
