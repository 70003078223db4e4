package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestApp builds Keysmith over store with the default configuration, changed by configure.
func newTestApp(t *testing.T, store *models.Store, configure func(*config.Config)) *App {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(&cfg)
	}
	key, err := store.SessionKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg, store, discardLog, [][]byte{key})
}

// serve runs a on a free loopback port until stop, and returns its address once it serves;
// stop waits for Serve to return, and fails the test on its error.
func serve(t *testing.T, a *App) (addr string, stop func()) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, listener) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(stop)
	addr = listener.Addr().String()
	// The instance registers before it serves: once /healthz answers, it is up.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve: /healthz did not answer 200 within 10 s (last error %v)", err)
		}
	}
	return addr, stop
}

// A use gathered just before the stop is written by the stop, as the usage job's final: the
// last write of key uses.
func TestGatheredUsesAreWrittenOnShutdown(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		a := newTestApp(t, store, nil)
		key, secret := modelstest.CreateKey(t, store, "used just before shutdown", nil)
		addr, stop := serve(t, a)
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/auth/verify", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("User-Agent", "deploy-script")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("verify: status %d, want %d", res.StatusCode, http.StatusOK)
		}
		stop()
		stored, err := store.APIKeyByPublicID(context.Background(), key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.LastUsedAt == nil || stored.LastUsedClient != "deploy-script" {
			t.Fatalf("after shutdown: last used at %v by %q, want the use by %q written", stored.LastUsedAt, stored.LastUsedClient, "deploy-script")
		}
	})
}

// The instance registers before it serves, at its listener's address, and deregisters when it
// stops, once its heartbeat has stopped.
func TestServeRegistersAndDeregisters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		a := newTestApp(t, store, func(cfg *config.Config) { cfg.HeartbeatInterval = 20 * time.Millisecond })
		addr, stop := serve(t, a)
		live := func() []models.Instance {
			instances, err := store.LiveInstances(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return instances
		}
		if i := slices.IndexFunc(live(), func(i models.Instance) bool { return i.ID == a.Cluster.ID() }); i < 0 || live()[i].Address != addr {
			t.Fatalf("while serving: got %+v, want this instance live at %s", live(), addr)
		}
		stop()
		if slices.ContainsFunc(live(), func(i models.Instance) bool { return i.ID == a.Cluster.ID() }) {
			t.Errorf("after the stop: got %+v, want this instance deregistered", live())
		}
	})
}

// The table names every background job once, and each job either loops on its own or has an
// interval; those whose last write must not be lost have a final. docs/architecture.md lists
// them all.
func TestJobsTable(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			store := modelstest.Open(t, target)
			a := newTestApp(t, store, func(cfg *config.Config) {
				u, _ := cfg.BaseURL.Parse("http://127.0.0.1:9/hook")
				cfg.WebhookURL, cfg.WebhookSecret = u, []byte("0123456789abcdefghijklmnopqrstuvwxyz")
			})
			seen := map[string]bool{}
			finals := map[string]bool{}
			for _, j := range a.jobs("127.0.0.1:8080") {
				if seen[j.name] {
					t.Errorf("job %q twice", j.name)
				}
				seen[j.name] = true
				if j.run == nil || (j.every == 0 && j.atStart) {
					t.Errorf("job %q: no run, or at start with no interval", j.name)
				}
				finals[j.name] = j.final != nil
			}
			for _, name := range []string{"write key uses", "record api key refusals in the audit log", "heartbeat", "record summaries of refused console requests"} {
				if !finals[name] {
					t.Errorf("job %q: got no final, want its last write at the stop", name)
				}
			}
			// The architecture page's table of jobs names each one.
			page, err := os.ReadFile(filepath.Join("..", "docs", "architecture.md"))
			if err != nil {
				t.Fatal(err)
			}
			for name := range seen {
				if !strings.Contains(string(page), "\n| "+name+" |") {
					t.Errorf("job %q: not in the jobs table of docs/architecture.md", name)
				}
			}
			for name, want := range map[string]bool{"send webhook events": true, "check the audit feed": target.Name == "postgres"} {
				if seen[name] != want {
					t.Errorf("job %q: present %t, want %t", name, seen[name], want)
				}
			}
		})
	}
}
