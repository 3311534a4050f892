"""Printers: models (profiles), the ESC/POS bytes of a job, connections by URI, and the pool that feeds them."""
