package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// Header values shared by every verification answer (never modified, only assigned).
var (
	noStore      = []string{"no-store"}
	scopeHeaders = func() map[models.Scope][]string {
		values := make(map[models.Scope][]string, len(models.Scopes))
		for _, scope := range models.Scopes {
			values[scope] = []string{string(scope)}
		}
		return values
	}()
)

// apiAuthVerify lets a gateway (nginx auth_request, Envoy ext_authz) ask whether a key is
// valid: 200 with the key's id, name and scope as JSON and as headers, or the 401 every
// refused key gets. Gateways call it on every request they pass, so it writes its headers
// under their canonical names and builds its small body by hand.
func (h *Handler) apiAuthVerify(c echo.Context) error {
	key := web.CurrentKey(c)
	// {"id":…,"name":…,"scope":…}: the public id (base62) and the scope (a fixed name) need
	// no escaping; only the name, which an administrator typed, goes through the encoder.
	name, err := json.Marshal(key.Name)
	if err != nil {
		return err
	}
	body := make([]byte, 0, 48+len(key.PublicID)+len(name)+len(key.Scope))
	body = append(body, `{"id":"`...)
	body = append(body, key.PublicID...)
	body = append(body, `","name":`...)
	body = append(body, name...)
	body = append(body, `,"scope":"`...)
	body = append(body, key.Scope...)
	body = append(body, `"}`...)
	header := c.Response().Header()
	header["X-Keysmith-Key-Id"] = []string{key.PublicID}
	header["X-Keysmith-Scope"] = scopeHeaders[key.Scope]
	header["Cache-Control"] = noStore
	return c.JSONBlob(http.StatusOK, body)
}
