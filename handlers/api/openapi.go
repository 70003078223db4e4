package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 document of /api/v1. The handler tests check it against
// the routes and every answer they receive, so a route or an answer that changes without it
// fails them.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI document that GET /api/v1/openapi.json serves, for the
// tests that check every answer of the API against it. The caller must not change it.
func OpenAPIDocument() []byte { return openAPIDocument }

// apiOpenAPI answers GET /api/v1/openapi.json with the API's OpenAPI document, without a key,
// for the scripts, scanners and gateways that call the API and the tools that read it.
func (h *Handler) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
