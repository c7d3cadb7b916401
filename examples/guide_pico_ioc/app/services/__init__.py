"""The guide's services: one publisher, two subscribers."""
