package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"keysmith/models"
)

// auditFeed is the API's answer.
type auditFeed struct {
	Events []struct {
		ID     int64     `json:"id"`
		Time   time.Time `json:"time"`
		Action string    `json:"action"`
		Actor  struct {
			Type, ID, Label string
		} `json:"actor"`
		Target struct {
			Type, ID, Label string
		} `json:"target"`
		ClientAddress string `json:"client_address"`
		UserAgent     string `json:"user_agent"`
		RequestID     string `json:"request_id"`
		Detail        string `json:"detail"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

// GET /api/v1/audit-events serves Admin keys the filtered events oldest first, a page at a
// time; its cursor goes on with the events written since, none skipped or repeated. A bad
// cursor, limit or filter is 422 naming it.
func TestAuditEventsAPI(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		seedAudit(t, api.app.Store, 5, time.Date(2030, 2, 3, 10, 0, 0, 0, time.UTC))
		read := func(query string) auditFeed {
			t.Helper()
			var feed auditFeed
			res := api.do(http.MethodGet, "/api/v1/audit-events?"+query, "")
			api.expect(res, http.StatusOK, &feed)
			if res.Header.Get("Cache-Control") != "no-store" || feed.NextCursor == nil {
				t.Fatalf("?%s: Cache-Control %q, body %s; want no-store and next_cursor", query, res.Header.Get("Cache-Control"), res.Body)
			}
			return feed
		}
		// Reads pages of 2 from cursor until want events came (PostgreSQL serves an event once
		// no older transaction runs, anywhere in the database).
		var ids []int64
		cursor := ""
		readUntil := func(want int) {
			t.Helper()
			eventually(t, fmt.Sprintf("%d events from the feed", want), 10*time.Second, func() string {
				for {
					feed := read("limit=2&actor=cli&action=key&cursor=" + url.QueryEscape(cursor))
					if len(feed.Events) > 2 {
						t.Fatalf("limit=2: got %d events", len(feed.Events))
					}
					for _, ev := range feed.Events {
						ids = append(ids, ev.ID)
						if ev.Actor.Type != models.ActorCLI || ev.Actor.Label != "ops" || ev.Target.Type != models.TargetKey {
							t.Errorf("event %d: got %+v, want by cli ops about a key", ev.ID, ev)
						}
					}
					cursor = *feed.NextCursor
					if len(feed.Events) == 0 {
						break
					}
				}
				if len(ids) < want {
					return fmt.Sprintf("%d so far", len(ids))
				}
				return ""
			})
		}
		readUntil(5)
		seedAudit(t, api.app.Store, 3, time.Date(2030, 2, 4, 10, 0, 0, 0, time.UTC))
		readUntil(8)
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) || len(ids) != 8 {
			t.Errorf("ids served: got %v, want 8, oldest first, none twice", ids)
		}

		for _, tc := range []struct{ query, field string }{
			{"cursor=bm9wZQ", "cursor"},
			{"cursor=%21%21", "cursor"},
			{"limit=0", "limit"},
			{"limit=1001", "limit"},
			{"limit=many", "limit"},
			{"from=later", "from"},
			{"action=KEY", "action"},
		} {
			api.expectField(api.do(http.MethodGet, "/api/v1/audit-events?"+tc.query, ""), tc.field)
		}
	})
}
