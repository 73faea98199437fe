"""Joint task forces ("1 + N"): members, messages, tasks, linked incidents, handover."""
