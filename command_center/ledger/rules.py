"""The ledger's working rules (DOMAIN.md): domains, sources, risk grades and the three-colour clocks."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Domain(StrEnum):
    livelihood = "livelihood"  # 民生
    urban_renewal = "urban_renewal"  # 城市更新
    law_related = "law_related"  # 涉法涉诉
    enterprise_restructuring = "enterprise_restructuring"  # 企业改制 (worker resettlement)
    labour_dispute = "labour_dispute"  # 劳资纠纷


class Subdomain(StrEnum):
    education = "education"
    medical = "medical"
    elderly_child_care = "elderly_child_care"
    employment = "employment"
    social_security = "social_security"
    housing = "housing"
    estate_renovation = "estate_renovation"  # 老旧小区改造
    expropriation_demolition = "expropriation_demolition"  # 征地拆迁
    enforcement = "enforcement"  # 执行
    administrative_dispute = "administrative_dispute"  # 行政争议


#: Which subdomains belong to which domain; a domain missing here takes no subdomain.
SUBDOMAINS: dict[Domain, frozenset[Subdomain]] = {
    Domain.livelihood: frozenset(
        {
            Subdomain.education,
            Subdomain.medical,
            Subdomain.elderly_child_care,
            Subdomain.employment,
            Subdomain.social_security,
            Subdomain.housing,
        }
    ),
    Domain.urban_renewal: frozenset({Subdomain.estate_renovation, Subdomain.expropriation_demolition}),
    Domain.law_related: frozenset({Subdomain.enforcement, Subdomain.administrative_dispute}),
}


class Source(StrEnum):
    community_patrol = "community_patrol"  # 社区日巡查
    street_weekly_analysis = "street_weekly_analysis"  # 街道周研判
    district_monthly_dispatch = "district_monthly_dispatch"  # 区级月调度
    hotline_12345 = "hotline_12345"  # 12345 热线
    grid_worker = "grid_worker"  # 网格员上报


class RiskGrade(StrEnum):
    general = "general"  # 一般
    elevated = "elevated"  # 较高
    major = "major"  # 重大


class Colour(StrEnum):
    none = "none"
    yellow = "yellow"  # 苗头性问题: resolve within 7 days
    orange = "orange"  # 可能升级: intervene within 3 days
    red = "red"  # 紧急风险: handle within 24 hours


class Status(StrEnum):
    open = "open"
    resolved = "resolved"
    escalated = "escalated"  # became an incident


COLOUR_RANK = {Colour.none: 0, Colour.yellow: 1, Colour.orange: 2, Colour.red: 3}

#: The warning clock each colour starts (DOMAIN.md, three-colour warnings).
COLOUR_CLOCK = {
    Colour.yellow: timedelta(days=7),
    Colour.orange: timedelta(days=3),
    Colour.red: timedelta(hours=24),
}

COLOUR_NAMES = {
    Colour.yellow: ("黄色预警", "Yellow warning"),
    Colour.orange: ("橙色预警", "Orange warning"),
    Colour.red: ("红色预警", "Red warning"),
}


def warn_before(colour: Colour) -> timedelta:
    """Announce a clock about to run out a quarter of its length ahead (6 h for red)."""
    return COLOUR_CLOCK[colour] / 4
