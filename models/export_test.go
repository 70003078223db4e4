package models

// What the tests of models_test check against.
const (
	DailyUsesKept         = dailyUsesKept
	DailyUsesPrunedAtOnce = dailyUsesPrunedAtOnce
)
