package web

import (
	"bytes"
	"fmt"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/views"
)

// Render writes a templ component with the given status. It renders into a buffer first, so a
// failing component becomes an error page rather than half a page. An htmx answer also carries,
// out of band, the proof of a revocation the request noted (Server.NoteRevocation).
func Render(c echo.Context, status int, component templ.Component) error {
	var buf bytes.Buffer
	if err := component.Render(c.Request().Context(), &buf); err != nil {
		return fmt.Errorf("web: render: %w", err)
	}
	if revocation, ok := c.Get(revocationContextKey).(views.Revocation); ok && IsHTMX(c) {
		if err := views.RevocationProofOOB(revocation).Render(c.Request().Context(), &buf); err != nil {
			return fmt.Errorf("web: render: %w", err)
		}
	}
	c.Response().Header().Add("Vary", "HX-Request")
	return c.HTMLBlob(status, buf.Bytes())
}
