// Package form reads what people and scripts send into values the store takes: each form of
// the console, and the audit log's filters that the console, its CSV export and the API share.
// A value no action could take is a models.FieldError naming its field, the one kind of
// invalid input; nothing here knows HTTP beyond the form's values.
package form
