package models

import "errors"

// ErrScopeAboveMinter refuses to give a key a scope that would outrank whoever gives it.
var ErrScopeAboveMinter = errors.New("models: only a Super admin may give an API key the Admin scope")

// Minter is a console user giving a key its scope: by creating the key, by rotating it (which
// shows a new secret of its scope) or by changing its scope. It is the one place that says who
// may give which scope; CreateAPIKey and RotateAPIKey ask it, and the console asks it too, to
// offer only what it will accept. The command line runs as the operator and passes none.
type Minter struct {
	Permission Permission
	// KeyAdminsMayGiveAdmin lets every key administrator give the Admin scope
	// (KEYSMITH_ADMIN_KEYS_BY=key-admins); by default only Super admins may.
	KeyAdminsMayGiveAdmin bool
}

// MayGive returns nil when m may give a key scope, and ErrScopeAboveMinter otherwise. An Admin
// key reads every console user (email and permission) and the whole audit log, which only a
// Super admin sees in the console: given by a Connectivity admin, it would outrank its minter.
// A nil Minter, the operator at the command line, may give any scope.
func (m *Minter) MayGive(scope Scope) error {
	switch {
	case m == nil:
		return nil
	case !m.Permission.CanManageAPIKeys():
		return ErrScopeAboveMinter
	case scope == ScopeAdmin && !m.Permission.CanManageUsers() && !m.KeyAdminsMayGiveAdmin:
		return ErrScopeAboveMinter
	}
	return nil
}
