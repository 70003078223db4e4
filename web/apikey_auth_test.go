package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/config"
	"keysmith/metrics"
	"keysmith/models"
	"keysmith/services/keyauth"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// keyServer is the web platform with one route behind RequireKey, the way handlers registers
// the catalog API.
func keyServer(t *testing.T, store *models.Store) *Server {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sessionKey, err := store.SessionKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	registry := metrics.New(store)
	keys := keyauth.New(store, discardLog, registry, config.DefaultKeyCacheSize, time.Second, config.DefaultStaleKeysFor)
	srv := New(cfg, store, discardLog, [][]byte{sessionKey}, registry, keys)
	srv.Echo.GET("/api/v1/ping", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, srv.RequireKey(models.ScopeReadOnly))
	return srv
}
