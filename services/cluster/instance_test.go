package cluster

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"keysmith/config"
	"keysmith/metrics"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/services/keyauth"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestInstance is this process as an instance of the cluster over store, with a verifier of
// its own, heartbeats every interval.
func newTestInstance(store *models.Store, interval time.Duration) *Instance {
	registry := metrics.New(store)
	keys := keyauth.New(store, discardLog, registry, config.DefaultKeyCacheSize, time.Second, config.DefaultStaleKeysFor)
	return New(store, keys, discardLog, registry, interval)
}

// run does for i what a serving instance does, at address: it listens for key notices,
// registers, writes its heartbeats and acknowledgements until stop, and then deregisters.
func run(t *testing.T, i *Instance, address string) (stop func()) {
	t.Helper()
	listening, stopListening := context.WithCancel(context.Background())
	if err := i.Listen(listening); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := i.Heartbeat(ctx, address); err != nil {
		t.Logf("first heartbeat: %v", err)
	}
	var jobs sync.WaitGroup
	jobs.Go(func() { i.RunHeartbeat(ctx, address) })
	jobs.Go(func() { i.RunAcks(ctx) })
	stop = sync.OnceFunc(func() {
		cancel()
		jobs.Wait()
		deregister, cancelDeregister := context.WithTimeout(context.Background(), time.Second)
		defer cancelDeregister()
		i.Deregister(deregister)
		stopListening()
	})
	t.Cleanup(stop)
	return stop
}

// instanceOf returns what the registry says of the instance, waiting up to within for a
// report that satisfies ok; nil if none did.
func instanceOf(t *testing.T, store *models.Store, id string, within time.Duration, ok func(models.Instance) bool) *models.Instance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		instances, err := store.LiveInstances(context.Background())
		if err != nil && !models.Unavailable(err) {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(instances, func(i models.Instance) bool { return i.ID == id && ok(i) }); i >= 0 {
			return &instances[i]
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func anyReport(models.Instance) bool { return true }

// A serving instance registers before it serves, reports its listener and cache with each
// heartbeat, and deregisters when it stops.
func TestInstanceRegistersReportsAndDeregisters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		i := newTestInstance(store, 20*time.Millisecond)
		const addr = "127.0.0.1:8080"
		stop := run(t, i, addr)
		hostname, _ := os.Hostname()
		registered := instanceOf(t, store, i.ID(), time.Second, anyReport)
		if registered == nil || registered.Address != addr || registered.Hostname != hostname || registered.Version == "" ||
			!registered.StartedAt.Equal(i.startedAt.Truncate(time.Microsecond)) || !registered.LiveUntil.After(store.Now()) {
			t.Fatalf("registered: got %+v, want live at %s on %s", registered, addr, hostname)
		}

		_, secret := modelstest.CreateKey(t, store, "cached", nil)
		if _, err := i.keys.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		wantListener := models.ListenerLocal
		if store.Dialect() == models.DialectPostgres {
			wantListener = models.ListenerListening
		}
		reported := instanceOf(t, store, i.ID(), time.Second, func(i models.Instance) bool {
			return i.CacheEntries == 1 && i.HeartbeatAt.After(registered.HeartbeatAt)
		})
		if reported == nil || reported.ListenerState != wantListener {
			t.Errorf("after a key was cached: got %+v, want a later heartbeat with 1 cached key and listener %s", reported, wantListener)
		}

		stop()
		if gone := instanceOf(t, store, i.ID(), 0, anyReport); gone != nil {
			t.Errorf("after the stop: got %+v, want the instance deregistered", gone)
		}
	})
}

// While the database hangs, the heartbeat fails and is tried again until it is written;
// acknowledgements are queued without ever waiting for it, then written; and the listener's
// state goes from listening to stalled to reconnecting, and back.
func TestHeartbeatAndAcknowledgementsOutliveADatabaseHang(t *testing.T) {
	target := modelstest.Postgres(t, "the heartbeat's fault tests")
	direct := modelstest.Open(t, target)
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := modelstest.NewProxy(t, u.Host)
	store, err := models.OpenWithTimeout(context.Background(), proxy.URL(target.URL), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := newTestInstance(store, 50*time.Millisecond)
	run(t, srv, "127.0.0.1:8080")
	if instanceOf(t, direct, srv.ID(), time.Second, anyReport) == nil {
		t.Fatal("the instance did not register")
	}
	waitForListener := func(want models.ListenerState, within time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(within); srv.listenerState() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("listener state after %v: got %q, want %q", within, srv.listenerState(), want)
			}
		}
	}
	waitForListener(models.ListenerListening, 0)
	key, _ := modelstest.CreateKey(t, direct, "revoked", nil)
	if _, err := direct.DeleteAPIKey(context.Background(), key.PublicID); err != nil {
		t.Fatal(err)
	}
	revocation, err := direct.LatestKeyRevocation(context.Background(), key.ID)
	if err != nil {
		t.Fatal(err)
	}

	proxy.Hang()
	notice := models.KeyNotice{KeyID: key.ID, Hashes: []string{key.SecretHash}, Revoked: true, RevocationID: revocation}
	started := time.Now()
	for range 2 * ackQueueSize {
		srv.acknowledge(notice)
	}
	if took := time.Since(started); took > 100*time.Millisecond {
		t.Errorf("queuing %d acknowledgements with the database hung took %v, want no wait", 2*ackQueueSize, took)
	}
	if srv.acks.dropped.Load() == 0 {
		t.Error("no acknowledgement dropped past the queue's bound")
	}
	deadline := time.Now().Add(2 * time.Second)
	for instanceOf(t, direct, srv.ID(), 0, anyReport) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the instance stayed live with its heartbeats hung")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The lease runs out within a second of the last ping answered; the ping gives up after 2 s.
	waitForListener(models.ListenerStalled, 1500*time.Millisecond)
	waitForListener(models.ListenerReconnecting, 2500*time.Millisecond)

	proxy.Forward()
	if instanceOf(t, direct, srv.ID(), 3*time.Second, func(i models.Instance) bool { return i.ListenerState == models.ListenerListening }) == nil {
		t.Error("the heartbeat was not written again, listening, once the database answered")
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		proof, err := direct.RevocationProof(context.Background(), revocation)
		if err != nil {
			t.Fatal(err)
		}
		if len(proof.Acks) == 1 && proof.Acks[0].InstanceID == srv.ID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acknowledgements after the hang: got %+v, want this instance's", proof.Acks)
		}
	}
}
