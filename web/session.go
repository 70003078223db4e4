package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"keysmith/models"
)

// sessionTouchInterval is how stale a session's last-seen time may get before a request
// writes it again; it keeps reads from turning into one write each.
const sessionTouchInterval = time.Minute

const sessionUserKey = "uid"

// Sessions is a gorilla/sessions Store that keeps sessions in the database. The cookie holds
// only a signed, encrypted random token; the server holds the data, so logout, timeouts and
// a disabled user end a session on every instance.
type Sessions struct {
	store   *models.Store
	codecs  []securecookie.Codec
	name    string
	options sessions.Options
	idle    time.Duration
	maxAge  time.Duration
}

// NewSessions builds the session store. Each key yields an HMAC key and an AES key; the first
// key signs new cookies and every key is tried when reading, so keys can be rotated.
func NewSessions(store *models.Store, keys [][]byte, secure bool, idle, maxAge time.Duration) *Sessions {
	var pairs [][]byte
	for _, key := range keys {
		pairs = append(pairs, derive(key, "keysmith session hash"), derive(key, "keysmith session block"))
	}
	name := "keysmith_session"
	if secure {
		name = "__Host-keysmith_session"
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, codec := range codecs {
		codec.(*securecookie.SecureCookie).MaxAge(int(maxAge.Seconds()))
	}
	return &Sessions{
		store:  store,
		codecs: codecs,
		name:   name,
		options: sessions.Options{
			Path:     "/",
			MaxAge:   int(maxAge.Seconds()),
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
		},
		idle:   idle,
		maxAge: maxAge,
	}
}

func derive(key []byte, label string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// Get returns the request's session, loading it once per request.
func (s *Sessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or starts an empty one when there is
// no cookie or its session has ended.
func (s *Sessions) New(r *http.Request, name string) (*sessions.Session, error) {
	session := sessions.NewSession(s, name)
	options := s.options
	session.Options = &options
	session.IsNew = true
	cookie, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	var token string
	if err := securecookie.DecodeMulti(name, cookie.Value, &token, s.codecs...); err != nil {
		return session, nil
	}
	row, err := s.store.SessionByToken(r.Context(), token, s.idle)
	if errors.Is(err, models.ErrSessionNotFound) {
		return session, nil
	}
	if err != nil {
		return session, err
	}
	if err := (securecookie.GobEncoder{}).Deserialize(row.Data, &session.Values); err != nil {
		return session, nil
	}
	session.ID = token
	session.IsNew = false
	if s.store.Now().Sub(row.LastSeenAt) > sessionTouchInterval {
		if err := s.store.TouchSession(r.Context(), token); err != nil {
			return session, err
		}
	}
	return session, nil
}

// Save writes the session to the database and its token to the cookie; a negative MaxAge ends
// the session on the server and clears the cookie. A session is only ever created here with a
// fresh token, so a session that ended cannot be brought back by a late save.
func (s *Sessions) Save(r *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	if session.Options.MaxAge < 0 {
		if session.ID != "" {
			if err := s.store.DeleteSession(r.Context(), session.ID); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	}
	data, err := (securecookie.GobEncoder{}).Serialize(session.Values)
	if err != nil {
		return err
	}
	var userID *int64
	if id, ok := session.Values[sessionUserKey].(int64); ok {
		userID = &id
	}
	if session.ID == "" {
		session.ID = models.NewSessionToken()
		// The request's actor carries the client as the server sees it (through trusted
		// proxies), for the owner's list of their sessions.
		actor := models.AuditActorFrom(r.Context())
		client := models.SessionClient{Address: actor.Address, UserAgent: actor.UserAgent}
		if err := s.store.CreateSession(r.Context(), session.ID, userID, data, s.maxAge, client); err != nil {
			return err
		}
	} else if err := s.store.UpdateSession(r.Context(), session.ID, userID, data); errors.Is(err, models.ErrSessionNotFound) {
		// Ended while this request ran: it stays ended, and the browser forgets it.
		session.Options.MaxAge = -1
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	} else if err != nil {
		return err
	}
	encoded, err := securecookie.EncodeMulti(session.Name(), session.ID, s.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), encoded, session.Options))
	return nil
}

// CookieName is the session cookie's name: __Host-keysmith_session over https.
func (s *Sessions) CookieName() string { return s.name }
