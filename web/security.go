package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
)

const (
	nonceKey     = "csp_nonce"
	csrfTokenKey = "csrf_token"
	// CSRFField is the form field that carries the CSRF token.
	CSRFField = "_csrf"
	// CSRFHeader is the header HTMX requests carry the CSRF token in.
	CSRFHeader = "X-CSRF-Token"
)

// browserlessHeaders are the protective headers of responses no browser renders as a page
// (JSON, health checks, static files): fixed values, set without canonicalising names, with
// no nonce to make.
var browserlessHeaders = map[string][]string{
	"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
	"X-Frame-Options":         {"DENY"},
	"X-Content-Type-Options":  {"nosniff"},
}

// securityHeaders sets the protective headers on every response: for pages, a nonce-based
// Content-Security-Policy and the rest; for everything else, the fixed browserlessHeaders.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		if s.cfg.Secure() {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if isBrowserless(c) {
			for name, value := range browserlessHeaders {
				h[name] = value
			}
			return next(c)
		}
		raw := make([]byte, 18)
		rand.Read(raw)
		nonce := base64.RawStdEncoding.EncodeToString(raw)
		c.Set(nonceKey, nonce)
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"' 'strict-dynamic'; "+
			"style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; "+
			"frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), clipboard-write=(self)")
		return next(c)
	}
}

// csrf protects every state-changing browser request with a token bound to the browser that
// was given it: an HMAC under the server's key over the signed-in session's server-side id,
// or, before sign-in, over a random seed kept in a strict HttpOnly cookie. A seed and token
// issued to another browser are worthless beside this browser's session, and a planted seed
// is worthless without the key. The token is read from the X-CSRF-Token header or the _csrf
// field of the body, never from the URL, which logs, history and Referer headers keep.
// Requests a browser marks as cross-site are refused outright. Every refusal is recorded in the
// audit log (authz.denied, reason csrf). API routes authenticate with
// keys, not cookies, and are exempt, as are health checks and static files, which change
// nothing.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isBrowserless(c) {
			return next(c)
		}
		var seed string
		if cookie, err := c.Cookie(s.csrfCookieName()); err == nil && len(cookie.Value) == csrfSeedLength {
			seed = cookie.Value
		} else {
			seed = s.newCSRFSeed(c)
		}
		var sessionID string
		if CurrentUser(c) != nil {
			sessionID = currentSession(c).ID
		}
		token := s.csrfToken(sessionID, seed)
		c.Set(csrfTokenKey, token)
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
			return s.refuseCSRF(c, "sent from another site")
		}
		sent := c.Request().Header.Get(CSRFHeader)
		if sent == "" {
			// The body only (urlencoded or multipart): PostFormValue ignores the query string.
			sent = c.Request().PostFormValue(CSRFField)
		}
		switch {
		case sent == "":
			return s.refuseCSRF(c, "no token")
		case subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1:
			return s.refuseCSRF(c, "wrong token")
		}
		return next(c)
	}
}

const csrfMessage = "This form has expired or did not come from Keysmith. Go back, reload the page and try again."

// refuseCSRF records a CSRF refusal (authz.denied) and answers it with 403.
func (s *Server) refuseCSRF(c echo.Context, why string) error {
	if err := s.AuditDenial(c, models.DeniedCSRF, why); err != nil {
		return err
	}
	return echo.NewHTTPError(http.StatusForbidden, csrfMessage)
}

// csrfSeedLength is the length of a pre-session seed: 32 random bytes in unpadded base64url.
const csrfSeedLength = 43

func (s *Server) csrfCookieName() string {
	if s.cfg.Secure() {
		return "__Host-keysmith_csrf"
	}
	return "keysmith_csrf"
}

// newCSRFSeed gives the browser a new pre-session seed and returns it.
func (s *Server) newCSRFSeed(c echo.Context) string {
	raw := make([]byte, 32)
	rand.Read(raw)
	seed := base64.RawURLEncoding.EncodeToString(raw)
	c.SetCookie(&http.Cookie{
		Name: s.csrfCookieName(), Value: seed, Path: "/", HttpOnly: true,
		Secure: s.cfg.Secure(), SameSite: http.SameSiteStrictMode,
	})
	return seed
}

// renewCSRF starts a new pre-session seed and makes the request's token the one the browser
// needs from now on: bound to sessionID, the session a sign-in has just started, or to the new
// seed when sessionID is empty, at sign-out. So no token from before a sign-in or a sign-out
// is accepted after it.
func (s *Server) renewCSRF(c echo.Context, sessionID string) {
	seed := s.newCSRFSeed(c)
	c.Set(csrfTokenKey, s.csrfToken(sessionID, seed))
}

// csrfToken is the HMAC, under the server's key, of the signed-in session's id or, when there
// is none, of the pre-session seed; each kind is labelled, so a seed can never stand for a
// session id.
func (s *Server) csrfToken(sessionID, seed string) string {
	mac := hmac.New(sha256.New, s.csrfKey)
	if sessionID != "" {
		mac.Write([]byte("session\x00" + sessionID))
	} else {
		mac.Write([]byte("seed\x00" + seed))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CSRFToken returns the token forms and HTMX requests must send back: bound to the
// signed-in session, or to the pre-session seed before sign-in.
func CSRFToken(c echo.Context) string {
	token, _ := c.Get(csrfTokenKey).(string)
	return token
}

// Nonce returns the request's CSP nonce, for script tags.
func Nonce(c echo.Context) string {
	nonce, _ := c.Get(nonceKey).(string)
	return nonce
}
