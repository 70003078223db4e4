package web

import (
	"bytes"
	"fmt"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// outOfBandKey holds, in the request, the components Render adds to an htmx answer.
const outOfBandKey = "web.outOfBand"

// AddOutOfBand adds component to the request's htmx answer, after what Render renders: a part
// of the page elsewhere that the request changed, which the component swaps in out of band
// (hx-swap-oob). An answer to a request that is not htmx's leaves it out.
func AddOutOfBand(c echo.Context, component templ.Component) {
	components, _ := c.Get(outOfBandKey).([]templ.Component)
	c.Set(outOfBandKey, append(components, component))
}

// Render writes a templ component with the given status. It renders into a buffer first, so a
// failing component becomes an error page rather than half a page. An htmx answer also carries
// the components added out of band (AddOutOfBand).
func Render(c echo.Context, status int, component templ.Component) error {
	var buf bytes.Buffer
	if err := component.Render(c.Request().Context(), &buf); err != nil {
		return fmt.Errorf("web: render: %w", err)
	}
	if components, _ := c.Get(outOfBandKey).([]templ.Component); IsHTMX(c) {
		for _, oob := range components {
			if err := oob.Render(c.Request().Context(), &buf); err != nil {
				return fmt.Errorf("web: render: %w", err)
			}
		}
	}
	c.Response().Header().Add("Vary", "HX-Request")
	return c.HTMLBlob(status, buf.Bytes())
}
