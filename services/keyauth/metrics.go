package keyauth

import (
	"github.com/prometheus/client_golang/prometheus"

	"keysmith/metrics"
)

// Result is how the verification of a presented key ended, as the metrics count it.
type Result int

// The results of a verification. Malformed, unknown, expired and disabled keys get the same
// 401; the metrics tell them apart for the operator.
const (
	ResultOK Result = iota
	// ResultStale: the database could not be asked, and the key was vouched for recently.
	ResultStale
	ResultMalformed
	ResultUnknown
	ResultExpired
	// ResultDisabled: the key exists but is disabled.
	ResultDisabled
	ResultWrongScope
	// ResultUnavailable: the database could not be asked, and the key could not be vouched for.
	ResultUnavailable
	// ResultError: the store failed in another way (answered 500).
	ResultError
	results
)

var resultNames = [results]string{"ok", "stale", "malformed", "unknown", "expired", "disabled", "wrong_scope", "unavailable", "error"}

// keyMetrics are what the verifier counts. The counters on the key path are resolved once, so
// that counting costs an atomic add.
type keyMetrics struct {
	verifications [results]prometheus.Counter
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
	// cacheRefreshes counts the cached keys read again in the background before their trust
	// ran out.
	cacheRefreshes prometheus.Counter
	// negativeCacheHits counts the unknown keys answered from memory, without a lookup.
	negativeCacheHits prometheus.Counter
	// indexRefusals counts the well-formed keys refused because the index of secret hashes
	// lacks theirs, without a lookup.
	indexRefusals prometheus.Counter
	usesWritten   prometheus.Counter
	usesDropped   prometheus.Counter
	// requestsUncounted counts requests left out of their key's daily count.
	requestsUncounted prometheus.Counter
}

func newKeyMetrics(r *metrics.Registry) *keyMetrics {
	m := &keyMetrics{}
	verifications := r.CounterVec("keysmith_key_verifications_total",
		"API key verifications, by result: ok, stale (accepted from memory while the database was unreachable), malformed, unknown, expired, disabled, wrong_scope, unavailable (refused with 503: the database could not be asked) or error.",
		"result")
	for result, name := range resultNames {
		m.verifications[result] = verifications.WithLabelValues(name)
	}
	m.cacheHits = r.Counter("keysmith_key_cache_hits_total", "Key verifications answered from this instance's cache of verified keys.")
	m.cacheMisses = r.Counter("keysmith_key_cache_misses_total", "Key verifications that asked the database.")
	m.cacheRefreshes = r.Counter("keysmith_key_cache_refreshes_total", "Cached keys read again from the database shortly before their trust ran out, in the background, while requests were answered from the cache.")
	m.negativeCacheHits = r.Counter("keysmith_key_negative_cache_hits_total", "Unknown keys answered from this instance's memory of keys the database did not know seconds before: database lookups avoided.")
	m.indexRefusals = r.Counter("keysmith_key_index_refusals_total", "Well-formed keys refused because no secret the database holds has their hash, as this instance's index of secret hashes tells without a database lookup.")
	m.usesWritten = r.Counter("keysmith_key_uses_written_total", "Gathered key uses (key, client and address) written to the database.")
	m.usesDropped = r.Counter("keysmith_key_uses_dropped_total", "Gathered key uses given up: past the memory bound while the database was unreachable, or unwritten at shutdown.")
	m.requestsUncounted = r.Counter("keysmith_key_requests_uncounted_total", "Requests left out of their key's daily count: past the memory bound while the database was unreachable, or unwritten at shutdown.")
	return m
}

// Count counts a verification by its result: the request's, which for a key of another scope
// than the route admits is ResultWrongScope, whatever Check said.
func (v *Verifier) Count(result Result) { v.metrics.verifications[result].Inc() }
