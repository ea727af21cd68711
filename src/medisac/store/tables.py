"""The relational schema, as SQLAlchemy Core tables.

Times are integer microseconds since the epoch, UTC (see :mod:`medisac.model.time`).
TLP levels are the integers of :class:`medisac.model.TLP`. JSON columns hold
text written by orjson. Alembic migrations under ``migrations/`` create and
change these tables; this module is the single definition they follow.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A BigInteger primary key that SQLite still treats as its ROWID alias.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False, default="file"),
    Column("location", Text),
    Column("format", String(20)),
    # Admiralty source reliability grade, A (reliable) to F (cannot be judged).
    Column("reliability", String(1), nullable=False, default="C"),
    Column("default_tlp", SmallInteger, nullable=False),
    Column("default_confidence", SmallInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    # Scheduling: a disabled source is kept but never polled, and a source
    # without an interval runs only when asked to (``medisac feeds run``).
    Column("enabled", Boolean, nullable=False, default=True, server_default=sa.true()),
    Column("every_seconds", Integer),
    # JSON: a bearer token or a user name and password for HTTP and TAXII
    # sources. Never logged, listed or shown.
    Column("credentials", Text),
    # JSON: the kind's settings (timeout, size cap, catalogue entry, ...).
    Column("options", Text, nullable=False, default="{}", server_default="{}"),
    # JSON: what the kind needs to resume (ETag and Last-Modified, a TAXII
    # added_after cursor, the MISP manifest read last).
    Column("fetch_state", Text, nullable=False, default="{}", server_default="{}"),
    # End of the last run that read the whole source without an error.
    Column("last_success", BigInteger),
)

indicators = Table(
    "indicators",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=False),
    Column("type", String(16), nullable=False),
    Column("value", Text, nullable=False),
    # Derived from (type, value), so the unique key on those covers it.
    Column("stix_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("confidence", SmallInteger, nullable=False),
    Column("tlp", SmallInteger, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("valid_until", BigInteger),
    Column("tags", Text, nullable=False, default="[]"),
    Column("context", Text, nullable=False, default="{}"),
    # The published source claims: [[name, confidence, tlp, first, last, ref]].
    Column("sources", Text, nullable=False, default="[]"),
    Column("healthcare", Boolean, nullable=False, default=False),
    # False when every source marked the value as context only (MISP to_ids).
    Column("to_ids", Boolean, nullable=False, default=True),
    # Analyst overrides; NULL means "derive from the sources".
    Column("analyst_tlp", SmallInteger),
    Column("analyst_confidence", SmallInteger),
    Column("analyst_healthcare", Boolean),
    # The known-benign list (warning list or allow list) the value is on;
    # such a value is stored but never published as malicious.
    Column("benign", String(200)),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
    # Digest of the published STIX content apart from ``modified``; a new
    # version is published only when it changes.
    Column("digest", String(32), nullable=False),
    UniqueConstraint("type", "value"),
)
# Finds the active indicators whose valid_until has passed without reading
# the expired ones, which keep their valid_until.
Index("ix_indicators_state_valid_until", indicators.c.state, indicators.c.valid_until)

provenance = Table(
    "provenance",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("indicator_id", BigInteger, ForeignKey("indicators.id"), nullable=False),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    # When the source saw the value, or, where it gives no time, when the
    # value first reached medisac from it.
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    # When medisac first read the value from this source.
    Column("first_reported", BigInteger, nullable=False),
    Column("confidence", SmallInteger, nullable=False),
    Column("tlp", SmallInteger, nullable=False),
    Column("tags", Text, nullable=False, default="[]"),
    Column("context", Text, nullable=False, default="{}"),
    # When the source says the value stops being valid (STIX valid_until).
    Column("valid_until", BigInteger),
    Column("observations", Integer, nullable=False, default=1),
    # False once the source revoked or superseded its claim.
    Column("active", Boolean, nullable=False, default=True),
    Column("to_ids", Boolean, nullable=False, default=True),
    # For a claim from a complete listing (a feed poll): the time from which
    # it ages. Set when a read first lists the value, and moved forward when
    # the value comes due while its source still lists it. NULL for claims
    # from other ingests, which age from ``last_seen``.
    Column("listed_at", BigInteger),
    # When a complete read of the source that ended without an error first
    # no longer listed the value. Such a claim is inactive but still counts,
    # ageing from this time, while a withdrawn claim (NULL here) counts for
    # nothing.
    Column("delisted_at", BigInteger),
    UniqueConstraint("indicator_id", "source_id"),
)
Index("ix_provenance_source_id", provenance.c.source_id)

# A versioned object in a source (a STIX id, a MISP attribute uuid) and the
# newest version of it medisac has applied.
source_objects = Table(
    "source_objects",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("ref", String(200), nullable=False),
    Column("version", BigInteger),
    Column("digest", String(64), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    UniqueConstraint("source_id", "ref"),
)

# Which indicators the current version of a source object claims.
claims = Table(
    "claims",
    metadata,
    Column(
        "source_object_id",
        BigInteger,
        ForeignKey("source_objects.id"),
        primary_key=True,
    ),
    Column("indicator_id", BigInteger, ForeignKey("indicators.id"), primary_key=True),
)
Index("ix_claims_indicator_id", claims.c.indicator_id)

# Every published version of every STIX object, in the order it was added.
# TAXII reads this table: ``seq`` and ``date_added`` grow together, because
# writers hold the publish lock while they assign both. The latest version of
# an indicator has no ``body``; it is rendered from its ``indicators`` row
# (see medisac.store.views), and stored here once a newer version replaces it.
stix_objects = Table(
    "stix_objects",
    metadata,
    Column("seq", _BigId, primary_key=True, autoincrement=False),
    Column("stix_id", String(120), nullable=False),
    Column("stix_type", String(64), nullable=False),
    Column("modified", BigInteger, nullable=False),
    Column("date_added", BigInteger, nullable=False),
    Column("indicator_id", BigInteger),
    Column("is_latest", Boolean, nullable=False),
    # Publishing state of this version: False for revoked or withdrawn objects.
    Column("active", Boolean, nullable=False),
    Column("healthcare", Boolean, nullable=False, default=False),
    Column("tlp", SmallInteger, nullable=False),
    Column("body", Text),
    UniqueConstraint("stix_id", "modified"),
)
Index("ix_stix_objects_date_added", stix_objects.c.date_added)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    # SHA-256 of the key; the key itself is shown once and never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(200), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    # The member organisation the key belongs to; NULL for operator keys.
    Column("org_id", String(40), ForeignKey("organisations.id")),
    Column("expires", BigInteger),
    Column("last_used", BigInteger),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("finished", BigInteger),
    Column("outcome", String(16), nullable=False),
    Column("inputs", Text, nullable=False),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("error", Text),
)

# The operator's allow list: values, networks and domains that must never be
# published as malicious, with the reason an operator gave.
allow_list = Table(
    "allow_list",
    metadata,
    Column("id", Integer, primary_key=True),
    # An indicator type, "cidr" for a network or "domain" for a domain and
    # every name under it.
    Column("type", String(16), nullable=False),
    Column("value", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("type", "value"),
)


# Member organisations of the exchange.
organisations = Table(
    "organisations",
    metadata,
    # "org-" and 12 hex digits; the user name of HTTP Basic authentication.
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # hospital-system, clinic, payer, device-maker or other.
    Column("kind", String(20), nullable=False),
    Column("tier", String(40), nullable=False),
    # The most restrictive TLP level the organisation may read (TLP.RED only
    # for records that name it).
    Column("clearance", SmallInteger, nullable=False),
    # Trusted members publish directly; others wait in the review queue.
    Column("trusted", Boolean, nullable=False, default=False),
    # A JSON list of {"name", "email", "phone", "role"} objects.
    Column("contacts", Text, nullable=False, default="[]"),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)

# Organisations named on a TLP:RED indicator, the only members that read it.
red_recipients = Table(
    "red_recipients",
    metadata,
    Column("indicator_id", BigInteger, ForeignKey("indicators.id"), primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), primary_key=True),
)

# Sightings and false-positive reports of indicators by members and sensors.
sightings = Table(
    "sightings",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("indicator_id", BigInteger, ForeignKey("indicators.id"), nullable=False),
    # The reporting organisation; never shown to other members.
    Column("org_id", String(40), ForeignKey("organisations.id")),
    # "sighting" or "false-positive".
    Column("kind", String(16), nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    # Where the report came from: "api", "taxii", "hunt" or "sensor".
    Column("origin", String(16), nullable=False),
    # "pending" until an analyst or the scoring accepts it, then "accepted"
    # or "rejected".
    Column("status", String(16), nullable=False),
    Column("created", BigInteger, nullable=False),
)
Index("ix_sightings_indicator_id", sightings.c.indicator_id)

# Requests per key, per UTC day and per route group ("taxii", "api", "feeds").
key_usage = Table(
    "key_usage",
    metadata,
    Column("key_id", Integer, ForeignKey("api_keys.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("route_group", String(16), primary_key=True),
    Column("requests", Integer, nullable=False, default=0),
)

# Every write, key change and read of AMBER or RED data. The application
# only inserts into this table.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("org_id", String(40)),
    Column("key_id", Integer),
    # For example "key.create", "submission.accept", "read.amber".
    Column("action", String(40), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
)
Index("ix_audit_log_at", audit_log.c.at)

# Member submissions: the scrubbed form is shared, the original only reviewed.
submissions = Table(
    "submissions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False),
    Column("key_id", Integer),
    Column("received", BigInteger, nullable=False),
    # "pending", "accepted", "rejected" or "failed".
    Column("status", String(16), nullable=False),
    # "submission" (the JSON API's body) or "stix" (a TAXII envelope).
    Column("kind", String(16), nullable=False),
    # The request body as received; readable by analysts only.
    Column("original", Text, nullable=False),
    # The body with personal and patient data redacted.
    Column("scrubbed", Text, nullable=False),
    Column("redactions", Integer, nullable=False, default=0),
    # Values stored and values rejected when the submission was published.
    Column("published", Integer),
    Column("rejected", Integer),
    Column("reviewed_by", Integer),
    Column("reviewed_at", BigInteger),
    Column("note", Text),
)

# -- vulnerabilities and member inventories --------------------------------

# One row per CVE, merged from every advisory, CVE record and KEV entry that
# names it. CVSS base scores are stored times ten (9.8 as 98).
vulnerabilities = Table(
    "vulnerabilities",
    metadata,
    Column("cve", String(20), primary_key=True),
    Column("title", Text),
    Column("description", Text),
    Column("cvss_v3", SmallInteger),
    Column("cvss_v3_vector", String(200)),
    Column("cvss_v4", SmallInteger),
    Column("cvss_v4_vector", String(200)),
    # JSON lists of CWE ids and reference URLs.
    Column("cwes", Text, nullable=False, default="[]"),
    Column("reference_urls", Text, nullable=False, default="[]"),
    Column("published", BigInteger),
    # CISA Known Exploited Vulnerabilities catalogue.
    Column("kev", Boolean, nullable=False, default=False),
    Column("kev_date_added", BigInteger),
    Column("kev_due_date", BigInteger),
    Column("kev_ransomware", Boolean, nullable=False, default=False),
    Column("kev_required_action", Text),
    # Healthcare relevance found in the sources, and why; ``healthcare_set``
    # is an analyst's decision, which wins when not NULL.
    Column("healthcare", Boolean, nullable=False, default=False),
    Column("healthcare_reason", Text),
    Column("healthcare_set", Boolean),
    Column("first_seen", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
    # SHA-256 of the merged content, to tell a changed record from a re-read.
    Column("digest", String(64), nullable=False),
)

# The advisories, CVE records and KEV catalogues that named each CVE.
vuln_documents = Table(
    "vuln_documents",
    metadata,
    Column("cve", String(20), ForeignKey("vulnerabilities.cve"), primary_key=True),
    # The CSAF tracking id, the CVE id of a CVE record, or "KEV".
    Column("document", String(200), primary_key=True),
    # "csaf", "cve" or "kev".
    Column("format", String(10), nullable=False),
    Column("title", Text),
    Column("publisher", String(200)),
    Column("ingested", BigInteger, nullable=False),
)

# Products each document lists for a CVE, with their versions.
vuln_products = Table(
    "vuln_products",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("cve", String(20), ForeignKey("vulnerabilities.cve"), nullable=False),
    Column("document", String(200), nullable=False),
    Column("vendor", String(200), nullable=False),
    Column("product", String(300), nullable=False),
    # Keys from medisac.vulns.names, compared when matching inventories.
    Column("vendor_key", String(200), nullable=False),
    Column("product_key", String(300), nullable=False),
    # The versions as the document writes them, and as a vers range when
    # they could be read. ``range_error`` gives the reason they could not.
    Column("versions", Text, nullable=False),
    Column("version_range", Text),
    Column("range_error", Text),
    # "affected", "fixed" or "not_affected".
    Column("status", String(16), nullable=False),
    Column("cpe", Text),
    Column("purl", Text),
    Column("device", Boolean, nullable=False, default=False),
    Column("remediation", Text),
)
Index("ix_vuln_products_cve", vuln_products.c.cve)
Index("ix_vuln_products_vendor_key", vuln_products.c.vendor_key)

# The products each member organisation runs.
inventory = Table(
    "inventory",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False),
    Column("vendor", String(200), nullable=False),
    Column("product", String(300), nullable=False),
    # Empty when the member does not know the version.
    Column("version", String(200), nullable=False),
    Column("vendor_key", String(200), nullable=False),
    Column("product_key", String(300), nullable=False),
    Column("cpe", Text),
    Column("purl", Text),
    Column("device", Boolean, nullable=False, default=False),
    # "csv", "cpe", "cyclonedx" or "api".
    Column("origin", String(16), nullable=False),
    Column("added", BigInteger, nullable=False),
    UniqueConstraint("org_id", "vendor_key", "product_key", "version"),
)

# A vulnerability that newly affects a member, waiting for delivery.
vuln_notifications = Table(
    "vuln_notifications",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False),
    Column("cve", String(20), ForeignKey("vulnerabilities.cve"), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("delivered", BigInteger),
)
Index("ix_vuln_notifications_org_id", vuln_notifications.c.org_id)

# -- sensors, live delivery, webhooks and digests --

# Sensor batches applied to the store, one row per (sender, batch id), written
# in the transaction that applies the batch, so a retried or redelivered batch
# is counted once.
sensor_batches = Table(
    "sensor_batches",
    metadata,
    # The sending organisation id, or "key-<id>" for an operator key.
    Column("sender", String(60), primary_key=True),
    Column("batch_id", String(128), primary_key=True),
    Column("received", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),
    Column("sightings", Integer, nullable=False),
    Column("new_indicators", Integer, nullable=False),
)

# A member's subscription filters for the live stream and webhooks.
live_subscriptions = Table(
    "live_subscriptions",
    metadata,
    Column("org_id", String(40), ForeignKey("organisations.id"), primary_key=True),
    # JSON list of indicator types; empty means every type.
    Column("types", Text, nullable=False, default="[]"),
    Column("min_confidence", SmallInteger, nullable=False, default=0),
    Column("healthcare_only", Boolean, nullable=False, default=False),
    Column("modified", BigInteger, nullable=False),
)

# HTTPS endpoints that receive a member's changes, signed with ``secret``.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False),
    Column("url", Text, nullable=False),
    # The HMAC-SHA256 key, shown once when the webhook is created.
    Column("secret", String(128), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created", BigInteger, nullable=False),
    # The last ``stix_objects.seq`` delivered (or filtered out) for this hook.
    Column("cursor", BigInteger, nullable=False),
    # Failed attempts since the last delivery, and when to try again.
    Column("failures", Integer, nullable=False, default=0),
    Column("next_attempt", BigInteger, nullable=False, default=0),
    # A worker that takes the hook sets this; others skip it until then.
    Column("leased_until", BigInteger, nullable=False, default=0),
    Column("last_delivered", BigInteger),
    Column("last_error", Text),
)
Index("ix_webhooks_org_id", webhooks.c.org_id)

# A member's e-mail digest: its recipients and how often it is sent.
digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("org_id", String(40), ForeignKey("organisations.id"), primary_key=True),
    # Comma-separated e-mail addresses.
    Column("recipients", Text, nullable=False),
    # "daily" or "weekly".
    Column("frequency", String(10), nullable=False),
    # End of the period the last digest covered; the next one starts there.
    Column("last_sent", BigInteger, nullable=False),
    Column("leased_until", BigInteger, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
)

# -- contributions: e-mails and research reports --

# Phishing e-mails and research reports sent in for review. ``original`` is
# the file as received and ``analysis`` what was read from it; both are for
# analysts only. ``scrubbed`` is the same analysis with personal and patient
# data redacted, the only form shown to the member or shared.
contributions = Table(
    "contributions",
    metadata,
    Column("id", _BigId, primary_key=True),
    # The contributing member; NULL for an analyst's own contribution.
    Column("org_id", String(40), ForeignKey("organisations.id")),
    # "email" or "report".
    Column("kind", String(16), nullable=False),
    # The file's name as given, and its format ("eml", "pdf", "html",
    # "markdown" or "text").
    Column("filename", String(300), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("received", BigInteger, nullable=False),
    # "pending" until an analyst decides every item, then "reviewed".
    Column("status", String(16), nullable=False),
    Column("original", LargeBinary, nullable=False),
    # JSON documents; see medisac.contrib.draft.
    Column("analysis", Text, nullable=False),
    Column("scrubbed", Text, nullable=False),
    Column("redactions", Integer, nullable=False, default=0),
    # JSON list of problems met while reading the file, for the analyst.
    Column("warnings", Text, nullable=False, default="[]"),
    Column("reviewed_by", String(200)),
    Column("reviewed_at", BigInteger),
)
Index("ix_contributions_org_id", contributions.c.org_id)

# The values proposed from a contribution, each as an indicator or as context.
contribution_items = Table(
    "contribution_items",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column(
        "contribution_id", BigInteger, ForeignKey("contributions.id"), nullable=False
    ),
    # The indicator type and canonical value as extracted.
    Column("type", String(16), nullable=False),
    Column("value", Text, nullable=False),
    # "indicator" (proposed for sharing) or "context" (set aside).
    Column("proposal", String(16), nullable=False),
    Column("confidence", SmallInteger, nullable=False),
    # Why the value was proposed or set aside.
    Column("reason", Text, nullable=False),
    # The text around the value, scrubbed; and as read, for analysts only.
    Column("context", Text, nullable=False, default=""),
    Column("context_original", Text, nullable=False, default=""),
    # The section heading or e-mail part it was found in, and a JSON list of
    # malware and actor names found near it.
    Column("section", Text, nullable=False, default=""),
    Column("related", Text, nullable=False, default="[]"),
    # "pending", "accepted", "edited" or "rejected", and the value, type and
    # confidence that an accepted or edited item was published with.
    Column("decision", String(16), nullable=False),
    Column("final_type", String(16)),
    Column("final_value", Text),
    Column("final_confidence", SmallInteger),
    Column("decided_by", String(200)),
    Column("decided_at", BigInteger),
)
Index("ix_contribution_items_contribution_id", contribution_items.c.contribution_id)

# -- monthly reports and advisories --

# Advisories an analyst published as STIX 2.1 ``report`` objects. The
# published object is the ``stix_objects`` row with the same ``stix_id``.
advisories = Table(
    "advisories",
    metadata,
    Column("stix_id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("tlp", SmallInteger, nullable=False),
    Column("author", String(200), nullable=False),
    # JSON lists: STIX ids of the linked indicators, and CVE ids.
    Column("indicator_refs", Text, nullable=False, default="[]"),
    Column("cves", Text, nullable=False, default="[]"),
    # "advisory" for an analyst's advisory, "monthly" for a monthly report.
    Column("kind", String(16), nullable=False, default="advisory"),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)

# Organisations named on a TLP:RED advisory, the only members that read it.
advisory_recipients = Table(
    "advisory_recipients",
    metadata,
    Column("stix_id", String(64), ForeignKey("advisories.stix_id"), primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), primary_key=True),
)

# Generated monthly reports: the community edition (``org_id`` NULL) and
# member editions, each readable only by its organisation.
monthly_reports = Table(
    "monthly_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    # "YYYY-MM".
    Column("month", String(7), nullable=False),
    Column("org_id", String(40), ForeignKey("organisations.id")),
    Column("generated", BigInteger, nullable=False),
    # JSON: the figures the report shows, as computed from the store.
    Column("figures", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("pdf", LargeBinary, nullable=False),
    # The STIX id the community edition is published under.
    Column("stix_id", String(64)),
)
Index("ix_monthly_reports_month", monthly_reports.c.month)

# -- portal users and assistance requests --

# People who sign in to the portal. Members belong to an organisation;
# analysts and operators belong to none.
portal_users = Table(
    "portal_users",
    metadata,
    Column("id", _BigId, primary_key=True),
    # Stored lower-case; the sign-in name.
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("org_id", String(40), ForeignKey("organisations.id")),
    # "member-reader", "member-admin", "analyst" or "operator".
    Column("role", String(20), nullable=False),
    # An argon2id hash in the PHC string format.
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created", BigInteger, nullable=False),
    Column("last_login", BigInteger),
)

# Signed-in sessions; the cookie carries the token, the store its SHA-256.
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("portal_users.id"), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
)
Index("ix_portal_sessions_user_id", portal_sessions.c.user_id)

# Values the portal keeps between restarts, such as its cookie signing key.
portal_settings = Table(
    "portal_settings",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)

# Log hunts a member started in the portal; the results are that member's only.
portal_hunts = Table(
    "portal_hunts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("portal_users.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    # "queued", "running", "done" or "failed".
    Column("status", String(10), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("finished", BigInteger),
    # JSON: counts, the hits per indicator and the first hit lines.
    Column("result", Text),
    Column("error", Text),
)
Index("ix_portal_hunts_org_id", portal_hunts.c.org_id)

# A member's request for help from the exchange's analysts.
assistance_requests = Table(
    "assistance_requests",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("portal_users.id"), nullable=False),
    Column("subject", String(200), nullable=False),
    # "open", "answered" or "closed".
    Column("status", String(10), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)
Index("ix_assistance_requests_org_id", assistance_requests.c.org_id)

# The messages of a request, from the member and from analysts, in order.
assistance_messages = Table(
    "assistance_messages",
    metadata,
    Column("id", _BigId, primary_key=True),
    Column(
        "request_id",
        BigInteger,
        ForeignKey("assistance_requests.id"),
        nullable=False,
    ),
    Column("user_id", BigInteger, ForeignKey("portal_users.id"), nullable=False),
    # True for a reply by an analyst or operator.
    Column("from_analyst", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)
Index("ix_assistance_messages_request_id", assistance_messages.c.request_id)
