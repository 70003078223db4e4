package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
)

const (
	userKey    = "user"
	sessionKey = "session"
)

// loadUser reads the browser session, when there is one, and puts the signed-in user in the
// context. A session whose user has gone or been disabled counts as signed out.
func (s *Server) loadUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isBrowserless(c) {
			return next(c)
		}
		session, err := s.Sessions.Get(c.Request(), s.Sessions.CookieName())
		if err != nil {
			return err
		}
		c.Set(sessionKey, session)
		actor := models.AuditActor{Type: models.ActorAnonymous}
		if id, ok := session.Values[sessionUserKey].(int64); ok {
			user, err := s.store.UserByID(c.Request().Context(), id)
			switch {
			case errors.Is(err, models.ErrUserNotFound):
			case err != nil:
				return err
			case !user.Disabled:
				c.Set(userKey, user)
				actor = models.UserActor(user)
			}
		}
		SetAuditActor(c, actor)
		return next(c)
	}
}

// SetAuditActor makes actor, seen from this request's address, user agent and request id, the
// actor of every audit event that the rest of the request records.
func SetAuditActor(c echo.Context, actor models.AuditActor) {
	req := c.Request()
	actor.Address, actor.UserAgent, actor.RequestID = c.RealIP(), req.UserAgent(), RequestID(c)
	c.SetRequest(req.WithContext(models.WithAuditActor(req.Context(), actor)))
}

// CurrentUser returns the signed-in user, or nil.
func CurrentUser(c echo.Context) *models.User {
	user, _ := c.Get(userKey).(*models.User)
	return user
}

func currentSession(c echo.Context) *sessions.Session {
	session, _ := c.Get(sessionKey).(*sessions.Session)
	return session
}

// RequireUser sends visitors who are not signed in to the login page, which brings them back
// to the page they asked for. Authenticated pages are never stored by caches or browsers.
func (s *Server) RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		if CurrentUser(c) != nil {
			return next(c)
		}
		target := c.Request().URL.RequestURI()
		if IsHTMX(c) {
			target = c.Request().Header.Get("HX-Current-URL")
			if u, err := url.Parse(target); err == nil {
				target = u.RequestURI()
			}
		}
		login := "/login?next=" + url.QueryEscape(LocalPath(target, "/admin/api-keys"))
		if IsHTMX(c) {
			c.Response().Header().Set("HX-Redirect", login)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, login)
	}
}

// RequireAPIKeyAdmin lets through users with Connectivity administration or Super admin and
// tells anyone else which permission they lack, recording the refusal (authz.denied).
func (s *Server) RequireAPIKeyAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return s.RequireUser(func(c echo.Context) error {
		if permission := CurrentUser(c).Permission; !permission.CanManageAPIKeys() {
			if err := s.AuditDenial(c, models.DeniedPermission, "needs connectivity-admin or super-admin, has "+string(permission)); err != nil {
				return err
			}
			return echo.NewHTTPError(http.StatusForbidden, "Managing API keys needs the “"+models.PermissionConnectivityAdmin.Label()+
				"” or “"+models.PermissionSuperAdmin.Label()+"” permission, which your account does not have. Ask a Super admin to grant it.")
		}
		return next(c)
	})
}

// RequireSuperAdmin lets through Super admins, who alone administer users, and tells anyone
// else which permission they lack, recording the refusal (authz.denied).
func (s *Server) RequireSuperAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return s.RequireUser(func(c echo.Context) error {
		if permission := CurrentUser(c).Permission; !permission.CanManageUsers() {
			if err := s.AuditDenial(c, models.DeniedPermission, "needs super-admin, has "+string(permission)); err != nil {
				return err
			}
			return echo.NewHTTPError(http.StatusForbidden, "Administering users needs the “"+models.PermissionSuperAdmin.Label()+
				"” permission, which your account does not have. Ask a Super admin to grant it.")
		}
		return next(c)
	})
}

// SessionToken returns the token of the request's session, "" when it has none yet: the
// store's operations on a user's sessions tell the asking one apart by it.
func SessionToken(c echo.Context) string {
	if session := currentSession(c); session != nil {
		return session.ID
	}
	return ""
}

// LocalPath returns target when it is a path on this site, and fallback otherwise, so a
// "next" parameter can never send anyone to another site.
func LocalPath(target, fallback string) string {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		return fallback
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return fallback
	}
	return target
}

