"""Request and response bodies of the JSON API, as OpenAPI schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Me(BaseModel):
    """The caller: its key and, for a member key, its organisation."""

    key_id: int
    organisation: str | None
    name: str | None
    tier: str | None
    clearance: str
    scopes: list[str]


class Community(BaseModel):
    """Members' reports on an indicator, aggregated; reporters are never named.

    A count is null when fewer than three organisations reported, so that no
    member's own reports can be told apart; operator keys see every count.
    """

    sightings: int | None
    sighting_organisations: int | None
    false_positive_organisations: int | None


class Indicator(BaseModel):
    """One indicator as a member receives it."""

    id: str = Field(description="The STIX id it is published under.")
    type: str
    value: str
    state: str
    confidence: int
    tlp: str
    first_seen: str
    last_seen: str
    valid_until: str | None
    tags: list[str]
    healthcare: bool
    sources: list[str]
    community: Community


class IndicatorPage(BaseModel):
    """A page of indicators, and the cursor of the next page if there is one."""

    indicators: list[Indicator]
    next: str | None


class SubmittedIndicator(BaseModel):
    """An indicator a member contributes; only ``value`` is required."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=4096)
    type: str | None = None
    description: str | None = Field(default=None, max_length=20_000)
    confidence: int | None = Field(default=None, ge=0, le=100)
    tlp: str | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50
    )
    first_seen: str | None = None
    last_seen: str | None = None
    to_ids: bool = True


class Email(BaseModel):
    """An attached e-mail, such as a reported phishing message."""

    model_config = ConfigDict(extra="forbid")

    headers: str | None = Field(default=None, max_length=200_000)
    body: str | None = Field(default=None, max_length=2_000_000)


class SubmissionBody(BaseModel):
    """A contribution: indicators with free text, scrubbed before it is stored."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=100_000)
    tlp: str | None = None
    indicators: list[SubmittedIndicator] = Field(min_length=1, max_length=10_000)
    email: Email | None = None


class SubmissionStatus(BaseModel):
    """The review state of a submission."""

    id: str
    status: str
    received: str
    redactions: int
    published: int
    rejected: int
    note: str | None


class ReportBody(BaseModel):
    """A sighting or false-positive report of one indicator value."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=4096)
    type: str | None = None
    count: int = Field(default=1, ge=1, le=1_000_000)
    first_seen: str | None = None
    last_seen: str | None = None


class ReportResult(BaseModel):
    """The effect of a report."""

    indicator: str
    withdrawn: bool


class Problem(BaseModel):
    """An error."""

    title: str
    description: str
