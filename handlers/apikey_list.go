package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// apiKeysPerPage is how many keys one page of the list shows.
const apiKeysPerPage = 25

// apiKeyList shows Administration › API Keys; an HTMX request for the list region (search,
// filters, sort, paging) gets only that region.
func (h *Handler) apiKeyList(c echo.Context) error {
	list, err := h.loadList(c, c.QueryParams())
	if err != nil {
		return err
	}
	if web.IsHTMX(c) && c.Request().Header.Get("HX-Target") == "api-key-list" {
		return web.Render(c, http.StatusOK, views.APIKeyListRegion(list))
	}
	page, err := h.srv.Page(c, "API Keys", "api-keys")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.APIKeysPage(page, list))
}

// loadList reads one page of the list as the query parameters describe it (q, status, scope,
// used, sort, page), with the count of keys about to expire for the banner.
func (h *Handler) loadList(c echo.Context, params url.Values) (views.APIKeyList, error) {
	list, query := h.listView(c, params)
	ctx := c.Request().Context()
	page, err := h.store.ListAPIKeys(ctx, query)
	if err != nil {
		return views.APIKeyList{}, err
	}
	if page.Page > page.Pages() {
		query.Page = page.Pages()
		if page, err = h.store.ListAPIKeys(ctx, query); err != nil {
			return views.APIKeyList{}, err
		}
	}
	list.Page = page
	if list.Creators, err = h.creators(c, page.Keys...); err != nil {
		return views.APIKeyList{}, err
	}
	if list.ExpiringSoon, err = h.store.CountAPIKeysWithStatus(ctx, models.StatusExpiresSoon); err != nil {
		return views.APIKeyList{}, err
	}
	return list, nil
}

// listView reads the list's query parameters into its view, without the keys, and the query
// that selects them. Unknown sorts and bad page numbers fall back to the defaults, and so do
// searches that are not text (a delete reloads the list from the address in its form or its
// HX-Current-URL header, which any client may fill). A status, scope or last-use filter that
// is not one of the list's is ignored, and the view says so: a mistyped address still shows the
// keys, and shows that they are not filtered. A 422 would fit a form better, but the same
// address comes back from every row's action, which must not fail on it.
func (h *Handler) listView(c echo.Context, params url.Values) (views.APIKeyList, models.APIKeyQuery) {
	search := strings.TrimSpace(params.Get("q"))
	if models.CheckText("q", search, false) != nil {
		search = ""
	}
	if len([]rune(search)) > models.MaxAPIKeyNameLength {
		search = string([]rune(search)[:models.MaxAPIKeyNameLength])
	}
	pageNumber, err := strconv.Atoi(params.Get("page"))
	if err != nil || pageNumber < 1 {
		pageNumber = 1
	}
	list := views.APIKeyList{Search: search, Sort: models.ParseAPIKeySort(params.Get("sort")), CSRFToken: web.CSRFToken(c),
		ScopesRefused: h.scopesRefused(c), Now: h.store.Now()}
	if value := params.Get("status"); value != "" {
		if status, ok := models.ParseKeyStatus(value); ok {
			list.Status = status
		} else {
			list.Ignored = append(list.Ignored, "The status filter was not understood, so keys of every status are shown. Choose one of: "+joinNames(models.KeyStatuses)+".")
		}
	}
	if value := params.Get("scope"); value != "" {
		if scope, ok := models.ParseScope(value); ok {
			list.Scope = scope
		} else {
			list.Ignored = append(list.Ignored, "The scope filter was not understood, so keys of every scope are shown. Choose one of: "+joinNames(models.Scopes)+".")
		}
	}
	if value := params.Get("used"); value != "" {
		if used, ok := models.ParseLastUseFilter(value); ok {
			list.Used = used
		} else {
			list.Ignored = append(list.Ignored, "The last use filter was not understood, so keys are shown whenever they were last used. Choose one of: "+joinNames(models.LastUseFilters)+".")
		}
	}
	query := models.APIKeyQuery{Search: search, Status: list.Status, Scope: list.Scope, Used: list.Used, Sort: list.Sort, Page: pageNumber, PerPage: apiKeysPerPage}
	return list, query
}

// joinNames lists the values a filter takes, as its parameter carries them.
func joinNames[T ~string](values []T) string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}

// creators reads the names of the users who created keys, for views.CreatedBy.
func (h *Handler) creators(c echo.Context, keys ...models.APIKey) (map[int64]string, error) {
	var ids []int64
	for _, key := range keys {
		if key.CreatedByID != nil {
			ids = append(ids, *key.CreatedByID)
		}
	}
	return h.store.UserNames(c.Request().Context(), ids)
}
