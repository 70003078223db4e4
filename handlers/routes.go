package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/web"
)

// Register adds every route of the console to e, read top to bottom; the catalog API's are
// package api's (api.Handler.Register).
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
	e.POST("/account/sessions/end-others", h.accountSessionsEndOthers, h.srv.RequireUser)
	e.POST("/account/sessions/:id/end", h.accountSessionEnd, h.srv.RequireUser)

	// Registered outside the /admin group, whose rule is the API keys permission's.
	superAdmin := h.srv.RequireSuperAdmin
	e.GET("/admin/users", h.userList, superAdmin)
	e.GET("/admin/users/new", h.userNew, superAdmin)
	e.POST("/admin/users", h.userCreate, superAdmin)
	e.GET("/admin/users/:id/permission", h.userPermissionConfirm, superAdmin)
	e.POST("/admin/users/:id/permission", h.userPermission, superAdmin)
	e.POST("/admin/users/:id/disable", h.userDisable, superAdmin)
	e.POST("/admin/users/:id/enable", h.userEnable, superAdmin)
	e.POST("/admin/users/:id/reset-link", h.userResetLink, superAdmin)

	admin := e.Group("/admin", h.srv.RequireAPIKeyAdmin)
	admin.GET("/api-keys", h.apiKeyList)
	admin.GET("/api-keys/new", h.apiKeyNew)
	admin.POST("/api-keys/bulk", h.apiKeyBulk)
	admin.POST("/api-keys", h.apiKeyCreate)
	admin.GET("/api-keys/:id", h.apiKeyShow)
	admin.GET("/api-keys/:id/delete", h.apiKeyRemoveConfirm)
	admin.POST("/api-keys/:id/delete", h.apiKeyRemove)
	admin.DELETE("/api-keys/:id", h.apiKeyRemove)
	admin.POST("/api-keys/:id/disable", h.apiKeyDisable)
	admin.POST("/api-keys/:id/enable", h.apiKeyEnable)
	admin.POST("/api-keys/:id/rename", h.apiKeyRename)
	admin.POST("/api-keys/:id/description", h.apiKeyDescribe)
	admin.GET("/api-keys/:id/rotate", h.apiKeyRotateForm)
	admin.POST("/api-keys/:id/rotate", h.apiKeyRotate)
	admin.GET("/scanners", h.scannerList)
	admin.GET("/instances", h.instanceList)
	admin.GET("/revocations/:id", h.revocationShow)
	admin.GET("/audit-log", h.auditLog)
	admin.GET("/audit-log.csv", h.auditLogCSV)
}
