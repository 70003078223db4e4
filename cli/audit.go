package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"keysmith/config"
	"keysmith/logging"
	"keysmith/models"
)

// useAuditKey gives the store the key that links the audit chain: KEYSMITH_AUDIT_KEY or the
// file KEYSMITH_AUDIT_KEY_FILE names. On SQLite without either, the key is the file beside
// the database, made (0600) at the first start and read at every one after; it is not made
// again while the chain is keyed, since a new key would not verify the events linked with the
// lost one. On PostgreSQL without either the chain is linked with SHA-256 (logAuditProtection
// says what that leaves undetected).
func useAuditKey(ctx context.Context, cfg *config.Config, store *models.Store, stderr io.Writer) error {
	key := cfg.AuditKey
	if key == nil && store.Dialect() == models.DialectSQLite {
		path := models.SQLiteAuditKeyFile(cfg.DatabaseURL)
		if path == "" {
			return nil
		}
		var err error
		key, err = config.ReadAuditKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			keyed, head, headErr := store.AuditChainKeyed(ctx)
			if headErr != nil {
				return headErr
			}
			if keyed {
				return fmt.Errorf("the audit log is chained with a key up to position %d, and its key file %s is missing: restore it from a backup, or set KEYSMITH_AUDIT_KEY or KEYSMITH_AUDIT_KEY_FILE to the key", head.Position, path)
			}
			if key, err = config.CreateAuditKeyFile(path); err == nil {
				logging.New(stderr, cfg.LogFormat, cfg.LogLevel).Info("made the audit log's key file beside the database (readable by this user only): keep a copy with the backups, apart from them, to verify the audit log later",
					"audit_key_file", path)
			}
		}
		if err != nil {
			return fmt.Errorf("KEYSMITH_AUDIT_KEY and KEYSMITH_AUDIT_KEY_FILE are not set, and the key file beside the database: %w", err)
		}
		cfg.AuditKeyFile = path
	}
	if key == nil {
		return nil
	}
	return store.UseAuditKey(key)
}

// auditKeyAdvice turns an AuditKeyError into what to do about it.
func auditKeyAdvice(err error) error {
	var keyErr *models.AuditKeyError
	if !errors.As(err, &keyErr) {
		return err
	}
	if keyErr.OwnKeyID == "" {
		return fmt.Errorf("the audit log is chained with a key (id %s) up to position %d, and no audit key is set: set KEYSMITH_AUDIT_KEY or KEYSMITH_AUDIT_KEY_FILE to that key; events linked without it would show as forged", keyErr.ChainKeyID, keyErr.Position)
	}
	return fmt.Errorf("the audit log is chained with the key of id %s up to position %d, not with the audit key set (id %s): set KEYSMITH_AUDIT_KEY or KEYSMITH_AUDIT_KEY_FILE to that key; changing the audit key is not supported", keyErr.ChainKeyID, keyErr.Position, keyErr.OwnKeyID)
}

// unkeyedWarning says what a chain without a key detects.
const unkeyedWarning = "no audit key is set (KEYSMITH_AUDIT_KEY or KEYSMITH_AUDIT_KEY_FILE): the audit log is chained with SHA-256, so deleted and changed events are detected, but whoever can write to the database can forge events that verify"

// logAuditProtection says at start what protects the audit log and what does not: the key, and
// on PostgreSQL the role Keysmith runs as.
func logAuditProtection(ctx context.Context, cfg config.Config, store *models.Store, log *slog.Logger) {
	switch {
	case store.AuditKeyID() == "":
		log.Warn(unkeyedWarning)
	case cfg.AuditKeyFile != "":
		log.Info("audit log chained with HMAC-SHA256", "audit_key_id", store.AuditKeyID(), "audit_key_file", cfg.AuditKeyFile)
	default:
		log.Info("audit log chained with HMAC-SHA256", "audit_key_id", store.AuditKeyID())
	}
	role, err := store.AuditRole(ctx)
	switch {
	case err != nil:
		log.Warn("could not read the database role's privileges on the audit log", "error", err)
	case role.Owner:
		log.Warn("Keysmith runs as the owner of audit_events: whoever holds this role's password can disable its triggers and rewrite the audit log, which only its chain shows; serve as a role that may only INSERT and SELECT on it (docs/operations.md, Two database roles and the audit key)", "role", role.Name)
	case len(role.Excess) > 0:
		log.Warn("the database role may change the audit log: revoke these privileges on audit_events (keysmith migrate as the owner does)", "role", role.Name, "privileges", strings.Join(role.Excess, ", "))
	}
}

