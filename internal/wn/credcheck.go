package wn

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// clockSlack is how far the node's clock may be behind the token issuer's
// before WN-10credentials warns (issuers back-date nbf by about a minute).
const clockSlack = 60 * time.Second

// credentialsOutcome is WN-10credentials: what the job has, found where,
// and whether its token is meant for the site's storage (auds).
func credentialsOutcome(jc *jobCreds, auds []string, now time.Time) engine.Outcome {
	var parts []string
	var scope string
	var perf []engine.Perf
	state := engine.OK
	worse := func(s engine.State) { state = engine.Worst(state, s) }
	switch {
	case jc.Token != nil:
		t := jc.Token
		c := t.Claims()
		s := fmt.Sprintf("token via %s: iss=%s sub=%s aud=%s", tokenWhere(jc.Source), dash(c.Issuer), dash(c.Subject), dash(strings.Join(c.Audience, ",")))
		s += ", " + lifetimeText(t, now)
		if !c.IssuedAt.IsZero() {
			off := now.Sub(c.IssuedAt)
			s += fmt.Sprintf(", clock %s vs iat", signed(off))
			perf = append(perf, engine.Perf{Label: "iat_offset", Value: off.Seconds(), Unit: "s"})
			if off < -clockSlack {
				worse(engine.Warning)
				s += " (the node's clock is behind the issuer's)"
			}
		}
		if !c.NotBefore.IsZero() && now.Before(c.NotBefore) {
			worse(engine.Warning)
			s += fmt.Sprintf(", not valid for another %s (nbf): the node's clock is behind", shortDur(c.NotBefore.Sub(now)))
		}
		if miss := missingAudiences(c, auds); len(miss) == len(auds) && len(auds) > 0 {
			worse(engine.Unknown)
			s = fmt.Sprintf("the job's token is not for the site's storage (%s): aud=%s; storage checks with it prove nothing (the token's issuer or VO, not the site); ",
				strings.Join(auds, " "), dash(strings.Join(c.Audience, ","))) + s
		} else if len(miss) > 0 {
			worse(engine.Warning)
			s += "; not for " + strings.Join(miss, " ")
		}
		parts = append(parts, s)
		scope = "scope " + compactScopes(c.Scopes) // last: the longest part
	case jc.TokErr != nil:
		worse(engine.Critical)
		parts = append(parts, "token unusable: "+jc.TokErr.Error())
	}
	// The proxy is short (the detail is cut at 256); its DN is in the crt
	// checks' details.
	var px string
	switch {
	case jc.Proxy != nil:
		px = proxyShort(jc.Proxy, now) + " (via " + proxyWhere(jc) + ")"
	case jc.ProxyErr != nil:
		worse(engine.Warning)
		px = "proxy " + jc.ProxyPath + " unusable: " + jc.ProxyErr.Error()
	default:
		px = "no proxy"
	}
	parts = append(parts, px)
	if jc.Token == nil && jc.Proxy == nil {
		worse(engine.Critical)
		parts = append([]string{"no usable credential in the job"}, parts...)
		parts = append(parts, "looked in: "+strings.Join(jc.Looked, "; "))
	}
	if scope != "" {
		parts = append(parts, scope)
	}
	return engine.Outcome{State: state, Detail: strings.Join(parts, "; "), Perf: perf}
}

// tokenWhere names the discovery place briefly (the detail has 256
// characters): the variable or directory, not the whole path.
func tokenWhere(src cred.Source) string {
	switch s := src.(type) {
	case nil:
		return "-"
	case *cred.FileSource:
		if s.Origin == "BEARER_TOKEN_FILE" {
			return "BEARER_TOKEN_FILE"
		}
		return s.Path
	case *cred.EnvSource:
		return s.Var
	case *condorCredSource:
		return "$" + CondorCredsEnv + "/" + filepath.Base(s.Path)
	}
	return src.Describe()
}

// runIDElem is a scratch directory name (a run id) in a scope path.
var runIDElem = regexp.MustCompile(`gp-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}([0-9a-f]{6})`)

