package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/web"
)

// noStore is shared by every verification answer (never modified, only assigned).
var noStore = []string{"no-store"}

// apiAuthVerify lets a gateway (nginx auth_request, Envoy ext_authz) ask whether a key is
// valid: 200 with the key's id, name and scope as JSON and as headers, or the 401 every
// refused key gets. Gateways call it on every request they pass, so it answers with the
// key's summary, made once per cached key, and writes its headers under their canonical names.
//
// A key accepted from memory while the database cannot be asked is answered with
// "stale": true in the JSON; RequireKey has set X-Keysmith-Stale: true, which nginx can pass on.
func (h *Handler) authVerify(c echo.Context) error {
	summary, stale := web.CurrentKeySummary(c)
	header := c.Response().Header()
	header["X-Keysmith-Key-Id"] = summary.IDHeader()
	header["X-Keysmith-Scope"] = summary.ScopeHeader()
	header["Cache-Control"] = noStore
	if stale {
		return c.JSONBlob(http.StatusOK, summary.StaleJSON())
	}
	return c.JSONBlob(http.StatusOK, summary.JSON)
}
