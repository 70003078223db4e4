package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// proof is what the console says of a revocation.
type proof struct {
	state, summary string
	// unacknowledged are the ids of the instances it names as not having acknowledged.
	unacknowledged []string
	// poll is where htmx asks for it again; empty once settled.
	poll string
}

// readProof reads the revocation proof in a page or fragment; ok is false when there is none.
func readProof(t *testing.T, body string) (p proof, ok bool) {
	t.Helper()
	root := doc(t, body).Find(`[data-testid="revocation-proof"]`)
	if root.Length() == 0 {
		return proof{}, false
	}
	p.state, _ = root.Attr("data-state")
	p.poll, _ = root.Attr("hx-get")
	p.summary = strings.TrimSpace(root.Find(`[data-testid="revocation-summary"]`).Text())
	root.Find(`[data-testid="unacknowledged-instance"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-instance-id")
		p.unacknowledged = append(p.unacknowledged, id)
	})
	return p, true
}

// pollProof asks for the proof as htmx does, every 200 ms like the fragment, until it is
// settled, and fails the test if it is not within the console's 2 s and a margin.
func pollProof(t *testing.T, admin *apptest.Client, p proof) proof {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for p.state == "waiting" {
		if p.poll == "" || time.Now().After(deadline) {
			t.Fatalf("proof still waiting: got %+v, want it settled within 2 s, polling meanwhile", p)
		}
		time.Sleep(200 * time.Millisecond)
		res := admin.HTMX(http.MethodGet, p.poll, "revocation-proof", nil)
		wantStatus(t, res, http.StatusOK)
		var ok bool
		if p, ok = readProof(t, res.Body); !ok {
			t.Fatalf("poll of the proof answered without it:\n%s", res.Body)
		}
	}
	return p
}

// deleteWithoutJS deletes a key as a browser without JavaScript does, and returns the page the
// redirect leads to.
func deleteWithoutJS(t *testing.T, admin *apptest.Client, key *models.APIKey) *apptest.Response {
	t.Helper()
	admin.Get("/admin/api-keys/" + key.PublicID + "/delete")
	res := admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{"confirm_name": {key.Name}})
	wantStatus(t, res, http.StatusSeeOther)
	return admin.Get(res.Header.Get("Location"))
}

// deleteOverHTMX deletes a key as the console's dialog does, and returns the proof its answer
// carries out of band.
func deleteOverHTMX(t *testing.T, admin *apptest.Client, key *models.APIKey) proof {
	t.Helper()
	wantStatus(t, admin.HTMX(http.MethodGet, "/admin/api-keys/"+key.PublicID+"/delete", "dialog-slot", nil), http.StatusOK)
	res := admin.HTMX(http.MethodDelete, "/admin/api-keys/"+key.PublicID, "dialog-slot", url.Values{"confirm_name": {key.Name}})
	wantStatus(t, res, http.StatusOK)
	if oob, _ := doc(t, res.Body).Find(`[data-testid="revocation-proof"]`).Attr("hx-swap-oob"); oob != "true" {
		t.Fatalf("htmx delete: no proof of revocation out of band:\n%s", res.Body)
	}
	p, _ := readProof(t, res.Body)
	return p
}

const revokedOnOne = "Revoked on 1 of 1 instances in "

// After a delete the console says on how many instances the key was revoked, and how fast:
// without JavaScript on the page the delete leads to, once; with htmx in place.
func TestDeleteShowsWhereTheKeyWasRevoked(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		plain, _ := createKey(t, app.Store, "Plain")
		viaHTMX, _ := createKey(t, app.Store, "Via htmx")

		list := deleteWithoutJS(t, admin, plain)
		wantStatus(t, list, http.StatusOK)
		got, ok := readProof(t, list.Body)
		if !ok || got.state != "complete" || !strings.HasPrefix(got.summary, revokedOnOne) || got.poll != "" || len(got.unacknowledged) != 0 {
			t.Errorf("list after a delete without JavaScript: got %+v (shown %v), want complete, %q…", got, ok, revokedOnOne)
		}
		if _, ok := readProof(t, admin.Get("/admin/api-keys").Body); ok {
			t.Error("the proof shows again on the next page")
		}

		got = pollProof(t, admin, deleteOverHTMX(t, admin, viaHTMX))
		if got.state != "complete" || !strings.HasPrefix(got.summary, revokedOnOne) || got.poll != "" {
			t.Errorf("proof over htmx: got %+v, want complete, %q…", got, revokedOnOne)
		}
	})
}

// A revocation's fragment is for administrators, and only for revocations that exist.
func TestRevocationProofAddress(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "Revoked")
		if _, err := app.Store.DeleteAPIKey(context.Background(), key.PublicID); err != nil {
			t.Fatal(err)
		}
		id, err := app.Store.LatestKeyRevocation(context.Background(), key.ID)
		if err != nil {
			t.Fatal(err)
		}
		address := fmt.Sprintf("/admin/revocations/%d", id)
		page := admin.Get(address)
		wantStatus(t, page, http.StatusOK)
		if got, ok := readProof(t, page.Body); !ok || got.state != "complete" || !strings.HasPrefix(got.summary, revokedOnOne) {
			t.Errorf("proof's page without JavaScript: got %+v (shown %v), want complete", got, ok)
		}
		for _, bad := range []string{fmt.Sprint(id + 1), "0", "-1", "abc", "1e3", "99999999999999999999", "%00", "%E2%80%8B1"} {
			for _, res := range []*apptest.Response{
				admin.Get("/admin/revocations/" + bad),
				admin.HTMX(http.MethodGet, "/admin/revocations/"+bad, "revocation-proof", nil),
			} {
				if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusBadRequest {
					t.Errorf("revocation %q: status %d, want 404 or 400", bad, res.StatusCode)
				}
			}
		}
		app.CreateUser(t, "nobody@example.com", models.PermissionNone)
		nobody := app.Client(t)
		nobody.Login("nobody@example.com")
		wantStatus(t, nobody.Get(address), http.StatusForbidden)
		wantStatus(t, app.Client(t).Get(address), http.StatusSeeOther)
	})
}

// waitForLiveInstances waits until the registry lists the apps' instances as live.
func waitForLiveInstances(t *testing.T, store *models.Store, apps ...*apptest.App) {
	t.Helper()
	var want []string
	for _, app := range apps {
		want = append(want, app.Cluster.ID())
	}
	slices.Sort(want)
	deadline := time.Now().Add(5 * time.Second)
	for {
		instances, err := store.LiveInstances(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, instance := range instances {
			got = append(got, instance.ID)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("live instances: got %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With two instances, a delete on one is acknowledged by both, and the console says so.
func TestDeleteIsAcknowledgedByEveryInstance(t *testing.T) {
	first, second, _ := twoInstances(t)
	waitForLiveInstances(t, first.Store, first, second)
	first.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	admin := first.Client(t)
	admin.Login(adminEmail)
	plain, _ := createKey(t, first.Store, "Plain")
	viaHTMX, _ := createKey(t, first.Store, "Via htmx")

	const want = "Revoked on 2 of 2 instances in "
	got, _ := readProof(t, deleteWithoutJS(t, admin, plain).Body)
	if got.state != "complete" || !strings.HasPrefix(got.summary, want) {
		t.Errorf("without JavaScript: got %+v, want complete, %q…", got, want)
	}
	got = pollProof(t, admin, deleteOverHTMX(t, admin, viaHTMX))
	if got.state != "complete" || !strings.HasPrefix(got.summary, want) {
		t.Errorf("over htmx: got %+v, want complete, %q…", got, want)
	}
	t.Logf("console: %s", got.summary)
}

// listenerBackends returns the process ids of the PostgreSQL backends serving the revocation
// listeners of target's instances.
func listenerBackends(t *testing.T, target modelstest.Target) []int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name = 'keysmith revocation listener' AND datname = current_database()`)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// freezeBackends stops the PostgreSQL backends with SIGSTOP, and thaws them when the test ends:
// their connections stay open, but nothing comes through them, as in a network partition or a
// hung server. The thaw it returns lets them go on earlier. It skips unless the backends run
// on this machine and the test may signal them.
func freezeBackends(t *testing.T, target modelstest.Target, pids []int32) (thaw func()) {
	t.Helper()
	config, err := pgx.ParseConfig(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(config.Host); config.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Skipf("PostgreSQL at %s is not on this machine: cannot freeze its backends", config.Host)
	}
	var stopped []int
	thaw = func() {
		for _, pid := range stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
		stopped = nil
	}
	t.Cleanup(thaw)
	for _, pid := range pids {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			t.Skipf("backend %d is not a local postgres process (%q, %v): cannot freeze it", pid, comm, err)
		}
		if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
			t.Skipf("cannot stop PostgreSQL backend %d (%v): run as root or as the postgres user", pid, err)
		}
		stopped = append(stopped, int(pid))
	}
	return thaw
}

