package web

import (
	"context"
	"errors"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
)

const (
	// revocationFlashKey holds, in the session, the revocation whose proof the next page shows.
	revocationFlashKey = "revocation"
	// revocationContextKey holds, in the request, the proof Render adds to an htmx answer.
	revocationContextKey = "revocation"
)

// NoteRevocation shows the console the proof that the key's latest revocation reached every
// instance: "Revoked on 2 of 2 instances in 3 ms", naming any live instance that has not
// acknowledged it within views.RevocationWait. Handlers call it once the store operation that
// ended a validity (delete, disable, a rotation that ends a grace) has returned. An htmx
// answer then carries the proof out of band (Render adds it), which updates itself until it
// is settled; without JavaScript, the next page shows it settled, having waited for it. A
// change that revoked nothing (a rotation with a grace, an enable) shows nothing: the key's
// latest revocation is older than views.RevocationWait. The change is made whatever happens
// here: a proof that cannot be shown is logged, not an error.
func (s *Server) NoteRevocation(c echo.Context, keyID int64) {
	if err := s.noteRevocation(c, keyID); err != nil {
		s.log.Warn("cannot show the proof of revocation", "request_id", requestID(c), "key", keyID, "error", err)
	}
}

func (s *Server) noteRevocation(c echo.Context, keyID int64) error {
	ctx := c.Request().Context()
	id, err := s.store.LatestKeyRevocation(ctx, keyID)
	if errors.Is(err, models.ErrRevocationNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	proof, err := s.store.RevocationProof(ctx, id)
	if err != nil {
		return err
	}
	revocation := views.Revocation{Proof: *proof, Now: s.store.Now()}
	if revocation.Now.Sub(proof.RevokedAt) > views.RevocationWait {
		return nil
	}
	if IsHTMX(c) {
		c.Set(revocationContextKey, revocation)
		return nil
	}
	session := currentSession(c)
	session.AddFlash(id, revocationFlashKey)
	return session.Save(c.Request(), c.Response())
}

// AwaitRevocation returns the proof of the revocation with that id, as the console shows it,
// once it is settled: every instance acknowledged it, or views.RevocationWait has passed since
// it was made (cluster.Instance.AwaitRevocation). models.ErrRevocationNotFound when there is
// no such revocation.
func (s *Server) AwaitRevocation(ctx context.Context, id int64) (views.Revocation, error) {
	proof, now, err := s.cluster.AwaitRevocation(ctx, id, views.RevocationWait)
	if err != nil {
		return views.Revocation{}, err
	}
	return views.Revocation{Proof: *proof, Now: now}, nil
}

// settledRevocation returns the settled proof of the revocation a flash names; nil when the
// flash names none, or it is gone.
func (s *Server) settledRevocation(ctx context.Context, flash any) (*views.Revocation, error) {
	id, ok := flash.(int64)
	if !ok {
		return nil, nil
	}
	revocation, err := s.AwaitRevocation(ctx, id)
	if errors.Is(err, models.ErrRevocationNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &revocation, nil
}
