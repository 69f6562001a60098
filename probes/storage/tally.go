package storage

import (
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// verdict of an attempt that must be refused.
type verdict int

const (
	vDenied       verdict = iota // an explicit denial: passes
	vAllowed                     // the attempt succeeded: a violation
	vInconclusive                // anything else proves nothing
)

// judge classifies the error of an attempt that must be refused and gives
// its words: a denial by its short status. loginDenies: a refused login is
// the denial (an identity the server must refuse), rather than a failure to
// test.
func judge(err error, loginDenies bool) (verdict, string) {
	switch k := KindOf(err); {
	case err == nil:
		return vAllowed, "allowed"
	case k == Denied:
		return vDenied, StatusOf(err)
	case k == LoginRefused && loginDenies:
		return vDenied, "login refused: " + StatusOf(err)
	case k == NotFound:
		return vInconclusive, err.Error() + " (a missing-object answer for an object that exists is not an explicit denial)"
	default:
		return vInconclusive, err.Error() + " (not an explicit denial)"
	}
}

// tally collects the results of a negative check's attempts.
type tally struct {
	ok, broken, unsure []string
}

// add records one attempt; allowedText replaces "allowed" in the detail of
// a violation (e.g. "read it").
func (t *tally) add(name string, err error, loginDenies bool, rule, allowedText string) {
	v, text := judge(err, loginDenies)
	switch v {
	case vDenied:
		t.ok = append(t.ok, fmt.Sprintf("%s (%s)", name, text))
	case vAllowed:
		if allowedText != "" {
			text = allowedText
		}
		t.broken = append(t.broken, fmt.Sprintf("%s: %s (%s)", name, text, rule))
	default:
		t.unsure = append(t.unsure, fmt.Sprintf("%s: %s", name, text))
	}
}

// outcome: any violation is CRITICAL; otherwise anything untested is
// UNKNOWN; otherwise OK.
func (t *tally) outcome(what string) engine.Outcome {
	n := len(t.ok) + len(t.broken) + len(t.unsure)
	switch {
	case len(t.broken) > 0:
		return engine.Critf("%d of %d refusals not enforced: %s", len(t.broken), n, strings.Join(append(t.broken, t.unsure...), "; "))
	case len(t.unsure) > 0:
		return engine.Unknownf("%d of %d refusals could not be shown (no explicit denial): %s", len(t.unsure), n, strings.Join(t.unsure, "; "))
	case n == 0:
		return engine.Unknownf("nothing tested")
	}
	return engine.Okf("%s: all %d refusals enforced on existing objects: %s", what, n, strings.Join(t.ok, ", "))
}
