"""Incidents: the four categories, the five stages, reports and their deadlines, zones, the timeline."""
