package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"
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

// csrf protects every state-changing browser request with a signed double-submit token: a
// random value in a strict HttpOnly cookie, and its HMAC under the server's key in the form
// field or header. A planted cookie is useless without the key, and requests a browser marks
// as cross-site are refused outright. API routes authenticate with keys, not cookies, and are
// exempt, as are health checks and static files, which change nothing.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	cookieName := "keysmith_csrf"
	if s.cfg.Secure() {
		cookieName = "__Host-keysmith_csrf"
	}
	return func(c echo.Context) error {
		if isBrowserless(c) {
			return next(c)
		}
		var seed string
		if cookie, err := c.Cookie(cookieName); err == nil && len(cookie.Value) == 43 {
			seed = cookie.Value
		} else {
			raw := make([]byte, 32)
			rand.Read(raw)
			seed = base64.RawURLEncoding.EncodeToString(raw)
			c.SetCookie(&http.Cookie{
				Name: cookieName, Value: seed, Path: "/", HttpOnly: true,
				Secure: s.cfg.Secure(), SameSite: http.SameSiteStrictMode,
			})
		}
		token := s.csrfToken(seed)
		c.Set(csrfTokenKey, token)
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
			return echo.NewHTTPError(http.StatusForbidden, csrfMessage)
		}
		sent := c.Request().Header.Get(CSRFHeader)
		if sent == "" {
			sent = c.FormValue(CSRFField)
		}
		if subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
			return echo.NewHTTPError(http.StatusForbidden, csrfMessage)
		}
		return next(c)
	}
}

const csrfMessage = "This form has expired or did not come from Keysmith. Go back, reload the page and try again."

func (s *Server) csrfToken(seed string) string {
	mac := hmac.New(sha256.New, s.csrfKey)
	mac.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CSRFToken returns the token forms and HTMX requests must send back.
func CSRFToken(c echo.Context) string {
	token, _ := c.Get(csrfTokenKey).(string)
	return token
}

// Nonce returns the request's CSP nonce, for script tags.
func Nonce(c echo.Context) string {
	nonce, _ := c.Get(nonceKey).(string)
	return nonce
}
