package models

import "errors"

// FieldError is input that must be corrected, the one kind of invalid input: from the store,
// the console's forms and the API alike. Field names the offending field as it was sent
// ("name", "items[2].type", "properties.owner"), so the API can answer 422 pointing at it
// and a form can show the message beside it; an empty Field means the whole form, whose
// message is a sentence of its own. Message says how to correct the value.
type FieldError struct {
	Field   string
	Message string
}

// Error names the field and what is wrong with it; for the whole form, it is the message.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return "models: invalid " + e.Field + ": " + e.Message
}

// IsFieldError tells whether err holds a FieldError.
func IsFieldError(err error) bool {
	var fieldErr *FieldError
	return errors.As(err, &fieldErr)
}

// FieldErrors are the messages of a form by field, the whole form's under "": the shape in
// which every form of the console carries what is wrong with it.
type FieldErrors map[string]string

// FieldErrorsOf gathers every FieldError that err holds, one or several joined
// (errors.Join), by field: the first message of a field wins. It is nil when err holds none.
func FieldErrorsOf(err error) FieldErrors {
	var errs FieldErrors
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			if _, seen := errs[e.Field]; !seen {
				if errs == nil {
					errs = FieldErrors{}
				}
				errs[e.Field] = e.Message
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return errs
}

// Form is the message about the whole form, or "".
func (e FieldErrors) Form() string { return e[""] }

// FormErrors are the errors of a form refused as a whole, with message; nil without one.
func FormErrors(message string) FieldErrors {
	if message == "" {
		return nil
	}
	return FieldErrors{"": message}
}
