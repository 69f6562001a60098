// Command gridprobe-issuer is the testbed's OAuth2/OIDC token issuer: a
// small WLCG-profile JWT issuer for the local testbed only.
//
// It is written by hand (on top of golang-jwt) because the testbed needs an
// issuer that starts in milliseconds, runs without a database or network,
// limits client-credentials scopes by whole path elements exactly as the
// WLCG Common JWT Profile says, and can also mint deliberately broken tokens
// (expired, wrong audience, foreign issuer, rogue key) for negative tests —
// which real issuers (INDIGO IAM, CILogon) refuse to do.
//
// Subcommands:
//
//	gridprobe-issuer keygen --keys DIR
//	gridprobe-issuer serve  --keys DIR --listen 127.0.0.1:18444 --url https://localhost:18444 \
//	                        --tls-cert F --tls-key F --clients clients.json [--alg RS256|ES256] [--lifetime 20m]
//	                        [--public-url https://localhost:18544] [--nbf-backdate 60s] [--refresh-lifetime 720h]
//
// serve implements discovery (OpenID Connect and RFC 8414), the JWKS, and a
// token endpoint with the client_credentials and refresh_token grants
// (scope and audience narrowed per request), authenticating clients with
// client_secret_basic (RFC 6749 §2.3.1 decoding), client_secret_post or
// private_key_jwt (a client with public_key_file). A client-credentials
// request that includes the offline_access scope also gets a refresh token
// (a JWT signed with the issuer's key, so every instance sharing the keys
// accepts it). --public-url advertises the endpoints at another address
// than the identifier: a second instance of the same issuer.
//
//	gridprobe-issuer mint   --keys DIR --out FILE [--sub S] [--aud A,B] [--scope "s1 s2"] [--exp 20m]
//	                        [--nbf 0s] [--iat 0s] [--iss URL] [--key trusted|rogue] [--alg RS256|ES256]
//	                        [--kid K] [--omit nbf,wlcg.ver] [--wlcg-ver 1.0] [--groups /vo,/vo/sub]
//
// The token endpoint honours the profile's requests for claims besides
// capabilities (§3.1, §3.4): wlcg:<version> sets wlcg.ver, wlcg.groups:<g>
// adds a group the client may have (claims.go).
//
// A token is written only to the --out file (mode 0600), or to standard
// output with an explicit "--out -"; it is never logged.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gridprobe-issuer keygen|serve|mint [flags] (see -h of each)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "keygen":
		err = cmdKeygen(os.Args[2:])
	case "serve":
		err = cmdServe(os.Args[2:])
	case "mint":
		err = cmdMint(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (want keygen, serve or mint)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gridprobe-issuer:", err)
		os.Exit(1)
	}
}

func testbedDir() string {
	if d := os.Getenv("GRIDPROBE_TESTBED"); d != "" {
		return d
	}
	return "/tmp/gridprobe-testbed"
}

func defaultIssuerURL() string {
	if u := os.Getenv("GRIDPROBE_ISSUER"); u != "" {
		return u
	}
	return "https://localhost:18444"
}

func cmdKeygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	keys := fs.String("keys", filepath.Join(testbedDir(), "issuer", "keys"), "key directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := LoadKeys(*keys, true)
	return err
}

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	keys := fs.String("keys", filepath.Join(testbedDir(), "issuer", "keys"), "key directory")
	listen := fs.String("listen", "127.0.0.1:18444", "listen address (loopback only)")
	issURL := fs.String("url", defaultIssuerURL(), "issuer identifier (https URL, no trailing slash)")
	cert := fs.String("tls-cert", "", "TLS certificate (PEM)")
	key := fs.String("tls-key", "", "TLS private key (PEM)")
	clients := fs.String("clients", filepath.Join(testbedDir(), "issuer", "clients.json"), "clients JSON file")
	alg := fs.String("alg", AlgRS256, "signing algorithm of issued tokens: RS256 or ES256")
	lifetime := fs.Duration("lifetime", 20*time.Minute, "token lifetime")
	public := fs.String("public-url", "", "URL at which the endpoints are advertised (default: --url)")
	nbf := fs.Duration("nbf-backdate", 60*time.Second, "how far nbf is back-dated (WLCG profile v1.1: about 60 s)")
	refreshLife := fs.Duration("refresh-lifetime", 30*24*time.Hour, "refresh token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *alg != AlgRS256 && *alg != AlgES256 {
		return fmt.Errorf("--alg %q: want RS256 or ES256", *alg)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %s: must be a loopback IP address", *listen)
	}
	ks, err := LoadKeys(*keys, false)
	if err != nil {
		return err
	}
	cl, err := LoadClients(*clients)
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	logger := log.New(os.Stderr, "issuer: ", log.LstdFlags|log.LUTC)
	is := &Issuer{URL: strings.TrimSuffix(*issURL, "/"), PublicURL: strings.TrimSuffix(*public, "/"), Keys: ks, Alg: *alg,
		Lifetime: *lifetime, NotBefore: *nbf, RefreshLifetime: *refreshLife, Clients: cl, Log: logger, Now: time.Now}
	srv := &http.Server{
		Handler:           is.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          logger,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	logger.Printf("serving %s on %s (endpoints at %s, alg %s, lifetime %s, %d clients)", is.URL, ln.Addr(), is.publicURL(), is.Alg, is.Lifetime, len(cl))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Printf("stopped")
	return nil
}

func cmdMint(args []string) error {
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	keys := fs.String("keys", filepath.Join(testbedDir(), "issuer", "keys"), "key directory")
	out := fs.String("out", "", "write the token to this file (mode 0600); \"-\" = standard output")
	sub := fs.String("sub", "gridprobe", "sub claim")
	aud := fs.String("aud", AnyAudience, "aud claim; comma-separated for several")
	scope := fs.String("scope", "", "scope claim (space-separated)")
	exp := fs.Duration("exp", 20*time.Minute, "exp relative to now (negative: already expired)")
	nbf := fs.Duration("nbf", 0, "nbf relative to now (positive: not yet valid)")
	iat := fs.Duration("iat", 0, "iat relative to now")
	iss := fs.String("iss", defaultIssuerURL(), "iss claim")
	which := fs.String("key", "trusted", "signing key: trusted (in the JWKS) or rogue (not in the JWKS)")
	alg := fs.String("alg", AlgRS256, "RS256 or ES256")
	kid := fs.String("kid", "", "kid header override (default: the key's own kid)")
	omit := fs.String("omit", "", "comma-separated claims to leave out, e.g. nbf,wlcg.ver")
	ver := fs.String("wlcg-ver", "1.0", "wlcg.ver claim (empty: omit)")
	groups := fs.String("groups", "", "wlcg.groups claim: comma-separated groups (empty: omit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required (the token is never printed by default)")
	}
	ks, err := LoadKeys(*keys, false)
	if err != nil {
		return err
	}
	var set map[string]*Key
	switch *which {
	case "trusted":
		set = ks.Trusted
	case "rogue":
		set = ks.Rogue
	default:
		return fmt.Errorf("--key %q: want trusted or rogue", *which)
	}
	k, ok := set[*alg]
	if !ok {
		return fmt.Errorf("--alg %q: want RS256 or ES256", *alg)
	}
	spec := TokenSpec{Issuer: *iss, Subject: *sub, Scope: strings.Fields(*scope), Now: time.Now(),
		Lifetime: *exp, NotBefore: *nbf, IssuedAt: *iat, WLCGVer: *ver, Kid: *kid}
	for _, a := range strings.Split(*aud, ",") {
		if a = strings.TrimSpace(a); a != "" {
			spec.Audience = append(spec.Audience, a)
		}
	}
	if *groups != "" {
		spec.Extra = map[string]any{"wlcg.groups": strings.Split(*groups, ",")}
	}
	for _, o := range strings.Split(*omit, ",") {
		if o = strings.TrimSpace(o); o != "" {
			spec.Omit = append(spec.Omit, o)
		}
	}
	tok, _, _, err := Sign(spec, k)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := fmt.Fprintln(os.Stdout, tok)
		return err
	}
	return writeFile0600(*out, []byte(tok+"\n"))
}
