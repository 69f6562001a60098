package faults

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Needle is one secret the leak proof searches for.
type Needle struct {
	Name, Value string
}

// Surface is one output the leak proof searched.
type Surface struct {
	Name, Text string
}

// Leak is one secret found in one output.
type Leak struct {
	Needle, Surface string
	Count           int
}

// LeakProof is the outcome of the token-leak proof.
type LeakProof struct {
	Needles  []Needle // names only are ever printed
	Surfaces []Surface
	Leaks    []Leak
	Problems []string // steps that could not run (make the proof fail)
}

var (
	jwtRE  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}`)
	keyRE  = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	listen = regexp.MustCompile(`listening on http://([0-9.:]+)/`)
)

// JWTNeedles returns a JWT and its payload and signature parts as needles.
func JWTNeedles(name, jwt string) []Needle {
	out := []Needle{{name, jwt}}
	parts := strings.Split(jwt, ".")
	if len(parts) == 3 {
		out = append(out, Needle{name + " payload part", parts[1]}, Needle{name + " signature part", parts[2]})
	}
	return out
}

// KeyNeedles returns the base64 body lines of every private key in a PEM
// file (a proxy holds its key next to the certificates).
func KeyNeedles(name string, pemData []byte) []Needle {
	var out []Needle
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if !strings.Contains(b.Type, "PRIVATE KEY") {
			continue
		}
		body := base64.StdEncoding.EncodeToString(b.Bytes)
		for i := 0; i < len(body); i += 64 {
			end := min(i+64, len(body))
			if end-i >= 24 {
				out = append(out, Needle{fmt.Sprintf("%s body line %d", name, i/64+1), body[i:end]})
			}
		}
	}
	return out
}

// MintJWT makes a JWT-shaped token no issuer signed (random signature):
// what a user might put in BEARER_TOKEN.
func MintJWT(aud string) string {
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"gridprobe-faults","typ":"JWT"}`))
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"sub": "faults-minted", "iss": "https://localhost:18444", "aud": aud,
		"scope": "storage.read:/ storage.create:/ storage.modify:/", "wlcg.ver": "1.0", "iat": now, "nbf": now,
		"exp": now + 1800, "jti": randomString(8)})
	sig := make([]byte, 256)
	rand.Read(sig)
	return hdr + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

// FakeMacaroon is a macaroon-looking string (base64 of a v1 macaroon
// header with random caveats and signature).
func FakeMacaroon() string {
	b := []byte("0021location gridprobe-faults\n0035identifier ")
	r := make([]byte, 96)
	rand.Read(r)
	return base64.RawURLEncoding.EncodeToString(append(b, r...))
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// Scan searches every surface for every needle, for any JWT-shaped string
// and for any PEM private-key header.
func (lp *LeakProof) Scan() {
	lp.Leaks = nil
	for _, s := range lp.Surfaces {
		for _, n := range lp.Needles {
			if len(n.Value) < 12 {
				continue
			}
			if c := strings.Count(s.Text, n.Value); c > 0 {
				lp.Leaks = append(lp.Leaks, Leak{n.Name, s.Name, c})
			}
		}
		if m := jwtRE.FindAllString(s.Text, -1); len(m) > 0 {
			lp.Leaks = append(lp.Leaks, Leak{"a JWT-shaped string", s.Name, len(m)})
		}
		if m := keyRE.FindAllString(s.Text, -1); len(m) > 0 {
			lp.Leaks = append(lp.Leaks, Leak{"a PEM private key", s.Name, len(m)})
		}
	}
}

// Leaked is the number of secret occurrences found.
func (lp *LeakProof) Leaked() int {
	n := 0
	for _, l := range lp.Leaks {
		n += l.Count
	}
	return n
}

// BuildProbe builds cmd/probe into dir and returns the binary's path.
func BuildProbe(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "probe")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/probe")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/probe: %w: %s", err, out)
	}
	return bin, nil
}

// RunLeakProof runs the real probe binary (run in every format with
// --debug and --reproduce; serve with /metrics, /probe?debug=true and the
// status page) with known secrets: a token from the real issuer (through a
// token file), a minted JWT (through BEARER_TOKEN), a macaroon served by a
// fake endpoint, the client secret (also a wrong one and an unreachable
// issuer, for the error paths) and the proxy's private key. It then
// searches every byte of output for them.
func (h *Harness) RunLeakProof(ctx context.Context, dir string) (*LeakProof, error) {
	lp := &LeakProof{}
	env := h.TB.Env
	bin, err := BuildProbe(ctx, h.TB.Root, dir)
	if err != nil {
		return nil, err
	}
	webdavURL, xrootdURL := env["GRIDPROBE_WEBDAV_URL"], env["GRIDPROBE_XROOTD_URL"]

	// The secrets.
	tok, err := h.Tokens.Token(ctx, cred.TokenRequest{Scopes: []string{"storage.read:/", "storage.create:/", "storage.modify:/"}, Audience: webdavURL})
	if err != nil {
		return nil, fmt.Errorf("token from the testbed issuer: %w", err)
	}
	realTok := tok.Bearer()
	minted := MintJWT(webdavURL)
	mac := FakeMacaroon()
	secret, err := os.ReadFile(env["GRIDPROBE_CLIENT_SECRET_FILE"])
	if err != nil {
		return nil, fmt.Errorf("client secret: %w", err)
	}
	wrongSecret := "faults-wrong-secret-" + randomString(16)
	proxyPEM, err := os.ReadFile(env["X509_USER_PROXY"])
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	lp.Needles = append(lp.Needles, JWTNeedles("issuer token", realTok)...)
	lp.Needles = append(lp.Needles, JWTNeedles("minted token", minted)...)
	lp.Needles = append(lp.Needles, Needle{"macaroon", mac}, Needle{"client secret", strings.TrimSpace(string(secret))},
		Needle{"wrong client secret", wrongSecret})
	lp.Needles = append(lp.Needles, KeyNeedles("proxy private key", proxyPEM)...)

	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			lp.Problems = append(lp.Problems, err.Error())
		}
		return p
	}
	tokFile := write("token", realTok+"\n")
	wrongSecretFile := write("wrong-secret", wrongSecret+"\n")

	// Endpoints: the testbed, a fake WebDAV that hands out the known
	// macaroon, and a black hole (timeout error paths).
	cert, err := h.ca.ServerCert([]string{"localhost", "127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	fake := NewMalformedDAV(map[string][]byte{"/testvo/reference.dat": h.refData, "/othervo/reference.dat": []byte("other")})
	fake.MkdirAll("/testvo/gridprobe")
	fake.Macaroon = mac
	fs, err := TLSServer(cert, fake)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	hole, err := Blackhole()
	if err != nil {
		return nil, err
	}
	defer hole.Close()
	if err := h.mkdir(ctx, FaultsWriteRoot+"/leak"); err != nil {
		return nil, err
	}

	sites := fmt.Sprintf(`sites:
  - name: T2_LEAK_Testbed
    services:
      - {type: webdav, url: %s, scope_base: /testvo, write_dir: %s/leak, foreign_file: /othervo/reference.dat,
         read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}}
      - {type: xrootd, url: %s, scope_base: /testvo, write_dir: %s/leak, foreign_file: /othervo/reference.dat,
         read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}}
  - name: T2_LEAK_Fake
    services:
      - {type: webdav, url: "https://%s", scope_base: /testvo, write_dir: /testvo/gridprobe, foreign_file: /othervo/reference.dat,
         read_file: {path: /testvo/reference.dat, size: %d}}
  - name: T2_LEAK_Hole
    services:
      - {type: webdav, url: "https://%s", scope_base: /testvo, write_dir: /testvo/gridprobe, read_file: {path: /testvo/reference.dat}}
