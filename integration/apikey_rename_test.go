package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
)

// verifiedName is the name /api/v1/auth/verify answers for secret on app.
func verifiedName(t *testing.T, app *apptest.App, secret string) string {
	t.Helper()
	res := app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret})
	wantStatus(t, res, http.StatusOK)
	var got struct{ Name string }
	if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
		t.Fatalf("verify answer %q is not JSON: %v", res.Body, err)
	}
	return got.Name
}

// auditDetails are the details of the audit log's events of action, newest first.
func auditDetails(t *testing.T, admin *apptest.Client, action string) []string {
	t.Helper()
	res := admin.Get("/admin/audit-log?action=" + url.QueryEscape(action))
	wantStatus(t, res, http.StatusOK)
	var details []string
	for _, row := range doc(t, res.Body).Find(`[data-testid="audit-event"][data-action="` + action + `"] [data-testid="audit-detail"]`).EachIter() {
		details = append(details, strings.TrimSpace(row.Text()))
	}
	return details
}

// Ownership: a key made in the console says who made it, on the list and on its page, with
// the description given at creation; a key made without a console user says CLI.
func TestCreatedByAndDescriptionShow(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		form := createForm("nightly export", models.ScopeReadOnly, "30d")
		form.Set("description", "Exports the catalog every night.\r\nAsked for by the data team.")
		wantStatus(t, admin.Post("/admin/api-keys", form), http.StatusOK)
		operator, _ := createKey(t, app.Store, "made by the operator")

		list := admin.Get("/admin/api-keys")
		var made string
		for _, row := range doc(t, list.Body).Find(`[data-testid="api-key-row"]`).EachIter() {
			id, _ := row.Attr("data-key-id")
			by := strings.TrimSpace(row.Find(`[data-testid="api-key-created-by"]`).Text())
			want := "by admin"
			if id == operator.PublicID {
				want = "by CLI"
			} else {
				made = id
			}
			if by != want {
				t.Errorf("row of %s: created by %q, want %q", id, by, want)
			}
		}
		page := doc(t, admin.Get("/admin/api-keys/"+made).Body)
		if got := page.Find(`[data-testid="key-created-by"]`).Text(); got != "admin" {
			t.Errorf("key page: created by %q, want %q", got, "admin")
		}
		if got, want := page.Find(`[data-testid="key-description"]`).Text(), "Exports the catalog every night.\nAsked for by the data team."; got != want {
			t.Errorf("key page: description %q, want %q", got, want)
		}
		page = doc(t, admin.Get("/admin/api-keys/"+operator.PublicID).Body)
		if got := page.Find(`[data-testid="key-created-by"]`).Text(); got != "CLI" {
			t.Errorf("operator's key page: created by %q, want %q", got, "CLI")
		}
		if page.Find(`[data-testid="key-no-description"]`).Length() != 1 {
			t.Errorf("a key without a description does not say so")
		}

		// A description creation refuses creates nothing: too long, it keeps the form with the
		// message beside the field; with a control character or bytes that are not text, it is
		// refused before the form is read, as every field is.
		for _, bad := range []string{strings.Repeat("é", 501), "tab\tok but bell \a", "nul \x00", "bad \xff utf-8"} {
			form := createForm("refused description", models.ScopeReadOnly, "30d")
			form.Set("description", bad)
			res := admin.Post("/admin/api-keys", form)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if beside := doc(t, res.Body).Find(`[data-testid="error-description"]`).Length() == 1; beside != (len(bad) > 500) {
				t.Errorf("description %q: message beside the field %v, want %v", bad, beside, len(bad) > 500)
			}
		}
		if names := rowNames(t, admin.Get("/admin/api-keys?q=refused").Body); len(names) != 0 {
			t.Errorf("refused descriptions created %v", names)
		}
	})
}

