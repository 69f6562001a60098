// Package feedgen writes realistic ETF VO feeds and matching CRIC site
// queries of any size, deterministically: the 200-site fixture in
// internal/vofeed/testdata and the 1 000-site feed of make bench. Sites
// follow the WLCG naming convention (T2_US_Florida); each grid site has the
// mix a CMS feed has — HTCondor-CEs and ARC-CEs with queues, XRootD and
// WebDAV doors with their storage paths, and the SRM, perfSONAR and
// CREAM-CE entries gridprobe skips — and the CMS_Tier, CMS_Site, SAM3 and
// GGUS_Site groups of the CMS feed writer (vofeed.py).
package feedgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// country is a country code, the top-level domain its sites use, and
// institution stems for site names.
type country struct {
	code, tld string
	stems     []string
}

var countries = []country{
	{"US", "edu", []string{"Florida", "Caltech", "MIT", "Nebraska", "Purdue", "UCSD", "Wisconsin", "Vanderbilt", "Rice", "Colorado"}},
	{"DE", "de", []string{"DESY", "RWTH", "Wuppertal", "GSI", "Hamburg"}},
	{"FR", "fr", []string{"GRIF", "IPHC", "LPSC", "LAPP", "CPPM"}},
	{"IT", "it", []string{"Bari", "Legnaro", "Pisa", "Rome", "Trieste", "Napoli"}},
	{"UK", "ac.uk", []string{"London_IC", "London_Brunel", "SGrid_RALPP", "Glasgow", "Manchester"}},
	{"ES", "es", []string{"CIEMAT", "IFCA", "Oviedo", "Valencia"}},
	{"CH", "ch", []string{"CSCS", "UZH"}},
	{"BE", "be", []string{"IIHE", "UCL"}},
	{"BR", "br", []string{"SPRACE", "UERJ"}},
	{"CN", "cn", []string{"Beijing", "IHEP"}},
	{"EE", "ee", []string{"Estonia", "Tartu"}},
	{"FI", "fi", []string{"HIP", "Helsinki"}},
	{"HU", "hu", []string{"Budapest", "Wigner"}},
	{"IN", "in", []string{"TIFR", "Mumbai"}},
	{"KR", "kr", []string{"KISTI", "KNU"}},
	{"PL", "pl", []string{"Warsaw", "Cracow"}},
	{"PT", "pt", []string{"LIP_Lisbon", "NCG_Ingrid"}},
	{"RU", "ru", []string{"SINP", "IHEP", "ITEP", "INR"}},
	{"TR", "tr", []string{"METU", "Bogazici"}},
	{"TW", "tw", []string{"NCHC", "ASGC"}},
}

// Site is one generated site (for the CRIC query and tests).
type Site struct {
	Name, GridSite, Domain, Tier, Country, Federation string
}

// tier01 are the Tier-0 and Tier-1 sites, named as in WLCG.
var tier01 = []Site{
	{Name: "T0_CH_CERN", GridSite: "CERN-PROD", Domain: "cern.ch", Tier: "0", Country: "CH", Federation: "CH-CERN"},
	{Name: "T1_US_FNAL", GridSite: "USCMS-FNAL-WC1", Domain: "fnal.gov", Tier: "1", Country: "US", Federation: "US-FNAL-CMS"},
	{Name: "T1_DE_KIT", GridSite: "FZK-LCG2", Domain: "kit.edu", Tier: "1", Country: "DE", Federation: "DE-KIT"},
	{Name: "T1_FR_CCIN2P3", GridSite: "IN2P3-CC", Domain: "in2p3.fr", Tier: "1", Country: "FR", Federation: "FR-CCIN2P3"},
	{Name: "T1_IT_CNAF", GridSite: "INFN-T1", Domain: "cnaf.infn.it", Tier: "1", Country: "IT", Federation: "IT-INFN-CNAF"},
	{Name: "T1_UK_RAL", GridSite: "RAL-LCG2", Domain: "gridpp.rl.ac.uk", Tier: "1", Country: "UK", Federation: "UK-T1-RAL"},
	{Name: "T1_ES_PIC", GridSite: "pic", Domain: "pic.es", Tier: "1", Country: "ES", Federation: "ES-PIC"},
	{Name: "T1_RU_JINR", GridSite: "JINR-T1", Domain: "jinr.ru", Tier: "1", Country: "RU", Federation: "RU-JINR-T1"},
}

