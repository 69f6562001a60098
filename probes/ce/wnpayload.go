package ce

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// WNBinaryEnv names the static `probe` binary the submit checks ship to
// the worker node. Unset: the running probe itself when it is a static
// binary, else a file named "probe" next to it.
const WNBinaryEnv = "GRIDPROBE_WN_BINARY"

// Names of the worker-node job's input files in its sandbox.
const (
	wnLauncher = "gridprobe-wn.sh"
	wnBinary   = "probe"
	wnConfig   = "gridprobe-wn.yaml"
	wnToken    = "gridprobe-wn.token"
	wnProxy    = "gridprobe-wn.proxy"
	// Lines the launcher prints around probe wn's own output.
	wnBegin = "gridprobe-wn-begin"
	wnExit  = "gridprobe-wn-exit"
)

// scratchArea is one storage service's scratch directory of the job.
type scratchArea struct {
	sv  *config.Service
	dir string // <write_dir>/<service run id of the job's run>
}

// wnPayload is what a submit check ships so that its job runs `probe wn`.
type wnPayload struct {
	binary string      // the static probe binary to ship
	config []byte      // the site's storage services, as gridprobe-wn.yaml
	token  *cred.Token // narrow storage token for the job (never printed)
	proxy  string      // the probe's proxy file to ship; "" none
	runID  string      // the run id probe wn uses for its scratch areas
	areas  []scratchArea
	scopes []string
	aud    string
}

// files are the job's input files: sandbox name → content (read from
// path when content is nil).
type inputFile struct {
	name, path string
	content    []byte
	mode       os.FileMode
}

func (p *wnPayload) files(launcher string) []inputFile {
	fs := []inputFile{
		{name: wnLauncher, content: []byte(launcher), mode: 0o755},
		{name: wnBinary, path: p.binary, mode: 0o755},
		{name: wnConfig, content: p.config, mode: 0o644},
		{name: wnToken, content: []byte(p.token.Bearer() + "\n"), mode: 0o600},
	}
	if p.proxy != "" {
		fs = append(fs, inputFile{name: wnProxy, path: p.proxy, mode: 0o600})
	}
	return fs
}

// ScratchID is the scratch area id of a storage service in the job's run
// (runID), as the payload derives it: plan.ScratchID, which this package
// cannot import (plan links every probe). internal/wn tests they agree.
func ScratchID(runID string, cs *config.Site, sv *config.Service) (string, error) {
	return probe.ServiceRunID(runID, cs.Name+" "+sv.Type+" "+sv.URL.String())
}

// storageServices lists the site's storage services (what the job checks).
func storageServices(site *config.Site) []*config.Service {
	var out []*config.Service
	for i := range site.Services {
		if site.Services[i].IsStorage() {
			out = append(out, &site.Services[i])
		}
	}
	return out
}

// errNoWN says why a submit check ships no worker-node payload; the WN
// checks report it as UNKNOWN (the probe's set-up, not the site).
type errNoWN struct{ why string }

func (e errNoWN) Error() string { return e.why }

