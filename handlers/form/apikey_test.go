package form_test

import (
	"maps"
	"testing"
	"time"

	"keysmith/handlers/form"
	"keysmith/models"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// The New API Key form names every wrong field at once, and gives the valid ones.
func TestAPIKeyValidate(t *testing.T) {
	policy := models.ExpiryPolicy{MaxLifetime: 90 * 24 * time.Hour}
	refused := map[models.Scope]string{models.ScopeAdmin: "Only a Super admin can create or rotate an Admin key."}
	for _, tc := range []struct {
		name  string
		in    form.APIKey
		want  models.FieldErrors
		valid models.NewAPIKey
	}{
		{"valid, default expiry", form.APIKey{Name: "  deploy ", Scope: string(models.ScopeReadOnly)}, nil,
			models.NewAPIKey{Name: "deploy", Scope: models.ScopeReadOnly}},
		{"empty", form.APIKey{Name: " ", ExpiresIn: "bogus"}, models.FieldErrors{
			"name": "Enter a name for the key.", "scope": "Choose a permission scope.", "expires_in": "Choose when the key expires.",
		}, models.NewAPIKey{}},
		{"control character, refused scope, bad date", form.APIKey{Name: "a\x00b", Scope: string(models.ScopeAdmin), ExpiresIn: models.ExpiryCustom, ExpiresAt: "2026-13-01"},
			models.FieldErrors{"scope": refused[models.ScopeAdmin], "expires_at": "Enter the date as YYYY-MM-DD."}, models.NewAPIKey{}},
		{"never under a cap", form.APIKey{Name: "ok", Scope: string(models.ScopeScanner), ExpiresIn: models.ExpiryNever},
			models.FieldErrors{"expires_in": "Your organisation’s policy requires every key to expire within 90 days."}, models.NewAPIKey{Name: "ok", Scope: models.ScopeScanner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := tc.in.Validate(policy, now, refused)
			got := models.FieldErrorsOf(err)
			if tc.name == "control character, refused scope, bad date" {
				// The name's message comes from models.CleanAPIKeyName; only its field matters.
				if got["name"] == "" {
					t.Errorf("name: got no error for a NUL byte")
				}
				delete(got, "name")
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("errors: got %v, want %v", got, tc.want)
			}
			if key.Name != tc.valid.Name || key.Scope != tc.valid.Scope {
				t.Errorf("key: got %q %q, want %q %q", key.Name, key.Scope, tc.valid.Name, tc.valid.Scope)
			}
			if err == nil && (key.ExpiresAt == nil || !key.ExpiresAt.After(now)) {
				t.Errorf("expiry: got %v, want the policy's default, after now", key.ExpiresAt)
			}
		})
	}
}

// The rotate form needs a grace it knows, and an expiry the policy allows.
func TestRotationValidate(t *testing.T) {
	policy := models.ExpiryPolicy{}
	if _, err := (form.Rotation{Grace: "forever", ExpiresIn: models.ExpiryCustom, ExpiresAt: "2020-01-01"}).Validate(policy, now); !maps.Equal(models.FieldErrorsOf(err), models.FieldErrors{
		"grace": "Choose how long the current secret keeps working.", "expires_at": "Choose a date in the future.",
	}) {
		t.Errorf("got %v", models.FieldErrorsOf(err))
	}
	rotation, err := form.Rotation{Grace: string(models.GraceDay), ExpiresIn: models.ExpiryNever, Replaces: "ab12"}.Validate(policy, now)
	if err != nil || rotation.Grace != models.GraceDay || rotation.ExpiresAt != nil || rotation.Replaces != "ab12" {
		t.Errorf("got %+v, %v; want a day's grace, no expiry, replacing ab12", rotation, err)
	}
}

// A password typed twice differently is refused as the whole form, before the store sees it.
func TestPasswordFormsValidate(t *testing.T) {
	if err := (form.NewPassword{Password: "correct horse battery", Confirm: "correct horse battery"}).Validate(); err != nil {
		t.Errorf("same twice: got %v", err)
	}
	if got := models.FieldErrorsOf(form.NewPassword{Password: "a", Confirm: "b"}.Validate()).Form(); got != "The two passwords differ. Type the same password twice." {
		t.Errorf("set password: got %q", got)
	}
	if got := models.FieldErrorsOf(form.PasswordChange{Password: "a", Confirm: "b"}.Validate()).Form(); got != "The two new passwords differ. Type the same password twice." {
		t.Errorf("change password: got %q", got)
	}
}
