package cluster

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

// Listen makes a change to a key (deleted, created) take effect on every
// instance at once on PostgreSQL: each store operation that changes a key announces it, and
// this instance applies what any instance announces (models.Store.ListenKeyNotices). The key
// cache, and the memory of unknown keys with it, is trusted only on a lease that the listener
// renews every models.KeyNoticePingInterval: if the connection hangs, the lease runs out
// within a second and the cache is bypassed; if it fails, the cache is emptied and bypassed
// until the listener has reconnected, which it does by itself. It returns once listening. On
// SQLite, which serves a single instance, it polls for the changes other processes record:
// the store tells this instance of its own (keyauth.New subscribes the verifier with
// models.Store.OnKeyNotice).
//
// Every instance acknowledges each revocation it applies, for the console's proof of
// revocation: on PostgreSQL as its listener hears it, so that the acknowledgement proves the
// listener works; on SQLite as the store tells it of its own changes.
func (i *Instance) Listen(ctx context.Context) error {
	if i.store.Dialect() != models.DialectPostgres {
		i.setListenerState(models.ListenerLocal)
		i.store.OnKeyNotice(i.acknowledge)
	}
	return i.store.ListenKeyNotices(ctx, &revocationListener{i: i})
}

// revocationListener applies what the store's listener hears to the key verifier, and logs
// what an operator should know.
type revocationListener struct {
	i *Instance
	// lost is set while notices may be missed, so that the log says when they no longer are.
	lost bool
}

func (l *revocationListener) KeyChanged(notice models.KeyNotice) {
	l.i.keys.Apply(notice)
	if notice.Revoked && !notice.NothingEnded {
		l.i.revocations.Inc()
		l.i.acknowledge(notice)
	}
}

func (l *revocationListener) Listening(since time.Time) {
	l.i.keys.RestoreTrust(since.Add(cacheLease))
	l.i.setListenerState(models.ListenerListening)
	if l.lost {
		l.lost = false
		l.i.log.Info("revocation listener reconnected; key cache in use again")
	}
}

func (l *revocationListener) CaughtUp(asOf time.Time) {
	l.i.keys.VouchUntil(asOf.Add(cacheLease))
}

func (l *revocationListener) Lost(err error) {
	l.i.keys.Distrust()
	if errors.Is(err, context.Canceled) {
		l.i.setListenerState(models.ListenerStopped)
		return
	}
	l.i.setListenerState(models.ListenerReconnecting)
	if !l.lost {
		l.lost = true
		l.i.log.Warn("revocation listener lost its connection; every key is checked against the database until it is back", "error", err)
		return
	}
	l.i.log.Warn("revocation listener could not reconnect", "error", err)
}
