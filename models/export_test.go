package models

// What the tests of models_test check against.
const (
	DailyUsesKept         = dailyUsesKept
	DailyUsesPrunedAtOnce = dailyUsesPrunedAtOnce
)

// SQLiteFile is sqliteFile, for the table of data source names in models_test.
var SQLiteFile = sqliteFile
