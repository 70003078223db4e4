package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/config"
	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// apiKeyNew shows the New API Key form: in a dialog for HTMX, on its own page otherwise.
func (h *Handler) apiKeyNew(c echo.Context) error {
	form := h.keyFormView(c, form.APIKey{})
	return h.renderForm(c, http.StatusOK, form)
}

// apiKeyCreate validates the form (form.APIKey.Validate, then the name against the other keys)
// and creates the key. Invalid input re-renders the form with
// a message beside each wrong field and stores nothing; a scope the user may not give is such
// a field, and its refusal is recorded (authz.denied). Success shows the secret once; over
// HTMX the list behind the dialog is refreshed in the same response, as it was shown (its
// search, filters, sort and page), so the search box and the next search agree with it.
func (h *Handler) apiKeyCreate(c echo.Context) error {
	var input form.APIKey
	if err := c.Bind(&input); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	view := h.keyFormView(c, input)
	newKey, err := input.Validate(h.expiryPolicy(), h.store.Now(), view.ScopesRefused)
	maps.Copy(view.Errors, models.FieldErrorsOf(err))
	if newKey.Name != "" {
		holder, err := h.store.APIKeyNameTakenBy(c.Request().Context(), newKey.Name)
		if err != nil {
			return err
		}
		if holder != "" {
			view.Errors["name"] = duplicateNameMessage(holder)
		}
	}
	if scope := models.Scope(view.Scope); view.ScopesRefused[scope] != "" {
		if err := h.srv.AuditDenial(c, models.DeniedPermission, scopeRefusalDetail("creating", scope)); err != nil {
			return err
		}
	}
	if len(view.Errors) > 0 {
		return h.renderForm(c, http.StatusUnprocessableEntity, view)
	}
	userID := web.CurrentUser(c).ID
	newKey.CreatedByID, newKey.Minter = &userID, h.minter(c)
	key, secret, err := h.store.CreateAPIKey(c.Request().Context(), newKey)
	if errors.Is(err, models.ErrDuplicateName) {
		// Another administrator took the name since the form was checked.
		message, err := h.nameTakenMessage(c, newKey.Name)
		if err != nil {
			return err
		}
		view.Errors["name"] = message
		return h.renderForm(c, http.StatusUnprocessableEntity, view)
	}
	if err != nil {
		return err
	}
	h.log.Info("api key created", "key_id", key.PublicID, "scope", key.Scope, "user_id", web.CurrentUser(c).ID)
	// The secret is in this response only: never stored by the browser or a proxy.
	c.Response().Header().Set("Cache-Control", "no-store")
	created := views.CreatedKey{Key: *key, Secret: secret, BaseURL: h.cfg.BaseURL.String()}
	if web.IsHTMX(c) {
		list, err := h.listFor(c, "")
		if err != nil {
			return err
		}
		return web.Render(c, http.StatusOK, views.SecretDialogWithList(created, list))
	}
	return h.renderSecretPage(c, "API key created", created)
}

// renderSecretPage answers a create or a rotation without JavaScript with the secret on a page,
// and keeps for the next page the notice that the dialog leaves when it closes.
func (h *Handler) renderSecretPage(c echo.Context, title string, created views.CreatedKey) error {
	page, err := h.srv.Page(c, title, "api-keys")
	if err != nil {
		return err
	}
	if err := h.srv.AddFlash(c, created.Done()); err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.SecretPage(page, created))
}

// duplicateNameMessage names the existing key, which may be spelled differently from what was
// typed ("Straße" for "STRASSE").
func duplicateNameMessage(existing string) string {
	return fmt.Sprintf("An API key named “%s” already exists (names are compared ignoring case and letter width). Choose another name.", existing)
}

// nameTakenMessage is the message beside the name field when the store refused name as
// another key's (models.ErrDuplicateName): that key's name as it is spelled, or name when it
// was deleted or renamed since.
func (h *Handler) nameTakenMessage(c echo.Context, name string) (string, error) {
	holder, err := h.store.APIKeyNameTakenBy(c.Request().Context(), name)
	if err != nil {
		return "", err
	}
	return duplicateNameMessage(cmp.Or(holder, name)), nil
}

