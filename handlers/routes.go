package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// Register adds every route of Keysmith to e, read top to bottom.
func (h *Handler) Register(e *echo.Echo) {
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)

	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, homePath(web.CurrentUser(c))) })
	e.GET("/setup", h.setupShow)
	e.POST("/setup", h.setupSubmit)
	e.GET("/login", h.loginShow)
	e.POST("/login", h.loginSubmit)
	e.POST("/logout", h.logout)
	e.GET("/set-password", h.passwordSetShow)
	e.POST("/set-password", h.passwordSetSubmit)

	e.GET("/account", h.accountShow, h.srv.RequireUser)
	e.POST("/account/password", h.accountPassword, h.srv.RequireUser)
	e.POST("/account/sessions/:id/end", h.accountSessionEnd, h.srv.RequireUser)

	// Registered outside the /admin group, whose rule is the API keys permission's.
	superAdmin := h.srv.RequireSuperAdmin
	e.GET("/admin/users", h.userList, superAdmin)
	e.POST("/admin/users", h.userCreate, superAdmin)
	e.POST("/admin/users/:id/permission", h.userPermission, superAdmin)
	e.POST("/admin/users/:id/disable", h.userDisable, superAdmin)
	e.POST("/admin/users/:id/enable", h.userEnable, superAdmin)
	e.POST("/admin/users/:id/reset-link", h.userResetLink, superAdmin)

	admin := e.Group("/admin", h.srv.RequireAPIKeyAdmin)
	admin.GET("/api-keys", h.apiKeyList)
	admin.GET("/api-keys/new", h.apiKeyNew)
	admin.POST("/api-keys", h.apiKeyCreate)
	admin.GET("/api-keys/:id", h.apiKeyShow)
	admin.GET("/api-keys/:id/delete", h.apiKeyRemoveConfirm)
	admin.POST("/api-keys/:id/delete", h.apiKeyRemove)
	admin.DELETE("/api-keys/:id", h.apiKeyRemove)
	admin.POST("/api-keys/:id/disable", h.apiKeyDisable)
	admin.POST("/api-keys/:id/enable", h.apiKeyEnable)
	admin.GET("/api-keys/:id/rotate", h.apiKeyRotateForm)
	admin.POST("/api-keys/:id/rotate", h.apiKeyRotate)
	admin.GET("/scanners", h.scannerList)
	admin.GET("/instances", h.instanceList)
	admin.GET("/revocations/:id", h.revocationShow)
	admin.GET("/audit-log", h.auditLog)
	admin.GET("/audit-log.csv", h.auditLogCSV)

	// The catalog API, authenticated by API key; each route names the scopes it admits.
	anyScope := h.srv.RequireKey(models.ScopeReadOnly, models.ScopeManageDocumentation, models.ScopeAdmin, models.ScopeScanner)
	api := e.Group("/api/v1")
	// What the API takes and answers (handlers/openapi.json), readable without a key.
	api.GET("/openapi.json", h.apiOpenAPI)
	api.GET("/auth/verify", h.apiAuthVerify, anyScope)
	readItems := h.srv.RequireKey(models.ScopeReadOnly, models.ScopeManageDocumentation, models.ScopeAdmin)
	writeItems := h.srv.RequireKey(models.ScopeManageDocumentation, models.ScopeAdmin)
	adminOnly := h.srv.RequireKey(models.ScopeAdmin)
	scannerOnly := h.srv.RequireKey(models.ScopeScanner)
	api.GET("/items", h.apiItemList, readItems)
	api.GET("/items/:id", h.apiItemGet, readItems)
	api.POST("/items", h.apiItemCreate, writeItems)
	api.PATCH("/items/:id", h.apiItemUpdate, writeItems)
	api.DELETE("/items/:id", h.apiItemDelete, writeItems)
	api.GET("/users", h.apiUserList, adminOnly)
	api.GET("/metamodel", h.apiMetamodelGet, adminOnly)
	api.PUT("/metamodel", h.apiMetamodelReplace, adminOnly)
	api.GET("/audit-events", h.apiAuditEvents, adminOnly)
	api.POST("/scanners/checkin", h.apiScannerCheckIn, scannerOnly)
	api.POST("/scanners/inventory", h.apiScannerInventory, scannerOnly)
}
