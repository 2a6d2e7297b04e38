"""rq jobs by purpose; each runs inside the app context (see `job_app`)."""
