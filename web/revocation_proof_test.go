package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/views"
)

// NoteRevocation shows a key's revocation made just now, and nothing for a key revoked long
// ago or never: a handler may call it after any change to a key.
func TestNoteRevocationShowsOnlyARevocationJustMade(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		srv := keyServer(t, store)
		srv.Echo.GET("/note/:key", func(c echo.Context) error {
			keyID, _ := strconv.ParseInt(c.Param("key"), 10, 64)
			srv.NoteRevocation(c, keyID)
			return Render(c, http.StatusOK, templ.Raw("<p>changed</p>"))
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
