// Package views renders Keysmith's pages and HTMX fragments with templ. Every component is a
// function of its view model; nothing here reads the database or the request.
package views

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"keysmith/models"
)

// Assets are the checksummed URLs of the static files every page loads.
type Assets struct {
	PicoCSS, AppCSS, HTMX, AppJS string
}

// Page is what the layout needs to frame any page.
type Page struct {
	Title     string
	Nonce     string
	CSRFToken string
	// User is the signed-in user, or nil on the login and setup pages.
	User   *models.User
	Assets Assets
	// Flash holds one-time notices shown above the content, such as "API key deleted".
	Flash []string
	// Section marks the navigation entry of the current page.
	Section string
	// Revocation is the proof of a revocation made by the request before this page, or nil.
	Revocation *Revocation
}

// HTMXConfig is the htmx configuration of every page: no inline styles or eval (so the CSP
// holds), no copies of pages in localStorage (so a secret can never land there), and form
// errors (422) and conflicts (409, a rotation that another came before) swapped in like
// successes, each answered with the dialog that explains it.
const HTMXConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,` +
	`"historyCacheSize":0,"refreshOnHistoryMiss":true,"selfRequestsOnly":true,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},` +
	`{"code":"409","swap":true},{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}]}`

// APIKeyList is the list region: one page of keys with the search, filters and sort that chose
// them.
type APIKeyList struct {
	Page   models.APIKeyPage
	Search string
	// Status and Scope are the filters applied; "" for every status or scope.
	Status models.KeyStatus
	Scope  models.Scope
	// Used is the last-use filter applied; "" for keys whenever they were last used.
	Used models.LastUseFilter
	// Ignored says which filters were not understood, and so not applied.
	Ignored []string
	Sort    models.APIKeySort
	// ExpiringSoon counts every key that expires within 7 days, whatever the filters, for
	// the banner.
	ExpiringSoon int64
	// CSRFToken goes in the rows' forms, for browsers without JavaScript.
	CSRFToken string
	// ScopesRefused are the scopes the signed-in user may not give a key, each with why: the
	// rows of such keys offer no Rotate, and say why.
	ScopesRefused map[models.Scope]string
	// Creators are the names of the users who created the keys shown, by id (CreatedBy).
	Creators map[int64]string
	Now      time.Time
}

// URL is the list's address with the given sort and page, keeping the search and filters.
func (l APIKeyList) URL(sort models.APIKeySort, page int) string {
	v := url.Values{}
	if l.Search != "" {
		v.Set("q", l.Search)
	}
	if l.Status != "" {
		v.Set("status", string(l.Status))
	}
	if l.Scope != "" {
		v.Set("scope", string(l.Scope))
	}
	if l.Used != "" {
		v.Set("used", string(l.Used))
	}
	if sort != models.DefaultAPIKeySort {
		v.Set("sort", string(sort))
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/admin/api-keys"
	}
	return "/admin/api-keys?" + v.Encode()
}

// Filtered tells whether a search or a filter narrows the list.
func (l APIKeyList) Filtered() bool {
	return l.Search != "" || l.Status != "" || l.Scope != "" || l.Used != ""
}

// NoMatch says what found no key: the search and the filters.
func (l APIKeyList) NoMatch() string {
	message := "No API key"
	if l.Search != "" {
		message += " matches “" + l.Search + "”"
	}
	switch {
	case l.Status != "" && l.Scope != "":
		message += " with status " + l.Status.Label() + " and scope " + l.Scope.Label()
	case l.Status != "":
		message += " with status " + l.Status.Label()
	case l.Scope != "":
		message += " with scope " + l.Scope.Label()
	}
	switch l.Used {
	case models.UsedNever:
		message += " that was never used"
	case models.Unused30d, models.Unused90d:
		message += " " + strings.ToLower(l.Used.Label())
	}
	return message + "."
}

// SortURL is the link of a sortable column: ascending first for names, for expiry (the
// soonest first) and for last use (never used, then the longest unused first: the keys a
// clean-up is after), newest first for creation, and the other way round when the column is
// already sorted that way.
func (l APIKeyList) SortURL(column string) string {
	asc, desc := models.APIKeySort(column), models.APIKeySort("-"+column)
	first, second := desc, asc
	if column == "name" || column == "expires" || column == "last-used" {
		first, second = asc, desc
	}
	if l.Sort == first {
		return l.URL(second, 1)
	}
	return l.URL(first, 1)
}

// AriaSort is the aria-sort value of a column header.
func (l APIKeyList) AriaSort(column string) string {
	switch l.Sort {
	case models.APIKeySort(column):
		return "ascending"
	case models.APIKeySort("-" + column):
		return "descending"
	}
	return "none"
}

// ExpiryChoice is one option of the form's "Expires after" list. Line says what choosing it
// means at the time the form was shown ("This key will expire on Sat, 29 May 2027"); a custom
// date's is written for the date picked.
type ExpiryChoice struct{ Value, Label, Line string }

// ExpiryLine says when the key will expire with the choice the form holds, as the line under the
// choice shows it (app.js keeps it up to date as the choice changes).
func (f APIKeyForm) ExpiryLine() string {
	if f.ExpiresIn == models.ExpiryCustom {
		date, err := time.Parse(time.DateOnly, f.ExpiresAt)
		if err != nil {
			return CustomDateHint
		}
		return ExpiresOnLine(date.AddDate(0, 0, 1))
	}
	for _, choice := range f.Choices {
		if choice.Value == f.ExpiresIn {
			return choice.Line
		}
	}
	return ""
}

// CustomDateHint is the line under the expiry choice while a custom date is to be picked.
const CustomDateHint = "Pick the last day the key works."

// ExpiresOnLine is the line under the expiry choice for a key expiring at expiresAt.
func ExpiresOnLine(expiresAt time.Time) string {
	return "This key will expire on " + ExpiryDay(expiresAt) + "."
}

// NeverExpiresLine is the line under the expiry choice for a key that never expires.
const NeverExpiresLine = "This key will never expire."

// APIKeyForm is the New API Key form with what was typed and a message per wrong field.
type APIKeyForm struct {
	Name, Description, Scope, ExpiresIn, ExpiresAt string
	Errors                                         models.FieldErrors
	// Choices are the expiries the lifetime policy allows.
	Choices []ExpiryChoice
	// MinDate and MaxDate bound the custom date (YYYY-MM-DD): from tomorrow to the lifetime
	// policy's cap, or to the last date Keysmith stores without one.
	MinDate, MaxDate string
	// MaxLifetimeDays is the policy's cap in days, 0 for none, to explain hidden choices.
	MaxLifetimeDays int
	// ScopesRefused are the scopes the signed-in user may not give a key
	// (KEYSMITH_ADMIN_KEYS_BY), each with why: offered disabled, with the reason beside them.
	ScopesRefused map[models.Scope]string
}

// CreatedKey is a key just created or rotated with its secret, shown once.
type CreatedKey struct {
	Key    models.APIKey
	Secret string
	// Rotated tells that the secret replaces another, whose grace the modal states at Now.
	Rotated bool
	// ReloadOnClose is set when the dialog opens over the page of the key it rotated, which is
	// out of date once the dialog closes.
	ReloadOnClose bool
	Now           time.Time
	// BaseURL is the console's public address (KEYSMITH_BASE_URL), where the "Try it" command
	// sends the secret.
	BaseURL string
}

// TryCommand is a curl command that asks the console's verify endpoint about the new secret,
// so an admin can see the key work before handing it over; keys of every scope, the Scanner
// scope's included, may ask it, in the header line that API clients send. Both words are quoted for a POSIX
// shell: the base URL is configuration and may hold characters a shell would read.
func (ck CreatedKey) TryCommand() string {
	return "curl -H " + shellQuote("X-API-SECRET: "+ck.Secret) + " " + shellQuote(ck.BaseURL+"/api/v1/auth/verify")
}

// shellQuote puts a word in single quotes, where a POSIX shell reads every character as it is
// except the single quote itself, which closes the quotes, is escaped and reopens them.
func shellQuote(word string) string {
	return "'" + strings.ReplaceAll(word, "'", `'\''`) + "'"
}

// Title heads the secret's dialog or page.
func (ck CreatedKey) Title() string {
	if ck.Rotated {
		return "API key “" + ck.Key.Name + "” rotated"
	}
	return "API key “" + ck.Key.Name + "” created"
}

// Done is the notice left once the secret is closed, so that the list says what happened.
func (ck CreatedKey) Done() string {
	message := ck.Title() + "."
	if ck.Key.ExpiresAt == nil {
		return message + " It never expires."
	}
	return message + " It works through " + ExpiryDay(*ck.Key.ExpiresAt) + " (UTC)."
}

// RotateKey is the rotate form of one key: the grace of the secret it replaces, and the new
// secret's expiry with its choices under the lifetime policy, as at creation. Errors, keyed by
// field ("grace", "expires_in", "expires_at"), are the embedded form's.
type RotateKey struct {
	APIKeyForm
	Key   models.APIKey
	Grace string
	// Renew is set for an expired key: the form sets a new expiry with no grace to choose,
	// since the secret it replaces works no more, and says Renew.
	Renew bool
	// Replaces is the hint of the secret the form was opened to replace, sent back with it so
	// that a rotation made meanwhile by someone else is not silently replaced too.
	Replaces string
	// ReturnTo is the list (with its search, sort and page) to go back to.
	ReturnTo string
	Now      time.Time
}

// Title is the rotate dialog's and page's title: Renew for an expired key.
func (r RotateKey) Title() string {
	if r.Renew {
		return "Renew API key “" + r.Key.Name + "”"
	}
	return "Rotate API key “" + r.Key.Name + "”"
}

// RotatedMeanwhile answers a rotation that another rotation of the same key came before:
// nothing was changed, and it says who rotated the key and when, and which secret it has now.
type RotatedMeanwhile struct {
	// Key is the key as it is now.
	Key models.APIKey
	// By rotated the key last; the zero actor when the audit log no longer says.
	By models.AuditActor
	// At is when; nil when the key was never rotated (the form named a secret it never had).
	At *time.Time
	// ReturnTo is the list (with its search, sort and page) to go back to.
	ReturnTo string
	Now      time.Time
}

// Who names who rotated the key last, as the audit log records them.
func (r RotatedMeanwhile) Who() string {
	switch r.By.Type {
	case models.ActorUser:
		return r.By.Label
	case models.ActorCLI:
		return "the command line (" + r.By.Label + ")"
	}
	return "another administrator"
}

// ClientUse is a script, scanner or other client seen using a key.
type ClientUse struct {
	Name     string
	Address  string
	Scanner  bool
	LastSeen time.Time
}

// DeleteKey is the delete confirmation of one key.
type DeleteKey struct {
	Key models.APIKey
	// Clients are some of those seen using the key in the last 30 days: scanners first, then
	// the most recently seen. MoreClients is how many more were seen.
	Clients     []ClientUse
	MoreClients int64
	// RequireName is true when the key was used recently, so the name must be typed.
	RequireName bool
	// Errors holds the message beside the name field (confirm_name) when the typed name was
	// wrong, and TypedName what was typed, shown again to be corrected.
	Errors    models.FieldErrors
	TypedName string
	// List is where to go back to, so the list keeps its search, sort and page.
	ReturnTo string
	Now      time.Time
}

// LoginForm is the login page's form.
type LoginForm struct {
	Email, Next string
	// Errors holds why the sign-in was refused, for the whole form.
	Errors models.FieldErrors
}

// SetupForm creates the first Super admin from the one-time setup link.
type SetupForm struct {
	Token, Email, Name string
	Errors             models.FieldErrors
}

// ErrorView is an error page's fixed, helpful text.
type ErrorView struct {
	Status  int
	Title   string
	Message string
	// RequestID lets an administrator find the details in the log.
	RequestID string
	// Retry is the page that was refused, where the page's "Sign in as someone else" brings
	// whoever signs in next; empty when there is none to go back to.
	Retry string
}

// Relative writes t relative to now the way people say it: "just now", "5 minutes ago",
// "in 3 days".
func Relative(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var amount string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		amount = plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		amount = plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		amount = plural(int(d/(24*time.Hour)), "day")
	case d < 365*24*time.Hour:
		amount = plural(int(d/(30*24*time.Hour)), "month")
	default:
		amount = plural(int(d/(365*24*time.Hour)), "year")
	}
	if future {
		return "in " + amount
	}
	return amount + " ago"
}

// Exact writes a time in full, in UTC, for the hover title and for screen readers.
func Exact(t time.Time) string {
	return t.UTC().Format("Mon 2 Jan 2006 15:04:05 UTC")
}

// Date writes a calendar date the list shows in its columns: "7 Dec 2026". It is the console's
// one way to write a day; DateTime is the one way to write a moment.
func Date(t time.Time) string {
	return t.UTC().Format("2 Jan 2006")
}

// DateTime writes a moment as the whole console shows it, to the minute in UTC:
// "7 Dec 2026, 13:37 UTC". The exact time, to the second, goes in the hover title (Exact).
func DateTime(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// lastInstant is the last moment a key expiring at expiresAt works: a key works until, not at,
// its expiry, so one given a custom date, which expires as the next day begins, works through
// the day that was picked.
func lastInstant(expiresAt time.Time) time.Time {
	return expiresAt.UTC().Add(-time.Nanosecond)
}

// ExpiryDate writes the last day a key expiring at expiresAt works, the date the list shows:
// the custom date that was picked, or the day a preset ends.
func ExpiryDate(expiresAt time.Time) string {
	return Date(lastInstant(expiresAt))
}

// ExpiryDay writes the same day as the expiry forms and messages say it, in the console's one
// date style: "29 May 2027".
func ExpiryDay(expiresAt time.Time) string {
	return Date(lastInstant(expiresAt))
}

// ExpiryExact says when exactly a key expiring at expiresAt stops working, for the hover
// title: through the end of a picked day, or at the time a preset ends.
func ExpiryExact(expiresAt time.Time) string {
	expiresAt = expiresAt.UTC()
	if expiresAt.Equal(expiresAt.Truncate(24 * time.Hour)) {
		return "Works through the end of " + Date(lastInstant(expiresAt)) + " (UTC)"
	}
	return "Works until " + Exact(expiresAt)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// ScannersView is Administration › Scanners: the scanners to show, whether inactive ones are
// included, and how many scanners are inactive in all.
type ScannersView struct {
	Scanners        []models.Scanner
	IncludeInactive bool
	Inactive        int64
	Now             time.Time
}

// CreatedBy says who created key, as the list and the key page show it: the creator's name as
// the Users page shows it (names holds the names by user id); "CLI" for a key made without a
// console user, from the command line, or whose creator was removed from the database by hand
// (which clears the link: Keysmith itself only disables users); "Deleted user" should a
// creator be gone while the link stays.
func CreatedBy(key models.APIKey, names map[int64]string) string {
	if key.CreatedByID == nil {
		return "CLI"
	}
	if name, ok := names[*key.CreatedByID]; ok {
		return name
	}
	return "Deleted user"
}

// CreatedByHint is the hover text of CreatedBy's answer in the list.
func CreatedByHint(key models.APIKey, names map[int64]string) string {
	if key.CreatedByID == nil {
		return "Not created by a console user: from the command line, or by a user since removed from the database"
	}
	return "Created by " + CreatedBy(key, names)
}

// BulkKeys is the confirmation of a bulk action on the keys list: every key it changes, each
// with the clients that will stop (as the delete warning shows them for one key).
type BulkKeys struct {
	// Action is "disable" or "delete", as the list's buttons send it.
	Action string
	// Keys are the keys in the order ticked; each one's RequireName tells that it was used in
	// the last 7 days.
	Keys []DeleteKey
	// RequireCount is true when any key was used in the last 7 days: the number of keys must
	// then be typed. TypedCount is what was typed, shown again with Errors["confirm_count"].
	RequireCount bool
	TypedCount   string
	Errors       models.FieldErrors
	ReturnTo     string
	Now          time.Time
}

// Verb is the action's word on the confirmation's button and title.
func (b BulkKeys) Verb() string {
	if b.Action == "delete" {
		return "Delete"
	}
	return "Disable"
}

// Count is the number of keys, as the confirmation asks for it to be typed.
func (b BulkKeys) Count() string { return strconv.Itoa(len(b.Keys)) }