`, webdavURL, FaultsWriteRoot, env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"],
		xrootdURL, FaultsWriteRoot, env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"],
		localhost(fs.Addr()), len(h.refData), localhost(hole.Addr()))
	head := func(token string) string {
		return fmt.Sprintf(`vo: testvo
prefix: org.testvo
defaults: {timeout: 5s, budget: 60s, concurrency: 4, storage_interval: 1h}
credentials:
  x509: {proxy: %s, foreign_proxy: %s, novoms_proxy: %s, ca_dir: %s, voms_dir: %s}
%s
`, env["X509_USER_PROXY"], env["GRIDPROBE_FOREIGN_PROXY"], env["GRIDPROBE_NOVOMS_PROXY"], env["X509_CERT_DIR"], env["X509_VOMS_DIR"], token)
	}
	issuer := func(url, secretFile string) string {
		return fmt.Sprintf("  token: {issuer: %s, client_id: %s, client_secret_file: %s, ca_file: %s}", url, env["GRIDPROBE_CLIENT_ID"], secretFile, env["GRIDPROBE_ISSUER_CA"])
	}
	cfgs := []struct {
		name, yaml string
		env        []string
		formats    []string
	}{
		{"token file", head("  token: {file: "+tokFile+"}") + sites, nil, []string{"table", "json", "nagios", "checkmk"}},
		{"minted BEARER_TOKEN", head("") + sites, []string{"BEARER_TOKEN=" + minted}, []string{"json", "nagios"}},
		{"issuer", head(issuer(env["GRIDPROBE_ISSUER"], env["GRIDPROBE_CLIENT_SECRET_FILE"])) + sites, nil, []string{"json", "table"}},
		{"wrong client secret", head(issuer(env["GRIDPROBE_ISSUER"], wrongSecretFile)) + sites, nil, []string{"json"}},
		{"unreachable issuer", head(issuer("https://"+localhost(hole.Addr()), env["GRIDPROBE_CLIENT_SECRET_FILE"])) + sites, nil, []string{"nagios"}},
	}
	base := os.Environ()
	var clean []string
	for _, e := range base {
		if !strings.HasPrefix(e, "BEARER_TOKEN") {
			clean = append(clean, e)
		}
	}
	for i, c := range cfgs {
		cfgPath := write(fmt.Sprintf("sites-%d.yaml", i), c.yaml)
		for _, f := range c.formats {
			args := []string{"run", "-c", cfgPath, "--format", f, "--debug", "--progress", "off"}
			if f == "table" || f == "nagios" {
				args = append(args, "--reproduce")
			}
			rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			cmd := exec.CommandContext(rctx, bin, args...)
			cmd.Env = append(append([]string{}, clean...), c.env...)
			cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+dir) // no stray bt_u<uid> from the host
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			cancel()
			if _, ok := err.(*exec.ExitError); err != nil && !ok {
				lp.Problems = append(lp.Problems, fmt.Sprintf("probe run (%s, %s): %v", c.name, f, err))
			}
			name := fmt.Sprintf("probe run %s --format %s (%s)", strings.Join(args[5:], " "), f, c.name)
			if stdout.Len() == 0 {
				lp.Problems = append(lp.Problems, name+": no output")
			}
			lp.Surfaces = append(lp.Surfaces, Surface{name + " stdout", stdout.String()}, Surface{name + " stderr (debug log)", stderr.String()})
		}
	}
	if left := fake.Under("/testvo/gridprobe"); len(left) > 0 {
		lp.Problems = append(lp.Problems, fmt.Sprintf("fake endpoint: scratch left behind: %v", left))
	}
	if !fake.MacaroonUsed() {
		lp.Problems = append(lp.Problems, "the probe never presented the known macaroon: the proof did not exercise it")
	}
	if err := h.serveSurfaces(ctx, lp, bin, write("sites-serve.yaml", cfgs[0].yaml), clean); err != nil {
		lp.Problems = append(lp.Problems, err.Error())
	}
	if err := h.publishSurfaces(ctx, lp, bin, cfgs[0].yaml, clean, dir); err != nil { // leak_publish.go
		lp.Problems = append(lp.Problems, err.Error())
	}
	lp.Scan()
	return lp, nil
}

// serveSurfaces runs `probe serve` and collects /metrics, the status page,
// /probe?debug=true for each service and the server's debug log.
func (h *Harness) serveSurfaces(ctx context.Context, lp *LeakProof, bin, cfgPath string, env []string) error {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(sctx, bin, "serve", "-c", cfgPath, "--listen", "127.0.0.1:0", "--debug", "--initial-spread", "1s")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr syncBuilder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("probe serve: %w", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
	}
	defer stop()
	var out strings.Builder
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if m := listen.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
		}
		if !sent {
			close(addrc)
		}
	}()
	var addr string
	select {
	case a, ok := <-addrc:
		if !ok {
			return fmt.Errorf("probe serve exited before listening: %s", stderr.String())
		}
		addr = a
	case <-time.After(20 * time.Second):
		return fmt.Errorf("probe serve did not say where it listens")
	}
	get := func(path string, timeout time.Duration) (string, error) {
		gctx, gcancel := context.WithTimeout(sctx, timeout)
		defer gcancel()
		req, _ := http.NewRequestWithContext(gctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		return string(b), err
	}
	// Wait for the scheduled rounds to publish token check results.
	deadline := time.Now().Add(90 * time.Second)
	var metrics string
	for time.Now().Before(deadline) {
		metrics, _ = get("/metrics", 10*time.Second)
		if strings.Contains(metrics, `check="14tkn-read"`) && strings.Contains(metrics, `site="T2_LEAK_Fake"`) {
			break
		}
		time.Sleep(time.Second)
	}
	if !strings.Contains(metrics, `check="14tkn-read"`) {
		return fmt.Errorf("probe serve: no token check results in /metrics after 90s")
	}
	lp.Surfaces = append(lp.Surfaces, Surface{"serve /metrics", metrics})
	for _, p := range []string{"/", "/probe?site=T2_LEAK_Testbed&service=webdav&debug=true", "/probe?site=T2_LEAK_Testbed&service=xrootd&debug=true",
		"/probe?site=T2_LEAK_Fake&service=webdav&debug=true", "/probe?site=T2_LEAK_Hole&service=webdav&debug=true"} {
		body, err := get(p, 2*time.Minute)
		if err != nil {
			lp.Problems = append(lp.Problems, fmt.Sprintf("serve %s: %v", p, err))
		}
		if body == "" {
			lp.Problems = append(lp.Problems, fmt.Sprintf("serve %s: empty answer", p))
		}
		lp.Surfaces = append(lp.Surfaces, Surface{"serve " + p, body})
	}
	stop()
	lp.Surfaces = append(lp.Surfaces, Surface{"serve stdout", out.String()}, Surface{"serve stderr (debug log)", stderr.String()})
	return nil
}

// syncBuilder is a strings.Builder safe for a writer goroutine and a reader.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
