package models

import "time"

// This file is the one place the "rotating" status reads a rotation's grace period. Rotation
// (a previous secret that keeps working for a while beside the new one) is not built on this
// branch: no key has a previous secret yet, so no key is rotating. When rotation lands, these
// two functions read its columns, and Status, the list's filter and the badge follow.

// Rotating tells whether a previous secret of the key still works at now, beside its current
// one. No key has a previous secret until rotation is built, so it is never true yet.
func (k *APIKey) Rotating(now time.Time) bool { return false }

// rotatingCondition is the SQL condition, with its arguments, that holds for the keys whose
// Rotating is true at now: none until rotation is built.
func rotatingCondition(now time.Time) (string, []any) { return "1 = 0", nil }
