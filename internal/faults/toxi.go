package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Toxic is one toxiproxy toxic: Type latency, bandwidth, limit_data,
// reset_peer, timeout, slicer, slow_close; Attributes as toxiproxy names
// them (latency/jitter ms, rate KB/s, bytes, timeout ms).
type Toxic struct {
	Name       string         `json:"name,omitempty"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream,omitempty"` // upstream | downstream (default)
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// Latency delays every downstream chunk by ms milliseconds.
func Latency(ms int) Toxic {
	return Toxic{Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": ms}}
}

// Bandwidth limits the downstream to kbps kilobytes per second.
func Bandwidth(kbps int) Toxic {
	return Toxic{Type: "bandwidth", Toxicity: 1, Attributes: map[string]any{"rate": kbps}}
}

// LimitData closes the connection after n downstream bytes (a reset
// mid-transfer).
func LimitData(n int) Toxic {
	return Toxic{Type: "limit_data", Toxicity: 1, Attributes: map[string]any{"bytes": n}}
}

// ResetPeer resets the connection (TCP RST) after ms milliseconds.
func ResetPeer(ms int) Toxic {
	return Toxic{Type: "reset_peer", Toxicity: 1, Attributes: map[string]any{"timeout": ms}}
}

// Toxi is an in-process toxiproxy server: real TCP proxies on 127.0.0.1
// with toxics applied to the stream.
type Toxi struct {
	srv     *toxiproxy.ApiServer
	mu      sync.Mutex
	proxies []*toxiproxy.Proxy
}

// NewToxi starts an in-process toxiproxy (no HTTP API; the proxies are
// driven directly).
func NewToxi() *Toxi {
	return &Toxi{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())}
}

// Proxy starts a proxy on 127.0.0.1 forwarding to upstream with the given
// toxics, and returns its listen address.
func (t *Toxi) Proxy(name, upstream string, toxics ...Toxic) (string, error) {
	p := toxiproxy.NewProxy(t.srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return "", fmt.Errorf("toxiproxy %s: %w", name, err)
	}
	t.mu.Lock()
	t.proxies = append(t.proxies, p)
	t.mu.Unlock()
	for i, tx := range toxics {
		if tx.Name == "" {
			tx.Name = fmt.Sprintf("%s-%d", tx.Type, i)
		}
		b, err := json.Marshal(tx)
		if err != nil {
			return "", err
		}
		if _, err := p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
			return "", fmt.Errorf("toxiproxy %s: toxic %s: %w", name, tx.Type, err)
		}
	}
	return p.Listen, nil
}

// Close stops every proxy (and their connections).
func (t *Toxi) Close() {
	t.mu.Lock()
	ps := t.proxies
	t.proxies = nil
	t.mu.Unlock()
	for _, p := range ps {
		p.Stop()
	}
}
