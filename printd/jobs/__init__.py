"""Jobs: the durable spool of job folders, a job's art settings, and what status reports of them."""
