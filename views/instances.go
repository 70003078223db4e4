package views

import (
	"time"

	"keysmith/models"
)

// InstancesView is Administration › Instances: the live instances, the oldest first, and
// which of them answered this request.
type InstancesView struct {
	Instances []models.Instance
	Self      string
	Now       time.Time
}