// newWNPayload prepares the payload of one job: the site's storage
// configuration, a token narrowed to the reference files and the job's
// scratch areas with the storage endpoints as audience, the binary.
func newWNPayload(ctx context.Context, t probe.Target, runID string, withProxy bool) (*wnPayload, error) {
	svs := storageServices(t.Site)
	if len(svs) == 0 {
		return nil, errNoWN{"the site has no storage service in " + t.Config.File + " for the job to check"}
	}
	bin, err := findWNBinary()
	if err != nil {
		return nil, errNoWN{err.Error()}
	}
	p := &wnPayload{binary: bin, runID: runID}
	if p.config, err = wnConfigFor(t.Config, t.Site); err != nil {
		return nil, errNoWN{err.Error()}
	}
	var auds []string
	for _, sv := range svs {
		st := probe.Target{Config: t.Config, Site: t.Site, Service: sv}
		if a := st.Audience(); !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
		var want []probe.StorageScope
		if sv.ReadFile.Path != "" {
			want = append(want, probe.Read(sv.ReadFile.Path))
		}
		if sv.WriteDir != "" {
			id, err := ScratchID(runID, t.Site, sv)
			if err != nil {
				return nil, errNoWN{err.Error()}
			}
			dir := sv.WriteDir + "/" + id
			p.areas = append(p.areas, scratchArea{sv: sv, dir: dir})
			// The write check writes, reads back and deletes.
			want = append(want, probe.Read(dir), probe.Create(dir), probe.Modify(dir))
		}
		ss, err := st.ScopeStrings(want...)
		if err != nil {
			return nil, errNoWN{fmt.Sprintf("storage service %s: %v", sv.RawURL, err)}
		}
		for _, s := range ss {
			if !slices.Contains(p.scopes, s) {
				p.scopes = append(p.scopes, s)
			}
		}
	}
	p.aud = strings.Join(auds, " ")
	if t.Creds == nil {
		return nil, errNoWN{"no credentials configured"}
	}
	tok, err := t.Creds.Token(ctx, p.aud, p.scopes...)
	if err != nil {
		return nil, errNoWN{"no storage token for the job: " + err.Error()}
	}
	if !tok.Narrowed {
		return nil, errNoWN{"the token source (" + t.Creds.Tokens.Describe() + ") gives one token for everything; a job is only given a narrowly scoped storage token: configure credentials.token.issuer"}
	}
	p.token = tok
	if withProxy && t.Creds.ProxyPath != "" {
		if _, err := t.Creds.Proxy(); err == nil {
			p.proxy = t.Creds.ProxyPath
		}
	}
	return p, nil
}

// wnConfigFor is the configuration the job gets: the VO, the defaults and
// the site with only its storage services, and no credentials section (on
// the worker node the job's own credentials are discovered).
func wnConfigFor(cfg *config.Config, site *config.Site) ([]byte, error) {
	c := config.Config{VO: cfg.VO, Prefix: cfg.Prefix, Defaults: cfg.Defaults}
	s := *site
	s.Services = nil
	for _, sv := range storageServices(site) {
		s.Services = append(s.Services, *sv)
	}
	c.Sites = []config.Site{s}
	y, err := c.Redacted()
	if err != nil {
		return nil, err
	}
	// The payload parses what it gets; parse it here first so that a
	// configuration the job would refuse is the probe's error, not the site's.
	if _, err := config.Parse(wnConfig, y); err != nil {
		return nil, fmt.Errorf("generated %s does not parse: %w", wnConfig, err)
	}
	return y, nil
}

var staticCache sync.Map // path → error (nil: a static ELF binary)

// findWNBinary finds the static probe binary to ship: $GRIDPROBE_WN_BINARY,
// else the running executable when it is a static probe binary, else
// "probe" next to it.
func findWNBinary() (string, error) {
	if p := os.Getenv(WNBinaryEnv); p != "" {
		if err := checkStatic(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", WNBinaryEnv, p, err)
		}
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find the probe binary to ship (%v); set %s", err, WNBinaryEnv)
	}
	var tried []string
	for _, c := range []string{self, filepath.Join(filepath.Dir(self), "probe")} {
		if strings.HasPrefix(filepath.Base(c), "probe") {
			err := checkStatic(c)
			if err == nil {
				return c, nil
			}
			tried = append(tried, c+": "+err.Error())
		}
	}
	if len(tried) == 0 {
		tried = append(tried, filepath.Join(filepath.Dir(self), "probe")+": not a probe binary")
	}
	return "", fmt.Errorf("no static probe binary to ship to the worker node (%s); build one with make (CGO_ENABLED=0) or set %s",
		strings.Join(tried, "; "), WNBinaryEnv)
}

// checkStatic accepts a statically linked ELF executable (no program
// interpreter): one that runs on any worker node of the architecture.
func checkStatic(path string) error {
	if v, ok := staticCache.Load(path); ok {
		err, _ := v.(error)
		return err
	}
	err := staticELF(path)
	staticCache.Store(path, err)
	return err
}

func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("missing")
		}
		return fmt.Errorf("not an ELF executable: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build with CGO_ENABLED=0)")
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return errors.New("not an executable")
	}
	return nil
}

// writeInputs puts the job's input files into the submit directory (a
// private temporary directory, removed after the check): contents written
// with their modes, files by path linked.
func writeInputs(dir string, files []inputFile) error {
	for _, f := range files {
		dst := filepath.Join(dir, f.name)
		if f.content == nil {
			if err := os.Symlink(f.path, dst); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(dst, f.content, f.mode); err != nil {
			return err
		}
	}
	return nil
}
