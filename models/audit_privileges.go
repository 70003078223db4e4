package models

import (
	"context"
	"fmt"
)

// On PostgreSQL Keysmith may run as two roles: an owner that runs the migrations and owns every
// table (it can do anything, disabling triggers included), and a runtime role that serves and
// may only INSERT and SELECT on audit_events (docs/operations.md, "Two database roles and the
// audit key"). What the runtime role is granted comes from the owner's default privileges;
// restrictAuditPrivileges takes back, at every migration by the owner, what no role but the
// owner may do to the audit log, whatever was granted since.

// restrictAuditPrivileges, run by the owner of audit_events on PostgreSQL, revokes from every
// other role (PUBLIC included) UPDATE, DELETE, TRUNCATE, REFERENCES and TRIGGER on
// audit_events, and every change to audit_retention. The runtime role keeps INSERT and SELECT,
// and EXECUTE on prune_audit_events, the one deletion. A role that does not own the table
// changes nothing.
func (s *Store) restrictAuditPrivileges(ctx context.Context) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	return s.db.WithContext(ctx).Exec(`DO $$
DECLARE
    grantee TEXT;
BEGIN
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'audit_events'::regclass), 'USAGE') THEN
        RETURN;
    END IF;
    REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_events FROM PUBLIC;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_retention FROM PUBLIC;
    FOR grantee IN
        SELECT DISTINCT acl.grantee::regrole::text
        FROM pg_class c, aclexplode(c.relacl) acl
        WHERE c.oid IN ('audit_events'::regclass, 'audit_retention'::regclass) AND acl.grantee <> 0 AND acl.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_events FROM %s', grantee);
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_retention FROM %s', grantee);
    END LOOP;
END;
$$`).Error
}

// AuditRole is how the database role Keysmith runs as stands to the audit log.
type AuditRole struct {
	// Name is the role's name.
	Name string
	// Owner tells whether it owns audit_events (or is a superuser): it can disable the
	// triggers, so whoever holds its password can rewrite the log, which only the chain shows.
	Owner bool
	// Excess lists what else it may do to audit_events beyond INSERT and SELECT.
	Excess []string
}

// AuditRole tells, on PostgreSQL, whether the role the store connects as owns the audit log or
// holds privileges on it beyond INSERT and SELECT. On SQLite there are no roles: the zero value.
func (s *Store) AuditRole(ctx context.Context) (AuditRole, error) {
	if s.dialect != DialectPostgres {
		return AuditRole{}, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var row struct {
		Name                              string
		Owner                             bool
		CanUpdate, CanDelete, CanTruncate bool
	}
	err := s.db.WithContext(ctx).Raw(`SELECT current_user AS name,
		pg_has_role(c.relowner, 'USAGE') AS owner,
		has_table_privilege(c.oid, 'UPDATE') AS can_update,
		has_table_privilege(c.oid, 'DELETE') AS can_delete,
		has_table_privilege(c.oid, 'TRUNCATE') AS can_truncate
		FROM pg_class c WHERE c.oid = 'audit_events'::regclass`).Scan(&row).Error
	if err != nil {
		return AuditRole{}, fmt.Errorf("models: read the database role's privileges on the audit log: %w", err)
	}
	role := AuditRole{Name: row.Name, Owner: row.Owner}
	for _, privilege := range []struct {
		name string
		held bool
	}{{"UPDATE", row.CanUpdate}, {"DELETE", row.CanDelete}, {"TRUNCATE", row.CanTruncate}} {
		if privilege.held && !row.Owner {
			role.Excess = append(role.Excess, privilege.name)
		}
	}
	return role, nil
}
