package web

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzPresentedSecret checks the header parsing in front of the verifier: it never panics,
// returns a trimmed part of one header, prefers X-API-SECRET when that header is set, reads
// Authorization only with a Bearer scheme (in any case), and gives back any secret presented
// either way. The seed corpus is in testdata/fuzz/FuzzPresentedSecret.
func FuzzPresentedSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, apiSecret, authorization, secret string) {
		h := http.Header{}
		if apiSecret != "" {
			h.Set("X-API-SECRET", apiSecret)
		}
		if authorization != "" {
			h.Set("Authorization", authorization)
		}
		got := presentedSecret(h)
		if got != strings.TrimSpace(got) {
			t.Fatalf("presentedSecret = %q, want no surrounding space", got)
		}
		switch {
		case apiSecret != "":
			if want := strings.TrimSpace(apiSecret); got != want {
				t.Fatalf("with X-API-SECRET %q: got %q, want %q", apiSecret, got, want)
			}
		case got != "":
			scheme, credentials, ok := strings.Cut(authorization, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || got != strings.TrimSpace(credentials) {
				t.Fatalf("from Authorization %q: got %q, want the credentials of a Bearer scheme", authorization, got)
			}
		}

		secret = strings.TrimSpace(secret)
		if secret == "" {
			return
		}
		for _, presented := range []http.Header{
			{"X-Api-Secret": {secret}},
			{"X-Api-Secret": {" " + secret + " "}, "Authorization": {"Bearer someone-else"}},
			{"Authorization": {"Bearer " + secret}},
			{"Authorization": {"bearer  " + secret}},
			{"Authorization": {"BEARER " + secret + "\t"}},
		} {
			if got := presentedSecret(presented); got != secret {
				t.Fatalf("presentedSecret(%q) = %q, want %q", presented, got, secret)
			}
		}
		if got := presentedSecret(http.Header{"Authorization": {"Basic " + secret}}); got != "" {
			t.Fatalf("with a Basic scheme: got %q, want nothing", got)
		}
	})
}
