package handlers

import (
	"context"
	"errors"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// revocationFlash is the kind of flash that names, for the next page, the revocation whose
// proof it shows (web.Server.AddFlashOf, web.Server.OnFlash).
const revocationFlash = "revocation"

// noteRevocation shows the console the proof that the key's latest revocation reached every
// instance: "Revoked on 2 of 2 instances in 3 ms", naming any live instance that has not
// acknowledged it within views.RevocationWait. Handlers call it once the store operation that
// ended a validity (delete, disable, a rotation that ends a grace) has returned. An htmx
// answer then carries the proof out of band (web.AddOutOfBand), which updates itself until it
// is settled; without JavaScript, the next page shows it settled, having waited for it
// (settledRevocation). A change that revoked nothing (a rotation with a grace, an enable)
// shows nothing: the key's latest revocation is older than views.RevocationWait. The change is
// made whatever happens here: a proof that cannot be shown is logged, not an error.
func (h *Handler) noteRevocation(c echo.Context, keyID int64) {
	if err := h.tryNoteRevocation(c, keyID); err != nil {
		h.log.Warn("cannot show the proof of revocation", "request_id", web.RequestID(c), "key", keyID, "error", err)
	}
}

func (h *Handler) tryNoteRevocation(c echo.Context, keyID int64) error {
	ctx := c.Request().Context()
	id, err := h.store.LatestKeyRevocation(ctx, keyID)
	if errors.Is(err, models.ErrRevocationNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	proof, err := h.store.RevocationProof(ctx, id)
	if err != nil {
		return err
	}
	revocation := views.Revocation{Proof: *proof, Now: h.store.Now()}
	if revocation.Now.Sub(proof.RevokedAt) > views.RevocationWait {
		return nil
	}
	if web.IsHTMX(c) {
		web.AddOutOfBand(c, views.RevocationProofOOB(revocation))
		return nil
	}
	return h.srv.AddFlashOf(c, revocationFlash, id)
}

// awaitRevocation returns the proof of the revocation with that id, as the console shows it,
// once it is settled: every instance acknowledged it, or views.RevocationWait has passed since
// it was made (cluster.Instance.AwaitRevocation). models.ErrRevocationNotFound when there is
// no such revocation.
func (h *Handler) awaitRevocation(ctx context.Context, id int64) (views.Revocation, error) {
	proof, now, err := h.cluster.AwaitRevocation(ctx, id, views.RevocationWait)
	if err != nil {
		return views.Revocation{}, err
	}
	return views.Revocation{Proof: *proof, Now: now}, nil
}

// settledRevocation puts on page the settled proof of the revocation a flash names: the page
// after a change made without JavaScript waits for it. Nothing when the revocation is gone.
func (h *Handler) settledRevocation(ctx context.Context, flash any, page *views.Page) error {
	id, ok := flash.(int64)
	if !ok {
		return nil
	}
	revocation, err := h.awaitRevocation(ctx, id)
	if errors.Is(err, models.ErrRevocationNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	page.Revocation = &revocation
	return nil
}
