"""Push-to-talk floor control per incident and task force (DESIGN.md section 9)."""
