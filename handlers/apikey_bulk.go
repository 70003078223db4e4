package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// apiKeyBulk disables or deletes the keys ticked in the list (form.BulkKeys). The first POST
// shows the confirmation, naming every key and the clients that will stop; the confirmed POST,
// with the number of keys typed when any was used in the last 7 days, changes each key through
// the same store operation as its row's action, so each is audited, revoked and announced on
// its own. An id that names no key refuses the whole request before anything changes.
func (h *Handler) apiKeyBulk(c echo.Context) error {
	var input form.BulkKeys
	if err := c.Bind(&input); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	ids, err := input.Validate()
	if err != nil {
		return err
	}
	confirm, err := h.loadBulkKeys(c, input.Action, ids, input.Return)
	if err != nil {
		return err
	}
	if input.Confirmed != "yes" {
		return h.renderBulk(c, http.StatusOK, confirm)
	}
	if confirm.RequireCount && strings.TrimSpace(input.ConfirmCount) != confirm.Count() {
		confirm.Errors = models.FieldErrors{"confirm_count": "Type the number of keys, " + confirm.Count() + ", to confirm. Nothing was changed."}
		confirm.TypedCount = input.ConfirmCount
		return h.renderBulk(c, http.StatusUnprocessableEntity, confirm)
	}
	message, err := h.applyBulk(c, confirm)
	if err != nil {
		return err
	}
	return h.showListAfter(c, confirm.ReturnTo, message)
}

// loadBulkKeys reads the keys with these public ids and the clients seen using each, as the
// delete warning does for one key, or answers 404 naming the ids that match no key.
func (h *Handler) loadBulkKeys(c echo.Context, action string, ids []string, returnTo string) (views.BulkKeys, error) {
	ctx := c.Request().Context()
	// Uses gathered here but not yet written count too, as for one delete.
	if err := h.keys.FlushUsage(ctx); err != nil {
		return views.BulkKeys{}, err
	}
	now := h.store.Now()
	confirm := views.BulkKeys{Action: action, ReturnTo: web.LocalPath(returnTo, "/admin/api-keys"), Now: now}
	if !strings.HasPrefix(confirm.ReturnTo, "/admin/api-keys") {
		confirm.ReturnTo = "/admin/api-keys"
	}
	var unknown []string
	for _, id := range ids {
		key, err := h.store.APIKeyByPublicID(ctx, id)
		if errors.Is(err, models.ErrAPIKeyNotFound) {
			unknown = append(unknown, id)
			continue
		}
		if err != nil {
			return views.BulkKeys{}, err
		}
		clients, more, err := h.recentClients(c, key.ID, now)
		if err != nil {
			return views.BulkKeys{}, err
		}
		recent := key.LastUsedAt != nil && now.Sub(*key.LastUsedAt) < confirmByNameWindow
		confirm.RequireCount = confirm.RequireCount || recent
		confirm.Keys = append(confirm.Keys, views.DeleteKey{Key: *key, Clients: clients, MoreClients: more, RequireName: recent, Now: now})
	}
	if len(unknown) > 0 {
		return views.BulkKeys{}, echo.NewHTTPError(http.StatusNotFound,
			"No API key has the id "+strings.Join(unknown, ", ")+": it may have been deleted already. Nothing was changed.")
	}
	return confirm, nil
}

// applyBulk changes each key of the confirmation, one store operation per key as from its row,
// and says what was done. A key deleted meanwhile by someone else is counted, not an error.
// The proof of revocation shown after is the last key's.
func (h *Handler) applyBulk(c echo.Context, confirm views.BulkKeys) (string, error) {
	ctx := c.Request().Context()
	var changed, unchanged, gone int
	var last *models.APIKey
	for _, d := range confirm.Keys {
		var key *models.APIKey
		var err error
		keyChanged := true
		if confirm.Action == form.BulkDelete {
			key, err = h.store.DeleteAPIKey(ctx, d.Key.PublicID)
		} else {
			key, keyChanged, err = h.store.DisableAPIKey(ctx, d.Key.PublicID)
		}
		if errors.Is(err, models.ErrAPIKeyNotFound) {
			gone++
			continue
		}
		if err != nil {
			return "", err
		}
		h.log.Info("api key "+confirm.Action+"d", "key_id", key.PublicID, "user_id", web.CurrentUser(c).ID, "changed", keyChanged, "bulk", true)
		if keyChanged {
			changed++
			last = key
		} else {
			unchanged++
		}
	}
	if last != nil {
		h.noteRevocation(c, last.ID)
	}
	n := int64(changed)
	message := strconv.Itoa(changed) + " " + views.PluralWord(n, "API key", "API keys") + " " + confirm.Action + "d."
	if changed > 0 {
		message += " Services that used " + views.PluralWord(n, "it", "them") + " can no longer connect: each is refused at once by this instance and by every instance within a second."
	}
	if unchanged > 0 {
		message += " " + strconv.Itoa(unchanged) + " " + views.PluralWord(int64(unchanged), "was", "were") + " already disabled."
	}
	if gone > 0 {
		message += " " + strconv.Itoa(gone) + " " + views.PluralWord(int64(gone), "was", "were") + " deleted meanwhile by someone else."
	}
	return message, nil
}

func (h *Handler) renderBulk(c echo.Context, status int, confirm views.BulkKeys) error {
	return h.renderDialogOrPage(c, status, views.BulkDialog(confirm, web.CSRFToken(c)), confirm.Verb()+" API keys",
		func(p views.Page) templ.Component { return views.BulkPage(p, confirm) })
}
