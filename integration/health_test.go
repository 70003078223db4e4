package integration

import (
	"net/http"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models/modelstest"
)

func TestHealth(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			c := app.Client(t)
			wantStatus(t, c.Get("/healthz"), http.StatusOK)
			wantStatus(t, c.Get("/readyz"), http.StatusOK)
			app.Store.Close()
			wantStatus(t, c.Get("/healthz"), http.StatusOK)
			wantStatus(t, c.Get("/readyz"), http.StatusServiceUnavailable)
		})
	}
}
