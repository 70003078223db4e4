package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// Events older than KEYSMITH_AUDIT_RETENTION are pruned by a job that runs at start and every
// hour, and the pruning is itself recorded.
func TestAuditRetentionPrunesOldEvents(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			store := modelstest.Open(t, target)
			now := store.Now()
			seedAudit(t, store, 2, now.AddDate(0, 0, -31))
			seedAudit(t, store, 1, now.AddDate(0, 0, -29))
			apptest.NewOnStore(t, store, func(cfg *config.Config) { cfg.AuditRetention = 30 * 24 * time.Hour })
			eventually(t, "the prune", 10*time.Second, func() string {
				if got := actionsOf(modelstest.AuditEvents(t, store, models.AuditFilter{})); !slices.Equal(got, []string{models.AuditKeyCreated, models.AuditPruned}) {
					return fmt.Sprintf("events %v", got)
				}
				return ""
			})
		})
	}
}