// Sites returns n deterministic sites: the Tier-0 and Tier-1s, then
// Tier-2s and Tier-3s across twenty countries.
func Sites(n int) []Site {
	out := append([]Site(nil), tier01[:min(n, len(tier01))]...)
	seen := map[string]bool{}
	r := rand.New(rand.NewPCG(20, uint64(n)))
	for i := 0; len(out) < n; i++ {
		c := countries[i%len(countries)]
		stem := c.stems[(i/len(countries))%len(c.stems)]
		round := i / (len(countries) * 2)
		tier := "2"
		if r.IntN(3) == 0 {
			tier = "3"
		}
		key := c.code + stem + suffix(round)
		if seen[key] {
			continue
		}
		seen[key] = true
		lower := strings.ToLower(strings.ReplaceAll(stem, "_", "-"))
		out = append(out, Site{
			Name:       fmt.Sprintf("T%s_%s_%s%s", tier, c.code, stem, suffix(round)),
			GridSite:   fmt.Sprintf("%s%s-%s", strings.ToUpper(lower), suffix(round), []string{"LCG2", "GRID", "HEP", "T2"}[i%4]),
			Domain:     fmt.Sprintf("%s%s.%s", lower, suffix(round), c.tld),
			Tier:       tier,
			Country:    c.code,
			Federation: fmt.Sprintf("%s-%s%s", c.code, strings.ToUpper(lower), suffix(round)),
		})
	}
	return out
}

func suffix(round int) string {
	if round == 0 {
		return ""
	}
	return fmt.Sprintf("%d", round+1)
}

// sam3Groups are the SAM3 groups of a tier (vofeed.py SAM3_GROUPS).
var sam3Groups = map[string][]string{
	"0": {"AllGroups", "Tier1s + Tier0", "Tier2s + Tier1s + Tier0"},
	"1": {"AllGroups", "Tier1s + Tier0", "Tier2s + Tier1s + Tier0", "Tier3s + Tier2s + Tier1s"},
	"2": {"AllGroups", "Tier2s", "Tier3s + Tier2s", "Tier2s + Tier1s + Tier0", "Tier3s + Tier2s + Tier1s"},
	"3": {"AllGroups", "Tier3s", "Tier3s + Tier2s", "Tier3s + Tier2s + Tier1s"},
}

// Feed writes a VO feed of n sites for vo.
func Feed(n int, vo string) []byte {
	var b strings.Builder
	upper := strings.ToUpper(vo)
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root>\n   <title>%s Topology Information</title>\n", upper)
	b.WriteString("   <description>List of grid sites and resources for SAM/WLCG monitoring (generated by gridprobe's feedgen)</description>\n")
	b.WriteString("   <feed_responsible>DN=\"/DC=org/DC=gridprobe/CN=feedgen\"</feed_responsible>\n")
	b.WriteString("   <last_update>2026-11-20T06:00:00Z</last_update>\n   <version>v2.05.02</version>\n")
	fmt.Fprintf(&b, "   <vo>%s</vo>\n", vo)
	r := rand.New(rand.NewPCG(7, uint64(n)))
	for i, s := range Sites(n) {
		fmt.Fprintf(&b, "   <atp_site name=\"%s\">\n", s.GridSite)
		services(&b, r, i, s)
		fmt.Fprintf(&b, "      <group name=\"Tier-%s\" type=\"%s_Tier\"/>\n", s.Tier, upper)
		fmt.Fprintf(&b, "      <group name=\"%s\" type=\"%s_Site\"/>\n", s.Name, upper)
		for _, g := range sam3Groups[s.Tier] {
			fmt.Fprintf(&b, "      <group name=\"%s\" type=\"%s\"/>\n", s.Name, g)
		}
		fmt.Fprintf(&b, "      <group name=\"%s\" type=\"GGUS_Site\"/>\n", s.GridSite)
		b.WriteString("   </atp_site>\n")
	}
	b.WriteString("</root>\n")
	return []byte(b.String())
}

