"""Orders with receipts: to a person, a team or a department; delivered, read and acknowledged."""
