package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// apiKeyDisable pauses a key: every instance refuses it from now on, and it keeps its secret
// and history to be enabled again. Disabling a disabled key changes nothing.
func (h *Handler) apiKeyDisable(c echo.Context) error {
	return h.setKeyDisabled(c, true)
}

// apiKeyEnable makes a disabled key work again on every instance. Enabling an enabled key
// changes nothing.
func (h *Handler) apiKeyEnable(c echo.Context) error {
	return h.setKeyDisabled(c, false)
}

// setKeyDisabled disables or enables the key named in the path. With htmx the key's row is
// swapped in place; without JavaScript the browser goes back to the list as it was shown, with
// a notice.
func (h *Handler) setKeyDisabled(c echo.Context, disable bool) error {
	change, done := h.store.EnableAPIKey, "enabled"
	if disable {
		change, done = h.store.DisableAPIKey, "disabled"
	}
	key, changed, err := change(c.Request().Context(), c.Param("id"))
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return errKeyGone
	}
	if err != nil {
		return err
	}
	h.log.Info("api key "+done, "key_id", key.PublicID, "user_id", web.CurrentUser(c).ID, "changed", changed)
	if disable {
		// Enabling revokes nothing: the proof shown would be the last disable's.
		h.noteRevocation(c, key.ID)
	}
	message := disableMessage(key, changed, h.store.Now())
	returnTo := web.LocalPath(c.FormValue("return"), "/admin/api-keys")
	if !strings.HasPrefix(returnTo, "/admin/api-keys") {
		returnTo = "/admin/api-keys"
	}
	if web.IsHTMX(c) {
		list, query := h.listView(c, listParamsFor(c, returnTo))
		list.Page.Page = query.Page
		if list.Creators, err = h.creators(c, *key); err != nil {
			return err
		}
		if list.ExpiringSoon, err = h.store.CountAPIKeysWithStatus(c.Request().Context(), models.StatusExpiresSoon); err != nil {
			return err
		}
		return web.Render(c, http.StatusOK, views.KeyRowUpdated(*key, list, message))
	}
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, returnTo)
}

// refusedEverywhere says how soon a deleted or disabled key is refused: the instance that made
// the change drops it from its cache at once; the others hear of it and do within a second
// (under load, one answered 200 for 48 ms after the change), which the revocation's proof shows.
const refusedEverywhere = "it is refused at once by this instance and by every instance within a second."

// disableMessage tells the administrator what a disable or enable did to the services that use
// the key.
func disableMessage(key *models.APIKey, changed bool, now time.Time) string {
	name := "API key “" + key.Name + "”"
	switch {
	case key.DisabledAt != nil && changed:
		return name + " disabled. Services that use it can no longer connect, until it is enabled again: " + refusedEverywhere
	case key.DisabledAt != nil:
		return name + " was already disabled."
	case !changed:
		return name + " was not disabled: nothing changed."
	case key.Expired(now):
		return name + " enabled, but it has expired: services that use it still cannot connect."
	}
	return name + " enabled. Services that use it can connect again: at once through this instance, through every instance within a second."
}