func services(b *strings.Builder, r *rand.Rand, i int, s Site) {
	for k := 0; k < 1+r.IntN(3); k++ {
		flavour := "HTCONDOR-CE"
		if r.IntN(10) < 3 {
			flavour = "ARC-CE"
		}
		prod := ""
		if r.IntN(12) == 0 {
			prod = ` production_status="false"`
		}
		fmt.Fprintf(b, "      <service hostname=\"ce%02d.%s\" flavour=\"%s\"%s>\n", k+1, s.Domain, flavour, prod)
		fmt.Fprintf(b, "         <ce_resource queue=\"%s\"/>\n      </service>\n", []string{"grid", "cms", "long", "default"}[r.IntN(4)])
	}
	if i%9 == 4 {
		fmt.Fprintf(b, "      <service hostname=\"cream.%s\" flavour=\"CREAM-CE\">\n         <ce_resource batch_system=\"pbs\" queue=\"cms\"/>\n      </service>\n", s.Domain)
	}
	store := []string{"/store", "/cms/store", "/eos/cms/store", "/pnfs/" + s.Domain + "/data/cms/store"}[r.IntN(4)]
	fmt.Fprintf(b, "      <service hostname=\"xrootd.%s\" flavour=\"XROOTD\" endpoint=\"xrootd.%s:1094\">\n", s.Domain, s.Domain)
	fmt.Fprintf(b, "         <se_resource id=\"RD\" path=\"%s\"/>\n      </service>\n", store)
	if r.IntN(5) > 0 {
		port := []string{"443", "1094", "2880", "8443"}[r.IntN(4)]
		fmt.Fprintf(b, "      <service hostname=\"webdav.%s\" flavour=\"WEBDAV\" endpoint=\"webdav.%s:%s\" rse=\"%s\">\n",
			s.Domain, s.Domain, port, s.Name)
		fmt.Fprintf(b, "         <se_resource id=\"RD3PCP\" path=\"%s\"/>\n         <se_resource id=\"WRDEL3PCP\" path=\"%s\"/>\n      </service>\n", store, store)
	}
	if r.IntN(3) == 0 {
		fmt.Fprintf(b, "      <service hostname=\"srm.%s\" flavour=\"SRM\" endpoint=\"srm.%s:8443\"/>\n", s.Domain, s.Domain)
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(b, "      <service hostname=\"ps.%s\" flavour=\"perfSONAR\"/>\n", s.Domain)
	}
}

// CRICSites writes a CRIC site query (WLCG CRIC rcsite shape: keyed by
// name, with rc_site, rc_tier_level, country_code and federations) for the
// first n sites.
func CRICSites(n int) []byte {
	type entry struct {
		Name        string   `json:"name"`
		RCSite      string   `json:"rc_site"`
		Tier        int      `json:"rc_tier_level"`
		CountryCode string   `json:"country_code"`
		Federations []string `json:"federations"`
		State       string   `json:"state"`
	}
	out := map[string]entry{}
	for _, s := range Sites(n) {
		out[s.Name] = entry{Name: s.Name, RCSite: s.GridSite, Tier: int(s.Tier[0] - '0'), CountryCode: s.Country,
			Federations: []string{s.Federation}, State: "ACTIVE"}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return append(b, '\n')
}
