package form

import (
	"cmp"
	"errors"
	"strings"
	"time"

	"keysmith/models"
)

// APIKey is the New API Key form as sent.
type APIKey struct {
	Name        string `form:"name"`
	Description string `form:"description"`
	Scope       string `form:"scope"`
	ExpiresIn   string `form:"expires_in"`
	ExpiresAt   string `form:"expires_at"`
}

// Validate checks every field at now: the name, the description, the scope (refused when refused names it,
// with why: a scope the signed-in user may not give), and the expiry under policy (its
// default when none was chosen). It returns the key to create, its fields set as far as they
// are valid, and a FieldError per wrong field, joined. That no other key has the name is the
// store's to say.
func (f APIKey) Validate(policy models.ExpiryPolicy, now time.Time, refused map[models.Scope]string) (models.NewAPIKey, error) {
	var key models.NewAPIKey
	var errs []error
	name, err := validName(f.Name)
	errs = append(errs, err)
	key.Name = name
	description, err := validDescription(f.Description)
	errs = append(errs, err)
	key.Description = description
	scope, ok := models.ParseScope(f.Scope)
	switch {
	case !ok:
		errs = append(errs, &models.FieldError{Field: "scope", Message: "Choose a permission scope."})
	case refused[scope] != "":
		errs = append(errs, &models.FieldError{Field: "scope", Message: refused[scope]})
	default:
		key.Scope = scope
	}
	key.ExpiresAt, err = policy.Resolve(cmp.Or(f.ExpiresIn, policy.DefaultChoice()), f.ExpiresAt, now)
	errs = append(errs, err)
	return key, errors.Join(errs...)
}

// Rotation is the rotate form as sent. Replaces is the hint of the secret the form was opened
// to replace; without it, whatever secret is current is replaced. Return is the list to go back
// to.
type Rotation struct {
	Grace     string `form:"grace"`
	ExpiresIn string `form:"expires_in"`
	ExpiresAt string `form:"expires_at"`
	Return    string `form:"return"`
	Replaces  string `form:"replaces"`
}

// Validate checks the grace and, under policy at now, the new secret's expiry (the policy's
// default when none was chosen), and returns the rotation, or a FieldError per wrong field,
// joined.
func (f Rotation) Validate(policy models.ExpiryPolicy, now time.Time) (models.Rotation, error) {
	var errs []error
	grace, ok := models.ParseGrace(f.Grace)
	if !ok {
		errs = append(errs, &models.FieldError{Field: "grace", Message: "Choose how long the current secret keeps working."})
	}
	expiresAt, err := policy.Resolve(cmp.Or(f.ExpiresIn, policy.DefaultChoice()), f.ExpiresAt, now)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return models.Rotation{}, err
	}
	return models.Rotation{Grace: grace, ExpiresAt: expiresAt, Replaces: f.Replaces}, nil
}

// validName is a key's name as stored, or a FieldError for "name" that reads as a sentence.
func validName(raw string) (string, error) {
	name, err := models.CleanAPIKeyName(raw)
	var fieldErr *models.FieldError
	switch {
	case strings.TrimSpace(raw) == "":
		return "", &models.FieldError{Field: "name", Message: "Enter a name for the key."}
	case errors.As(err, &fieldErr):
		return "", &models.FieldError{Field: "name", Message: "The name " + fieldErr.Message + "."}
	}
	return name, err
}

// validDescription is a key's description as stored, or a FieldError for "description" that
// reads as a sentence.
func validDescription(raw string) (string, error) {
	description, err := models.CleanAPIKeyDescription(raw)
	var fieldErr *models.FieldError
	if errors.As(err, &fieldErr) {
		return "", &models.FieldError{Field: "description", Message: "The description " + fieldErr.Message + "."}
	}
	return description, err
}

// KeyRename is the key page's rename form as sent.
type KeyRename struct {
	Name string `form:"name"`
}

// Validate returns the new name as it is stored, or a FieldError for "name". That no other
// key has the name is the store's to say.
func (f KeyRename) Validate() (string, error) { return validName(f.Name) }

// KeyDescription is the key page's description form as sent.
type KeyDescription struct {
	Description string `form:"description"`
}

// Validate returns the description as it is stored ("" for none), or a FieldError for
// "description".
func (f KeyDescription) Validate() (string, error) { return validDescription(f.Description) }
