package views

import (
	"fmt"
	"strconv"
	"time"

	"keysmith/models"
)

// RevocationWait is how long the console waits for every instance live at a revocation to
// acknowledge it before it names those that have not.
const RevocationWait = 2 * time.Second

// Revocation is the proof of one revocation as the console shows it at Now.
type Revocation struct {
	Proof models.RevocationProof
	Now   time.Time
}

// Waiting tells whether the console still waits for acknowledgements: some instance has not
// acknowledged, and RevocationWait has not passed since the revocation.
func (r Revocation) Waiting() bool {
	return !r.Proof.Complete() && r.Now.Sub(r.Proof.RevokedAt) < RevocationWait
}

// State names the proof's state for scripts and tests: waiting, complete or incomplete (some
// instance did not acknowledge within RevocationWait).
func (r Revocation) State() string {
	switch {
	case r.Proof.Complete():
		return "complete"
	case r.Waiting():
		return "waiting"
	}
	return "incomplete"
}

// URL is the address of the proof's fragment, which htmx polls while it waits.
func (r Revocation) URL() string { return "/admin/revocations/" + strconv.FormatInt(r.Proof.ID, 10) }

// Summary is the proof in one sentence: "Revoked on 2 of 2 instances in 3 ms." The words
// are the same for one instance.
func (r Revocation) Summary() string {
	acked, of := len(r.Proof.Acks), r.Proof.Instances()
	switch {
	case r.Waiting():
		return fmt.Sprintf("Revoking on every instance: %d of %d acknowledged so far…", acked, of)
	case of == 0:
		return "Revoked; no running instance was registered to acknowledge it."
	case acked == 0:
		return fmt.Sprintf("Revoked on 0 of %d instances.", of)
	}
	return fmt.Sprintf("Revoked on %d of %d instances in %s.", acked, of, Took(r.Proof.Took()))
}

// Took writes how long a revocation took to reach the instances, in milliseconds: "0.042 ms",
// "0.3 ms", "3 ms", "1250 ms".
func Took(d time.Duration) string {
	if d < time.Millisecond {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 2, 64) + " ms"
	}
	return strconv.FormatInt(int64(d.Round(time.Millisecond)/time.Millisecond), 10) + " ms"
}

// Ago writes how long ago t was at now to the tenth of a second, for heartbeats, which come
// every few seconds: "0.4 s ago", "12.0 s ago".
func Ago(t, now time.Time) string {
	return strconv.FormatFloat(max(now.Sub(t), 0).Seconds(), 'f', 1, 64) + " s ago"
}
