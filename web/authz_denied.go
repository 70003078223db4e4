package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
)

// AuditDenial records that the console refused this request (authz.denied): its route, the
// path asked for, why (models.DeniedPermission, DeniedGuardRail or DeniedCSRF) and a short
// remark, by the actor the request carries (the signed-in user, or a visitor at an address).
// The store bounds the events per actor and hour and sums up the rest, so no one fills the log.
// The caller gives the refusal's answer itself; an error here is the database's, and answers
// instead (503 when it cannot be reached): the refusal stands either way.
func (s *Server) AuditDenial(c echo.Context, reason, detail string) error {
	denial := models.Denial{Route: route(c), Path: c.Request().URL.Path, Reason: reason, Detail: detail}
	if err := s.store.RecordDenial(c.Request().Context(), denial); err != nil {
		return fmt.Errorf("web: record refusal: %w", err)
	}
	return nil
}

// route names the request's route as registered, with its method: "POST /admin/users/:id/permission".
// A method outside HTTP's usual ones is named OTHER, and a path no route matches "(none)", so
// that the names are few whatever clients send.
func route(c echo.Context) string {
	method := c.Request().Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	path := c.Path()
	if path == "" {
		path = "(none)"
	}
	return method + " " + path
}
