// Package api is Keysmith's catalog API under /api/v1: JSON in and out, each route admitting
// the API keys of the scopes it names (web.Server.RequireKey), and described by openapi.json,
// which it serves. One file per resource; Register lists every route. The console's pages are
// package handlers'.
package api

import (
	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/services/keyauth"
	"keysmith/web"
)

// Handler holds what the API's actions need. Its methods are the routes' handlers.
type Handler struct {
	store *models.Store
	srv   *web.Server
	// keys learns a scanner's name at its check-in, to show the key's uses under it.
	keys *keyauth.Verifier
}

// New returns the API's handlers over store, served by srv.
func New(store *models.Store, srv *web.Server, keys *keyauth.Verifier) *Handler {
	return &Handler{store: store, srv: srv, keys: keys}
}

// Register adds every route of the catalog API to e, read top to bottom; each names the
// scopes it admits.
func (h *Handler) Register(e *echo.Echo) {
	anyScope := h.srv.RequireKey(models.ScopeReadOnly, models.ScopeManageDocumentation, models.ScopeAdmin, models.ScopeScanner)
	api := e.Group("/api/v1")
	// What the API takes and answers (openapi.json), readable without a key.
	api.GET("/openapi.json", h.openAPI)
	api.GET("/auth/verify", h.authVerify, anyScope)
	readItems := h.srv.RequireKey(models.ScopeReadOnly, models.ScopeManageDocumentation, models.ScopeAdmin)
	writeItems := h.srv.RequireKey(models.ScopeManageDocumentation, models.ScopeAdmin)
	adminOnly := h.srv.RequireKey(models.ScopeAdmin)
	scannerOnly := h.srv.RequireKey(models.ScopeScanner)
	api.GET("/items", h.itemList, readItems)
	api.GET("/items/:id", h.itemGet, readItems)
	api.POST("/items", h.itemCreate, writeItems)
	api.PATCH("/items/:id", h.itemUpdate, writeItems)
	api.DELETE("/items/:id", h.itemDelete, writeItems)
	api.GET("/users", h.userList, adminOnly)
	api.GET("/metamodel", h.metamodelGet, adminOnly)
	api.PUT("/metamodel", h.metamodelReplace, adminOnly)
	api.GET("/audit-events", h.auditEvents, adminOnly)
	api.POST("/scanners/checkin", h.scannerCheckIn, scannerOnly)
	api.POST("/scanners/inventory", h.scannerInventory, scannerOnly)
}