// Login starts a new session for user, ending any session the browser had, so a session id
// planted before login is worthless after it. The CSRF token is renewed with it: from now on
// the browser's token is bound to the new session, and its pre-session seed is replaced. The
// sign-in is recorded in the audit log (session.signed_in, by the user) before the session
// begins, so that no session begins unrecorded.
func (s *Server) Login(c echo.Context, user *models.User) error {
	session := currentSession(c)
	if session.ID != "" {
		if err := s.store.DeleteSession(c.Request().Context(), session.ID); err != nil {
			return err
		}
	}
	SetAuditActor(c, models.UserActor(user))
	if err := s.store.RecordAudit(c.Request().Context(), models.UserAudit(models.AuditSignedIn, user, "")); err != nil {
		return err
	}
	session.ID = ""
	session.Values = map[any]any{sessionUserKey: user.ID}
	session.Options.MaxAge = int(s.cfg.SessionMaxAge.Seconds())
	if err := session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	s.renewCSRF(c, session.ID)
	return nil
}

// RenewSession gives the signed-in browser a new session in place of its current one, with
// the same contents, and ends the old one: after a change of password, a copy of the cookie
// taken before it is worthless. The CSRF token is renewed with it.
func (s *Server) RenewSession(c echo.Context) error {
	session := currentSession(c)
	old := session.ID
	session.ID = ""
	if err := session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	if old != "" {
		if err := s.store.DeleteSession(c.Request().Context(), old); err != nil {
			return err
		}
	}
	s.renewCSRF(c, session.ID)
	return nil
}

// Logout ends the session on the server and clears its cookie, and gives the browser a new
// pre-session seed, so no CSRF token from before outlives the session. A signed-in user's
// sign-out is recorded in the audit log first (session.signed_out).
func (s *Server) Logout(c echo.Context) error {
	if user := CurrentUser(c); user != nil {
		if err := s.store.RecordAudit(c.Request().Context(), models.UserAudit(models.AuditSignedOut, user, "")); err != nil {
			return err
		}
	}
	session := currentSession(c)
	session.Options.MaxAge = -1
	if err := session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	s.renewCSRF(c, "")
	return nil
}

// AddFlash keeps a notice for the next page this browser shows.
func (s *Server) AddFlash(c echo.Context, message string) error {
	session := currentSession(c)
	session.AddFlash(message)
	return session.Save(c.Request(), c.Response())
}

// AddFlashOf keeps value, of a kind registered with OnFlash, for the next page this browser
// shows, which the kind's function puts on.
func (s *Server) AddFlashOf(c echo.Context, kind string, value any) error {
	session := currentSession(c)
	session.AddFlash(value, kind)
	return session.Save(c.Request(), c.Response())
}

// OnFlash registers show as what puts a flash of kind on the next page (Page): it is called
// with the latest one, when there are any. Registered before the server serves.
func (s *Server) OnFlash(kind string, show func(ctx context.Context, value any, page *views.Page) error) {
	s.flashKinds = append(s.flashKinds, flashKind{kind, show})
}

// flashKind is a kind of flash other than notices, and what shows it on a page.
type flashKind struct {
	name string
	show func(ctx context.Context, value any, page *views.Page) error
}

// Page returns the layout's view model for the current request, taking pending notices and
// the flashes of every kind registered with OnFlash, each shown by its function.
func (s *Server) Page(c echo.Context, title, section string) (views.Page, error) {
	page := views.Page{
		Title:     title,
		Nonce:     Nonce(c),
		CSRFToken: CSRFToken(c),
		User:      CurrentUser(c),
		Assets:    s.assets,
		Section:   section,
	}
	session := currentSession(c)
	if session == nil || session.IsNew {
		return page, nil
	}
	flashes := session.Flashes()
	taken := len(flashes)
	kinds := make([][]any, len(s.flashKinds))
	for i, kind := range s.flashKinds {
		kinds[i] = session.Flashes(kind.name)
		taken += len(kinds[i])
	}
	if taken == 0 {
		return page, nil
	}
	for _, flash := range flashes {
		if message, ok := flash.(string); ok {
			page.Flash = append(page.Flash, message)
		}
	}
	if err := session.Save(c.Request(), c.Response()); err != nil {
		return page, err
	}
	for i, kind := range s.flashKinds {
		if values := kinds[i]; len(values) > 0 {
			if err := kind.show(c.Request().Context(), values[len(values)-1], &page); err != nil {
				return page, err
			}
		}
	}
	return page, nil
}

// IsHTMX tells whether the request came from htmx (and is not a history restore, which
// needs the whole page).
func IsHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-History-Restore-Request") != "true"
}
