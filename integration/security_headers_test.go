package integration

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
)

func TestSecurityHeaders(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		for _, path := range []string{"/admin/api-keys", "/login", "/no-such-page"} {
			res := admin.Get(path)
			csp := res.Header.Get("Content-Security-Policy")
			nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
			if nonce == nil || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: CSP %q, want a nonce, frame-ancestors 'none' and no unsafe-inline", path, csp)
				continue
			}
			doc(t, res.Body).Find("script").Each(func(_ int, s *goquery.Selection) {
				if got, _ := s.Attr("nonce"); got != nonce[1] {
					t.Errorf("%s: script nonce %q, want %q", path, got, nonce[1])
				}
			})
			if strings.Contains(res.Body, " style=") || strings.Contains(res.Body, "<style") {
				t.Errorf("%s: inline style in the page", path)
			}
			for header, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := res.Header.Get(header); got != want {
					t.Errorf("%s: %s = %q, want %q", path, header, got, want)
				}
			}
		}
		if cc := admin.Get("/admin/api-keys").Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("authenticated page Cache-Control %q, want no-store", cc)
		}
		big := admin.Post("/admin/api-keys", url.Values{"name": {strings.Repeat("x", 100_000)}})
		wantStatus(t, big, http.StatusRequestEntityTooLarge)
	})
}
