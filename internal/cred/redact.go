package cred

import (
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Redacted is what Redact puts in place of a secret.
const Redacted = "[REDACTED]"

// Secrets shorter than this are not registered: they would blank out
// ordinary words. Tokens, their parts and client secrets are longer.
const minSecretLen = 8

// maxSecrets bounds the registry of a long-running probe that keeps
// rotating tokens: over it, secrets past their forget time are dropped, then
// the timed secrets closest to it. Secrets registered with RegisterSecret
// (client secrets) are kept.
const maxSecrets = 4096

// registry is the process-wide set of secrets. Lookups go through a bit
// filter over each secret's first 8 bytes, so text without any secret is
// cleared in one pass without allocating; on a filter hit the candidates
// with that prefix are compared.
var registry secretRegistry

type secretRegistry struct {
	mu       sync.RWMutex
	secrets  map[string]time.Time // secret → forget after (zero: never)
	filter   [1 << 16 / 64]uint64
	byPrefix map[uint64][]string // first 8 bytes → secrets, longest first
}

func load8(s string, i int) uint64 {
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

func filterBit(w uint64) uint64 { return (w * 0x9E3779B97F4A7C15) >> 48 }

// RegisterSecret adds s to the process-wide set of strings that Redact
// removes from all output. Surrounding white space is ignored; strings
// shorter than 8 bytes are not registered.
func RegisterSecret(s string) { registerSecret(s, time.Time{}) }

// registerToken registers a bearer token, its payload and its signature
// (each can leak alone: logs cut tokens at the dots), until a day after it
// expires.
func registerToken(raw string, exp time.Time) {
	forget := time.Now().Add(7 * 24 * time.Hour) // opaque tokens: a week
	if !exp.IsZero() {
		forget = exp.Add(24 * time.Hour)
	}
	registerSecret(raw, forget)
	if parts := strings.Split(raw, "."); len(parts) == 3 {
		registerSecret(parts[1], forget)
		registerSecret(parts[2], forget)
	}
}

func registerSecret(s string, forget time.Time) {
	s = strings.TrimSpace(s)
	if len(s) < minSecretLen {
		return
	}
	r := &registry
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]time.Time{}
		r.byPrefix = map[uint64][]string{}
	}
	if old, ok := r.secrets[s]; ok {
		if !old.IsZero() && (forget.IsZero() || forget.After(old)) {
			r.secrets[s] = forget
		}
		return
	}
	r.secrets[s] = forget
	r.index(s)
	if len(r.secrets) > maxSecrets {
		r.prune(time.Now())
	}
}

// index adds s to the filter and its prefix list (caller holds mu).
func (r *secretRegistry) index(s string) {
	w := load8(s, 0)
	b := filterBit(w)
	r.filter[b/64] |= 1 << (b % 64)
	// Longest first, so a whole token wins over its parts.
	list := r.byPrefix[w]
	at := sort.Search(len(list), func(i int) bool { return len(list[i]) < len(s) })
	r.byPrefix[w] = slices.Insert(list, at, s)
}

// prune forgets expired secrets and rebuilds the index (caller holds mu).
func (r *secretRegistry) prune(now time.Time) {
	var timed []string
	for k, f := range r.secrets {
		switch {
		case f.IsZero():
		case f.Before(now):
			delete(r.secrets, k)
		default:
			timed = append(timed, k)
		}
	}
	if excess := len(r.secrets) - maxSecrets*3/4; excess > 0 {
		sort.Slice(timed, func(i, j int) bool { return r.secrets[timed[i]].Before(r.secrets[timed[j]]) })
		for _, k := range timed[:min(excess, len(timed))] {
			delete(r.secrets, k)
		}
	}
	r.filter = [1 << 16 / 64]uint64{}
	r.byPrefix = make(map[uint64][]string, len(r.secrets))
	for k := range r.secrets {
		r.index(k)
	}
}

// replaceSecrets replaces registered secrets in s; it returns s itself
// when there is none.
func replaceSecrets(s string) string {
	r := &registry
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.secrets) == 0 {
		return s
	}
	var b *strings.Builder
	last := 0
	for i := 0; i+minSecretLen <= len(s); {
		w := load8(s, i)
		bit := filterBit(w)
		if r.filter[bit/64]&(1<<(bit%64)) == 0 {
			i++
			continue
		}
		matched := ""
		for _, cand := range r.byPrefix[w] {
			if strings.HasPrefix(s[i:], cand) {
				matched = cand
				break
			}
		}
		if matched == "" {
			i++
			continue
		}
		if b == nil {
			b = &strings.Builder{}
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(Redacted)
		i += len(matched)
		last = i
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

var (
	jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*`)
	// A bearer credential after "Bearer " (also URL-encoded, as in authz=Bearer%20…).
	bearerRE = regexp.MustCompile(`(?i)(\bbearer(?:\s+|%20|\+))[A-Za-z0-9._~+/=%-]{8,}`)
	authzRE  = regexp.MustCompile(`(?i)([?&]authz=)[^&\s"'<>]+`)
	// Credential-carrying fields of JSON bodies, forms and URLs.
	fieldRE = regexp.MustCompile(`(?i)("?\b(?:access_token|refresh_token|id_token|client_secret|macaroon)"?\s*[:=]\s*"?)[^"&\s,}]{8,}`)
)

// Redact returns s with every registered secret, anything shaped like a JWT,
// the credential after "Bearer ", authz= URL parameters and
// access_token/client_secret/macaroon fields replaced by [REDACTED].
// It is safe for concurrent use, and text without secrets is returned as is
// without allocating.
func Redact(s string) string {
	s = replaceSecrets(s)
	if strings.Contains(s, "eyJ") {
		s = jwtRE.ReplaceAllString(s, Redacted)
	}
	if containsFold(s, "bearer") {
		s = bearerRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	if containsFold(s, "authz=") {
		s = authzRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	if containsFold(s, "_token") || containsFold(s, "_secret") || containsFold(s, "macaroon") {
		s = fieldRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	return s
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring ASCII case. It jumps between occurrences of sub's first letter.
func containsFold(s, sub string) bool {
	lo := sub[0]
	up := lo
	if 'a' <= lo && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	for len(s) >= len(sub) {
		i := strings.IndexByte(s, lo)
		if up != lo {
			if j := strings.IndexByte(s, up); j >= 0 && (i < 0 || j < i) {
				i = j
			}
		}
		if i < 0 || len(s)-i < len(sub) {
			return false
		}
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
		s = s[i+1:]
	}
	return false
}

// RedactWriter returns a writer that passes everything through Redact.
// Each Write is redacted on its own, so a writer feeding it must not split a
// secret across calls (loggers write whole records; fmt.Fprint* writes its
// whole result at once).
func RedactWriter(w io.Writer) io.Writer { return &redactWriter{w: w} }

type redactWriter struct{ w io.Writer }

func (r *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
