package web

import (
	"errors"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"keysmith/models"
)

// checkInput refuses, before any handler or the database sees it, a request whose path,
// query parameters or form fields (names and values) are not valid UTF-8 or hold control
// characters (models.CheckText): 400 for the path, and a FieldError naming the parameter or
// field, answered 422, otherwise. Only the fields that multiLine names may hold several lines
// (tabs and line ends); the others hold one. JSON bodies are checked where they are decoded,
// string by string. POST /login reads and refuses its own input, so that the sign-in throttle
// counts malformed attempts as failures.
func (s *Server) checkInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method == http.MethodPost && req.URL.Path == "/login" {
			return next(c)
		}
		if models.CheckText("path", req.URL.Path, false) != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The address holds characters that no Keysmith page has: bytes that are not UTF-8 text, or control characters.")
		}
		// API bodies are JSON, read once the key is verified, and checked as they are decoded;
		// pages read forms. A request with neither a query nor a form (a gateway's
		// verification, a health check) parses nothing.
		var params url.Values
		switch {
		case isAPI(c) || req.Method == http.MethodGet || req.Method == http.MethodHead:
			if req.URL.RawQuery != "" {
				params = c.QueryParams()
			}
		default:
			// The query and the form in the body.
			var err error
			if params, err = c.FormParams(); err != nil {
				var httpErr *echo.HTTPError
				if errors.As(err, &httpErr) {
					return httpErr
				}
				return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
			}
		}
		if err := checkParams(params); err != nil {
			return err
		}
		return next(c)
	}
}

// multiLine tells whether the form field name holds paragraphs: an API key's description.
func multiLine(name string) bool { return name == "description" }

// checkParams checks every name and value of params, in name order so that the answer does
// not depend on map order.
func checkParams(params url.Values) error {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if err := models.CheckText("parameter names", name, false); err != nil {
			return err
		}
		for _, value := range params[name] {
			if err := models.CheckText(name, value, multiLine(name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxRequestIDLength bounds the X-Request-Id a client or proxy may choose.
const maxRequestIDLength = 128

// cleanRequestID drops an X-Request-Id unless a trusted proxy (KEYSMITH_TRUSTED_PROXIES) sent
// it and it is a short token of letters, digits and - _ . : (what proxies and tracers send).
// The request id is in every log line of the request, every error page, every JSON error and
// every audit event: a client must not choose it, to break those with its bytes or to make
// its requests pass for others'. The request-id middleware then makes a new one.
func (s *Server) cleanRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if id := req.Header.Get(echo.HeaderXRequestID); id != "" && (!isToken(id) || !s.fromTrustedProxy(req)) {
			req.Header.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

// fromTrustedProxy tells whether the request's peer is one of KEYSMITH_TRUSTED_PROXIES.
func (s *Server) fromTrustedProxy(req *http.Request) bool {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, network := range s.cfg.TrustedProxies {
		if network.Contains(ip) {
			return true
		}
	}
	return false
}

func isToken(s string) bool {
	if len(s) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}
