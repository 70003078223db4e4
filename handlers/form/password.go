package form

import "keysmith/models"

// NewPassword is the form of a one-time link, where a user chooses their password.
type NewPassword struct {
	Token    string `form:"token"`
	Password string `form:"password"`
	Confirm  string `form:"password_confirm"`
}

// Validate checks that the password was typed the same twice; what a password must be is the
// store's to say (models.ValidatePassword), as it is for every password.
func (f NewPassword) Validate() error {
	if f.Password != f.Confirm {
		return &models.FieldError{Message: "The two passwords differ. Type the same password twice."}
	}
	return nil
}

// PasswordChange is Your account's password form.
type PasswordChange struct {
	Current  string `form:"current_password"`
	Password string `form:"password"`
	Confirm  string `form:"password_confirm"`
}

// Validate checks that the new password was typed the same twice; the current password and
// what a new one must be are the store's to check.
func (f PasswordChange) Validate() error {
	if f.Password != f.Confirm {
		return &models.FieldError{Message: "The two new passwords differ. Type the same password twice."}
	}
	return nil
}