// With the other instance's listener frozen, its heartbeat goes on but it hears of no
// revocation: the console names it as not having acknowledged, once 2 s have passed.
func TestFrozenListenerIsNamedAsNotAcknowledging(t *testing.T) {
	target := modelstest.Postgres(t, "the multi-instance revocation tests")
	first := apptest.New(t, target)
	firstListeners := listenerBackends(t, target)
	second := apptest.NewOnStore(t, modelstest.Open(t, target))
	var secondListeners []int32
	for _, pid := range listenerBackends(t, target) {
		if !slices.Contains(firstListeners, pid) {
			secondListeners = append(secondListeners, pid)
		}
	}
	if len(secondListeners) != 1 {
		t.Fatalf("listener backends of the second instance: got %v, want one", secondListeners)
	}
	waitForLiveInstances(t, first.Store, first, second)
	first.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	admin := first.Client(t)
	admin.Login(adminEmail)
	plain, _ := createKey(t, first.Store, "Plain")
	viaHTMX, _ := createKey(t, first.Store, "Via htmx")

	freezeBackends(t, target, secondListeners)
	const want = "Revoked on 1 of 2 instances in "
	started := time.Now()
	waiting := deleteOverHTMX(t, admin, viaHTMX)
	page := deleteWithoutJS(t, admin, plain)
	if took := time.Since(started); took < 2*time.Second || took > 3*time.Second {
		t.Errorf("the page after the delete came after %v, want after the 2 s the console waits", took)
	}
	withoutJS, _ := readProof(t, page.Body)
	for name, got := range map[string]proof{"without JavaScript": withoutJS, "over htmx": pollProof(t, admin, waiting)} {
		if got.state != "incomplete" || !strings.HasPrefix(got.summary, want) || !slices.Equal(got.unacknowledged, []string{second.Cluster.ID()}) || got.poll != "" {
			t.Errorf("%s: got %+v, want incomplete, %q…, naming %s", name, got, want, second.Cluster.ID())
		}
	}
}

