package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/config"
	"keysmith/metrics"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/services/cluster"
	"keysmith/services/keyauth"
	"keysmith/views"
	"keysmith/web"
)

// noteRevocation shows a key's revocation made just now, and nothing for a key revoked long
// ago or never: a handler may call it after any change to a key.
func TestNoteRevocationShowsOnlyARevocationJustMade(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		h := newTestHandler(t, store)
		srv := h.srv
		srv.Echo.GET("/note/:key", func(c echo.Context) error {
			keyID, _ := strconv.ParseInt(c.Param("key"), 10, 64)
			h.noteRevocation(c, keyID)
			return web.Render(c, http.StatusOK, templ.Raw("<p>changed</p>"))
		})
		shown := func(keyID int64) bool {
			t.Helper()
			req := httptest.NewRequest(http.MethodGet, "/note/"+strconv.FormatInt(keyID, 10), nil)
			req.Header.Set("HX-Request", "true")
			rec := httptest.NewRecorder()
			srv.Echo.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "changed") {
				t.Fatalf("status %d, body %q, want 200 and the handler's answer", rec.Code, rec.Body.String())
			}
			return strings.Contains(rec.Body.String(), `data-testid="revocation-proof"`)
		}

		revoked, _ := modelstest.CreateKey(t, store, "revoked", nil)
		if _, err := store.DeleteAPIKey(context.Background(), revoked.PublicID); err != nil {
			t.Fatal(err)
		}
		never, _ := modelstest.CreateKey(t, store, "never revoked", nil)
		for _, c := range []struct {
			name  string
			after time.Duration
			keyID int64
			want  bool
		}{
			{"revoked just now", 0, revoked.ID, true},
			{"revoked within the wait", views.RevocationWait, revoked.ID, true},
			{"revoked before it", views.RevocationWait + time.Millisecond, revoked.ID, false},
			{"never revoked", 0, never.ID, false},
		} {
			now = revoked.CreatedAt.Add(c.after)
			if got := shown(c.keyID); got != c.want {
				t.Errorf("%s: proof shown %v, want %v", c.name, got, c.want)
			}
		}
	})
}

// newTestHandler returns the console's handlers over store, with the services and the web
// server they use, as app.New builds them, without their routes.
func newTestHandler(t *testing.T, store *models.Store) *Handler {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sessionKey, err := store.SessionKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	registry := metrics.New(store)
	keys := keyauth.New(store, log, registry, config.DefaultKeyCacheSize, time.Second, config.DefaultStaleKeysFor)
	srv := web.New(cfg, store, log, [][]byte{sessionKey}, registry, keys)
	return New(store, srv, keys, cluster.New(store, keys, log, registry, cfg.HeartbeatInterval), cfg, log)
}
