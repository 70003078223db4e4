package handlers

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// defaultGrace is the grace the rotate form preselects, wherever it is opened from: the
// current secret works until the services that use it have moved to the new one.
const defaultGrace = models.GraceUntilUnused

// apiKeyRotateForm shows the rotate form: in a dialog for HTMX, on its own page otherwise. A
// user who may not give the key's scope is refused (403, recorded as authz.denied).
func (h *Handler) apiKeyRotateForm(c echo.Context) error {
	form, err := h.loadRotateKey(c, form.Rotation{Grace: string(defaultGrace), Return: c.QueryParam("return")})
	if err != nil {
		return err
	}
	if form.ScopesRefused[form.Key.Scope] != "" {
		return h.refuseRotation(c, form.Key.Scope)
	}
	return h.renderRotate(c, http.StatusOK, form)
}

// apiKeyRotate gives the key a new secret, the one it replaces working on for the chosen grace.
// Invalid input re-renders the form with a message beside each wrong field and changes nothing.
// A user who may not give the key's scope is refused (403, recorded as authz.denied). A form
// whose secret another rotation replaced since it was opened changes nothing either: 409, with
// who rotated the key and when, so that nobody replaces unawares a secret just handed out.
// Success shows the new secret once, as creation does: over HTMX in the modal, with the list
// behind it refreshed when the form was opened over the list; without JavaScript on a page.
func (h *Handler) apiKeyRotate(c echo.Context) error {
	var input form.Rotation
	if err := c.Bind(&input); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	view, err := h.loadRotateKey(c, input)
	if err != nil {
		return err
	}
	if view.ScopesRefused[view.Key.Scope] != "" {
		return h.refuseRotation(c, view.Key.Scope)
	}
	if view.Renew {
		// An expired key's secret works no more: a grace would keep nothing working, whatever
		// was sent.
		input.Grace = string(models.GraceNone)
	}
	rotation, err := input.Validate(h.expiryPolicy(), h.store.Now())
	if err != nil {
		view.Errors = models.FieldErrorsOf(err)
		return h.renderRotate(c, http.StatusUnprocessableEntity, view)
	}
	rotation.Minter = h.minter(c)
	key, secret, err := h.store.RotateAPIKey(c.Request().Context(), view.Key.PublicID, rotation)
	var meanwhile *models.RotatedMeanwhile
	switch {
	case errors.Is(err, models.ErrAPIKeyNotFound):
		return errKeyGone
	case errors.Is(err, models.ErrScopeAboveMinter):
		// The key's scope changed since the form was read.
		return h.refuseRotation(c, view.Key.Scope)
	case errors.As(err, &meanwhile):
		h.log.Info("api key rotation refused: rotated meanwhile", "key_id", meanwhile.Key.PublicID, "user_id", web.CurrentUser(c).ID)
		return h.renderRotatedMeanwhile(c, views.RotatedMeanwhile{
			Key: meanwhile.Key, By: meanwhile.By, At: meanwhile.At, ReturnTo: view.ReturnTo, Now: h.store.Now(),
		})
	case err != nil:
		return err
	}
	h.log.Info("api key rotated", "key_id", key.PublicID, "grace", string(rotation.Grace), "user_id", web.CurrentUser(c).ID)
	if key.Previous.SecretHash == nil || view.Key.Previous.SecretHash != nil {
		// A secret stopped working at once (no grace, or an older grace ended): the console
		// proves it as it does a delete's.
		h.noteRevocation(c, key.ID)
	}
	// The secret is in this response only: never stored by the browser or a proxy.
	c.Response().Header().Set("Cache-Control", "no-store")
	rotated := views.CreatedKey{Key: *key, Secret: secret, Rotated: true, Now: h.store.Now(), BaseURL: h.cfg.BaseURL.String()}
	if web.IsHTMX(c) {
		if !openedOverList(c) {
			rotated.ReloadOnClose = openedOver(c, "/admin/api-keys/"+key.PublicID)
			return web.Render(c, http.StatusOK, views.SecretDialog(rotated))
		}
		list, err := h.listFor(c, view.ReturnTo)
		if err != nil {
			return err
		}
		return web.Render(c, http.StatusOK, views.SecretDialogWithList(rotated, list))
	}
	return h.renderSecretPage(c, "API key rotated", rotated)
}

// openedOverList tells whether an htmx request comes from the list page, whose list region
// then changes with the key.
func openedOverList(c echo.Context) bool {
	return openedOver(c, "/admin/api-keys")
}

// openedOver tells whether an htmx request comes from the page at path.
func openedOver(c echo.Context, path string) bool {
	current, err := url.Parse(c.Request().Header.Get("HX-Current-URL"))
	return err == nil && current.Path == path
}

// loadRotateKey reads the key named in the path and fills the form with what was sent.
func (h *Handler) loadRotateKey(c echo.Context, input form.Rotation) (views.RotateKey, error) {
	key, err := h.store.APIKeyByPublicID(c.Request().Context(), c.Param("id"))
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return views.RotateKey{}, errKeyGone
	}
	if err != nil {
		return views.RotateKey{}, err
	}
	view := views.RotateKey{
		APIKeyForm: views.APIKeyForm{Errors: models.FieldErrors{}, ScopesRefused: h.scopesRefused(c)},
		Key:        *key,
		Grace:      input.Grace,
		Renew:      key.Expired(h.store.Now()),
		// What the form was opened to replace, kept through a form sent back for correction.
		Replaces: cmp.Or(input.Replaces, key.Hint),
		ReturnTo: web.LocalPath(input.Return, "/admin/api-keys"),
		Now:      h.store.Now(),
	}
	if !strings.HasPrefix(view.ReturnTo, "/admin/api-keys") {
		view.ReturnTo = "/admin/api-keys"
	}
	h.fillExpiry(&view.APIKeyForm, input.ExpiresIn, input.ExpiresAt)
	return view, nil
}

// refuseRotation records and answers (403) a rotation of a key whose scope the signed-in user
// may not give: a new secret of it would outrank them.
func (h *Handler) refuseRotation(c echo.Context, scope models.Scope) error {
	if err := h.srv.AuditDenial(c, models.DeniedPermission, scopeRefusalDetail("rotating", scope)); err != nil {
		return err
	}
	return echo.NewHTTPError(http.StatusForbidden, scopeAboveMinter)
}

// renderRotatedMeanwhile answers, with 409, a rotation that another came before: in the
// dialog's place over HTMX, on a page otherwise.
func (h *Handler) renderRotatedMeanwhile(c echo.Context, answer views.RotatedMeanwhile) error {
	return h.renderDialogOrPage(c, http.StatusConflict, views.RotatedMeanwhileDialog(answer), "API key rotated meanwhile",
		func(p views.Page) templ.Component { return views.RotatedMeanwhilePage(p, answer) })
}

func (h *Handler) renderRotate(c echo.Context, status int, view views.RotateKey) error {
	title := "Rotate API key"
	if view.Renew {
		title = "Renew API key"
	}
	return h.renderDialogOrPage(c, status, views.RotateDialog(view, web.CSRFToken(c)), title,
		func(p views.Page) templ.Component { return views.RotatePage(p, view) })
}
