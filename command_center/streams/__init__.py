"""Body-cam streams in the live system: who publishes, for which incident, who may watch."""
