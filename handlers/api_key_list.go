package handlers

import (
	"net/http"
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
// sort, paging) gets only that region.
func (h *Handler) apiKeyList(c echo.Context) error {
	list, err := h.loadList(c, c.QueryParam("q"), c.QueryParam("sort"), c.QueryParam("page"))
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

// loadList reads one page of the list as the query parameters describe it; unknown sorts, bad
// page numbers and searches that are not text (a delete reloads the list from the address
// in its form or its HX-Current-URL header, which any client may fill) fall back to the
// defaults rather than failing.
func (h *Handler) loadList(c echo.Context, search, sort, pageParam string) (views.APIKeyList, error) {
	search = strings.TrimSpace(search)
	if models.CheckText("q", search, false) != nil {
		search = ""
	}
	if len([]rune(search)) > models.MaxAPIKeyNameLength {
		search = string([]rune(search)[:models.MaxAPIKeyNameLength])
	}
	pageNumber, err := strconv.Atoi(pageParam)
	if err != nil || pageNumber < 1 {
		pageNumber = 1
	}
	query := models.APIKeyQuery{Search: search, Sort: models.ParseAPIKeySort(sort), Page: pageNumber, PerPage: apiKeysPerPage}
	page, err := h.store.ListAPIKeys(c.Request().Context(), query)
	if err != nil {
		return views.APIKeyList{}, err
	}
	if page.Page > page.Pages() {
		query.Page = page.Pages()
		if page, err = h.store.ListAPIKeys(c.Request().Context(), query); err != nil {
			return views.APIKeyList{}, err
		}
	}
	return views.APIKeyList{Page: page, Search: search, Sort: query.Sort, Now: h.store.Now()}, nil
}
