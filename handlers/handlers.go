// Package handlers is Keysmith's application layer: one file per action, each binding a form or
// JSON body, validating it into messages a person can act on, and calling the models store.
package handlers

import (
	"log/slog"

	"keysmith/config"
	"keysmith/models"
	"keysmith/web"
)

// Handler holds what every action needs. Its methods are the routes' handlers.
type Handler struct {
	store *models.Store
	srv   *web.Server
	cfg   config.Config
	log   *slog.Logger
}

// New returns the handlers over store, served by srv.
func New(store *models.Store, srv *web.Server, cfg config.Config, log *slog.Logger) *Handler {
	return &Handler{store: store, srv: srv, cfg: cfg, log: log}
}
