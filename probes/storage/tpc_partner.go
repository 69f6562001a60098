package storage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// pair is the site's storage service and one of its TPC partners for one
// round. The partner is opened as a rulebook of its own (the same
// protocol, the partner's URL, audience, scope base and scratch area), so
// its tokens get its own audience and what a copy leaves there is removed
// through its own scratch guard.
type pair struct {
	site *Book
	cfg  config.Partner

	once    sync.Once
	p       *Book  // the partner's rulebook
	pcp     Copier // the partner's transport (its URLs)
	closeFn func()
	err     error // why the partner could not be opened
	// registered: the release of the partner's connections is a cleanup.
	registered sync.Once
	// down is why the partner did not answer earlier in the round: the
	// later checks with it fail fast instead of waiting for it again.
	down atomic.Pointer[string]
}

// pairs are the service's partners.
func (b *Book) pairs() []*pair {
	var out []*pair
	for _, p := range b.t.Service.TPCPartners {
		out = append(out, &pair{site: b, cfg: p})
	}
	return out
}

// name is how details name the partner: its name and endpoint.
func (pr *pair) name() string {
	host := pr.cfg.RawURL
	if pr.cfg.URL != nil {
		host = pr.cfg.URL.Host
	}
	return fmt.Sprintf("partner %s (%s)", pr.cfg.Name, host)
}

// target describes the partner as a storage service of the site's type.
func (pr *pair) target() (probe.Target, error) {
	b := pr.site
	rid, err := PartnerRunID(b.t.RunID, pr.cfg)
	if err != nil {
		return probe.Target{}, err
	}
	sv := &config.Service{Type: b.t.Service.Type, URL: pr.cfg.URL, RawURL: pr.cfg.RawURL,
		Name: b.t.Service.Name + " TPC partner " + pr.cfg.Name, VO: b.t.Service.VO,
		ScopeBase: pr.cfg.ScopeBase, ReadFile: pr.cfg.ReadFile, WriteDir: pr.cfg.WriteDir,
		Audience: pr.cfg.Audience, Timeout: b.t.Service.Timeout}
	return probe.Target{Config: b.t.Config, Site: b.t.Site, Service: sv, RunID: rid, Creds: b.t.Creds}, nil
}

// PartnerRunID is the id of the scratch area a service (whose scratch id
// is serviceRunID) uses below a partner's write_dir: its own for each
// service and partner, with the run-id shape leftover finders know.
func PartnerRunID(serviceRunID string, p config.Partner) (string, error) {
	return probe.ServiceRunID(serviceRunID, "tpc partner "+p.Name+" "+p.RawURL)
}

// copier is the site's transport as a Copier, or the UNKNOWN outcome
// saying what the probe lacks for this protocol.
func (pr *pair) copier(crt bool) (Copier, *engine.Outcome) {
	switch tr := pr.site.tr.(type) {
	case Copier:
		return tr, nil
	case NoCopier:
		o := engine.Unknownf("%s", tr.TPCMissing(crt))
		return nil, &o
	}
	o := engine.Unknownf("this probe cannot drive third-party copies over %s", pr.site.t.Service.Type)
	return nil, &o
}

// ensure opens the partner's side once per round (no connection is made
// until a request needs one).
func (pr *pair) ensure(cr CopyReproducer) error {
	pr.once.Do(func() {
		t, err := pr.target()
		if err != nil {
			pr.err = err
			return
		}
		tr, closeFn, err := cr.Peer(t)
		if err != nil {
			pr.err = err
			return
		}
		pr.pcp, _ = tr.(Copier) // nil for a protocol without copies
		pr.p, pr.closeFn = NewBook(t, tr), closeFn
	})
	return pr.err
}

// open is ensure for a check: the release of the partner's connections is
// registered as a cleanup before any of its objects', so it runs after
// them.
func (pr *pair) open(env *engine.Env, crt bool) (Copier, *engine.Outcome) {
	cp, o := pr.copier(crt)
	if o != nil {
		return nil, o
	}
	if err := pr.ensure(cp); err != nil {
		o := engine.Unknownf("%s: cannot be used: %v", pr.name(), err)
		return nil, &o
	}
	pr.registered.Do(func() {
		env.Cleanup("close the connections to "+pr.name(), func(context.Context) error { pr.closeFn(); return nil })
	})
	if why := pr.down.Load(); why != nil {
		o := engine.Unknownf("%s failed, not the site: it did not answer an earlier check of this round (%s); not tried again", pr.name(), *why).Blame(engine.PartyCentral)
		return nil, &o
	}
	return cp, nil
}

// partnerContext bounds a step on the partner's side to half the check's
// time left, so that a partner that does not answer is reported as the
// partner's (UNKNOWN) before the check's own deadline makes it a timeout.
func partnerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/2)
}

// partnerFault is the outcome of a failure on the partner's side: never
// the site's CRITICAL. The probe's own credential problems say so.
func (pr *pair) partnerFault(step, who string, err error) engine.Outcome {
	msg := pr.p.errText(err)
	if KindOf(err) == NoAnswer {
		pr.down.CompareAndSwap(nil, &msg)
	}
	if IsCred(err) {
		return engine.Unknownf("%s: %s with the %s: %s (the probe's own credentials)", pr.name(), pr.p.shorten(step), who, msg)
	}
	return engine.Unknownf("%s failed, not the site: %s with the %s: %s", pr.name(), pr.p.shorten(step), who, msg).Blame(engine.PartyCentral)
}