// Renaming from the key page: a visible Rename control, the rules of creation, the change
// audited with the names before and after, and the key working on as before while its
// verification answers the new name at once.
func TestRenameFromTheKeyPage(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, secret := createKey(t, app.Store, "old name")
		createKey(t, app.Store, "Taken Name")
		if got := verifiedName(t, app, secret); got != "old name" {
			t.Fatalf("verify before the rename: name %q, want %q", got, "old name")
		}
		path := "/admin/api-keys/" + key.PublicID
		page := doc(t, admin.Get(path).Body)
		rename := page.Find(`form[action="` + path + `/rename"][method="post"]`)
		if page.Find(`[data-testid="rename-api-key"]`).Text() != "Rename" || rename.Find(`input[name="name"]`).Length() != 1 {
			t.Fatalf("no Rename control with a name field on the key page")
		}

		// Refused before the form is read, as every field with such characters is.
		for _, bad := range []string{"nul \x00", "bad \xff", "line\nbreak"} {
			wantStatus(t, admin.Post(path+"/rename", url.Values{"name": {bad}}), http.StatusUnprocessableEntity)
		}
		for _, bad := range []string{"", "   ", "taken name", "TAKEN  NAME", strings.Repeat("n", 101), "zero\u200bwidth"} {
			res := admin.Post(path+"/rename", url.Values{"name": {bad}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			page := doc(t, res.Body)
			if page.Find(`[data-testid="error-name"]`).Length() != 1 {
				t.Errorf("name %q: no message beside the field", bad)
			}
			if _, open := page.Find(`[data-testid="rename-key"]`).Attr("open"); !open {
				t.Errorf("name %q: the rename form is not shown open with its message", bad)
			}
		}
		if got := verifiedName(t, app, secret); got != "old name" {
			t.Errorf("after refused renames: name %q, want %q", got, "old name")
		}

		res := admin.Post(path+"/rename", url.Values{"name": {"  New Name  "}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != path {
			t.Errorf("after the rename: redirect to %q, want %q", got, path)
		}
		page = doc(t, admin.Get(path).Body)
		if got := page.Find(`[data-testid="key-page-name"]`).Text(); got != "New Name" {
			t.Errorf("key page after the rename: name %q, want %q", got, "New Name")
		}
		if got := page.Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "“old name” renamed “New Name”") {
			t.Errorf("notice after the rename: %q", got)
		}
		if got := verifiedName(t, app, secret); got != "New Name" {
			t.Errorf("verify after the rename: name %q, want %q", got, "New Name")
		}
		// The old name is free again, the new one taken.
		if holder, _ := app.Store.APIKeyNameTakenBy(context.Background(), "OLD NAME"); holder != "" {
			t.Errorf("the old name is still taken by %q", holder)
		}
		if holder, _ := app.Store.APIKeyNameTakenBy(context.Background(), "new name"); holder != "New Name" {
			t.Errorf("the new name is taken by %q, want %q", holder, "New Name")
		}
		// A change of case only is a rename; the same name again records nothing.
		wantStatus(t, admin.Post(path+"/rename", url.Values{"name": {"new name"}}), http.StatusSeeOther)
		wantStatus(t, admin.Post(path+"/rename", url.Values{"name": {"new name"}}), http.StatusSeeOther)
		if got, want := auditDetails(t, admin, models.AuditKeyRenamed), []string{"from “New Name” to “new name”", "from “old name” to “New Name”"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("key.renamed events: got %q, want %q", got, want)
		}
		if got := admin.Post("/admin/api-keys/ak_0000000000000000/rename", url.Values{"name": {"anything"}}); got.StatusCode != http.StatusNotFound {
			t.Errorf("rename of an unknown key: status %d, want %d", got.StatusCode, http.StatusNotFound)
		}
		if got := admin.Post(path+"/rename", url.Values{"name": {"no token"}, "_csrf": {"wrong"}}); got.StatusCode != http.StatusForbidden {
			t.Errorf("rename without the CSRF token: status %d, want %d", got.StatusCode, http.StatusForbidden)
		}
	})
}

// Two administrators giving two keys one name at once: one rename wins, the other is told the
// name is taken, and no two keys share it.
func TestParallelRenamesToOneName(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		first, _ := createKey(t, app.Store, "first")
		second, _ := createKey(t, app.Store, "second")
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i, key := range []*models.APIKey{first, second} {
			wg.Go(func() {
				statuses[i] = admin.Post("/admin/api-keys/"+key.PublicID+"/rename", url.Values{"name": {"shared"}}).StatusCode
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusSeeOther, http.StatusUnprocessableEntity}) {
			t.Errorf("parallel renames: statuses %v, want one 303 and one 422", statuses)
		}
		if names := rowNames(t, admin.Get("/admin/api-keys?q=shared").Body); len(names) != 1 {
			t.Errorf("keys named shared: %v, want one", names)
		}
	})
}

