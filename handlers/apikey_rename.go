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

// apiKeyRename gives the key in the path a new name, under the rules of creation
// (form.KeyRename.Validate, then the other keys' names). A refused name shows the key page
// again (422) with the message beside the field and changes nothing; success goes back to the
// key page with a notice. The key keeps working: every instance reads it again, and its
// verification answers the new name.
func (h *Handler) apiKeyRename(c echo.Context) error {
	var input form.KeyRename
	if err := c.Bind(&input); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	name, err := input.Validate()
	if err != nil {
		return h.renderKeyPage(c, http.StatusUnprocessableEntity, &views.KeyEdit{Name: input.Name, Errors: models.FieldErrorsOf(err)})
	}
	key, previous, changed, err := h.store.RenameAPIKey(c.Request().Context(), c.Param("id"), name)
	if errors.Is(err, models.ErrDuplicateName) {
		message, err := h.nameTakenMessage(c, name)
		if err != nil {
			return err
		}
		return h.renderKeyPage(c, http.StatusUnprocessableEntity, &views.KeyEdit{Name: input.Name, Errors: models.FieldErrors{"name": message}})
	}
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return errKeyGone
	}
	if err != nil {
		return err
	}
	message := "API key “" + key.Name + "” already has that name: nothing changed."
	if changed {
		h.log.Info("api key renamed", "key_id", key.PublicID, "user_id", web.CurrentUser(c).ID)
		message = "API key “" + previous + "” renamed “" + key.Name + "”. Services that use it are not affected."
	}
	return h.backToKeyPage(c, key, message)
}

// apiKeyDescribe sets the description of the key in the path (form.KeyDescription.Validate);
// an empty one removes it. A refused description shows the key page again (422) with the
// message beside the field and changes nothing.
func (h *Handler) apiKeyDescribe(c echo.Context) error {
	var input form.KeyDescription
	if err := c.Bind(&input); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	description, err := input.Validate()
	if err != nil {
		return h.renderKeyPage(c, http.StatusUnprocessableEntity, &views.KeyEdit{Description: input.Description, Errors: models.FieldErrorsOf(err)})
	}
	key, changed, err := h.store.SetAPIKeyDescription(c.Request().Context(), c.Param("id"), description)
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return errKeyGone
	}
	if err != nil {
		return err
	}
	message := "The description of API key “" + key.Name + "” is unchanged."
	switch {
	case changed && description == "":
		message = "The description of API key “" + key.Name + "” was removed."
	case changed:
		message = "The description of API key “" + key.Name + "” was saved."
	}
	return h.backToKeyPage(c, key, message)
}

// backToKeyPage answers a successful edit from the key page: the page again, with message.
func (h *Handler) backToKeyPage(c echo.Context, key *models.APIKey, message string) error {
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/api-keys/"+key.PublicID)
}
