package views

import (
	"encoding/json"
	"net/url"
)

// csrfHeader is the hx-headers value that makes every HTMX request carry the CSRF token.
func csrfHeader(token string) string {
	header, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(header)
}

// urlQueryEscape escapes a value for a URL query string.
func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// PluralWord picks the singular or plural form for n, for the views and the handlers' notices.
func PluralWord(n int64, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}

// capitalise upper-cases the first letter of an ASCII label.
func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