// A disable is a revocation too: the console proves it as it does a delete's. An enable
// revokes nothing and shows no proof.
func TestDisableShowsWhereTheKeyWasRevoked(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "Paused")
		res := admin.Post("/admin/api-keys/"+key.PublicID+"/disable", url.Values{})
		wantStatus(t, res, http.StatusSeeOther)
		got, ok := readProof(t, admin.Get(res.Header.Get("Location")).Body)
		if !ok || got.state != "complete" || !strings.HasPrefix(got.summary, revokedOnOne) {
			t.Errorf("list after a disable: got %+v (shown %v), want complete, %q…", got, ok, revokedOnOne)
		}
		res = admin.Post("/admin/api-keys/"+key.PublicID+"/enable", url.Values{})
		wantStatus(t, res, http.StatusSeeOther)
		if got, ok := readProof(t, admin.Get(res.Header.Get("Location")).Body); ok {
			t.Errorf("list after an enable: got a proof %+v, want none", got)
		}
	})
}

// The console says how soon a deleted or disabled key is refused, as it is: at once by the
// instance that made the change, by every instance within a second; not "at once" everywhere.
// The dialogs and forms say it before, the notices after.
func TestConsoleSaysHowSoonARevokedKeyIsRefused(t *testing.T) {
	const reach = "it is refused at once by this instance and by every instance within a second"
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "nightly", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		path := "/admin/api-keys/" + key.PublicID
		page := doc(t, admin.Get(path).Body)
		said := map[string]string{
			"the delete dialog":        doc(t, admin.Get(path+"/delete").Body).Find(`[data-testid="delete-warning"]`).Text(),
			"the key page's Delete":    page.Find(`[data-testid="delete-api-key"]`).AttrOr("title", ""),
			"the key page's Disable":   page.Find(`[data-testid="disable-api-key"]`).AttrOr("title", ""),
			"the notice after disable": "",
			"the notice after delete":  "",
		}
		wantStatus(t, admin.Post(path+"/disable", url.Values{"return": {"/admin/api-keys"}}), http.StatusSeeOther)
		said["the notice after disable"] = doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="flash"]`).Text()
		if got := doc(t, admin.Get(path).Body).Find(`[data-testid="enable-api-key"]`).AttrOr("title", ""); !strings.Contains(got, "at once on this instance and on every instance within a second") {
			t.Errorf("the key page's Enable: got %q, want it to say at once here, within a second everywhere", got)
		}
		wantStatus(t, admin.Post(path+"/enable", url.Values{"return": {"/admin/api-keys"}}), http.StatusSeeOther)
		if got := doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "at once through this instance, through every instance within a second") {
			t.Errorf("the notice after enable: got %q, want it to say at once here, within a second everywhere", got)
		}
		admin.Get(path + "/delete")
		wantStatus(t, admin.Post(path+"/delete", url.Values{"return": {"/admin/api-keys"}}), http.StatusSeeOther)
		said["the notice after delete"] = doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="flash"]`).Text()
		for where, text := range said {
			if !strings.Contains(strings.Join(strings.Fields(text), " "), reach) {
				t.Errorf("%s: got %q, want it to say %q", where, text, reach)
			}
		}
	})
}
