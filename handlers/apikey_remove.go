package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

const (
	// clientsWindow is how far back the delete warning looks for clients of a key.
	clientsWindow = 30 * 24 * time.Hour
	// confirmByNameWindow: a key used this recently must have its name typed to be deleted.
	confirmByNameWindow = 7 * 24 * time.Hour
	// deleteDialogClients is how many of those clients the delete warning and the key page
	// name; they count the others.
	deleteDialogClients = 20
)

var errKeyGone = echo.NewHTTPError(http.StatusNotFound, "This API key no longer exists. It may have been deleted already.")

// apiKeyRemoveConfirm shows the warning before a delete: in a dialog for HTMX, on a page
// otherwise.
func (h *Handler) apiKeyRemoveConfirm(c echo.Context) error {
	confirm, err := h.loadDeleteKey(c, c.QueryParam("return"))
	if err != nil {
		return err
	}
	return h.renderDelete(c, http.StatusOK, confirm)
}

// apiKeyRemove deletes a key: DELETE from HTMX, which removes the row in place (or, from the
// key's own page, leads to the list), or the POST fallback, which redirects back to the list.
// A recently used key needs its name typed.
func (h *Handler) apiKeyRemove(c echo.Context) error {
	confirm, err := h.loadDeleteKey(c, c.FormValue("return"))
	if err != nil {
		return err
	}
	if typed := c.FormValue("confirm_name"); confirm.RequireName && strings.TrimSpace(typed) != confirm.Key.Name {
		confirm.Errors = models.FieldErrors{"confirm_name": "Type the key’s name exactly as shown to confirm. Nothing was deleted."}
		confirm.TypedName = typed
		return h.renderDelete(c, http.StatusUnprocessableEntity, confirm)
	}
	key, err := h.store.DeleteAPIKey(c.Request().Context(), confirm.Key.PublicID)
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return errKeyGone
	}
	if err != nil {
		return err
	}
	h.log.Info("api key deleted", "key_id", key.PublicID, "user_id", web.CurrentUser(c).ID)
	h.noteRevocation(c, key.ID)
	message := "API key “" + key.Name + "” deleted. Services that used it can no longer connect: " + refusedEverywhere
	if web.IsHTMX(c) && openedOver(c, "/admin/api-keys/"+key.PublicID) {
		// The key's page is gone with it: the browser goes to the list, which says so.
		if err := h.srv.AddFlash(c, message); err != nil {
			return err
		}
		c.Response().Header().Set("HX-Redirect", "/admin/api-keys")
		return c.NoContent(http.StatusOK)
	}
	return h.showListAfter(c, confirm.ReturnTo, message)
}

// showListAfter answers a change made from the list with message: over htmx the list as it was
// shown (returnTo) with the message, otherwise a redirect to it, the message kept for it.
func (h *Handler) showListAfter(c echo.Context, returnTo, message string) error {
	if web.IsHTMX(c) {
		list, err := h.listFor(c, returnTo)
		if err != nil {
			return err
		}
		return web.Render(c, http.StatusOK, views.KeyRemoved(list, message))
	}
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, returnTo)
}

// listFor reloads the list the way the page behind the dialog shows it: the htmx request
// names that page in HX-Current-URL; the no-JavaScript form carries it in "return".
func (h *Handler) listFor(c echo.Context, returnTo string) (views.APIKeyList, error) {
	return h.loadList(c, listParamsFor(c, returnTo))
}

// listParamsFor is the query of the list page behind a dialog or a row: the htmx request
// names that page in HX-Current-URL; otherwise returnTo, a local path, does.
func listParamsFor(c echo.Context, returnTo string) url.Values {
	current, err := url.Parse(c.Request().Header.Get("HX-Current-URL"))
	if err != nil || current.Path != "/admin/api-keys" {
		if current, err = url.Parse(returnTo); err != nil {
			return nil
		}
	}
	return current.Query()
}

func (h *Handler) loadDeleteKey(c echo.Context, returnTo string) (views.DeleteKey, error) {
	ctx := c.Request().Context()
	// Uses this instance gathered but has not written yet count too: a key used a second ago
	// must still have its name typed.
	if err := h.keys.FlushUsage(ctx); err != nil {
		return views.DeleteKey{}, err
	}
	key, err := h.store.APIKeyByPublicID(ctx, c.Param("id"))
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return views.DeleteKey{}, errKeyGone
	}
	if err != nil {
		return views.DeleteKey{}, err
	}
	now := h.store.Now()
	clients, more, err := h.recentClients(c, key.ID, now)
	if err != nil {
		return views.DeleteKey{}, err
	}
	confirm := views.DeleteKey{
		Key:         *key,
		RequireName: key.LastUsedAt != nil && now.Sub(*key.LastUsedAt) < confirmByNameWindow,
		ReturnTo:    web.LocalPath(returnTo, "/admin/api-keys"),
		Now:         now,
	}
	if !strings.HasPrefix(confirm.ReturnTo, "/admin/api-keys") {
		confirm.ReturnTo = "/admin/api-keys"
	}
	confirm.Clients, confirm.MoreClients = clients, more
	return confirm, nil
}

// recentClients returns some of the clients seen using a key in the last 30 days, scanners
// first, and how many more were seen: what the delete warning and the key page name.
func (h *Handler) recentClients(c echo.Context, keyID int64, now time.Time) ([]views.ClientUse, int64, error) {
	list, err := h.store.APIKeyClients(c.Request().Context(), keyID, now.Add(-clientsWindow), deleteDialogClients)
	if err != nil {
		return nil, 0, err
	}
	clients := make([]views.ClientUse, 0, len(list.Clients))
	for _, client := range list.Clients {
		clients = append(clients, views.ClientUse{Name: client.Client, Address: client.IP, Scanner: client.Scanner, LastSeen: client.LastSeenAt})
	}
	return clients, list.Total - int64(len(list.Clients)), nil
}

func (h *Handler) renderDelete(c echo.Context, status int, confirm views.DeleteKey) error {
	return h.renderDialogOrPage(c, status, views.DeleteDialog(confirm, web.CSRFToken(c)), "Delete API key",
		func(p views.Page) templ.Component { return views.DeletePage(p, confirm) })
}
