package models

// The actions the audit log records, named family.verb. The families group them for the
// console's action filter: action=key lists every key.* event.
const (
	AuditSignedIn        = "session.signed_in"
	AuditSignInFailed    = "session.sign_in_failed"
	AuditSignInThrottled = "session.sign_in_throttled"
	AuditSignedOut       = "session.signed_out"
	AuditSetupCompleted  = "setup.completed"
	AuditKeyCreated      = "key.created"
	AuditKeyDeleted      = "key.deleted"
	AuditKeyDisabled     = "key.disabled"
	AuditKeyEnabled      = "key.enabled"
	AuditKeyRotated      = "key.rotated"
	AuditKeyGraceEnded   = "key.grace_ended"
	// AuditKeyRenamed and AuditKeyDescriptionChanged are a key's name or description edited
	// from its page; the detail says from what to what.
	AuditKeyRenamed            = "key.renamed"
	AuditKeyDescriptionChanged = "key.description_changed"
	// Users and their sessions (Administration › Users, Your account, keysmith users).
	AuditUserCreated           = "user.created"
	AuditUserActivated         = "user.activated"
	AuditUserPermissionChanged = "user.permission_changed"
	AuditUserDisabled          = "user.disabled"
	AuditUserEnabled           = "user.enabled"
	AuditUserResetLink         = "user.reset_link_created"
	AuditUserPasswordChanged   = "user.password_changed"
	// AuditUserPasswordChangeFailed is a wrong current password given on Your account.
	AuditUserPasswordChangeFailed = "user.password_change_failed"
	AuditSessionEnded             = "session.ended"
	// AuditKeyRefused is the first refusal of a key by the API in an hour (RecordKeyRefusal).
	AuditKeyRefused = "key.refused"
	// AuditExported is the audit log taken away as CSV from the console.
	AuditExported = "audit.exported"
	// AuditPruned is the retention job deleting events past KEYSMITH_AUDIT_RETENTION.
	AuditPruned = "audit.pruned"
	// AuditAuthzDenied is a console request refused for want of permission, by a guard rail
	// or for a missing or wrong CSRF token (RecordDenial).
	AuditAuthzDenied = "authz.denied"
)

// The kinds of target an audit event names.
const (
	TargetUser = "user" // ID is the user id, Label the email (as typed, for an unknown account)
	TargetKey  = "key"  // ID is the key's public id, Label its name
	// TargetRoute is a console route refused (authz.denied): ID is the method and the route
	// as registered, Label the path asked for.
	TargetRoute = "route"
)

// keyAudit is the audit event of action on key, its target named by public id and name.
func keyAudit(action string, key *APIKey, detail string) AuditEvent {
	return AuditEvent{Action: action, TargetType: TargetKey, TargetID: key.PublicID, TargetLabel: key.Name, Detail: detail}
}

// UserAudit is the audit event of action on user, its target named by id and email.
func UserAudit(action string, user *User, detail string) AuditEvent {
	return AuditEvent{Action: action, TargetType: TargetUser, TargetID: formatID(user.ID), TargetLabel: user.Email, Detail: detail}
}
