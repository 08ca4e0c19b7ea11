"""Wiring: Prefect flows over the plain steps in tasks/, and the `echelon` CLI.

Prefect must stay offline: analytics off before it is imported anywhere below.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Two commands started at once on a busy machine each start a temporary API server; Prefect's
# 20 s wait for it is too short there.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
