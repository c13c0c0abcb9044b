"""The NLP job worker as a process of its own (`python -m bot worker`), for deployments that
keep the models out of the app (JOBS_IN_APP=false) or run several workers on Redis.

By default the app runs the jobs itself and no worker process is needed."""

from __future__ import annotations

import asyncio
import threading

from bot.core.db import Database
from bot.core.logs import configure_logging
from bot.core.services import CoreServices
from bot.core.settings import Settings
from bot.nlp.analysis import Analyser, NlpModels
from bot.nlp.jobs import NlpJobs
from handoff.services import HandoffServices


def run_worker(settings: Settings) -> int:
    """Run the NLP jobs until stopped (Ctrl-C or SIGTERM finish the jobs in hand)."""
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="jobs-loop", daemon=True)
    thread.start()
    database = Database(settings.effective_database_url)
    # Handoff's services re-order the queue with the results (and may hand an upset
    # customer to people); notices this process cannot deliver wait for the app's retries.
    core = CoreServices.build(settings, database=database)
    handoff = HandoffServices.build(core)
    analyser = Analyser(database, NlpModels(settings), [handoff.insights(database, settings)])
    jobs = NlpJobs(settings)
    try:
        jobs.serve(analyser, loop, in_app=False)
    finally:
        asyncio.run_coroutine_threadsafe(core.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
    return 0