// keyFormView is the New API Key form to show for input: it fills the form's choices from the lifetime policy and its defaults, and from the
// scopes the signed-in user may give.
func (h *Handler) keyFormView(c echo.Context, input form.APIKey) views.APIKeyForm {
	view := views.APIKeyForm{Name: input.Name, Description: input.Description, Scope: input.Scope, Errors: models.FieldErrors{}, ScopesRefused: h.scopesRefused(c)}
	h.fillExpiry(&view, input.ExpiresIn, input.ExpiresAt)
	return view
}

// scopeAboveMinter is why a key administrator who is not a Super admin may not create or rotate
// an Admin key (KEYSMITH_ADMIN_KEYS_BY=super-admins).
const scopeAboveMinter = "Only a Super admin can create or rotate an Admin key: it can read every user and the whole audit log."

// minter is the signed-in user as the giver of keys' scopes, under KEYSMITH_ADMIN_KEYS_BY: the
// store checks what it may give (models.Minter.MayGive), and the console offers no more.
func (h *Handler) minter(c echo.Context) *models.Minter {
	return &models.Minter{Permission: web.CurrentUser(c).Permission, KeyAdminsMayGiveAdmin: h.cfg.AdminKeysBy == config.AdminKeysByKeyAdmins}
}

// scopesRefused are the scopes the signed-in user may not give a key, each with why, for the
// views to offer them disabled; nil when they may give every scope.
func (h *Handler) scopesRefused(c echo.Context) map[models.Scope]string {
	minter := h.minter(c)
	var refused map[models.Scope]string
	for _, scope := range models.Scopes {
		if minter.MayGive(scope) != nil {
			if refused == nil {
				refused = map[models.Scope]string{}
			}
			refused[scope] = scopeAboveMinter
		}
	}
	return refused
}

// scopeRefusalDetail is the authz.denied detail of a request to give a key a scope its minter
// may not give: "rotating an admin key needs super-admin".
func scopeRefusalDetail(doing string, scope models.Scope) string {
	return doing + " an " + string(scope) + " key needs super-admin (KEYSMITH_ADMIN_KEYS_BY=" + config.AdminKeysBySuperAdmins + ")"
}

// expiryPolicy is the lifetime policy every new secret is given its expiry under.
func (h *Handler) expiryPolicy() models.ExpiryPolicy {
	return models.ExpiryPolicy{MaxLifetime: h.cfg.MaxKeyLifetime}
}

// fillExpiry sets the form's expiry fields: what was chosen (the policy's default when
// nothing was) and the choices the policy allows.
func (h *Handler) fillExpiry(form *views.APIKeyForm, expiresIn, expiresAt string) {
	policy := h.expiryPolicy()
	now := h.store.Now()
	form.ExpiresIn, form.ExpiresAt = expiresIn, expiresAt
	form.MinDate = now.AddDate(0, 0, 1).Format(time.DateOnly)
	form.MaxDate = policy.LastDate(now)
	form.MaxLifetimeDays = policy.MaxLifetimeDays()
	for _, days := range policy.PresetDays() {
		form.Choices = append(form.Choices, views.ExpiryChoice{Value: fmt.Sprintf("%dd", days), Label: fmt.Sprintf("%d days", days),
			Line: views.ExpiresOnLine(now.AddDate(0, 0, days))})
	}
	form.Choices = append(form.Choices, views.ExpiryChoice{Value: models.ExpiryCustom, Label: "Custom date", Line: views.CustomDateHint})
	if policy.MaxLifetime == 0 {
		form.Choices = append(form.Choices, views.ExpiryChoice{Value: models.ExpiryNever, Label: "Never", Line: views.NeverExpiresLine})
	}
	if form.ExpiresIn == "" {
		form.ExpiresIn = policy.DefaultChoice()
	}
}

func (h *Handler) renderForm(c echo.Context, status int, view views.APIKeyForm) error {
	return h.renderDialogOrPage(c, status, views.NewAPIKeyDialog(view, web.CSRFToken(c)), "New API Key",
		func(p views.Page) templ.Component { return views.NewAPIKeyPage(p, view) })
}