// The description is edited from the key page: several lines kept, control characters and
// invalid text refused, an empty one removing it, each change audited.
func TestEditDescriptionFromTheKeyPage(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "described")
		path := "/admin/api-keys/" + key.PublicID
		if doc(t, admin.Get(path).Body).Find(`form[action="`+path+`/description"] textarea[name="description"]`).Length() != 1 {
			t.Fatalf("no description form on the key page")
		}
		res := admin.Post(path+"/description", url.Values{"description": {strings.Repeat("d", 501)}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if doc(t, res.Body).Find(`[data-testid="error-description"]`).Length() != 1 {
			t.Errorf("a description too long: no message beside the field")
		}
		for _, bad := range []string{"escape \x1b[31m", "nul \x00", "bad \xfe"} {
			wantStatus(t, admin.Post(path+"/description", url.Values{"description": {bad}}), http.StatusUnprocessableEntity)
		}
		wantStatus(t, admin.Post(path+"/description", url.Values{"description": {"Used by the warehouse.\r\n\tOwner: Ada."}}), http.StatusSeeOther)
		if got, want := doc(t, admin.Get(path).Body).Find(`[data-testid="key-description"]`).Text(), "Used by the warehouse.\n\tOwner: Ada."; got != want {
			t.Errorf("description after the edit: %q, want %q", got, want)
		}
		wantStatus(t, admin.Post(path+"/description", url.Values{"description": {""}}), http.StatusSeeOther)
		if doc(t, admin.Get(path).Body).Find(`[data-testid="key-no-description"]`).Length() != 1 {
			t.Errorf("an emptied description still shows")
		}
		if got := auditDetails(t, admin, models.AuditKeyDescriptionChanged); strings.Join(got, "|") != `removed|set to “Used by the warehouse.\x0a\x09Owner: Ada.”` {
			t.Errorf("key.description_changed events: %q", got)
		}
		if got := admin.Post("/admin/api-keys/nope/description", url.Values{"description": {"x"}}); got.StatusCode != http.StatusNotFound {
			t.Errorf("description of an unknown key: status %d, want %d", got.StatusCode, http.StatusNotFound)
		}
	})
}

// Two instances on PostgreSQL: a key renamed on one answers its new name on the other within
// a second, though the other held it in its cache with the old one.
func TestRenameReachesEveryInstance(t *testing.T) {
	first, second, _ := twoInstances(t)
	first.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	admin := first.Client(t)
	admin.Login(adminEmail)
	admin.Get("/admin/api-keys")
	key, secret := createKey(t, first.Store, "before")
	awaitHeard(t, second, secret)
	if got := verifiedName(t, second, secret); got != "before" {
		t.Fatalf("second instance before the rename: name %q", got)
	}
	wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/rename", url.Values{"name": {"after"}}), http.StatusSeeOther)
	deadline := time.Now().Add(revocationBound)
	for verifiedName(t, second, secret) != "after" {
		if time.Now().After(deadline) {
			t.Fatalf("second instance still answers the old name after %v", revocationBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
