package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// userJSON is a console user as the API shows it. It is built field by field so that the
// password hash can never be added by accident.
type userJSON struct {
	ID         int64     `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Permission string    `json:"permission"`
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
}

// apiUserList answers GET /api/v1/users with every console user, by name.
func (h *Handler) userList(c echo.Context) error {
	users, err := h.store.Users(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Permission: string(u.Permission), Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC()}
	}
	return c.JSON(http.StatusOK, map[string]any{"users": out})
}
