"""Small scenario texts shared by the simulation tests."""

from __future__ import annotations

MINIMAL = """\
schema_version: 1
id: minimal
title: {zh-CN: 最小场景, en: Minimal scenario}
category: collective_petition
notice: double_blind
departments: [section, police]
rubric_version: 1
checks:
  - id: phone_report
    stage: information_report
    owner_role: field_officer
    starts: {inject: arrival}
    action: report.phone
    target: PT10M
    grace: PT5M
    hard_limit: PT30M
    weight: 2
    critical: true
  - id: written_report
    stage: information_report
    owner_role: field_officer
    starts: {inject: arrival}
    action: report.written
    required_fields: [headcount, demands, dynamics]
    target: PT30M
    grace: PT10M
    hard_limit: PT60M
    weight: 2
injects:
  - id: arrival
    at: PT0M
    to: [duty_officer]
    kind: incident
    content: {zh-CN: 群众聚集, en: A crowd gathers}
    incident: {headcount: 30}
  - id: escalation
    after: {inject: arrival, delay: PT20M}
    when: {check: written_report, status: missed}
    to: [commander]
    kind: message
    content: {zh-CN: 人数增加, en: Crowd grows}
synthetic:
  staff: {field_officer: 1}
  response_time:
    report.phone: {dist: lognormal, median: 6, sigma: 0.5}
    report.written: {dist: lognormal, median: 22, sigma: 0.4}
"""