// compactScopes groups scopes by path ("read,create,modify:/gridprobe/…")
// and shortens run-id directory names to their last 6 hex digits.
func compactScopes(scopes []string) string {
	var order []string
	acts := map[string][]string{}
	for _, sc := range scopes {
		act, p, ok := strings.Cut(sc, ":")
		if !ok || !strings.HasPrefix(act, "storage.") {
			order = append(order, sc)
			continue
		}
		p = runIDElem.ReplaceAllString(p, "gp-…$1")
		if _, seen := acts[p]; !seen {
			order = append(order, "\x00"+p)
		}
		acts[p] = append(acts[p], strings.TrimPrefix(act, "storage."))
	}
	out := make([]string, len(order))
	for i, o := range order {
		if p, ok := strings.CutPrefix(o, "\x00"); ok {
			o = strings.Join(acts[p], ",") + ":" + p
		}
		out[i] = o
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// proxyShort: "proxy VO testvo, 11h58m left".
func proxyShort(p *cred.Proxy, now time.Time) string {
	s := "proxy"
	if vo := p.VO(); vo != "" {
		s += " VO " + vo
	} else {
		s += " without VOMS"
	}
	if now.Before(p.NotAfter) {
		return s + ", " + shortDur(p.NotAfter.Sub(now)) + " left"
	}
	return s + ", EXPIRED " + shortDur(now.Sub(p.NotAfter)) + " ago"
}

func proxyWhere(jc *jobCreds) string {
	if os.Getenv("X509_USER_PROXY") == jc.ProxyPath {
		return "X509_USER_PROXY"
	}
	return jc.ProxyPath
}

// missingAudiences lists the storage audiences the token is not for.
func missingAudiences(c cred.Claims, auds []string) []string {
	var miss []string
	for _, a := range auds {
		if !c.HasAudience(a) {
			miss = append(miss, a)
		}
	}
	return miss
}

func lifetimeText(t *cred.Token, now time.Time) string {
	switch {
	case t.Expiry.IsZero():
		return "no expiry"
	case now.Before(t.Expiry):
		return shortDur(t.Expiry.Sub(now)) + " left"
	default:
		return "EXPIRED " + shortDur(now.Sub(t.Expiry)) + " ago"
	}
}

// snapshot is the job's token at one moment.
type snapshot struct {
	at  time.Time
	tok *cred.Token
}

// lifetimeOutcome is WN-11token-lifetime: the lifetime left when the job
// started and when it ended, against min (0: no minimum), and whether the
// token was refreshed in between.
func lifetimeOutcome(start, end snapshot, min time.Duration) engine.Outcome {
	if start.tok == nil {
		return engine.Unknownf("no token in the job (see %s)", "WN-10credentials")
	}
	t := start.tok
	if t.Expiry.IsZero() {
		return engine.Okf("the token has no expiry (exp claim missing)")
	}
	left := t.Expiry.Sub(start.at)
	perf := []engine.Perf{{Label: "lifetime_start", Value: left.Seconds(), Unit: "s"}}
	var o engine.Outcome
	minText := "wn_min_token_lifetime " + shortDur(min)
	if min == 0 {
		minText = "no wn_min_token_lifetime"
	}
	switch {
	case left <= 0:
		o = engine.Critf("token EXPIRED %s before the job started (exp %s; %s)", shortDur(-left), t.Expiry.UTC().Format(time.TimeOnly+"Z"), minText)
	case min > 0 && left < min:
		o = engine.Warnf("only %s token lifetime left when the job started, less than %s", shortDur(left), minText)
	default:
		o = engine.Okf("%s token lifetime left when the job started (%s)", shortDur(left), minText)
	}
	if iat := t.Claims().IssuedAt; !iat.IsZero() {
		o.Detail += fmt.Sprintf("; issued %s before the job started", shortDur(start.at.Sub(iat)))
	}
	o.Detail += "; " + endText(start, end, &o, &perf)
	o.Perf = perf
	return o
}

// endText words the lifetime at job end and any refresh; a token that
// expired during the job makes the outcome CRITICAL.
func endText(start, end snapshot, o *engine.Outcome, perf *[]engine.Perf) string {
	if end.tok == nil {
		return "no token readable at job end"
	}
	var s string
	if end.tok.Expiry.IsZero() {
		s = "at job end: no expiry"
	} else {
		left := end.tok.Expiry.Sub(end.at)
		*perf = append(*perf, engine.Perf{Label: "lifetime_end", Value: left.Seconds(), Unit: "s"})
		if left <= 0 {
			s = "EXPIRED " + shortDur(-left) + " before the job ended"
			if start.tok.Expiry.After(start.at) {
				o.State = engine.Worst(o.State, engine.Critical)
				o.Detail = "token expired during the job; " + o.Detail
			}
		} else {
			s = shortDur(left) + " left at job end"
		}
	}
	if refreshed(start.tok, end.tok) {
		sc, ec := start.tok.Claims(), end.tok.Claims()
		return s + fmt.Sprintf("; REFRESHED during the job: exp %s → %s, iat %s → %s",
			hhmmss(sc.Expiry), hhmmss(ec.Expiry), hhmmss(sc.IssuedAt), hhmmss(ec.IssuedAt))
	}
	return s + "; not refreshed during the job"
}

// refreshed reports whether the token changed between two reads.
func refreshed(a, b *cred.Token) bool {
	ac, bc := a.Claims(), b.Claims()
	return ac.ID != bc.ID || !ac.Expiry.Equal(bc.Expiry) || !ac.IssuedAt.Equal(bc.IssuedAt)
}

func hhmmss(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.TimeOnly + "Z")
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// shortDur: 19m48s, 10m, 2h05m, 45s, 1.2s.
func shortDur(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		d = d.Round(time.Second)
		if d%time.Minute == 0 {
			return fmt.Sprintf("%dm", int(d.Minutes()))
		}
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + shortDur(d)
	}
	return "+" + shortDur(d)
}
