"""Run DAGs once each, in one process (`python -m gdx.airflow.run DAG_ID ...`).

What `gdx demo` uses to run every collection DAG without a scheduler: one process pays
Airflow's start-up once instead of once per DAG. The child prints one JSON line as the DAGs are
parsed and one as each DAG finishes (each flushed at once, so that the demo shows progress
instead of a long silence), then a last one: {dag_id: state}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from gdx.errors import GdxError

#: How the child's own lines start, among Airflow's log lines on the same stream.
MARK = "gdx-dag-run "

#: Told of each finished DAG: its id, its final state and the seconds it took.
Progress = Callable[[str, str, float], None]


def run_dags(dag_ids: list[str], progress: Progress, timeout: float = 1800) -> dict[str, str]:
    """Run the DAGs once each in a child process, calling `progress` as each one finishes;
    returns {dag_id: final state}. Retries wait one second instead of the scheduled minutes:
    a failing task fails the demo quickly instead of sleeping through its retries."""
    from gdx.airflow import setup as airflow_setup

    process = subprocess.Popen(
        [sys.executable, "-m", "gdx.airflow.run", *dag_ids],
        env=airflow_setup.environment() | {"AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream: Airflow's logs cannot fill an unread pipe
        text=True,
    )
    expired = threading.Event()

    def stop() -> None:  # a hung child: killing it ends the read below
        expired.set()
        process.kill()

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    tail: deque[str] = deque(maxlen=40)  # the last lines, for the error when it fails
    states = None
    try:
        for line in process.stdout:
            if not line.startswith(MARK):
                if line.strip():
                    tail.append(line.strip())
                continue
            message = json.loads(line[len(MARK) :])
            if "import_errors" in message:
                raise GdxError(f"DAG files do not import: {', '.join(message['import_errors'])}")
            if "unknown" in message:
                raise GdxError(f"no such DAG: {', '.join(message['unknown'])}")
            if "finished" in message:
                progress(message["finished"], message["state"], message["seconds"])
            elif "states" in message:
                states = message["states"]
                break
    finally:
        watchdog.cancel()
        if states is None:  # failed, timed out or interrupted: the child goes with it
            process.kill()
            process.wait()
        else:  # Airflow takes seconds to tear itself down: the demo goes on meanwhile
            threading.Thread(target=_reap, args=(process,), daemon=True).start()
    if expired.is_set():
        raise GdxError(f"running the DAGs took over {timeout:.0f}s")
    if states is None:
        errors = [line for line in tail if "error" in line.lower()]
        last = (errors or list(tail) or ["no output"])[-1][:300]
        raise GdxError(f"running the DAGs failed: {last}")
    return states


def _reap(process: subprocess.Popen) -> None:
    """Read the child's last lines (so that it never blocks on a full pipe) and wait for it."""
    for _ in process.stdout:
        pass
    process.wait()


def _say(message: dict) -> None:
    print(MARK + json.dumps(message), flush=True)


def main(dag_ids: list[str]) -> int:
    from airflow.configuration import conf
    from airflow.models import DagBag

    bag = DagBag(dag_folder=conf.get("core", "dags_folder"), safe_mode=False)
    if bag.import_errors:
        _say({"import_errors": list(bag.import_errors)})
        return 1
    unknown = [dag_id for dag_id in dag_ids if dag_id not in bag.dags]
    if unknown:
        _say({"unknown": unknown})
        return 1
    states = {}
    for dag_id in dag_ids or sorted(bag.dags):
        started = time.monotonic()
        run = bag.dags[dag_id].test()
        states[dag_id] = str(getattr(run.state, "value", run.state))
        seconds = round(time.monotonic() - started, 1)
        _say({"finished": dag_id, "state": states[dag_id], "seconds": seconds})
    _say({"states": states})
    return 0 if all(state == "success" for state in states.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
