package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// keyServer is the web platform with one route behind RequireKey, the way handlers registers
// the catalog API.
func keyServer(t *testing.T, store *models.Store, addr string) *Server {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		cfg.Addr = addr
	}
	sessionKey, err := store.SessionKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := New(cfg, store, discardLog, [][]byte{sessionKey})
	srv.Echo.GET("/api/v1/ping", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, srv.RequireKey(models.ScopeReadOnly))
	return srv
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestGatheredUsesAreWrittenOnShutdown(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		addr := freeAddr(t)
		srv := keyServer(t, store, addr)
		key, secret := modelstest.CreateKey(t, store, "used just before shutdown", nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- srv.Start(ctx) }()

		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/ping", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("User-Agent", "deploy-script")
		var res *http.Response
		for attempt := 0; ; attempt++ {
			res, err = http.DefaultClient.Do(req)
			if err == nil {
				break
			}
			if attempt == 200 {
				t.Fatalf("server never answered: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("ping: status %d, want %d", res.StatusCode, http.StatusNoContent)
		}
		cancel()
		if err := <-stopped; err != nil {
			t.Fatalf("Start: %v", err)
		}
		stored, err := store.APIKeyByPublicID(context.Background(), key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.LastUsedAt == nil || stored.LastUsedClient != "deploy-script" {
			t.Fatalf("after shutdown: last used at %v by %q, want the use by %q written", stored.LastUsedAt, stored.LastUsedClient, "deploy-script")
		}
	})
}
