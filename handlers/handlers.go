// Package handlers is the console's pages: one file per action (apikey_… for API keys,
// user_…, account_…, audit_log…), each reading its form (package form), calling the store or a
// service, and rendering a views component; and /healthz and /readyz. Register lists every
// route. The catalog API under /api/v1 is package api's.
package handlers

import (
	"log/slog"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/config"
	"keysmith/models"
	"keysmith/services/cluster"
	"keysmith/services/keyauth"
	"keysmith/views"
	"keysmith/web"
)

// Handler holds what every action needs. Its methods are the routes' handlers.
type Handler struct {
	store *models.Store
	srv   *web.Server
	// keys is the verifier, whose gathered uses the key pages write first; cluster is this
	// instance, which the Instances page marks and which waits for revocations' proofs.
	keys    *keyauth.Verifier
	cluster *cluster.Instance
	cfg     config.Config
	log     *slog.Logger
}

// New returns the handlers over store and the services they use, served by srv; the pages
// srv builds show the proof of a revocation the request before made (settledRevocation).
func New(store *models.Store, srv *web.Server, keys *keyauth.Verifier, instance *cluster.Instance, cfg config.Config, log *slog.Logger) *Handler {
	h := &Handler{store: store, srv: srv, keys: keys, cluster: instance, cfg: cfg, log: log}
	srv.OnFlash(revocationFlash, h.settledRevocation)
	return h
}

// renderDialogOrPage answers htmx with the dialog fragment it opens over the list, and a
// browser without JavaScript with the same content as a full page.
func (h *Handler) renderDialogOrPage(c echo.Context, status int, dialog templ.Component, title string, page func(views.Page) templ.Component) error {
	return h.renderDialogOrPageIn(c, "api-keys", status, dialog, title, page)
}

// renderDialogOrPageIn is renderDialogOrPage for a page of another section of the console,
// which its navigation entry marks as the current one.
func (h *Handler) renderDialogOrPageIn(c echo.Context, section string, status int, dialog templ.Component, title string, page func(views.Page) templ.Component) error {
	if web.IsHTMX(c) {
		return web.Render(c, status, dialog)
	}
	p, err := h.srv.Page(c, title, section)
	if err != nil {
		return err
	}
	return web.Render(c, status, page(p))
}
