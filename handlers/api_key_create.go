package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// expiryPresets are the "Expires after" durations the form offers, in days.
var expiryPresets = []int{7, 30, 90, 180, 365}

// defaultExpiryDays preselects 180 days, or the longest preset the policy allows.
const defaultExpiryDays = 180

// lastExpiryDate is the latest custom date: a key works through it, up to models.LatestExpiry.
var lastExpiryDate = models.LatestExpiry.AddDate(0, 0, -1).Format(time.DateOnly)

// apiKeyForm is the New API Key form as sent, before validation.
type apiKeyForm struct {
	Name      string `form:"name"`
	Scope     string `form:"scope"`
	ExpiresIn string `form:"expires_in"`
	ExpiresAt string `form:"expires_at"`
}

// apiKeyNew shows the New API Key form: in a dialog for HTMX, on its own page otherwise.
func (h *Handler) apiKeyNew(c echo.Context) error {
	form := h.newForm(apiKeyForm{})
	return h.renderForm(c, http.StatusOK, form)
}

// apiKeyCreate validates the form and creates the key. Invalid input re-renders the form with
// a message beside each wrong field and stores nothing. Success shows the secret once; over
// HTMX the list behind the dialog is refreshed in the same response.
func (h *Handler) apiKeyCreate(c echo.Context) error {
	var input apiKeyForm
	if err := c.Bind(&input); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	form := h.newForm(input)
	newKey, ok, err := h.validate(c, &form)
	if err != nil {
		return err
	}
	if !ok {
		return h.renderForm(c, http.StatusUnprocessableEntity, form)
	}
	key, secret, err := h.store.CreateAPIKey(c.Request().Context(), newKey)
	if errors.Is(err, models.ErrDuplicateName) {
		// Another administrator took the name since the form was checked.
		holder, err := h.store.APIKeyNameTakenBy(c.Request().Context(), newKey.Name)
		if err != nil {
			return err
		}
		if holder == "" {
			holder = newKey.Name
		}
		form.Errors["name"] = duplicateNameMessage(holder)
		return h.renderForm(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	h.log.Info("api key created", "key_id", key.PublicID, "scope", key.Scope, "user_id", web.CurrentUser(c).ID)
	// The secret is in this response only: never stored by the browser or a proxy.
	c.Response().Header().Set("Cache-Control", "no-store")
	created := views.CreatedKey{Key: *key, Secret: secret}
	if web.IsHTMX(c) {
		list, err := h.loadList(c, nil)
		if err != nil {
			return err
		}
		return web.Render(c, http.StatusOK, views.SecretDialogWithList(created, list))
	}
	page, err := h.srv.Page(c, "API key created", "api-keys")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.SecretPage(page, created))
}

// duplicateNameMessage names the existing key, which may be spelled differently from what was
// typed ("Straße" for "STRASSE").
func duplicateNameMessage(existing string) string {
	return fmt.Sprintf("An API key named “%s” already exists (names are compared ignoring case and letter width). Choose another name.", existing)
}

// newForm fills the form's choices from the lifetime policy and its defaults.
func (h *Handler) newForm(input apiKeyForm) views.APIKeyForm {
	maxDays := int(h.cfg.MaxKeyLifetime / (24 * time.Hour))
	form := views.APIKeyForm{
		Name:      input.Name,
		Scope:     input.Scope,
		ExpiresIn: input.ExpiresIn,
		ExpiresAt: input.ExpiresAt,
		Errors:    map[string]string{},
		MinDate:   h.store.Now().AddDate(0, 0, 1).Format(time.DateOnly),
		MaxDate:   lastExpiryDate,
	}
	defaultChoice := ""
	for _, days := range expiryPresets {
		if h.cfg.MaxKeyLifetime > 0 && time.Duration(days)*24*time.Hour > h.cfg.MaxKeyLifetime {
			continue
		}
		value := fmt.Sprintf("%dd", days)
		form.Choices = append(form.Choices, views.ExpiryChoice{Value: value, Label: fmt.Sprintf("%d days", days)})
		if days <= defaultExpiryDays {
			defaultChoice = value
		}
	}
	form.Choices = append(form.Choices, views.ExpiryChoice{Value: "custom", Label: "Custom date"})
	if h.cfg.MaxKeyLifetime == 0 {
		form.Choices = append(form.Choices, views.ExpiryChoice{Value: "never", Label: "Never"})
	} else {
		form.MaxLifetimeDays = maxDays
		form.MaxDate = h.store.Now().Add(h.cfg.MaxKeyLifetime).Format(time.DateOnly)
	}
	if defaultChoice == "" {
		defaultChoice = "custom"
	}
	if form.ExpiresIn == "" {
		form.ExpiresIn = defaultChoice
	}
	return form
}

// validate checks every field, putting a message beside each wrong one, and returns the key
// to create when all are right.
func (h *Handler) validate(c echo.Context, form *views.APIKeyForm) (models.NewAPIKey, bool, error) {
	now := h.store.Now()
	name, err := models.CleanAPIKeyName(form.Name)
	var fieldErr *models.FieldError
	switch {
	case strings.TrimSpace(form.Name) == "":
		form.Errors["name"] = "Enter a name for the key."
	case errors.As(err, &fieldErr):
		form.Errors["name"] = "The name " + fieldErr.Message + "."
	default:
		holder, err := h.store.APIKeyNameTakenBy(c.Request().Context(), name)
		if err != nil {
			return models.NewAPIKey{}, false, err
		}
		if holder != "" {
			form.Errors["name"] = duplicateNameMessage(holder)
		}
	}
	scope, ok := models.ParseScope(form.Scope)
	if !ok {
		form.Errors["scope"] = "Choose a permission scope."
	}
	var expiresAt *time.Time
	switch form.ExpiresIn {
	case "never":
		if h.cfg.MaxKeyLifetime > 0 {
			form.Errors["expires_in"] = fmt.Sprintf("Your organisation’s policy requires every key to expire within %d days.", form.MaxLifetimeDays)
		}
	case "custom":
		date, err := time.Parse(time.DateOnly, strings.TrimSpace(form.ExpiresAt))
		switch {
		case strings.TrimSpace(form.ExpiresAt) == "":
			form.Errors["expires_at"] = "Enter the date the key expires."
		case err != nil:
			form.Errors["expires_at"] = "Enter the date as YYYY-MM-DD."
		case !date.After(now):
			form.Errors["expires_at"] = "Choose a date in the future."
		case h.cfg.MaxKeyLifetime > 0 && date.Format(time.DateOnly) > form.MaxDate:
			form.Errors["expires_at"] = fmt.Sprintf("Choose a date no later than %s: your organisation’s policy limits keys to %d days.", form.MaxDate, form.MaxLifetimeDays)
		case date.Format(time.DateOnly) > form.MaxDate:
			form.Errors["expires_at"] = fmt.Sprintf("Choose a date no later than %s.", form.MaxDate)
		default:
			// The key works through the whole chosen day (UTC), within the policy's limit.
			endOfDay := date.AddDate(0, 0, 1)
			if h.cfg.MaxKeyLifetime > 0 && endOfDay.Sub(now) > h.cfg.MaxKeyLifetime {
				endOfDay = now.Add(h.cfg.MaxKeyLifetime)
			}
			expiresAt = &endOfDay
		}
	default:
		valid := false
		for _, choice := range form.Choices {
			if choice.Value == form.ExpiresIn && choice.Value != "custom" && choice.Value != "never" {
				valid = true
			}
		}
		if !valid {
			form.Errors["expires_in"] = "Choose when the key expires."
			break
		}
		var days int
		fmt.Sscanf(form.ExpiresIn, "%dd", &days)
		at := now.AddDate(0, 0, days)
		expiresAt = &at
	}
	if len(form.Errors) > 0 {
		return models.NewAPIKey{}, false, nil
	}
	userID := web.CurrentUser(c).ID
	return models.NewAPIKey{Name: name, Scope: scope, ExpiresAt: expiresAt, CreatedByID: &userID}, true, nil
}

func (h *Handler) renderForm(c echo.Context, status int, form views.APIKeyForm) error {
	return h.renderDialogOrPage(c, status, views.NewAPIKeyDialog(form, web.CSRFToken(c)), "New API Key",
		func(p views.Page) templ.Component { return views.NewAPIKeyPage(p, form) })
}