// storeAuditRetention stores KEYSMITH_AUDIT_RETENTION as the retention the database enforces,
// for `keysmith migrate`, which the owner role runs.
func storeAuditRetention(ctx context.Context, cfg config.Config, store *models.Store, stdout io.Writer) error {
	stored, err := store.AuditRetention(ctx)
	if err != nil || stored == cfg.AuditRetention {
		return err
	}
	if err := store.SetAuditRetention(ctx, cfg.AuditRetention); err != nil {
		if errors.Is(err, models.ErrAuditRetentionFixed) {
			return fmt.Errorf("migrate: the database enforces an audit retention of %s, and this role may not change it to KEYSMITH_AUDIT_RETENTION (%s): run keysmith migrate as the owner role", stored, cfg.AuditRetention)
		}
		return err
	}
	fmt.Fprintf(stdout, "migrate: the database now keeps audit events for at least %s (KEYSMITH_AUDIT_RETENTION), %s before\n", cfg.AuditRetention, stored)
	return nil
}

// anchors is the --anchor flag: points of the chain logged or kept elsewhere.
type anchors []models.AuditChainPoint

func (a *anchors) String() string { return fmt.Sprint(*a) }

func (a *anchors) Set(value string) error {
	point, err := models.ParseAuditChainPoint(value)
	if err != nil {
		return err
	}
	*a = append(*a, point)
	return nil
}

// auditCommand runs `keysmith audit verify`: it checks the whole audit chain with the audit key,
// prints what it checked and what it cannot vouch for, and each place where the chain breaks,
// and then fails (exit 1) if there is any.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit: name a command: verify\n%s", usage)
	}
	own, configArgs, rest := splitArgs(args[1:], map[string]bool{"anchor": true})
	fs := flag.NewFlagSet("keysmith audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var points anchors
	fs.Var(&points, "anchor", "position:link of an event, as the scheduled check logs it (`audit chain verified … anchor=…`) or a SIEM keeps it: it must still be in the chain, unchanged; repeatable")
	if err := fs.Parse(own); err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("audit verify: unexpected arguments %q", rest)
	}
	_, store, _, err := openStore(ctx, "keysmith audit verify", configArgs, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	report, err := store.VerifyAuditChain(ctx, models.AuditChainCheck{Anchors: points})
	if err != nil {
		return fmt.Errorf("audit verify: %w", auditKeyAdvice(err))
	}
	say := func(format string, args ...any) { fmt.Fprintf(stdout, "audit verify: "+format+"\n", args...) }
	switch {
	case report.Checked == 0:
		say("no event is linked in the chain yet")
	case report.KeyID == "":
		say("checked positions %d to %d (%d events), linked with SHA-256", report.First.Position, report.Last.Position, report.Checked)
	default:
		say("checked positions %d to %d (%d events), linked with HMAC-SHA256 under the audit key (id %s)", report.First.Position, report.Last.Position, report.Checked, report.KeyID)
	}
	if report.PrunedTo > 0 {
		say("positions 1 to %d were deleted by the retention job, as its last audit.pruned says", report.PrunedTo)
	}
	if report.UnkeyedTo > 0 && report.KeyID != "" {
		say("positions up to %d are linked without a key (SHA-256): deleted and changed events among them are detected, forged ones are not", report.UnkeyedTo)
	}
	if report.Legacy > 0 {
		say("%d events recorded before the chain began are outside it, and cannot be verified", report.Legacy)
	}
	if len(points) > 0 {
		say("%d of %d anchors found in the chain; the others were deleted by the retention job since", report.AnchorsChecked, len(points))
	}
	if store.AuditKeyID() == "" {
		say(unkeyedWarning)
	}
	for _, b := range report.Breaks {
		say("BROKEN at %s", b)
	}
	if report.MoreBreaks {
		say("and more breaks after these")
	}
	if !report.Holds() {
		return fmt.Errorf("audit verify: the audit log's chain is broken in %d places: events were deleted, changed or inserted", len(report.Breaks))
	}
	say("the chain holds")
	return nil
}
