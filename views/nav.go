package views

import "keysmith/models"

// NavItem is one entry of the main navigation: a page of the console, and who may open it.
type NavItem struct {
	// Section is the Page.Section of the page, which marks its entry as the current one.
	Section string
	Label   string
	Href    string
	// Allowed tells whether a user with a permission may open the page: the same check as
	// its route's, so the navigation never offers a page that answers 403.
	Allowed func(models.Permission) bool
}

// Nav is the main navigation, in order. A new page of the console gets its entry here.
var Nav = []NavItem{
	{Section: "api-keys", Label: "API Keys", Href: "/admin/api-keys", Allowed: models.Permission.CanManageAPIKeys},
	{Section: "scanners", Label: "Scanners", Href: "/admin/scanners", Allowed: models.Permission.CanManageAPIKeys},
	{Section: "instances", Label: "Instances", Href: "/admin/instances", Allowed: models.Permission.CanManageAPIKeys},
	{Section: "audit-log", Label: "Audit log", Href: "/admin/audit-log", Allowed: models.Permission.CanManageAPIKeys},
	{Section: "users", Label: "Users", Href: "/admin/users", Allowed: models.Permission.CanManageUsers},
}

// NavFor returns the entries of Nav that user may open; none for nobody signed in.
func NavFor(user *models.User) []NavItem {
	if user == nil {
		return nil
	}
	var items []NavItem
	for _, item := range Nav {
		if item.Allowed(user.Permission) {
			items = append(items, item)
		}
	}
	return items
}

// HomeFor is the first page user may open, where the brand and error pages lead; nil when
// user may open none. Nobody signed in goes to the API Keys page, which asks them to sign in.
func HomeFor(user *models.User) *NavItem {
	if user == nil {
		return &Nav[0]
	}
	if items := NavFor(user); len(items) > 0 {
		return &items[0]
	}
	return nil
}

// account is Your account, which every signed-in user may open.
var account = NavItem{Section: "account", Label: "Your account", Href: "/account", Allowed: func(models.Permission) bool { return true }}

// StartFor is the first page user may open, where an error page's primary button leads: the
// first of Nav they may open, else Your account. Nobody signed in goes to the API Keys page,
// which asks them to sign in.
func StartFor(user *models.User) NavItem {
	if home := HomeFor(user); home != nil {
		return *home
	}
	return account
}
