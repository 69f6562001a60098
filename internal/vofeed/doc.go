// Package vofeed turns an experiment's site list — the ETF VO feed XML and
// CRIC's JSON site and service queries — into gridprobe sites: it parses both
// formats (every problem named by its place: an element path such as
// /root/atp_site[12]/service[3] or a JSON path such as
// $.T2_XX.services[2].flavour, plus line:col), maps feed flavours to service
// types (WEBDAV→webdav, XROOTD→xrootd, ARC-CE→arc-ce, HTCONDOR-CE→htcondor-ce;
// every other flavour is listed and skipped with a reason), filters by group,
// production status and flavour, removes duplicates so that no endpoint is
// probed twice, and writes the result as a readable sites.yaml (probe import)
// or hands it to internal/config as YAML nodes that carry the feed's
// positions (sites_from: in probe serve).
//
// The formats, as published (see testdata/README.md for the sources):
//
//	<root>                                   ETF VO feed; CMS: CMSCompOps/MonitoringScripts vofeed/vofeed.py
//	  <vo>cms</vo>  <last_update>2026-…Z</last_update>
//	  <atp_site name="GRID-SITE">            the grid (GOCDB/OSG) site
//	    <service hostname=… flavour=… [endpoint="host:port"] [production_status="false"]>
//	      <se_resource id="RD" path="/store"/>        storage path prefix (RSE rpath/wpath)
//	      <ce_resource queue=… [batch_system=…]/>
//	    </service>
//	    <group name="T2_US_Example" type="CMS_Site"/>  experiment site name (<VO>_Site)
//	    <group name="Tier-2" type="CMS_Tier"/>         tier
//	  </atp_site>
//	</root>
//
// CRIC (WLCG CRIC api/core/{rcsite,service}/query/?json, the experiment
// CRICs' site/query/?json): a JSON object keyed by name. Site entries give
// name, rc_site/rcsite, rc_tier_level/tier_level, country_code/country and
// federations/federation; service entries give endpoint, flavour, rcsite,
// state, status and usage.{vo}[].site; a site entry may list its services
// under "services", and ?groupby=rcsite makes each value a list of services.
//
// Both parsers are written on the standard library's streaming decoders
// (encoding/xml, encoding/json Token) rather than Unmarshal: only the
// streaming decoders let every problem name its element or JSON path and
// its line, and let one bad entry be reported and skipped instead of losing
// the whole feed. encoding/xml expands no external entities and reads no
// DTD, so a hostile feed cannot make it fetch or balloon anything.
package vofeed
