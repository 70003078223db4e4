package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// Setup links used at once, as several instances started on an empty database would print
// them, create exactly one Super admin: the others are told that setup is done.
func TestParallelSetupCreatesOneSuperAdmin(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		const links = 16
		tokens := make([]string, links)
		for i := range tokens {
			token, err := store.CreateSetupToken(ctx)
			if err != nil || token == "" {
				t.Fatalf("setup token %d: %q, %v", i, token, err)
			}
			tokens[i] = token
		}
		errs := make([]error, links)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, token := range tokens {
			wg.Go(func() {
				<-start
				_, errs[i] = store.CompleteSetup(ctx, token, models.NewUser{Email: fmt.Sprintf("root%d@example.com", i), Name: "Root", Password: "a long enough password"})
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, models.ErrSetupDone):
				t.Errorf("link %d: got %v, want success or ErrSetupDone", i, err)
			}
		}
		users, err := store.CountUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if created != 1 || users != 1 {
			t.Errorf("links used at once: %d succeeded, %d users; want exactly one Super admin", created, users)
		}
	})
}
