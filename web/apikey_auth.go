package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keysmith/models"
	"keysmith/services/keyauth"
)

// presentedSecret reads the secret from X-API-SECRET or an Authorization Bearer header. The
// names are written in canonical form, which Header.Get then uses without allocating.
func presentedSecret(h http.Header) string {
	if secret := h.Get("X-Api-Secret"); secret != "" {
		return strings.TrimSpace(secret)
	}
	auth := h.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// errKeyRequired is the one answer for every refused key, so it tells an attacker nothing.
var errKeyRequired = &APIError{
	Status:  http.StatusUnauthorized,
	Message: "A valid API key is required. Send it as X-API-SECRET: <secret> or Authorization: Bearer <secret>.",
	Header:  http.Header{"Www-Authenticate": {`Bearer realm="keysmith"`}},
}

// staleHeader marks an answer given from memory while the database could not be asked.
var staleHeader = []string{"true"}

// RequireKey authenticates /api/v1 requests by API key and lets through only the given
// scopes: 401 for any refused key, 403 naming the allowed scopes for a key of another scope,
// 503 when the database cannot be asked and the key cannot be vouched for. A key accepted from
// memory during an outage is marked X-Keysmith-Stale: true. The API's body limit applies
// after all that, so that only an admitted request is told its body is too large. The first
// refusal of each key in an hour (expired, disabled, deleted, replaced, wrong scope) is passed
// on to the audit log in the background.
func (s *Server) RequireKey(scopes ...models.Scope) echo.MiddlewareFunc {
	allowed := make([]string, len(scopes))
	for i, scope := range scopes {
		allowed[i] = string(scope)
	}
	bodyLimit := middleware.BodyLimit(apiBodyLimit)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		next = bodyLimit(next)
		return func(c echo.Context) error {
			req := c.Request()
			entry, result, err := s.keys.Check(req.Context(), presentedSecret(req.Header))
			if err == nil && !slices.Contains(scopes, entry.Scope()) {
				result = keyauth.ResultWrongScope
			}
			s.keys.Count(result)
			switch {
			case errors.Is(err, keyauth.ErrKeyRefused):
				if refusal := keyauth.RefusalOf(err); refusal != nil {
					s.keys.NoteRefusal(refusal, result, s.refusedRequest(c))
				}
				return errKeyRequired
			case err != nil:
				return err
			}
			// The use is gathered once the request is handled, so that a scanner's check-in
			// is already attributed to the scanner's name. A request refused for its scope is
			// a use of the key all the same, counted as refused rather than as a request.
			if result == keyauth.ResultWrongScope {
				defer s.keys.RecordRefusedUse(entry, c.RealIP(), req.UserAgent(), s.store.Now())
			} else {
				defer s.keys.RecordUse(entry, c.RealIP(), req.UserAgent(), s.store.Now())
			}
			if result != keyauth.ResultWrongScope {
				if result == keyauth.ResultStale {
					c.Response().Header()["X-Keysmith-Stale"] = staleHeader
				}
				return next(&keyContext{Context: c, entry: entry, stale: result == keyauth.ResultStale})
			}
			s.keys.NoteRefusal(entry.Refused(), result, s.refusedRequest(c))
			return &APIError{
				Status:  http.StatusForbidden,
				Message: "This API key's scope does not allow this request.",
				Fields:  map[string]any{"key_scope": entry.Scope(), "allowed_scopes": allowed},
			}
		}
	}
}

// refusedRequest is the request whose key was refused, as the audit log records it.
func (s *Server) refusedRequest(c echo.Context) keyauth.RefusedRequest {
	req := c.Request()
	return keyauth.RefusedRequest{
		Route: req.Method + " " + c.Path(), At: s.store.Now(),
		Address: c.RealIP(), UserAgent: req.UserAgent(), RequestID: RequestID(c),
	}
}

// CurrentKey returns the API key that authenticated the request, or nil: its id, public id,
// name, scope and expiry.
func CurrentKey(c echo.Context) *models.APIKey {
	if kc, ok := c.(*keyContext); ok {
		return kc.entry.APIKey()
	}
	return nil
}

// CurrentKeySummary returns the public summary of the API key that authenticated the request,
// or nil, and whether the key was accepted from memory while the database could not be asked.
// The summary is shared with other requests: read it, never change it.
func CurrentKeySummary(c echo.Context) (summary *keyauth.Summary, stale bool) {
	if kc, ok := c.(*keyContext); ok {
		return kc.entry.Summary(), kc.stale
	}
	return nil, false
}

// keyContext carries the authenticated key to the handler. It is lighter than the context's
// store, which would make a map on every API request.
type keyContext struct {
	echo.Context
	entry *keyauth.Entry
	stale bool
}
