package views

import (
	"strconv"
	"strings"
	"time"

	"keysmith/models"
)

// UsersView is Administration › Users: every user, and the reason an action was refused, if
// one was.
type UsersView struct {
	Users []models.UserEntry
	// SelfID is the signed-in Super admin, whose own row offers nothing that would lock them
	// out.
	SelfID int64
	// Errors says why the last action was refused (for the whole page).
	Errors    models.FieldErrors
	CSRFToken string
	Now       time.Time
}

// UserForm is the Add a user form with what was typed and what is wrong with it.
type UserForm struct {
	Email, Name, Permission string
	Errors                  models.FieldErrors
}

// PermissionChange is a permission chosen for a user from the Users page, to be confirmed
// before it applies.
type PermissionChange struct {
	User       models.User
	Permission models.Permission
}

// UserLinkView shows a one-time link once, to the administrator who made it: after an
// invitation, or a password reset.
type UserLinkView struct {
	User      models.User
	Link      string
	ExpiresAt time.Time
	// Invited tells a new user's invitation from a reset.
	Invited bool
	// SessionsEnded counts the sessions a reset ended.
	SessionsEnded int64
	Now           time.Time
}

// SetPasswordForm is the page of a one-time link, where a user chooses their password.
type SetPasswordForm struct {
	Token  string
	User   models.User
	Errors models.FieldErrors
}

// AccountView is Your account: the signed-in user's password form and sessions.
type AccountView struct {
	User     models.User
	Sessions []models.UserSession
	// Errors says what is wrong with the last password change.
	Errors    models.FieldErrors
	CSRFToken string
	Now       time.Time
}

// userBadgeClass is the badge style of a user status, in the colours of the key statuses.
func userBadgeClass(status models.UserStatus) string {
	switch status {
	case models.UserActive:
		return "badge active"
	case models.UserInvited:
		return "badge rotating"
	case models.UserResetPending:
		return "badge expires-soon"
	}
	return "badge disabled"
}

// Browser names the browser and system of a User-Agent the way people say them ("Firefox on
// Linux"), or the User-Agent itself when it names none Keysmith knows.
func Browser(userAgent string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chromium/", "Chromium"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(userAgent, b.token) {
			browser = b.name
			break
		}
	}
	if browser == "" {
		return userAgent
	}
	for _, s := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(userAgent, s.token) {
			return browser + " on " + s.name
		}
	}
	return browser
}

// userAction is the address of an action on the user with that id.
func userAction(id int64, action string) string {
	return "/admin/users/" + strconv.FormatInt(id, 10) + "/" + action
}

// resetLabel names the reset action: for a user still invited, it makes a new invitation.
func resetLabel(status models.UserStatus) string {
	if status == models.UserInvited {
		return "New link"
	}
	return "Reset password"
}
