package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// apiKeyShow shows the page of one key: its facts, its requests per day over the last 30 days,
// the clients seen using it, and its actions. An id that names no key, or is no id at all, is
// the 404 page.
func (h *Handler) apiKeyShow(c echo.Context) error {
	return h.renderKeyPage(c, http.StatusOK, nil)
}

// renderKeyPage renders the page of the key the path names with status; edit, when not nil,
// holds a rename or description form that was refused, shown open with its message.
func (h *Handler) renderKeyPage(c echo.Context, status int, edit *views.KeyEdit) error {
	ctx := c.Request().Context()
	// Uses and requests this instance gathered but has not written yet show too.
	if err := h.keys.FlushUsage(ctx); err != nil {
		return err
	}
	key, err := h.store.APIKeyByPublicID(ctx, c.Param("id"))
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return errKeyGone
	}
	if err != nil {
		return err
	}
	now := h.store.Now()
	clients, more, err := h.recentClients(c, key.ID, now)
	if err != nil {
		return err
	}
	usage, err := h.store.APIKeyDailyUses(ctx, key.ID, models.DailyUseDays)
	if err != nil {
		return err
	}
	creators, err := h.creators(c, *key)
	if err != nil {
		return err
	}
	// The proof of the key's last revocation, whoever made it: a disable, a deletion of its
	// previous secret by a rotation, or a grace that ended with no console request to show it.
	// The page shows it settled, as every page without JavaScript does: it waits up to
	// views.RevocationWait for a revocation made just before, and never says "so far".
	var revoked *views.Revocation
	if id, err := h.store.LatestKeyRevocation(ctx, key.ID); err == nil {
		revocation, err := h.awaitRevocation(ctx, id)
		if err != nil && !errors.Is(err, models.ErrRevocationNotFound) {
			return err
		}
		if err == nil {
			revoked = &revocation
		}
	} else if !errors.Is(err, models.ErrRevocationNotFound) {
		return err
	}
	page, err := h.srv.Page(c, key.Name, "api-keys")
	if err != nil {
		return err
	}
	// Only the refused form shows what was sent; the other shows the key as it is.
	keyEdit := views.KeyEdit{Name: key.Name, Description: key.Description}
	if edit != nil {
		keyEdit.Errors = edit.Errors
		if _, refused := edit.Errors["name"]; refused {
			keyEdit.Name = edit.Name
		}
		if _, refused := edit.Errors["description"]; refused {
			keyEdit.Description = edit.Description
		}
	}
	return web.Render(c, status, views.APIKeyPage(page, views.KeyPage{
		Key: *key, Clients: clients, MoreClients: more, Usage: usage, Rotate: h.keyFormView(c, form.APIKey{}),
		LastRevocation: revoked, Creators: creators, Edit: keyEdit, Now: now,
	}))
}
